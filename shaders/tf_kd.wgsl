// Teacher-free KD with a manually designed teacher (Yuan et al. 2020, "Revisiting Knowledge
// Distillation via Label Smoothing Regularization", Tf-KD_reg), one workgroup per row b, as
// loss_kd_regularization in yuanli2333/Teacher-free-Knowledge-Distillation's
// my_loss_function.py computes it:
//   virtual teacher p_v: a at the label y_b, u = (1 − a)/(C − 1) elsewhere; softened as they do,
//   π = softmax(p_v / T) (the probabilities themselves divided by T), the same for every row
//   but for where its label sits; the student is not softened: s = softmax(z)
//   ce_b = −log s[y_b],  kl_b = KL(π ‖ s) = Σ_c π_c (log π_c − log s_c)
//   row terms [ce_b, kl_b / C] (their KLDivLoss() averages over all B·C elements)
//   dL/dz_b = (1/B)·[(1 − α)(s − onehot(y_b)) + (α·m / C)(s − π)]
// The batch loss (1 − α)·mean(ce) + α·m·mean(kl / C) is reduced afterwards by reduce.wgsl.
// The teacher-logits binding is declared for the shared contract and only its length is taken,
// so the pipeline layout keeps it: no element of it is read.
//
// π's two values, their logs, the logit gap g = (a − u)/T between label and other classes (as
// hi + lo) and e^{±g} come from the host in f64. With k the virtual teacher's top class (the
// label when a ≥ 1/C, else the first other column), the KL is kd_loss.wgsl's cancellation-free
// form at T = 1 with teacher logits ℓ = p_v / T: d_c = (z_c − z_k) − (ℓ_c − ℓ_k), exact but for
// one rounding, μ = Σ π d, kl = log1p(Σ π (e^{d − μ} − 1 − (d − μ))), s_c − π_c = π_c·expm1(d_c −
// μ − kl) where that is the more accurate form, and at k, Σ_{c≠k} (v_k w_c − v_c) / (Σv·Σw)
// with v = e^{z − z_max}, w = e^{ℓ − ℓ_k}, summed with compensation. Four sweeps over the row
// (maximum; sums; kl; gradient), each reduced by a fixed tree, so the same inputs give the same
// bits. Needs ./common/stable_math.wgsl and ./common/row_kl.wgsl prepended.

struct TfKdParams {
    rows: u32,
    cols: u32,
    // (1 − α) / B and (α·m / C) / B: the weights of s − onehot(y) and s − π in dL/dz.
    hard_weight: f32,
    soft_weight: f32,
    // g = ℓ_label − ℓ_other = (a − u) / T as hi + lo.
    gap_hi: f32,
    gap_lo: f32,
    // π at the label and elsewhere, and their logs.
    p_label: f32,
    p_other: f32,
    log_p_label: f32,
    log_p_other: f32,
    // w = e^{ℓ − ℓ_k} at the label and elsewhere (one of them 1).
    w_label: f32,
    w_other: f32,
    // 1 when the label is the virtual teacher's top class (a ≥ 1/C), else 0.
    label_top: u32,
    inv_cols: f32,
    // 0 (TfKdParams::new): read as the run-time zero two_sum needs.
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: TfKdParams;
@group(0) @binding(1) var<storage, read> student: array<f32>;
// Unused: the virtual teacher is built from the label.
@group(0) @binding(2) var<storage, read> teacher: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
// row_terms[2b] = ce_b, row_terms[2b + 1] = kl_b / C
@group(0) @binding(5) var<storage, read_write> row_terms: array<f32>;


// ℓ_c − ℓ_k as hi + lo.
fn teacher_shift(is_label: bool) -> vec2<f32> {
    let g = vec2<f32>(params.gap_hi, params.gap_lo);
    if params.label_top == 1u {
        return select(-g, vec2<f32>(0.0), is_label);
    }
    return select(vec2<f32>(0.0), g, is_label);
}

// d_c = (z_c − z_k) − (ℓ_c − ℓ_k), the logit difference exact.
fn virtual_gap(z: f32, z_k: f32, is_label: bool) -> f32 {
    let gap = two_diff(z, z_k, zero);
    let shift = teacher_shift(is_label);
    return (gap.x - shift.x) + (gap.y - shift.y);
}

@compute @workgroup_size(WG, 1, 1)
fn tf_kd_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wg.x + wg.y * groups.x;
    let row_active = row < params.rows;
    let base = row * params.cols;
    zero = f32(params._pad0);
    // Keeps binding 2 in the layout the pipeline derives, reading no element.
    _ = arrayLength(&teacher);

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
    var z_k = 0.0;
    let label_top = params.label_top == 1u;
    var k = 0u;
    if row_active {
        label = labels[row];
        k = select(select(0u, 1u, label == 0u), label, label_top);
        z_label = student[base + label];
        z_k = student[base + k];
    }
    let p_top = select(params.p_other, params.p_label, label_top);
    let log_p_top = select(params.log_p_other, params.log_p_label, label_top);
    let v_k = exp_of_diff(z_k, z_max, 1.0, zero);

