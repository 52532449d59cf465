// Bias gradient db[j] = Σ_rows dY[row, j]: one invocation per column, rows summed in order
// (deterministic; no atomics).

struct BiasGradParams {
    rows: u32,
    cols: u32,
    grad_offset: u32,
    _pad: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: BiasGradParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    if col >= params.cols {
        return;
    }
    var sum = 0.0;
    for (var r = 0u; r < params.rows; r++) {
        sum += dy[r * params.cols + col];
    }
    grads[params.grad_offset + col] = sum;
}
