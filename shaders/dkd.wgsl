// Decoupled knowledge distillation (Zhao et al. 2022) loss and its gradient, one workgroup per
// row b. With y the label, N = {c ≠ y} the non-target classes, s = softmax(z), q = softmax(z/T),
// p = softmax(t/T), and q̂, p̂ the softmaxes of z/T, t/T over N (q̂_y = p̂_y = 0):
//   ce_b = −log s_y,  tckd_b = KL([p_y, 1 − p_y] ‖ [q_y, 1 − q_y]),  nckd_b = KL(p̂ ‖ q̂)
//   kd_b = A·tckd_b + B·nckd_b
//   dL/dz_c = (1/B)[(s_c − 1[c=y]) + w·T·(A·(q_y − p_y)·(1[c=y] − q̂_c) + B·(q̂_c − p̂_c))]
// The batch loss mean(ce) + w·T²·mean(kd) is reduced afterwards by reduce.wgsl.
//
// Target against the rest is a two-class softmax of the binary logit λ = x_y − LSE_N(x)
// (student at T = 1: λ_s; at T: λ_q; teacher at T: λ_p): s_y = σ(λ_s), q_y = σ(λ_q), p_y = σ(λ_p).
// σ(±λ) and their logarithms come from e^{−|λ|} (`split`), so no probability is taken as
// 1 − another and no log of a softmax: ce = −log σ(λ_s), 1 − s_y = σ(−λ_s), s_c = σ(−λ_s)·ŝ_c.
// With k the teacher's top non-target class, nckd and q̂ − p̂ are the KD kernel's
// cancellation-free forms over N (kd_loss.wgsl explains them). TCKD hangs on
//   δ = λ_q − λ_p = Σ_N p̂_c D_c − nckd,   D_c = ((z_y − t_y) − (z_c − t_c))/T
// (LSE_N(z/T) − LSE_N(t/T) = Σ p̂ (z − t)/T + KL(p̂ ‖ q̂)); δ is taken from whichever has the
// smaller parts, the binary logits (a student far from its teacher) or Σ p̂ D (exact
// differences, a compensated sum) and nckd (a student near its teacher, where δ is a small
// difference of large logit gaps). Either way δ carries about ulp(1) times those parts, and
// where it is near 0 only by a coincidence of large parts, so do q_y − p_y and TCKD. Then
//   q_y − p_y = (1 − q_y)·p_y·expm1(δ) = −(1 − p_y)·q_y·expm1(−δ)    (no cancellation)
//   tckd = log1p(p_y·f((1 − p_y)·δ) + (1 − p_y)·f(−p_y·δ)),  f(x) = e^x − 1 − x ≥ 0
// (DESIGN.md's KL form on the two classes), where w·e^x of a side's probability w that
// underflows (a teacher sure of the label, p_y = 1, or of the rest) is e^{λ' + log(1 − w) − w·δ'},
// λ', δ' the student's logit and δ in that side's orientation: finite and exact at p_y = 1.
// Where the tails overflow (kl > 88) the plain Σ p (log p − log q) is used (no 0·log 0). C = 2:
// N is one class, q̂ = p̂ = 1, nckd = 0 and tckd is plain KD. The launcher rejects C < 2.
// Needs common/stable_math.wgsl and common/row_kl.wgsl prepended.

