// Inverted dropout in place on a layer output: each element is kept with probability 1 − p and
// scaled by 1/(1 − p), else zeroed. The keep decision hashes (seed, step, layer, element), so a
// run is deterministic and needs no stored mask: backward reads the zeros of the output itself
// (matmul epilogue 3 with mask_scale = 1/(1 − p)).
// Needs common/hash.wgsl prepended (see the op's mod.rs).

struct DropoutParams {
    count: u32,
    // Elements whose 24-bit hash is below this are dropped: round(p · 2^24).
    drop_threshold: u32,
    scale: f32,
    seed: u32,
    step: u32,
    layer: u32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: DropoutParams;
@group(0) @binding(1) var<storage, read_write> values: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn dropout(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= params.count {
        return;
    }
    let key = hash(params.seed ^ hash(params.step ^ hash(params.layer ^ hash(i))));
    if (key >> 8u) < params.drop_threshold {
        values[i] = 0.0;
    } else {
        values[i] = values[i] * params.scale;
    }
}
