// Temperature calibration (Guo et al. 2017) on the GPU, two entry points over logits
// [rows, cols] and labels:
//   nll_per_temperature: workgroup k scores candidate temperatures[k]:
//       nll[k] = (1/N) Σ_n −log softmax(z_n / T_k)[y_n]
//   reliability: at temperatures[0], workgroup b < bins sums the rows whose confidence
//       (max_c p_c) lies in ((b)/bins, (b+1)/bins]: stats[3b..3b+3] = (count, Σ conf, Σ correct);
//       workgroup `bins` sums every row: stats[3·bins..] = (Σ nll, Σ brier, Σ correct).
// Per row, with m the max logit (first on ties) and e_c = exp((z_c − m)/T), s = Σ_{c≠argmax} e_c:
//   nll   = (m − z_y)/T + log1p(s)                 (no cancellation when y is the argmax)
//   conf  = 1/(1 + s)
//   brier = Σ_c (p_c − 1[c=y])² = ((1 + s − e_y)² + Σ_{c≠y} e_c²)/(1 + s)², with 1 + s − e_y
//           = s when y is the argmax, so the near-1 confidence of a right row does not cancel.
// Sums are compensated (Neumaier) and combined by a fixed tree: same inputs, same bits.
// Needs common/stable_math.wgsl prepended (see the op's mod.rs).

struct CalibrationParams {
    rows: u32,
    cols: u32,
    candidates: u32,
    bins: u32,
    // 0 (CalibrationParams::new): read as the run-time zero two_sum needs.
    zero_bits: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: CalibrationParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> temperatures: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<array<vec2<f32>, 3>, WG>;
var<private> zero: f32;

struct RowStats {
    nll: f32,
    conf: f32,
    brier: f32,
    correct: f32,
}

fn row_stats(row: u32, inv_t: f32) -> RowStats {
    let base = row * params.cols;
    let y = labels[row];
    var top = 0u;
    var m = logits[base];
    for (var c = 1u; c < params.cols; c++) {
        let v = logits[base + c];
        if v > m {
            m = v;
            top = c;
        }
    }
    var s = vec2<f32>(0.0, 0.0);
    var sq = vec2<f32>(0.0, 0.0);
    var e_y = 1.0;
    for (var c = 0u; c < params.cols; c++) {
        if c == top {
            continue;
        }
        let e = exp_of_diff(logits[base + c], m, inv_t, zero);
        s = compensated_add(s, e, zero);
        if c != y {
            sq = compensated_add(sq, e * e, zero);
        } else {
            e_y = e;
        }
    }
    let s_sum = s.x + s.y;
    let sq_sum = sq.x + sq.y;
    let scaled = two_diff(m, logits[base + y], zero);
    var stats: RowStats;
    stats.nll = (scaled.x + scaled.y) * inv_t + log1p_stable(s_sum);
    stats.conf = 1.0 / (1.0 + s_sum);
    var miss = s_sum;
    var others = sq_sum;
    if y != top {
        miss = (1.0 + s_sum) - e_y;
        others = sq_sum + 1.0;
    }
    let norm = 1.0 + s_sum;
    stats.brier = (miss * miss + others) / (norm * norm);
    stats.correct = select(0.0, 1.0, y == top);
    return stats;
}

// Tree-combines each invocation's three compensated sums; invocation 0 gets the totals.
fn combine(lid: u32, mine: array<vec2<f32>, 3>) -> array<f32, 3> {
    red[lid] = mine;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            for (var i = 0u; i < 3u; i++) {
                red[lid][i] = compensated_merge(red[lid][i], red[lid + stride][i], zero);
            }
        }
        workgroupBarrier();
    }
    return array<f32, 3>(red[0][0].x + red[0][0].y, red[0][1].x + red[0][1].y,
        red[0][2].x + red[0][2].y);
}

@compute @workgroup_size(WG, 1, 1)
fn nll_per_temperature(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    zero = f32(params.zero_bits);
    let k = wid.x;
    let inv_t = 1.0 / temperatures[k];
    var sums = array<vec2<f32>, 3>(vec2<f32>(0.0), vec2<f32>(0.0), vec2<f32>(0.0));
    for (var r = lid; r < params.rows; r += WG) {
        sums[0] = compensated_add(sums[0], row_stats(r, inv_t).nll, zero);
    }
    let totals = combine(lid, sums);
    if lid == 0u {
        out[k] = totals[0] / f32(params.rows);
    }
}

@compute @workgroup_size(WG, 1, 1)
fn reliability(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    zero = f32(params.zero_bits);
    let b = wid.x;
    let inv_t = 1.0 / temperatures[0];
    let bins = f32(params.bins);
    var sums = array<vec2<f32>, 3>(vec2<f32>(0.0), vec2<f32>(0.0), vec2<f32>(0.0));
    for (var r = lid; r < params.rows; r += WG) {
        let st = row_stats(r, inv_t);
        if b == params.bins {
            sums[0] = compensated_add(sums[0], st.nll, zero);
            sums[1] = compensated_add(sums[1], st.brier, zero);
            sums[2] = compensated_add(sums[2], st.correct, zero);
        } else {
            let bin = u32(clamp(ceil(st.conf * bins) - 1.0, 0.0, bins - 1.0));
            if bin == b {
                sums[0] = compensated_add(sums[0], 1.0, zero);
                sums[1] = compensated_add(sums[1], st.conf, zero);
                sums[2] = compensated_add(sums[2], st.correct, zero);
            }
        }
    }
    let totals = combine(lid, sums);
    if lid == 0u {
        out[3u * b] = totals[0];
        out[3u * b + 1u] = totals[1];
        out[3u * b + 2u] = totals[2];
    }
}
