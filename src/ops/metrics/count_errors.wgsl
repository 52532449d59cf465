// Classification errors on the GPU: one invocation per row takes the argmax of its logits
// (first index on ties) and counts a miss against the label with an integer atomic, which is
// exact and order-independent.

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
@group(0) @binding(3) var<storage, read_write> errors: atomic<u32>;

@compute @workgroup_size(WG, 1, 1)
fn count_errors(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if row >= params.rows {
        return;
    }
    let base = row * params.cols;
    var best = 0u;
    var best_value = logits[base];
    for (var j = 1u; j < params.cols; j++) {
        let v = logits[base + j];
        if v > best_value {
            best = j;
            best_value = v;
        }
    }
    if best != labels[row] {
        atomicAdd(&errors, 1u);
    }
}