    // Sweep 2: Σ_{j≠y} v_j and Σv; Σ_{c≠k} (v_k w_c − v_c) and Σ w·d, compensated.
    var sums = vec4<f32>(0.0);
    var compensated = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            let is_label = j == label;
            let v = exp_of_diff(z, z_max, 1.0, zero);
            if !is_label {
                sums.x += v;
            }
            sums.y += v;
            let w = select(params.w_other, params.w_label, is_label);
            let d = virtual_gap(z, z_k, is_label);
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
    let top_gap = compensated_totals.x;
    // Σw = 1 / π_k.
    let mu = compensated_totals.y * p_top;
    let label_on_top = z_label == z_max;
    let s_label = exp_of_diff(z_label, z_max, 1.0, zero);
    let hard_sum = select(others + s_label, 1.0 + others, label_on_top);

    // Sweep 3: Σ π (e^e − 1 − e); Σ π (log π − log s) for when the first overflows; Σ π |d|,
    // which bounds μ's rounding.
    let log_student_sum = log_accurate(student_sum);
    // log π_c + d_c − μ = (z_c − z_k) − (μ − log π_k).
    let offset = mu - log_p_top;
    var kl_sums = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            let is_label = j == label;
            let p = select(params.p_other, params.p_label, is_label);
            let d = virtual_gap(z, z_k, is_label);
            kl_sums.x += p_times_exp_tail(p, d - mu, d, z, z_k, 1.0, offset);
            if p > 0.0 {
                let log_p = select(params.log_p_other, params.log_p_label, is_label);
                kl_sums.y += p * (log_p - ((z - z_max) - log_student_sum));
            }
            kl_sums.z += p * abs(d);
        }
    }
    let kl_totals = workgroup_sum(lid, kl_sums);
    let kl = select(kl_totals.y, log1p_stable(kl_totals.x), kl_totals.x < 3.0e38);
    let mu_spread = kl_totals.z;

    // Sweep 4: the gradient.
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            let is_label = j == label;
            let v = exp_of_diff(z, z_max, 1.0, zero);
            var hard = v / hard_sum;
            if is_label {
                hard = select(s_label / hard_sum - 1.0, -others / hard_sum, label_on_top);
            }
            let p = select(params.p_other, params.p_label, is_label);
            let q = v / student_sum;
            let d = virtual_gap(z, z_k, is_label);
            let x = (d - mu) - kl;
            // q − p is off by about ulp(q) + ulp(p), p·expm1(x) by p·ulp(|d| + Σ π|d| + kl).
            var soft = q - p;
            if abs(x) <= 1.0 && p * (abs(d) + mu_spread + kl) <= q + p {
                soft = p * expm1_small(x);
            }
            if j == k {
                soft = top_gap * p_top / student_sum;
            }
            grad[base + j] = params.hard_weight * hard + params.soft_weight * soft;
        }
    }
    if row_active && lid == 0u {
        var ce = (z_max - z_label) + log_accurate(hard_sum);
        if label_on_top {
            ce = log1p_stable(others);
        }
        row_terms[2u * row] = ce;
        row_terms[2u * row + 1u] = kl * params.inv_cols;
    }
}
