// Fused knowledge-distillation loss and its gradient, one workgroup per row b:
//   s = softmax(z), q = softmax(z / T), p = softmax(t / T)
//   ce_b = −log s[y_b],  kl_b = Σ_c p_c (log p_c − log q_c)
//   dL/dz_b = (1/B)·[(1 − α)(s − onehot(y_b)) + α·T·(q − p)]
// The batch loss (1 − α)·mean(ce) + α·T²·mean(kl) is reduced afterwards by reduce.wgsl.
//
// Every term is computed in a form without cancelling terms, so a saturated row (ce ≈ 1e-7) or
// a near-uniform one at T = 20 (kl ≈ 2e-5) keeps f32's relative precision:
//   ce = log1p(Σ_{j≠y} e^{z_j − z_y}) when y is the row's top logit, and s_y − 1 = −Σ_{j≠y} s_j;
//   with k the teacher's top class, d_c = ((z_c − t_c) − (z_k − t_k)) / T (d_k = 0 exactly),
//   μ = Σ p_c d_c and e_c = d_c − μ (Σ p_c e_c = 0):
//     kl = log Σ p_c e^{e_c} = log1p(Σ p_c (e^{e_c} − 1 − e_c)), a sum of terms ≥ 0;
//     q_c − p_c = p_c·expm1(e_c − kl) where that is the more accurate form, else directly;
//     q_k − p_k = Σ_{c≠k} (v_k w_c − v_c) / (Σw·Σv) with v = e^{(z − z_max)/T},
//     w = e^{(t − t_max)/T}, where v_k w_c − v_c = v_c·expm1(−d_c), summed with compensation:
//     at the top class q and p may both be near 1, or near 1/2 and far closer than either;
//   logit differences are exact (two_diff), and exp and log are common/stable_math.wgsl's,
//   not the built-ins, which lose up to 3e-5 relative.
// Σ p (log p − log q) is kept for rows where Σ p (e^e − 1 − e) overflows (kl > 88, where it
// cannot cancel). Four sweeps over the row (maxima; sums; kl; gradient), each reduced by a
// fixed tree, so the same inputs give the same bits. Needs common/stable_math.wgsl and
// common/row_kl.wgsl (workgroup size, sums, centred_gap, p_times_exp_tail) prepended.

struct KdParams {
    rows: u32,
    cols: u32,
    temperature: f32,
    inv_temperature: f32,
    alpha: f32,
    inv_batch: f32,
    // 0 (KdParams::new): read as the run-time zero two_sum needs.
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: KdParams;
@group(0) @binding(1) var<storage, read> student: array<f32>;
@group(0) @binding(2) var<storage, read> teacher: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
// row_terms[2b] = ce_b, row_terms[2b + 1] = kl_b
@group(0) @binding(5) var<storage, read_write> row_terms: array<f32>;

var<workgroup> red_max: array<vec2<f32>, MAX_WG>;
var<workgroup> red_arg: array<u32, MAX_WG>;

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
    zero = f32(params._pad0);