struct DkdParams {
    rows: u32,
    cols: u32,
    temperature: f32,
    inv_temperature: f32,
    // A
    target_weight: f32,
    // B
    non_target_weight: f32,
    // w, the warm-up factor
    ramp: f32,
    inv_batch: f32,
    // 0 (DkdParams::new): read as the run-time zero two_sum needs.
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

@group(0) @binding(0) var<uniform> params: DkdParams;
@group(0) @binding(1) var<storage, read> student: array<f32>;
@group(0) @binding(2) var<storage, read> teacher: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
// row_terms[2b] = ce_b, row_terms[2b + 1] = kd_b
@group(0) @binding(5) var<storage, read_write> row_terms: array<f32>;

var<workgroup> red_max: array<vec2<f32>, MAX_WG>;
var<workgroup> red_arg: array<u32, MAX_WG>;

const NONE: u32 = 0xffffffffu;

// σ(λ), σ(−λ), their logarithms, and both times 2^64 (normal where σ itself is subnormal, which
// a device may flush to 0).
struct Split {
    w: f32,
    w_bar: f32,
    log_w: f32,
    log_w_bar: f32,
    w_scaled: f32,
    w_bar_scaled: f32,
}

// The same two classes the other way round.
fn flip(s: Split) -> Split {
    return Split(s.w_bar, s.w, s.log_w_bar, s.log_w, s.w_bar_scaled, s.w_scaled);
}

// e^{x + x_lo}·2^64 for x ≤ 0 (|x_lo| ≲ ulp(x)), as exp_accurate but scaled before it can
// underflow; 0 below x = −150, where it is below 1e-46.
fn exp_times_2_64(x: f32, x_lo: f32) -> f32 {
    if x < -150.0 {
        return 0.0;
    }
    let n = round(x * 1.44269504);
    let r = ((x - n * LN2_HI) - n * LN2_LO) + x_lo;
    let e_r = 1.0 + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0
        / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    return ldexp(e_r, i32(n) + 64);
}

// λ = (x_y − x_top)·scale − log(rest) as hi + lo: x_top the largest non-target value, rest =
// Σ_N e^{(x − x_top)·scale} (≥ 1).
fn binary_logit(x_y: f32, x_top: f32, scale: f32, rest: f32) -> vec2<f32> {
    let gap = two_diff(x_y, x_top, zero);
    let s = two_sum(gap.x * scale, -log_accurate(rest), zero);
    return vec2<f32>(s.x, s.y + gap.y * scale);
}

// σ(±λ) = 1/(1 + ρ) and ρ/(1 + ρ) with ρ = e^{−|λ|} ≤ 1; logs −log1p(ρ) and −|λ| − log1p(ρ).
fn split(lambda: vec2<f32>) -> Split {
    let negative = lambda.x < 0.0;
    let m = select(-lambda, lambda, negative);
    let rho = exp_accurate(m.x, m.y);
    let big = 1.0 / (1.0 + rho);
    let small = rho * big;
    let log_big = -log1p_stable(rho);
    let log_small = log_big - abs(lambda.x + lambda.y);
    let big_scaled = ldexp(big, 64);
    let small_scaled = exp_times_2_64(m.x, m.y) * big;
    if negative {
        return Split(small, big, log_small, log_big, small_scaled, big_scaled);
    }
    return Split(big, small, log_big, log_small, big_scaled, small_scaled);
}

// e^x − 1 for x ≤ 0.
fn expm1_nonpositive(x: f32) -> f32 {
    if x >= -1.0 {
        return expm1_small(x);
    }
    return exp_accurate(x, 0.0) - 1.0;
}

// One side of the two-class KL: w·f(w̄·δ) ≥ 0, w = σ(λ) the teacher's probability of the side,
// δ = λ' − λ with λ' the student's logit in the same orientation. Beyond |x| ≤ 1, w·e^x is
// e^{log w + x}, or where w < 1/2 the same exponent without the cancelling λ:
// log w + w̄·δ = λ' + log w̄ − w·δ (≈ λ' when w underflows). For x > 1 the tail is
// w·e^x·(1 − (1 + x)·e^{−x}), the factor at least 1 − 2/e, so w itself (perhaps subnormal) is not
// needed; for x < −1, w·e^x < w/e and w·(−1 − x) add, the second from w·2^64.
fn binary_tail(side: Split, delta: f32, student_logit: f32) -> f32 {
    let x = side.w_bar * delta;
    if abs(x) <= 1.0 {
        return side.w * exp_minus_1_minus_x(x);
    }
    var exponent = side.log_w + x;
    if side.w < 0.5 {
        exponent = (student_logit + side.log_w_bar) - side.w * delta;
    }
    let w_exp = exp_accurate(exponent, 0.0);
    if x > 1.0 {
        return w_exp * (1.0 - (1.0 + x) * exp_accurate(-x, 0.0));
    }
    return w_exp + ldexp(side.w_scaled * (-1.0 - x), -64);
}

// Σ p (log p − log q) over the two classes, skipping p = 0.
fn binary_kl_plain(p: Split, q: Split) -> f32 {
    var kl = 0.0;
    if p.w > 0.0 {
        kl += p.w * (p.log_w - q.log_w);
    }
    if p.w_bar > 0.0 {
        kl += p.w_bar * (p.log_w_bar - q.log_w_bar);
    }
    return kl;
}

@compute @workgroup_size(WG, 1, 1)
fn dkd_loss_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wg.x + wg.y * groups.x;
    let row_active = row < params.rows;
    let base = row * params.cols;
    let inv_t = params.inv_temperature;
    zero = f32(params._pad0);
    var label = 0u;
    if row_active {
        label = labels[row];
    }

