// Multi-teacher, partial-class KD loss and its gradient, one workgroup per row b.
// Teacher k knows the classes S_k (known[k·C + c] = 1) and is softened over those only:
//   p_k = softmax(t_k / T) over S_k,  q_k = softmax(z / T) over S_k,  s = softmax(z) over all C
// Eligible teachers E_b = {k : y_b ∈ S_k} share weights w_k ≥ 0 summing to 1 (all 0 when E_b is
// empty or its raw weights are all 0: the row then learns from its label only). Raw weights:
//   mode 0 uniform: 1;  1 fixed: base_weights[k];  2 confidence: p_k(y_b) at T = 1 over S_k
//   (as exp(log p_k(y_b) − max over E_b), so it never underflows to an all-zero row);
//   3 route: 1 on the first k with the largest p_k(y_b) at T = 1.
// combine 0 (mixture): kl_b = Σ_k w_k KL(p_k ‖ q_k),
//   dL/dz_c = (1/B)[(1 − α)(s_c − 1[c = y_b]) + α·T·Σ_k w_k·1[c ∈ S_k]·(q_k(c) − p_k(c))]
// combine 1 (logits): one teacher t̄ = Σ_k w_k t_k over the shared class set S = S_0 (the
//   launcher checks the sets are equal), then the single-teacher terms over S.
// Gated (params.gated = 1): each sample's teacher row is followed by K gates, and teacher k is
//   eligible for row b only when its gate is > 0 too (per-sample KD weights, e.g. no KD term
//   where the teacher confidently contradicts the label).
// row_terms [ce_b, kl_b] are reduced by reduce.wgsl. All log-probabilities are
// max-subtracted; nothing takes log(softmax). Every sum runs in a fixed order or tree.
// Needs common/online_softmax.wgsl prepended (see the op's mod.rs).

struct MultiKdParams {
    rows: u32,
    cols: u32,
    teachers: u32,
    weight_mode: u32,
    combine: u32,
    temperature: f32,
    inv_temperature: f32,
    alpha: f32,
    inv_batch: f32,
    gated: u32,
    // 1: the buffer is teacher-major, [K, B, C] (one teacher's batch logits after another, as
    // copied from models' logit buffers in the step), and never gated.
    teacher_major: u32,
    _pad2: u32,
}

override WG: u32 = 64u;
const MAX_WG: u32 = 256u;
const MAX_TEACHERS: u32 = 8u;
const EMPTY: vec2<f32> = vec2<f32>(-3.0e38, 0.0);

@group(0) @binding(0) var<uniform> params: MultiKdParams;
// z [B, C]
@group(0) @binding(1) var<storage, read> student: array<f32>;
// t [B, K·C (+ K gates)]: a sample's K teachers are one contiguous run of K·C values
// (or [K, B, C] when params.teacher_major = 1)
@group(0) @binding(2) var<storage, read> teachers: array<f32>;
// [K, C], 0 or 1
@group(0) @binding(3) var<storage, read> known: array<u32>;
// [K], ≥ 0 (mode 1)
@group(0) @binding(4) var<storage, read> base_weights: array<f32>;
@group(0) @binding(5) var<storage, read> labels: array<u32>;
@group(0) @binding(6) var<storage, read_write> grad: array<f32>;
// row_terms[2b] = ce_b, row_terms[2b + 1] = kl_b
@group(0) @binding(7) var<storage, read_write> row_terms: array<f32>;
// [B, K], the weights used
@group(0) @binding(8) var<storage, read_write> weights_out: array<f32>;

// (z/T, t_k/T) partials, then z and t_k at T = 1 partials, then the per-row KL.
var<workgroup> red_soft: array<vec4<f32>, MAX_WG>;
var<workgroup> red_pair: array<vec2<f32>, MAX_WG>;
var<workgroup> red_kl: array<f32, MAX_WG>;

fn reduce_pair(lid: u32) -> vec2<f32> {
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            red_pair[lid] = online_merge(red_pair[lid], red_pair[lid + stride]);
        }
        workgroupBarrier();
    }
    let total = red_pair[0];
    // Nobody may overwrite red_pair[0] before every invocation has read it.
    workgroupBarrier();
    return vec2<f32>(total.x, log(total.y));
}

fn reduce_soft(lid: u32) -> vec4<f32> {
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            let a = red_soft[lid];
            let b = red_soft[lid + stride];
            red_soft[lid] = vec4<f32>(online_merge(a.xy, b.xy), online_merge(a.zw, b.zw));
        }
        workgroupBarrier();
    }
    let total = red_soft[0];
    workgroupBarrier();
    return vec4<f32>(total.x, log(total.y), total.z, log(total.w));
}

// t̄_c = Σ_k w_k t_kc in a fixed order (the same in both passes, so p sums to 1).
// Floats per sample in `teachers`: K·C logits, then K gates when gated.
fn row_stride(k_count: u32) -> u32 {
    return k_count * params.cols + select(0u, k_count, params.gated == 1u);
}

// Where teacher k's logits for `row` start, in either layout.
fn teacher_base(row: u32, k: u32, k_count: u32) -> u32 {
    if params.teacher_major == 1u {
        return (k * params.rows + row) * params.cols;
    }
    return row * row_stride(k_count) + k * params.cols;
}

fn combined_logit(row: u32, col: u32, k_count: u32, w: array<f32, MAX_TEACHERS>) -> f32 {
    var sum = 0.0;
    for (var k = 0u; k < k_count; k += 1u) {
        if w[k] > 0.0 {
            sum += w[k] * teachers[teacher_base(row, k, k_count) + col];
        }
    }
    return sum;
}

