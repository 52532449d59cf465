// Generalized Jensen–Shannon distillation loss and its gradient, one workgroup per row b, with
// the divergence as huggingface/trl defines it (trl/trainer/gkd_trainer.py,
// GKDTrainer.generalized_jsd_loss):
//   s = softmax(z), q = softmax(z / T), p = softmax(t / T), m = β·p + (1 − β)·q
//   ce_b  = −log s[y_b]
//   jsd_b = β·KL(p ‖ m) + (1 − β)·KL(q ‖ m) for 0 < β < 1; KL(p ‖ q) at β = 0; KL(q ‖ p) at β = 1
//   dL/dz_b = (1/B)·[(1 − α)(s − onehot(y_b)) + α·T·g] with
//   g = (1 − β)·q ⊙ (log(q/m) − KL(q ‖ m)) for 0 < β < 1 (∂jsd/∂q_c = (1 − β)·log(q_c/m_c)),
//   g = q ⊙ (log(q/p) − KL(q ‖ p)) at β = 1, g = q − p at β = 0.
// The batch loss (1 − α)·mean(ce) + α·T²·mean(jsd) is reduced afterwards by reduce.wgsl.
//
// Every term is computed in a form without cancelling terms, so saturated, near-uniform and
// ±1e4 rows keep f32's relative precision:
//   the CE and KL(r ‖ s) exactly as kd_loss.wgsl does (its notes give the derivations), with
//   (r, s) = (p, q), or (q, p) at β = 1: d_c = ((s_c − r_c) − (s_k − r_k)) / T from exact
//   differences of logits (k r's top class), μ = Σ r d, KL(r ‖ s) = log1p(Σ r (e^{d−μ} − 1 −
//   (d − μ))); at β = 0 the gradient q − p is kd_loss.wgsl's too;
//   at β = 1, log(q_c/p_c) − KL(q ‖ p) = μ − d_c (d centred at the student's top class), so
//   g = q ⊙ (μ − d) needs no difference of large logs;
//   in the mixture, x_c = log(q_c/p_c) = d_c + x_k with x_k = log1p(Σ_{c≠k}(v_k w_c − v_c)/Σv)
//   (v, w the unnormalised softmaxes; kd_loss.wgsl's compensated top-class sum), or
//   log q_c − log p_c where that rounds less (logits of ±1e4);
//   a = log(m/p) = log(β + (1 − β)·e^x), b = log(m/q) = log((1 − β) + β·e^{−x}): log1p(w·expm1)
//   for |x| ≤ 1, else the log-sum-exp of log β and log(1 − β) + x (trl's mixture);
//   KL(p ‖ m) = Σ p (e^a − 1 − a) and KL(q ‖ m) = Σ q (e^b − 1 − b), sums of terms ≥ 0 (the
//   added m − p and m − q sum to 0): each the series for |a| ≤ 1, else (m − r) − r·a;
//   where the student is sure (q_j > 1/2 at its top class j), log(q_j/m_j) and KL(q ‖ m) may
//   agree to many digits (saturated rows), so g_j = −Σ_{c≠j} g_c, summed with compensation.
// Four sweeps over the row (maxima; sums; KL(r ‖ s); the gradient), in the mixture two more
// (the JSD sums; the top class's gradient), each reduced by a fixed tree, so the same inputs
// give the same bits. Needs common/stable_math.wgsl and common/row_kl.wgsl prepended.

struct GjsdParams {
    rows: u32,
    cols: u32,
    temperature: f32,
    inv_temperature: f32,
    alpha: f32,
    inv_batch: f32,
    beta: f32,
    one_minus_beta: f32,
    // log β and log(1 − β) in the mixture, 0 otherwise.
    log_beta: f32,
    log_one_minus_beta: f32,
    // MODE_FORWARD (β = 0), MODE_MIXTURE, MODE_REVERSE (β = 1).
    mode: u32,
    // 0 (GjsdParams::new): read as the run-time zero two_sum needs.
    _pad0: u32,
}

const MODE_FORWARD: u32 = 0u;
const MODE_MIXTURE: u32 = 1u;
const MODE_REVERSE: u32 = 2u;

@group(0) @binding(0) var<uniform> params: GjsdParams;
@group(0) @binding(1) var<storage, read> student: array<f32>;
@group(0) @binding(2) var<storage, read> teacher: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
// row_terms[2b] = ce_b, row_terms[2b + 1] = jsd_b
@group(0) @binding(5) var<storage, read_write> row_terms: array<f32>;

