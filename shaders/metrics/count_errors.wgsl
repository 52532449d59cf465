// Classification errors on the GPU: one invocation per row takes the argmax of its logits
// (first index on ties) and counts a miss against the label with an integer atomic, which is
// exact and order-independent. counts[1] counts the rows holding a NaN or infinite logit, so a
// broken model is reported instead of scored.
// Needs common/finite.wgsl prepended (see the op's mod.rs).

struct CountParams {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: CountParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>, 2>;

@compute @workgroup_size(WG, 1, 1)
fn count_errors(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if row >= params.rows {
        return;
    }
    let base = row * params.cols;
    var best = 0u;
    var best_value = logits[base];
    var finite = is_finite(best_value);
    for (var j = 1u; j < params.cols; j++) {
        let v = logits[base + j];
        finite = finite && is_finite(v);
        if v > best_value {
            best = j;
            best_value = v;
        }
    }
    if best != labels[row] {
        atomicAdd(&counts[0], 1u);
    }
    if !finite {
        atomicAdd(&counts[1], 1u);
    }
}
