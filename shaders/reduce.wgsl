// Deterministic batch reduction of the per-row KD terms written by kd_loss.wgsl.
// One workgroup: invocation i sums rows i, i + WG, … in order, then a fixed tree combines them,
// so the same inputs give the same bits on the same adapter (no float atomics).
//   loss[0] = w_ce·mean(ce) + w_kl·mean(kl), loss[1] = mean(ce), loss[2] = mean(kl), with
//   w_ce = 1 − α and w_kl = α·T² for the KD loss (other objectives weigh the terms their way)
//   loss[4..7] accumulate loss[0..3] over steps and loss[7] counts the steps, so a trainer can
//   read an epoch's mean loss once instead of stalling every step; loss[3] records the first
//   step (counted like loss[7]) whose loss was NaN or infinite, 0 while none was, so a
//   non-finite run is caught at that read without a per-step stall.
// Needs common/finite.wgsl prepended (see the op's mod.rs).

struct ReduceParams {
    rows: u32,
    ce_weight: f32,
    kl_weight: f32,
    inv_batch: f32,
}

override WG: u32 = 256u;
const MAX_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: ReduceParams;
@group(0) @binding(1) var<storage, read> row_terms: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;

var<workgroup> red: array<vec2<f32>, MAX_WG>;

@compute @workgroup_size(WG, 1, 1)
fn reduce_loss(@builtin(local_invocation_index) lid: u32) {
    var partial = vec2<f32>(0.0, 0.0);
    for (var r = lid; r < params.rows; r += WG) {
        partial += vec2<f32>(row_terms[2u * r], row_terms[2u * r + 1u]);
    }
    red[lid] = partial;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            red[lid] = red[lid] + red[lid + stride];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        let ce = red[0].x * params.inv_batch;
        let kl = red[0].y * params.inv_batch;
        let total = params.ce_weight * ce + params.kl_weight * kl;
        loss[0] = total;
        loss[1] = ce;
        loss[2] = kl;
        loss[4] += total;
        loss[5] += ce;
        loss[6] += kl;
        loss[7] += 1.0;
        if loss[3] == 0.0 && !is_finite(total) {
            loss[3] = loss[7];
        }
    }
}
