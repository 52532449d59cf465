// Logit standardization for knowledge distillation (Sun et al., CVPR 2024), as the authors'
// mdistiller/distillers/KD.py (github.com/sunshangquan/logit-standardization-KD: `normalize`,
// `kd_loss`) computes it, one workgroup per row b:
//   Z(x) = (x − mean(x)) / (σ(x) + ε), σ the sample standard deviation (Σ c² / (C − 1), c the
//   centred row: torch.std's default), ε from the uniform (theirs: 1e-7);
//   u = Z(z), v = Z(t), q = softmax(u / T), p = softmax(v / T), s = softmax(z)
//   ce_b = −log s[y_b],  kl_b = Σ_c p_c (log p_c − log q_c)
//   dL/dz_b = (1/B)·[(1 − α)(s − onehot(y_b)) + α·T²·∂kl_b/∂z_b]
// The batch loss (1 − α)·mean(ce) + α·T²·mean(kl) is reduced afterwards by reduce_loss.wgsl.
// Through the student's standardization (g = ∂kl/∂u = (q − p)/T, mean(g) = 0):
//   ∂kl/∂z_j = (g_j − c_j·Σ_i g_i u_i / ((C − 1)·σ)) / (σ + ε),
// so α·T²·∂kl/∂z_j = α·T·((q_j − p_j) − c_j·Σ_i (q_i − p_i) u_i / ((C − 1)·σ)) / (σ + ε).
// A row of equal logits has c = 0, Z = 0, and the term through σ (quadratic in c over σ) is its
// limit 0; below σ = 1e-30 it is under f32's resolution of the first term and is dropped.
//
// Accuracy: each row is shifted by its largest logit before anything else (x − max keeps half
// an ulp of the difference, not of x), so ±1e4 logits a few ulp apart standardize as well as
// small ones and a row of equal logits gives c = 0 exactly; the mean of the shifted row and
// Σ c² are compensated fixed-tree sums, in two passes. The largest u is the largest logit's,
// −mean/(σ + ε), bit for bit. The KL of the standardized rows takes kd_loss.wgsl's
// cancellation-free form (d = (u − v)/T, μ = Σ p d, e = d − μ, kl = log1p(Σ p (e^e − 1 − e)),
// Σ p (log p − log q) where that overflows), and q − p is p·expm1(e − kl) where that is the
// more accurate form; exp and log are ../common/stable_math.wgsl's, not the built-ins. The
// teacher equal to the student gives the same bits for u and v, so kl and its gradient are 0.
// Seven sweeps over the row (maxima; shifted sums; squares; exponential sums; kl; q − p, kept
// in grad, and Σ (q − p)·u; the gradient), each reduced by a fixed tree, so the same inputs
// give the same bits. Needs ../common/stable_math.wgsl and ../common/row_kl.wgsl prepended.

struct LogitStdParams {
    rows: u32,
    cols: u32,
    temperature: f32,
    inv_temperature: f32,
    alpha: f32,
    inv_batch: f32,
    epsilon: f32,
    // 0 (LogitStdParams::new): read as the run-time zero two_sum needs.
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: LogitStdParams;
@group(0) @binding(1) var<storage, read> student: array<f32>;
@group(0) @binding(2) var<storage, read> teacher: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
// row_terms[2b] = ce_b, row_terms[2b + 1] = kl_b
@group(0) @binding(5) var<storage, read_write> row_terms: array<f32>;

// One row's standardization: its largest logit, the mean of the row shifted by it, σ, σ + ε.
struct Moments {
    top: f32,
    centre: f32,
    sigma: f32,
    scale: f32,
}

// c = x − mean(x), from the shifted row.
fn centred(x: f32, m: Moments) -> f32 {
    return (x - m.top) - m.centre;
}

// Z(x).
fn standardized(x: f32, m: Moments) -> f32 {
    return centred(x, m) / m.scale;
}

// (u − v) / T with u − v taken exactly.
fn scaled_gap(u: f32, v: f32, inv_t: f32) -> f32 {
    return centred_gap(u, v, vec2<f32>(0.0), inv_t);
}

@compute @workgroup_size(WG, 1, 1)
fn logit_std_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wg.x + wg.y * groups.x;
    let row_active = row < params.rows;
    let cols = params.cols;
    let base = row * cols;
    let inv_t = params.inv_temperature;
    let n = f32(cols);
    zero = f32(params._pad0);

    // Sweep 1: both rows' largest logits.
    var top = vec2<f32>(-3.0e38, -3.0e38);
    if row_active {
        for (var j = lid; j < cols; j += WG) {
            top = max(top, vec2<f32>(student[base + j], teacher[base + j]));
        }
    }
    let tops = workgroup_max(lid, top);

