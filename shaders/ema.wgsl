// Exponential-moving-average teacher update (mean teacher, Tarvainen & Valpola 2017), in place
// over a flat parameter buffer:
//   θ' ← d·θ' + (1 − d)·θ,  computed as  θ' + (1 − d)·(θ − θ')
// (one rounding fewer; θ' is kept exactly where θ = θ'). The host passes 1 − d, computed in
// f64 and rounded once; d itself rides along in the uniform for anyone reading a capture.

struct EmaParams {
    count: u32,
    keep: f32,
    blend: f32,
    _pad: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: EmaParams;
// θ', the teacher's parameters, updated in place
@group(0) @binding(1) var<storage, read_write> shadow: array<f32>;
// θ, the student's parameters
@group(0) @binding(2) var<storage, read> source: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn ema_update(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= params.count {
        return;
    }
    let kept = shadow[i];
    shadow[i] = kept + params.blend * (source[i] - kept);
}