    // Sweep 1: the student's top logit, the teacher's and its first column.
    var top = vec2<f32>(-3.0e38, -3.0e38);
    var teacher_top = 0u;
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            top.x = max(top.x, student[base + j]);
            let t = teacher[base + j];
            if t > top.y {
                top.y = t;
                teacher_top = j;
            }
        }
    }
    red_max[lid] = top;
    red_arg[lid] = teacher_top;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            let mine = red_max[lid];
            let other = red_max[lid + stride];
            let other_arg = red_arg[lid + stride];
            if other.y > mine.y || (other.y == mine.y && other_arg < red_arg[lid]) {
                red_arg[lid] = other_arg;
            }
            red_max[lid] = max(mine, other);
        }
        workgroupBarrier();
    }
    let z_max = red_max[0].x;
    let t_max = red_max[0].y;
    let k = min(red_arg[0], params.cols - 1u);
    var label = 0u;
    var z_k = 0.0;
    var shift = vec2<f32>(0.0);
    if row_active {
        label = labels[row];
        z_k = student[base + k];
        shift = two_diff(z_k, teacher[base + k], zero);
    }
    let v_k = exp_of_diff(z_k, z_max, inv_t, zero);

    // Sweep 2: Σ_{j≠y} e^{z_j − z_max}, Σv, Σw; Σ_{c≠k} (v_k w_c − v_c) and Σ w·d, compensated.
    var sums = vec4<f32>(0.0);
    var compensated = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            let t = teacher[base + j];
            if j != label {
                sums.x += exp_of_diff(z, z_max, 1.0, zero);
            }
            let v = exp_of_diff(z, z_max, inv_t, zero);
            let w = exp_of_diff(t, t_max, inv_t, zero);
            sums.y += v;
            sums.z += w;
            let d = centred_gap(z, t, shift, inv_t);
            var top_gap_term = v_k * w - v;
            if abs(d) <= 1.0 {
                top_gap_term = v * expm1_small(-d);
            }
            if j == k {
                top_gap_term = 0.0;
            }
            compensated = vec4<f32>(
                compensated_add(compensated.xy, top_gap_term, zero),
                compensated_add(compensated.zw, w * d, zero),
            );
        }
    }
    let totals = workgroup_sum(lid, sums);
    let compensated_totals = workgroup_compensated_sums(lid, compensated);
    let others = totals.x;
    let student_sum = totals.y;
    let teacher_sum = totals.z;
    let top_gap = compensated_totals.x;
    let mu = compensated_totals.y / teacher_sum;
    var z_label = 0.0;
    if row_active {
        z_label = student[base + label];
    }
    let label_on_top = z_label == z_max;
    let s_label = exp_of_diff(z_label, z_max, 1.0, zero);
    let hard_sum = select(others + s_label, 1.0 + others, label_on_top);

    // Sweep 3: Σ p (e^e − 1 − e); Σ p (log p − log q) for when the first overflows; Σ p |d|,
    // which bounds μ's rounding.
    let log_student_sum = log_accurate(student_sum);
    let log_teacher_sum = log_accurate(teacher_sum);
    let offset = log_teacher_sum + mu;
    var kl_sums = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            let t = teacher[base + j];
            let p = exp_of_diff(t, t_max, inv_t, zero) / teacher_sum;
            let d = centred_gap(z, t, shift, inv_t);
            kl_sums.x += p_times_exp_tail(p, d - mu, d, z, z_k, inv_t, offset);
            if p > 0.0 {
                let log_p = (t - t_max) * inv_t - log_teacher_sum;
                kl_sums.y += p * (log_p - ((z - z_max) * inv_t - log_student_sum));
            }
            kl_sums.z += p * abs(d);
        }
    }
    let kl_totals = workgroup_sum(lid, kl_sums);
    let kl = select(kl_totals.y, log1p_stable(kl_totals.x), kl_totals.x < 3.0e38);
    let mu_spread = kl_totals.z;

    // Sweep 4: the gradient.
    if row_active {
        let hard_weight = (1.0 - params.alpha) * params.inv_batch;
        let soft_weight = params.alpha * params.temperature * params.inv_batch;
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            let t = teacher[base + j];
            var hard = exp_of_diff(z, z_max, 1.0, zero) / hard_sum;
            if j == label {
                hard = select(s_label / hard_sum - 1.0, -others / hard_sum, label_on_top);
            }
            let p = exp_of_diff(t, t_max, inv_t, zero) / teacher_sum;
            let q = exp_of_diff(z, z_max, inv_t, zero) / student_sum;
            let d = centred_gap(z, t, shift, inv_t);
            let x = (d - mu) - kl;
            // q − p is off by about ulp(q) + ulp(p), p·expm1(x) by p·ulp(|d| + Σ p|d| + kl).
            var soft = q - p;
            if abs(x) <= 1.0 && p * (abs(d) + mu_spread + kl) <= q + p {
                soft = p * expm1_small(x);
            }
            if j == k {
                soft = top_gap / (teacher_sum * student_sum);
            }
            grad[base + j] = hard_weight * hard + soft_weight * soft;
        }
    }
    if row_active && lid == 0u {
        var ce = (z_max - z_label) + log_accurate(hard_sum);
        if label_on_top {
            ce = log1p_stable(others);
        }
        row_terms[2u * row] = ce;
        row_terms[2u * row + 1u] = kl;
    }
}