    // Sweep 2: Σ (x − max), compensated; the means of the shifted rows.
    var shifted = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < cols; j += WG) {
            shifted = vec4<f32>(
                compensated_add(shifted.xy, student[base + j] - tops.x, zero),
                compensated_add(shifted.zw, teacher[base + j] - tops.y, zero),
            );
        }
    }
    let centres = workgroup_compensated_sums(lid, shifted) / n;

    // Sweep 3: Σ c², compensated; the sample standard deviations.
    var squares = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < cols; j += WG) {
            let cz = (student[base + j] - tops.x) - centres.x;
            let ct = (teacher[base + j] - tops.y) - centres.y;
            squares = vec4<f32>(
                compensated_add(squares.xy, cz * cz, zero),
                compensated_add(squares.zw, ct * ct, zero),
            );
        }
    }
    let sigmas = sqrt(workgroup_compensated_sums(lid, squares) / (n - 1.0));
    let zm = Moments(tops.x, centres.x, sigmas.x, sigmas.x + params.epsilon);
    let tm = Moments(tops.y, centres.y, sigmas.y, sigmas.y + params.epsilon);
    let u_top = standardized(zm.top, zm);
    let v_top = standardized(tm.top, tm);

    var label = 0u;
    var z_label = 0.0;
    if row_active {
        label = labels[row];
        z_label = student[base + label];
    }

    // Sweep 4: Σ_{j≠y} e^{z_j − max z}; Σ e^{(u − max u)/T}, Σ e^{(v − max v)/T}; Σ w·d,
    // compensated (w = e^{(v − max v)/T}, d = (u − v)/T).
    var sums = vec4<f32>(0.0);
    var weighted_gap = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < cols; j += WG) {
            let z = student[base + j];
            if j != label {
                sums.x += exp_of_diff(z, zm.top, 1.0, zero);
            }
            let u = standardized(z, zm);
            let v = standardized(teacher[base + j], tm);
            sums.y += exp_of_diff(u, u_top, inv_t, zero);
            let w = exp_of_diff(v, v_top, inv_t, zero);
            sums.z += w;
            weighted_gap = vec4<f32>(
                compensated_add(weighted_gap.xy, w * scaled_gap(u, v, inv_t), zero),
                0.0,
                0.0,
            );
        }
    }
    let totals = workgroup_sum(lid, sums);
    let others = totals.x;
    let student_sum = totals.y;
    let teacher_sum = totals.z;
    let mu = workgroup_compensated_sums(lid, weighted_gap).x / teacher_sum;
    let label_on_top = z_label == zm.top;
    let s_label = exp_of_diff(z_label, zm.top, 1.0, zero);
    let hard_sum = select(others + s_label, 1.0 + others, label_on_top);

    // Sweep 5: Σ p (e^e − 1 − e); Σ p (log p − log q) for when the first overflows; Σ p |d|,
    // which bounds μ's rounding.
    let log_student_sum = log_accurate(student_sum);
    let log_teacher_sum = log_accurate(teacher_sum);
    let offset = log_teacher_sum + mu;
    var kl_sums = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < cols; j += WG) {
            let u = standardized(student[base + j], zm);
            let v = standardized(teacher[base + j], tm);
            let p = exp_of_diff(v, v_top, inv_t, zero) / teacher_sum;
            let d = scaled_gap(u, v, inv_t);
            // p·e^e = e^{(u − max v)/T − log Σw − μ}: p_times_exp_tail's student-side form.
            kl_sums.x += p_times_exp_tail(p, d - mu, d, u, v_top, inv_t, offset);
            if p > 0.0 {
                let log_p = (v - v_top) * inv_t - log_teacher_sum;
                kl_sums.y += p * (log_p - ((u - u_top) * inv_t - log_student_sum));
            }
            kl_sums.z += p * abs(d);
        }
    }
    let kl_totals = workgroup_sum(lid, kl_sums);
    let kl = select(kl_totals.y, log1p_stable(max(kl_totals.x, 0.0)), kl_totals.x < 3.0e38);
    let spread = kl_totals.z;

    // Sweep 6: q − p, kept in this invocation's own grad entries until sweep 7; Σ (q − p)·u.
    var along_u = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < cols; j += WG) {
            let u = standardized(student[base + j], zm);
            let v = standardized(teacher[base + j], tm);
            let p = exp_of_diff(v, v_top, inv_t, zero) / teacher_sum;
            let q = exp_of_diff(u, u_top, inv_t, zero) / student_sum;
            let d = scaled_gap(u, v, inv_t);
            let x = (d - mu) - kl;
            // q − p is off by about ulp(q) + ulp(p), p·expm1(x) by p·ulp(|d| + Σ p|d| + kl).
            var soft = q - p;
            if abs(x) <= 1.0 && p * (abs(d) + spread + kl) <= q + p {
                soft = p * expm1_small(x);
            }
            grad[base + j] = soft;
            along_u = vec4<f32>(compensated_add(along_u.xy, soft * u, zero), 0.0, 0.0);
        }
    }
    let soft_dot_u = workgroup_compensated_sums(lid, along_u).x;

    // Sweep 7: the gradient.
    if row_active {
        let hard_weight = (1.0 - params.alpha) * params.inv_batch;
        let soft_weight = params.alpha * params.temperature * params.inv_batch / zm.scale;
        var through_sigma = 0.0;
        if zm.sigma > 1.0e-30 {
            through_sigma = soft_dot_u / ((n - 1.0) * zm.sigma);
        }
        for (var j = lid; j < cols; j += WG) {
            let z = student[base + j];
            var hard = exp_of_diff(z, zm.top, 1.0, zero) / hard_sum;
            if j == label {
                hard = select(s_label / hard_sum - 1.0, -others / hard_sum, label_on_top);
            }
            let soft = grad[base + j] - centred(z, zm) * through_sigma;
            grad[base + j] = hard_weight * hard + soft_weight * soft;
        }
    }
    if row_active && lid == 0u {
        var ce = (zm.top - z_label) + log_accurate(hard_sum);
        if label_on_top {
            ce = log1p_stable(others);
        }
        row_terms[2u * row] = ce;
        row_terms[2u * row + 1u] = kl;
    }
}
