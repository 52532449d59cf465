// Keeps pruned weights at zero after an optimizer update: over one layer's weights,
//   params[offset + i] = 0   where snapshot[offset + i] == 0,   i < count,
// every other entry untouched. `snapshot` holds the parameters as they were when the model was
// pruned, so its zeros are the pruned weights (biases are never pruned and never dispatched).

struct PruneMaskParams {
    offset: u32,
    count: u32,
    _pad0: u32,
    _pad1: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: PruneMaskParams;
@group(0) @binding(1) var<storage, read_write> weights: array<f32>;
@group(0) @binding(2) var<storage, read> snapshot: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn prune_mask(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= params.count {
        return;
    }
    let at = params.offset + i;
    if snapshot[at] == 0.0 {
        weights[at] = 0.0;
    }
}
