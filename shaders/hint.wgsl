// FitNets hint loss (Romero et al. 2015) and its gradient, one workgroup per row b of the
// regressor output r and the teacher's hidden activation h, both [rows, width] = [B, W]:
//   m_b = (1/W)·Σ_j (r_bj − h_bj)²        grad_bj = 2β·(r_bj − h_bj)/(B·W)
// row_terms[2b] = 0 and row_terms[2b + 1] = m_b, the interleaved layout reduce.wgsl reads
// (with weights (0, β) it gives loss[0] = β·mean_b(m_b), loss[2] = mean_b(m_b) = the MSE).
// The difference is taken once and squared; invocation i sums columns i, i + WG, … in order,
// then a fixed tree combines the partials: every term is ≥ 0, so nothing cancels, and the same
// inputs give the same bits on the same adapter (no float atomics).

struct HintParams {
    rows: u32,
    width: u32,
    // 2β/(B·W), computed in f64 on the host.
    grad_scale: f32,
    // 1/W, computed in f64 on the host.
    inv_width: f32,
}

override WG: u32 = 64u;
const MAX_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: HintParams;
// r [B, W]
@group(0) @binding(1) var<storage, read> prediction: array<f32>;
// h [B, W]
@group(0) @binding(2) var<storage, read> teacher_hidden: array<f32>;
// dL/dr [B, W]
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
// [0, m_b] per row
@group(0) @binding(4) var<storage, read_write> row_terms: array<f32>;

var<workgroup> red: array<f32, MAX_WG>;

@compute @workgroup_size(WG, 1, 1)
fn hint_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wg.x + wg.y * groups.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    let row_active = row < params.rows;
    let base = row * params.width;
    var partial = 0.0;
    if row_active {
        for (var j = lid; j < params.width; j += WG) {
            let d = prediction[base + j] - teacher_hidden[base + j];
            grad[base + j] = params.grad_scale * d;
            partial += d * d;
        }
    }
    red[lid] = partial;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            red[lid] = red[lid] + red[lid + stride];
        }
        workgroupBarrier();
    }
    if row_active && lid == 0u {
        row_terms[2u * row] = 0.0;
        row_terms[2u * row + 1u] = red[0] * params.inv_width;
    }
}