var<workgroup> red_max: array<vec2<f32>, MAX_WG>;
// The first column holding the student's (x) and the teacher's (y) largest logit.
var<workgroup> red_arg: array<vec2<u32>, MAX_WG>;

// log(w_one + w_x·e^x) for w_one + w_x = 1, both > 0, given their logs.
fn log_mix(x: f32, w_x: f32, log_w_one: f32, log_w_x: f32) -> f32 {
    if abs(x) <= 1.0 {
        // u ≥ −0.64·w_x: where log1p's series stops, 1 + u ≥ 0.36 and its log loses nothing.
        let u = w_x * expm1_small(x);
        if u >= -0.29 {
            return log1p_stable(u);
        }
        return log_accurate(1.0 + u);
    }
    let v = log_w_x + x;
    let hi = max(log_w_one, v);
    return hi + log1p_stable(exp_accurate(min(log_w_one, v) - hi, 0.0));
}

// b = log(m/q) of a class with x = log(q/p), in the mixture.
fn log_m_over_q(x: f32) -> f32 {
    return log_mix(-x, params.beta, params.log_one_minus_beta, params.log_beta);
}

// A KL(r ‖ m) term r·(e^g − 1 − g) ≥ 0 with g = log(m/r) and m − r given: the series for
// |g| ≤ 1, else (m − r) − r·g, whose parts differ by a factor of 1.5 at least. Finite where r
// has underflowed (then m − r).
fn kl_term(r: f32, g: f32, m_minus_r: f32) -> f32 {
    if abs(g) <= 1.0 {
        return r * exp_minus_1_minus_x(g);
    }
    return m_minus_r - r * g;
}

// The logits of a KL's first argument r and second s, (r, s): (teacher, student), or at
// β = 1 (student, teacher).
fn kl_roles(z: f32, t: f32) -> vec2<f32> {
    if params.mode == MODE_REVERSE {
        return vec2<f32>(z, t);
    }
    return vec2<f32>(t, z);
}

// x = log(q_c/p_c) with its rounding's scale (in ulps of 1): d + x_k, or the log-probabilities'
// difference where that rounds less (logits of ±1e4 making d and x_k large and x small).
fn log_ratio(d: f32, x_top: vec2<f32>, log_q: f32, log_p: f32) -> vec2<f32> {
    let via_gap = abs(d) + x_top.y;
    let via_logs = abs(log_q) + abs(log_p);
    if via_gap <= via_logs {
        return vec2<f32>(d + x_top.x, via_gap);
    }
    return vec2<f32>(log_q - log_p, via_logs);
}

// (x − x_max)/T with the difference exact.
fn scaled_gap(x: f32, x_max: f32, inv_t: f32) -> f32 {
    let g = two_diff(x, x_max, zero);
    return g.x * inv_t + g.y * inv_t;
}

