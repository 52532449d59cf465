// dst[i] += src[i] for i < count: adds one gradient into another in place (the hint's
// gradient into a student layer's, after the backward pass wrote it). One invocation per
// element over a 2-D grid, so counts past 65 535 workgroups of one dimension fit.

struct AccumulateParams {
    count: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: AccumulateParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn accumulate(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= params.count {
        return;
    }
    dst[i] = dst[i] + src[i];
}