@compute @workgroup_size(WG, 1, 1)
fn multi_kd_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wg.x + wg.y * groups.x;
    let row_active = row < params.rows;
    let cols = params.cols;
    let k_count = min(params.teachers, MAX_TEACHERS);
    let zbase = row * cols;
    let inv_t = params.inv_temperature;
    var label = 0u;
    if row_active {
        label = labels[row];
    }

    // Cross-entropy: softmax of z over all classes. Max and log-sum stay separate: x − (m + log s)
    // would round m + log s to the ulp of m, while (x − m) − log s is exact for the largest x.
    var hard = EMPTY;
    if row_active {
        for (var j = lid; j < cols; j += WG) {
            hard = online_merge(hard, vec2<f32>(student[zbase + j], 1.0));
        }
    }
    red_pair[lid] = hard;
    let hard_stats = reduce_pair(lid);

    // Per teacher, over its known classes: (max, log-sum) of z/T and t_k/T for the soft terms,
    // and log p_k(y_b) at T = 1 for the confidence and route weights.
    var stats: array<vec4<f32>, MAX_TEACHERS>;
    var confidence: array<f32, MAX_TEACHERS>;
    var eligible: array<bool, MAX_TEACHERS>;
    for (var k = 0u; k < k_count; k += 1u) {
        let tbase = teacher_base(row, k, k_count);
        let mbase = k * cols;
        var soft = vec4<f32>(EMPTY, EMPTY);
        var sharp = EMPTY;
        if row_active {
            for (var j = lid; j < cols; j += WG) {
                if known[mbase + j] != 0u {
                    let t = teachers[tbase + j];
                    let zt = vec2<f32>(student[zbase + j] * inv_t, 1.0);
                    soft = vec4<f32>(online_merge(soft.xy, zt), online_merge(soft.zw, vec2<f32>(t * inv_t, 1.0)));
                    sharp = online_merge(sharp, vec2<f32>(t, 1.0));
                }
            }
        }
        red_soft[lid] = soft;
        red_pair[lid] = sharp;
        stats[k] = reduce_soft(lid);
        let sharp_stats = reduce_pair(lid);
        eligible[k] = row_active && known[mbase + label] != 0u;
        if eligible[k] && params.gated == 1u {
            eligible[k] = teachers[row * row_stride(k_count) + k_count * cols + k] > 0.0;
        }
        confidence[k] = 0.0;
        if eligible[k] {
            confidence[k] = (teachers[tbase + label] - sharp_stats.x) - sharp_stats.y;
        }
    }

    // Weights over the eligible teachers (every invocation computes the same values).
    var top = 0.0;
    var top_k = MAX_TEACHERS;
    for (var k = 0u; k < k_count; k += 1u) {
        if eligible[k] && (top_k == MAX_TEACHERS || confidence[k] > top) {
            top = confidence[k];
            top_k = k;
        }
    }
    var w: array<f32, MAX_TEACHERS>;
    var total = 0.0;
    for (var k = 0u; k < k_count; k += 1u) {
        var raw = 0.0;
        if eligible[k] {
            switch params.weight_mode {
                case 1u: { raw = base_weights[k]; }
                case 2u: { raw = exp(confidence[k] - top); }
                case 3u: { raw = select(0.0, 1.0, k == top_k); }
                default: { raw = 1.0; }
            }
        }
        w[k] = raw;
        total += raw;
    }
    for (var k = 0u; k < k_count; k += 1u) {
        w[k] = select(0.0, w[k] / total, total > 0.0);
        if row_active && lid == 0u {
            weights_out[row * k_count + k] = w[k];
        }
    }

    // Logits combine: (max, log-sum) of t̄/T over the shared class set.
    var combined = vec2<f32>(0.0, 0.0);
    if params.combine == 1u {
        var part = EMPTY;
        if row_active && total > 0.0 {
            for (var j = lid; j < cols; j += WG) {
                if known[j] != 0u {
                    part = online_merge(part, vec2<f32>(combined_logit(row, j, k_count, w) * inv_t, 1.0));
                }
            }
        }
        red_pair[lid] = part;
        combined = reduce_pair(lid);
    }

    var kl = 0.0;
    if row_active {
        let hard_weight = (1.0 - params.alpha) * params.inv_batch;
        let soft_weight = params.alpha * params.temperature * params.inv_batch;
        for (var j = lid; j < cols; j += WG) {
            let z = student[zbase + j];
            let s = exp((z - hard_stats.x) - hard_stats.y);
            var soft = 0.0;
            if params.combine == 1u {
                if total > 0.0 && known[j] != 0u {
                    let log_q = (z * inv_t - stats[0].x) - stats[0].y;
                    let log_p = (combined_logit(row, j, k_count, w) * inv_t - combined.x) - combined.y;
                    let p = exp(log_p);
                    if p > 0.0 {
                        kl += p * (log_p - log_q);
                    }
                    soft = exp(log_q) - p;
                }
            } else {
                for (var k = 0u; k < k_count; k += 1u) {
                    if w[k] > 0.0 && known[k * cols + j] != 0u {
                        let st = stats[k];
                        let log_q = (z * inv_t - st.x) - st.y;
                        let log_p = (teachers[teacher_base(row, k, k_count) + j] * inv_t - st.z) - st.w;
                        let p = exp(log_p);
                        if p > 0.0 {
                            kl += w[k] * (p * (log_p - log_q));
                        }
                        soft += w[k] * (exp(log_q) - p);
                    }
                }
            }
            let onehot = select(0.0, 1.0, j == label);
            grad[zbase + j] = hard_weight * (s - onehot) + soft_weight * soft;
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
        row_terms[2u * row] = hard_stats.y - (student[zbase + label] - hard_stats.x);
        row_terms[2u * row + 1u] = red_kl[0];
    }
}