@compute @workgroup_size(WG, 1, 1)
fn gjsd_loss_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wg.x + wg.y * groups.x;
    let row_active = row < params.rows;
    let base = row * params.cols;
    let inv_t = params.inv_temperature;
    let mode = params.mode;
    zero = f32(params._pad0);

    // Sweep 1: the student's and the teacher's top logits and their first columns.
    var top = vec2<f32>(-3.0e38, -3.0e38);
    var top_arg = vec2<u32>(0u, 0u);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            let t = teacher[base + j];
            if z > top.x {
                top.x = z;
                top_arg.x = j;
            }
            if t > top.y {
                top.y = t;
                top_arg.y = j;
            }
        }
    }
    red_max[lid] = top;
    red_arg[lid] = top_arg;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            let mine = red_max[lid];
            let other = red_max[lid + stride];
            let other_arg = red_arg[lid + stride];
            var arg = red_arg[lid];
            if other.x > mine.x || (other.x == mine.x && other_arg.x < arg.x) {
                arg.x = other_arg.x;
            }
            if other.y > mine.y || (other.y == mine.y && other_arg.y < arg.y) {
                arg.y = other_arg.y;
            }
            red_arg[lid] = arg;
            red_max[lid] = max(mine, other);
        }
        workgroupBarrier();
    }
    let z_max = red_max[0].x;
    let t_max = red_max[0].y;
    // The KL part runs on r (weights) and s: KL(r ‖ s), d centred at r's top class k.
    let reverse = mode == MODE_REVERSE;
    let r_max = select(t_max, z_max, reverse);
    let s_max = select(z_max, t_max, reverse);
    let k = min(select(red_arg[0].y, red_arg[0].x, reverse), params.cols - 1u);
    let student_top = min(red_arg[0].x, params.cols - 1u);
    var label = 0u;
    var s_k = 0.0;
    var shift = vec2<f32>(0.0);
    if row_active {
        label = labels[row];
        let rs = kl_roles(student[base + k], teacher[base + k]);
        s_k = rs.y;
        shift = two_diff(rs.y, rs.x, zero);
    }
    let v_k = exp_of_diff(s_k, s_max, inv_t, zero);

    // Sweep 2: Σ_{j≠y} e^{z_j − z_max}; Σv, Σw (v = e^{(s − s_max)/T}, w = e^{(r − r_max)/T});
    // Σ_{c≠k} (v_k w_c − v_c), compensated, and Σ |v_k w_c − v_c|; Σ w·d, compensated.
    var sums = vec4<f32>(0.0);
    var compensated = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            let rs = kl_roles(z, teacher[base + j]);
            if j != label {
                sums.x += exp_of_diff(z, z_max, 1.0, zero);
            }
            let v = exp_of_diff(rs.y, s_max, inv_t, zero);
            let w = exp_of_diff(rs.x, r_max, inv_t, zero);
            sums.y += v;
            sums.z += w;
            let d = centred_gap(rs.y, rs.x, shift, inv_t);
            var top_gap_term = v_k * w - v;
            if abs(d) <= 1.0 {
                top_gap_term = v * expm1_small(-d);
            }
            if j == k {
                top_gap_term = 0.0;
            }
            sums.w += abs(top_gap_term);
            compensated = vec4<f32>(
                compensated_add(compensated.xy, top_gap_term, zero),
                compensated_add(compensated.zw, w * d, zero),
            );
        }
    }
    let totals = workgroup_sum(lid, sums);
    let compensated_totals = workgroup_compensated_sums(lid, compensated);
    let others = totals.x;
    let s_sum = totals.y;
    let r_sum = totals.z;
    let top_gap = compensated_totals.x;
    let mu = compensated_totals.y / r_sum;
    var z_label = 0.0;
    if row_active {
        z_label = student[base + label];
    }
    let label_on_top = z_label == z_max;
    let s_label = exp_of_diff(z_label, z_max, 1.0, zero);
    let hard_sum = select(others + s_label, 1.0 + others, label_on_top);

    // Sweep 3: KL(r ‖ s) as Σ r (e^e − 1 − e), or Σ r (log r − log s) where that overflows;
    // Σ r |d|, which bounds μ's rounding.
    let log_s_sum = log_accurate(s_sum);
    let log_r_sum = log_accurate(r_sum);
    let offset = log_r_sum + mu;
    var kl_sums = vec4<f32>(0.0);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let rs = kl_roles(student[base + j], teacher[base + j]);
            let r = exp_of_diff(rs.x, r_max, inv_t, zero) / r_sum;
            let d = centred_gap(rs.y, rs.x, shift, inv_t);
            kl_sums.x += p_times_exp_tail(r, d - mu, d, rs.y, s_k, inv_t, offset);
            if r > 0.0 {
                let log_r = (rs.x - r_max) * inv_t - log_r_sum;
                kl_sums.y += r * (log_r - ((rs.y - s_max) * inv_t - log_s_sum));
            }
            kl_sums.z += r * abs(d);
        }
    }
    let kl_totals = workgroup_sum(lid, kl_sums);
    let kl = select(kl_totals.y, log1p_stable(kl_totals.x), kl_totals.x < 3.0e38);
    let mu_spread = kl_totals.z;
    // x_k = log(q_k/p_k) (β < 1) with its rounding's scale, from whichever form rounds least:
    // log1p(top_gap / Σv) (w_k = 1, so v_k·Σw − Σv = top_gap; off by about Σ|top-gap terms|/Σv),
    // −(μ + KL(p ‖ q)) (off by Σ p|d| + KL), or the log-probabilities. The first is exact where
    // the second cancels: tied top classes with a little mass elsewhere.
    let top_ratio = top_gap / s_sum;
    let log_q_top = scaled_gap(s_k, s_max, inv_t) - log_s_sum;
    var x_top = vec2<f32>(log_q_top + log_r_sum, abs(log_q_top) + log_r_sum);
    if mu_spread + kl < x_top.y {
        x_top = vec2<f32>(-(mu + kl), mu_spread + kl);
    }
    if top_ratio >= -0.29 {
        let x = log1p_stable(top_ratio);
        let scale = abs(x) + totals.w / s_sum;
        if scale < x_top.y {
            x_top = vec2<f32>(x, scale);
        }
    }
    // q_j > 1/2: Σ_{c≠j} e^{(z_c − z_j)/T} < 1.
    let top_is_sure = s_sum < 2.0;

    // Sweep 4 (mixture only; `mode` is uniform): KL(p ‖ m) and KL(q ‖ m).
    var jsd = kl;
    var kl_student = 0.0;
    var top_soft = 0.0;
    if mode == MODE_MIXTURE {
        var jsd_sums = vec4<f32>(0.0);
        if row_active {
            for (var j = lid; j < params.cols; j += WG) {
                let z = student[base + j];
                let t = teacher[base + j];
                let p = exp_of_diff(t, t_max, inv_t, zero) / r_sum;
                let q = exp_of_diff(z, z_max, inv_t, zero) / s_sum;
                let x = log_ratio(
                    centred_gap(z, t, shift, inv_t),
                    x_top,
                    scaled_gap(z, z_max, inv_t) - log_s_sum,
                    scaled_gap(t, t_max, inv_t) - log_r_sum,
                ).x;
                let a = log_mix(
                    x,
                    params.one_minus_beta,
                    params.log_beta,
                    params.log_one_minus_beta,
                );
                jsd_sums.x += kl_term(p, a, params.one_minus_beta * (q - p));
                jsd_sums.y += kl_term(q, log_m_over_q(x), params.beta * (p - q));
            }
        }
        let jsd_totals = workgroup_sum(lid, jsd_sums);
        kl_student = jsd_totals.y;
        jsd = params.beta * jsd_totals.x + params.one_minus_beta * kl_student;

        // Sweep 5: −Σ_{c≠j} g_c, the gradient at the student's top class j where q_j > 1/2.
        var top_terms = vec4<f32>(0.0);
        if row_active {
            for (var j = lid; j < params.cols; j += WG) {
                if j != student_top {
                    let z = student[base + j];
                    let t = teacher[base + j];
                    let x = log_ratio(
                        centred_gap(z, t, shift, inv_t),
                        x_top,
                        scaled_gap(z, z_max, inv_t) - log_s_sum,
                        scaled_gap(t, t_max, inv_t) - log_r_sum,
                    ).x;
                    let q = exp_of_diff(z, z_max, inv_t, zero) / s_sum;
                    let g = -q * (log_m_over_q(x) + kl_student);
                    top_terms = vec4<f32>(compensated_add(top_terms.xy, g, zero), 0.0, 0.0);
                }
            }
        }
        top_soft = -workgroup_compensated_sums(lid, top_terms).x;
    }

    // The last sweep: the gradient.
    if row_active {
        let hard_weight = (1.0 - params.alpha) * params.inv_batch;
        var soft_weight = params.alpha * params.temperature * params.inv_batch;
        if mode == MODE_MIXTURE {
            soft_weight = soft_weight * params.one_minus_beta;
        }
        for (var j = lid; j < params.cols; j += WG) {
            let z = student[base + j];
            let t = teacher[base + j];
            var hard = exp_of_diff(z, z_max, 1.0, zero) / hard_sum;
            if j == label {
                hard = select(s_label / hard_sum - 1.0, -others / hard_sum, label_on_top);
            }
            let rs = kl_roles(z, t);
            let r = exp_of_diff(rs.x, r_max, inv_t, zero) / r_sum;
            let s = exp_of_diff(rs.y, s_max, inv_t, zero) / s_sum;
            let d = centred_gap(rs.y, rs.x, shift, inv_t);
            var soft = 0.0;
            if mode == MODE_REVERSE {
                // r = q and d_c = ((t_c − z_c) − (t_k − z_k))/T with k the student's top class:
                // log(q_c/p_c) − KL(q ‖ p) = μ − d_c, exact at k (d_k = 0).
                soft = r * (mu - d);
            } else {
                let x = log_ratio(
                    d,
                    x_top,
                    scaled_gap(z, z_max, inv_t) - log_s_sum,
                    scaled_gap(t, t_max, inv_t) - log_r_sum,
                );
                if mode == MODE_FORWARD {
                    // q − p (s = q, r = p): p·expm1(x) is off by about p·ulp(x's scale), q − p
                    // by ulp(q) + ulp(p); at k kd_loss.wgsl's compensated sum.
                    soft = s - r;
                    if abs(x.x) <= 1.0 && r * x.y <= s + r {
                        soft = r * expm1_small(x.x);
                    }
                    if j == k {
                        soft = top_gap / (r_sum * s_sum);
                    }
                } else {
                    soft = -s * (log_m_over_q(x.x) + kl_student);
                    if j == student_top && top_is_sure {
                        soft = top_soft;
                    }
                }
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
        row_terms[2u * row + 1u] = jsd;
    }
}
