// Distillation of a regression model, one workgroup per row b of K outputs (s student, t teacher,
// y target, d = s − y, e = s − t):
//   form 0, MSE:     hard_b = (1/K)·Σ_j d_j²,       soft_b = (1/K)·Σ_j e_j²
//   form 1, Huber:   hard_b = (1/K)·Σ_j h_δ(d_j),   soft_b = (1/K)·Σ_j h_δ(e_j),
//                    h_δ(x) = x²/2 if |x| < δ else δ·(|x| − δ/2)  (PyTorch's HuberLoss)
//   form 2, bounded: hard_b = (1/K)·Σ_j d_j²,
//                    soft_b = hard_b if hard_b + m > (1/K)·Σ_j (t_j − y_j)², else 0
//                    (the teacher-bounded regression loss L_b of Chen et al. 2017, "Learning
//                    Efficient Object Detection Models with Knowledge Distillation": no teacher
//                    term once the student beats the teacher by the margin; squared norms
//                    taken as means over the K outputs)
//   dL/ds_bj = hard_weight·ℓ'(d_j) + soft_weight·ℓ'(e_j), ℓ' = 2x (MSE) or clamp(x, −δ, δ)
//   (Huber); bounded: hard_weight·2d_j + [on_b]·soft_weight·2d_j.
// hard_weight = (1 − α)/(B·K) and soft_weight = α/(B·K), so the batch loss
// (1 − α)·mean_b hard_b + α·mean_b soft_b, which reduce.wgsl forms afterwards, is PyTorch's
// mean-reduced MSELoss/HuberLoss over the B·K outputs. Each difference is one rounded f32
// subtraction and each sum one of non-negative terms in a fixed tree, so the same inputs give
// the same bits.

struct RegressionLossParams {
    rows: u32,
    cols: u32,
    // 0 MSE, 1 Huber, 2 bounded.
    form: u32,
    hard_weight: f32,
    soft_weight: f32,
    // 1 / K.
    inv_cols: f32,
    // Huber's δ (> 0).
    delta: f32,
    // The bounded form's margin m.
    margin: f32,
}

override WG: u32 = 64u;
const MAX_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: RegressionLossParams;
@group(0) @binding(1) var<storage, read> student: array<f32>;
@group(0) @binding(2) var<storage, read> teacher: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
// row_terms[2b] = hard_b, row_terms[2b + 1] = soft_b
@group(0) @binding(5) var<storage, read_write> row_terms: array<f32>;

var<workgroup> red_sum: array<vec3<f32>, MAX_WG>;

fn huber(x: f32) -> f32 {
    let a = abs(x);
    if a < params.delta {
        return 0.5 * x * x;
    }
    return params.delta * (a - 0.5 * params.delta);
}

// The per-output loss of the form in force (MSE for the bounded form's terms).
fn point_loss(x: f32) -> f32 {
    if params.form == 1u {
        return huber(x);
    }
    return x * x;
}

// Its derivative.
fn point_grad(x: f32) -> f32 {
    if params.form == 1u {
        return clamp(x, -params.delta, params.delta);
    }
    return 2.0 * x;
}

@compute @workgroup_size(WG, 1, 1)
fn regression_loss_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wg.x + wg.y * groups.x;
    let row_active = row < params.rows;
    let base = row * params.cols;

    // Sweep 1: Σ ℓ(s − y), Σ ℓ(s − t) and, for the bounded form, Σ (t − y)².
    var sums = vec3<f32>(0.0);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let s = student[base + j];
            let y = targets[base + j];
            let t = teacher[base + j];
            sums.x += point_loss(s - y);
            if params.form == 2u {
                let teacher_error = t - y;
                sums.z += teacher_error * teacher_error;
            } else {
                sums.y += point_loss(s - t);
            }
        }
    }
    red_sum[lid] = sums;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            red_sum[lid] = red_sum[lid] + red_sum[lid + stride];
        }
        workgroupBarrier();
    }
    let totals = red_sum[0];
    let hard = totals.x * params.inv_cols;
    var soft = totals.y * params.inv_cols;
    var bound_on = 1.0;
    if params.form == 2u {
        let teacher_error = totals.z * params.inv_cols;
        bound_on = select(0.0, 1.0, hard + params.margin > teacher_error);
        soft = bound_on * hard;
    }

    // Sweep 2: the gradient.
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let s = student[base + j];
            let d = s - targets[base + j];
            var g = params.hard_weight * point_grad(d);
            if params.form == 2u {
                g += bound_on * params.soft_weight * point_grad(d);
            } else {
                g += params.soft_weight * point_grad(s - teacher[base + j]);
            }
            grad[base + j] = g;
        }
    }
    if row_active && lid == 0u {
        row_terms[2u * row] = hard;
        row_terms[2u * row + 1u] = soft;
    }
}
