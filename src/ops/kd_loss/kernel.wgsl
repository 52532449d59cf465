// Fused knowledge-distillation loss and its gradient, one workgroup per row b:
//   s = softmax(z), q = softmax(z / T), p = softmax(t / T)
//   ce_b = −log s[y_b],  kl_b = Σ_c p_c (log p_c − log q_c)   (p log p = 0 where p = 0)
//   dL/dz_b = (1/B)·[(1 − α)(s − onehot(y_b)) + α·T·(q − p)]
// The batch loss (1 − α)·mean(ce) + α·T²·mean(kl) is reduced afterwards by reduce_loss.wgsl.
// All log-probabilities are max-subtracted; nothing takes log(softmax).
// Needs ../wgsl/online_softmax.wgsl prepended (see mod.rs).

struct KdParams {
    rows: u32,
    cols: u32,
    temperature: f32,
    inv_temperature: f32,
    alpha: f32,
    inv_batch: f32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 64u;
const MAX_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: KdParams;
@group(0) @binding(1) var<storage, read> student: array<f32>;
@group(0) @binding(2) var<storage, read> teacher: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
// row_terms[2b] = ce_b, row_terms[2b + 1] = kl_b
@group(0) @binding(5) var<storage, read_write> row_terms: array<f32>;

var<workgroup> red_a: array<vec2<f32>, MAX_WG>;
var<workgroup> red_b: array<vec2<f32>, MAX_WG>;
var<workgroup> red_c: array<vec2<f32>, MAX_WG>;
var<workgroup> red_kl: array<f32, MAX_WG>;

@compute @workgroup_size(WG, 1, 1)
fn kd_loss_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wg.x + wg.y * groups.x;
    let row_active = row < params.rows;
    let base = row * params.cols;
    let inv_t = params.inv_temperature;

    // (max, sum) partials of z, z/T and t/T.
    var hard = vec2<f32>(-3.0e38, 0.0);
    var soft_student = vec2<f32>(-3.0e38, 0.0);
    var soft_teacher = vec2<f32>(-3.0e38, 0.0);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            hard = online_merge(hard, vec2<f32>(z, 1.0));
            soft_student = online_merge(soft_student, vec2<f32>(z * inv_t, 1.0));
            soft_teacher = online_merge(soft_teacher, vec2<f32>(teacher[base + j] * inv_t, 1.0));
        }
    }
    red_a[lid] = hard;
    red_b[lid] = soft_student;
    red_c[lid] = soft_teacher;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            red_a[lid] = online_merge(red_a[lid], red_a[lid + stride]);
            red_b[lid] = online_merge(red_b[lid], red_b[lid + stride]);
            red_c[lid] = online_merge(red_c[lid], red_c[lid + stride]);
        }
        workgroupBarrier();
    }
    // Max and log-sum stay separate: x − (m + log s) would round m + log s to the ulp of m
    // (1e-3 at |m| = 1e4), while (x − m) − log s is exact for the largest logits.
    let hard_max = red_a[0].x;
    let hard_log_sum = log(red_a[0].y);
    let student_max = red_b[0].x;
    let student_log_sum = log(red_b[0].y);
    let teacher_max = red_c[0].x;
    let teacher_log_sum = log(red_c[0].y);

    var kl = 0.0;
    var label = 0u;
    if row_active {
        label = labels[row];
        let hard_weight = (1.0 - params.alpha) * params.inv_batch;
        let soft_weight = params.alpha * params.temperature * params.inv_batch;
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            let log_s = (z - hard_max) - hard_log_sum;
            let log_q = (z * inv_t - student_max) - student_log_sum;
            let log_p = (teacher[base + j] * inv_t - teacher_max) - teacher_log_sum;
            let p = exp(log_p);
            let q = exp(log_q);
            if p > 0.0 {
                kl += p * (log_p - log_q);
            }
            let onehot = select(0.0, 1.0, j == label);
            grad[base + j] = hard_weight * (exp(log_s) - onehot) + soft_weight * (q - p);
        }
    }
    red_kl[lid] = kl;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            red_kl[lid] = red_kl[lid] + red_kl[lid + stride];
        }
        workgroupBarrier();
    }
    if row_active && lid == 0u {
        row_terms[2u * row] = hard_log_sum - (student[base + label] - hard_max);
        row_terms[2u * row + 1u] = red_kl[0];
    }
}
