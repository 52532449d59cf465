// AdamW with bias correction, in place (Loshchilov & Hutter; PyTorch's AdamW):
//   param ·= 1 − lr·wd
//   m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²
//   param −= lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)
// The host passes the bias corrections 1 − β^t for the current step t.

struct AdamWParams {
    count: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bias_correction1: f32,
    bias_correction2: f32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: AdamWParams;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(4) var<storage, read_write> moment2: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn adamw_step(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= params.count {
        return;
    }
    let g = grads[i];
    let m = params.beta1 * moment1[i] + (1.0 - params.beta1) * g;
    let v = params.beta2 * moment2[i] + (1.0 - params.beta2) * g * g;
    moment1[i] = m;
    moment2[i] = v;
    let m_hat = m / params.bias_correction1;
    let v_hat = v / params.bias_correction2;
    let decayed = weights[i] * (1.0 - params.lr * params.weight_decay);
    weights[i] = decayed - params.lr * m_hat / (sqrt(v_hat) + params.eps);
}
