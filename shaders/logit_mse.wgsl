// Logit regression (Ba & Caruana 2014, "Do Deep Nets Really Need to be Deep?") mixed with the
// cross-entropy, one workgroup per row b:
//   s = softmax(z),  ce_b = −log s[y_b],  mse_b = (1/C)·Σ_c (z_c − t_c)²
//   dL/dz_b = (1/B)·[(1 − α)(s − onehot(y_b)) + α·(2/C)(z − t)]
// The batch loss (1 − α)·mean(ce) + α·mean(mse) is reduced afterwards by reduce.wgsl; α·mean(mse)
// is PyTorch's MSELoss(reduction='mean') over the B·C logits, which torchdistill applies to the
// classifier outputs (torchdistill/losses/registry.py wraps torch.nn's losses,
// torchdistill/losses/mid_level.py's SimpleLossWrapper feeds them student and teacher outputs).
//
// The cross-entropy is kd_loss.wgsl's cancellation-free form: log1p(Σ_{j≠y} e^{z_j − z_y}) when
// y is the row's top logit (then s_y − 1 = −Σ_{j≠y} s_j), else (z_max − z_y) + log Σ e^{z − z_max},
// with exact logit differences and ./common/stable_math.wgsl's exp and log. z_c − t_c is one
// correctly rounded f32 subtraction and mse_b a sum of non-negative terms, so both keep f32's
// relative precision even at logits of ±1e4 (terms of 4e8). Three sweeps over the row (maximum;
// sums; gradient), each reduced by a fixed tree, so the same inputs give the same bits. Needs
// ./common/stable_math.wgsl and ./common/row_kl.wgsl (workgroup size, sums, `zero`) prepended.

struct LogitMseParams {
    rows: u32,
    cols: u32,
    // (1 − α) / B and α·(2/C) / B: the weights of s − onehot(y) and z − t in dL/dz.
    hard_weight: f32,
    soft_weight: f32,
    // 1 / C.
    inv_cols: f32,
    // 0 (LogitMseParams::new): read as the run-time zero two_sum needs.
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: LogitMseParams;
@group(0) @binding(1) var<storage, read> student: array<f32>;
@group(0) @binding(2) var<storage, read> teacher: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
// row_terms[2b] = ce_b, row_terms[2b + 1] = mse_b
@group(0) @binding(5) var<storage, read_write> row_terms: array<f32>;


@compute @workgroup_size(WG, 1, 1)
fn logit_mse_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wg.x + wg.y * groups.x;
    let row_active = row < params.rows;
    let base = row * params.cols;
    zero = f32(params._pad0);

    // Sweep 1: the student's top logit.
    var top = -3.4e38;
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            top = max(top, student[base + j]);
        }
    }
    let z_max = workgroup_max(lid, vec2<f32>(top, 0.0)).x;
    var label = 0u;
    var z_label = 0.0;
    if row_active {
        label = labels[row];
        z_label = student[base + label];
    }

    // Sweep 2: Σ_{j≠y} e^{z_j − z_max} and Σ (z − t)².
    var sums = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            if j != label {
                sums.x += exp_of_diff(z, z_max, 1.0, zero);
            }
            let d = z - teacher[base + j];
            sums.y += d * d;
        }
    }
    let totals = workgroup_sum(lid, sums);
    let others = totals.x;
    let label_on_top = z_label == z_max;
    let s_label = exp_of_diff(z_label, z_max, 1.0, zero);
    let hard_sum = select(others + s_label, 1.0 + others, label_on_top);

    // Sweep 3: the gradient.
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            var hard = exp_of_diff(z, z_max, 1.0, zero) / hard_sum;
            if j == label {
                hard = select(s_label / hard_sum - 1.0, -others / hard_sum, label_on_top);
            }
            let d = z - teacher[base + j];
            grad[base + j] = params.hard_weight * hard + params.soft_weight * d;
        }
    }
    if row_active && lid == 0u {
        var ce = (z_max - z_label) + log_accurate(hard_sum);
        if label_on_top {
            ce = log1p_stable(others);
        }
        row_terms[2u * row] = ce;
        row_terms[2u * row + 1u] = totals.y * params.inv_cols;
    }
}