    // Sweep 1: over N, the student's top logit and the teacher's with its first column.
    var top = vec2<f32>(-3.4e38, -3.4e38);
    var teacher_top = NONE;
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            if j != label {
                top.x = max(top.x, student[base + j]);
                let t = teacher[base + j];
                if teacher_top == NONE || t > top.y {
                    top.y = t;
                    teacher_top = j;
                }
            }
        }
    }
    red_max[lid] = top;
    red_arg[lid] = teacher_top;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            let mine = red_max[lid];
            let mine_arg = red_arg[lid];
            let other = red_max[lid + stride];
            let other_arg = red_arg[lid + stride];
            let take = other_arg != NONE && (mine_arg == NONE || other.y > mine.y
                || (other.y == mine.y && other_arg < mine_arg));
            if take {
                red_arg[lid] = other_arg;
            }
            red_max[lid] = vec2<f32>(max(mine.x, other.x), select(mine.y, other.y, take));
        }
        workgroupBarrier();
    }
    let z_top = red_max[0].x;
    let t_top = red_max[0].y;
    let k = min(red_arg[0], params.cols - 1u);
    var z_k = 0.0;
    var z_y = 0.0;
    var t_y = 0.0;
    var shift = vec2<f32>(0.0);
    var shift_y = vec2<f32>(0.0);
    if row_active {
        z_k = student[base + k];
        z_y = student[base + label];
        t_y = teacher[base + label];
        shift = two_diff(z_k, teacher[base + k], zero);
        shift_y = two_diff(z_y, t_y, zero);
    }
    let v_k = exp_of_diff(z_k, z_top, inv_t, zero);

    // Sweep 2 over N: Σ e^{z − z_top}, Σv, Σw (v = e^{(z − z_top)/T}, w = e^{(t − t_top)/T}),
    // Σ w·|D| (D_c = ((z_y − t_y) − (z_c − t_c))/T); Σ_{c≠k} (v_k w_c − v_c), Σ w·d and Σ w·D,
    // compensated.
    var sums = vec4<f32>(0.0);
    var compensated = vec4<f32>(0.0);
    var label_compensated = vec2<f32>(0.0);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            if j != label {
                let z = student[base + j];
                let t = teacher[base + j];
                let v = exp_of_diff(z, z_top, inv_t, zero);
                let w = exp_of_diff(t, t_top, inv_t, zero);
                let label_gap = -centred_gap(z, t, shift_y, inv_t);
                sums += vec4<f32>(exp_of_diff(z, z_top, 1.0, zero), v, w, w * abs(label_gap));
                label_compensated = compensated_add(label_compensated, w * label_gap, zero);
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
    }
    let totals = workgroup_sum(lid, sums);
    let compensated_totals = workgroup_compensated_sums(lid, compensated);
    let label_totals = workgroup_compensated_sums(lid, vec4<f32>(label_compensated, 0.0, 0.0));
    let hard_rest = totals.x;
    let student_sum = totals.y;
    let teacher_sum = totals.z;
    let top_gap = compensated_totals.x;
    let mu = compensated_totals.y / teacher_sum;
    let log_student_sum = log_accurate(student_sum);
    let log_teacher_sum = log_accurate(teacher_sum);

    // Sweep 3 over N: Σ p̂ (e^e − 1 − e); Σ p̂ (log p̂ − log q̂) for when the first overflows;
    // Σ p̂ |d|, which bounds μ's rounding.
    let offset = log_teacher_sum + mu;
    var kl_sums = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            if j != label {
                let z = student[base + j];
                let t = teacher[base + j];
                let p = exp_of_diff(t, t_top, inv_t, zero) / teacher_sum;
                let d = centred_gap(z, t, shift, inv_t);
                kl_sums.x += p_times_exp_tail(p, d - mu, d, z, z_k, inv_t, offset);
                if p > 0.0 {
                    let log_p = (t - t_top) * inv_t - log_teacher_sum;
                    kl_sums.y += p * (log_p - ((z - z_top) * inv_t - log_student_sum));
                }
                kl_sums.z += p * abs(d);
            }
        }
    }
    let kl_totals = workgroup_sum(lid, kl_sums);
    let nckd = select(kl_totals.y, log1p_stable(kl_totals.x), kl_totals.x < 3.0e38);
    let mu_spread = kl_totals.z;

    // Target against the rest (every invocation computes the same values). δ = λ_q − λ_p
    // directly, or as Σ p̂ D − nckd where that has the smaller parts (see the header).
    let sb = split(binary_logit(z_y, z_top, 1.0, hard_rest));
    let lambda_q = binary_logit(z_y, z_top, inv_t, student_sum);
    let lambda_p = binary_logit(t_y, t_top, inv_t, teacher_sum);
    let qb = split(lambda_q);
    let pb = split(lambda_p);
    var delta = (lambda_q.x - lambda_p.x) + (lambda_q.y - lambda_p.y);
    let logit_parts = abs((z_y - z_top) * inv_t) + log_student_sum + abs((t_y - t_top) * inv_t)
        + log_teacher_sum;
    let spread = totals.w / teacher_sum;
    if spread + nckd < logit_parts {
        delta = label_totals.x / teacher_sum - nckd;
    }
    let lq = lambda_q.x + lambda_q.y;
    let binary_tails = binary_tail(pb, delta, lq) + binary_tail(flip(pb), -delta, -lq);
    let tckd = select(binary_kl_plain(pb, qb), log1p_stable(binary_tails), binary_tails < 3.0e38);
    var target_gap = -(pb.w_bar * qb.w * expm1_nonpositive(-delta));
    if delta <= 0.0 {
        target_gap = qb.w_bar * pb.w * expm1_nonpositive(delta);
    }

    // Sweep 4: the gradient.
    if row_active {
        let soft = params.ramp * params.temperature;
        let target_weight = soft * params.target_weight;
        let non_target_weight = soft * params.non_target_weight;
        for (var j = lid; j < params.cols; j += WG) {
            if j == label {
                let g = -sb.w_bar + target_weight * target_gap;
                grad[base + j] = params.inv_batch * g;
                continue;
            }
            let z = student[base + j];
            let t = teacher[base + j];
            let hard = sb.w_bar * (exp_of_diff(z, z_top, 1.0, zero) / hard_rest);
            let p = exp_of_diff(t, t_top, inv_t, zero) / teacher_sum;
            let q = exp_of_diff(z, z_top, inv_t, zero) / student_sum;
            let d = centred_gap(z, t, shift, inv_t);
            let x = (d - mu) - nckd;
            // q̂ − p̂ as in the KD kernel: the direct difference or p̂·expm1(x), whichever is
            // the more accurate; at k from the compensated sum.
            var gap = q - p;
            if abs(x) <= 1.0 && p * (abs(d) + mu_spread + nckd) <= q + p {
                gap = p * expm1_small(x);
            }
            if j == k {
                gap = top_gap / (teacher_sum * student_sum);
            }
            let g = hard + (non_target_weight * gap - target_weight * target_gap * q);
            grad[base + j] = params.inv_batch * g;
        }
    }
    if row_active && lid == 0u {
        row_terms[2u * row] = -sb.log_w;
        row_terms[2u * row + 1u] = params.target_weight * tckd + params.non_target_weight * nckd;
    }
}
