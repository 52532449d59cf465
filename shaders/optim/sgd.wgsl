// SGD with momentum and L2 weight decay, in place (PyTorch semantics):
//   g = grad + wd·param;  v = μ·v + g;  param −= lr·v

struct SgdParams {
    count: u32,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: SgdParams;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> velocity: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn sgd_step(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= params.count {
        return;
    }
    let g = grads[i] + params.weight_decay * weights[i];
    let v = params.momentum * velocity[i] + g;
    velocity[i] = v;
    weights[i] = weights[i] - params.lr * v;
}
