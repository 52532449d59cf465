// Int8 fake quantization of one dense layer's weights, symmetric and per output row (one scale
// per output unit, as in Jacob et al. 2018's per-channel weights). For row o of W [out, in]:
//   m = max_j |W[o, j]|
//   s = m / 127                                      (s = 1 where m < 127·2⁻¹²⁶: a zero row, or
//                                                     one whose scale would be subnormal)
//   W_q[o, j] = clamp(round(W[o, j] / s), −127, 127) · s      (round: half to even)
// W_q goes to the effective-weights buffer the forward and backward passes read, the bias is
// copied there unchanged, and s to scales[scale_offset + o]. The master weights are not
// written: the optimizer updates them with the gradient computed at W_q (straight-through).
// One workgroup per row: a max-reduction over the row in workgroup memory (max is exact in any
// order), then every invocation quantizes its strided share of the row.

struct FakeQuantParams {
    inputs: u32,
    outputs: u32,
    weight_offset: u32,
    bias_offset: u32,
    scale_offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const WG: u32 = 64u;
// 127 · 2⁻¹²⁶: below this row maximum the scale would be subnormal (flushed on many GPUs).
const MIN_ROW_MAX: f32 = 127.0 * 1.17549435e-38;

@group(0) @binding(0) var<uniform> params: FakeQuantParams;
@group(0) @binding(1) var<storage, read> master: array<f32>;
@group(0) @binding(2) var<storage, read_write> effective: array<f32>;
@group(0) @binding(3) var<storage, read_write> scales: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG, 1, 1)
fn fake_quant(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // The grid may be split over x and y; surplus workgroups leave together (uniform exit).
    let row = wid.x + wid.y * groups.x;
    if row >= params.outputs {
        return;
    }
    let base = params.weight_offset + row * params.inputs;
    var m = 0.0;
    for (var j = lid.x; j < params.inputs; j += WG) {
        m = max(m, abs(master[base + j]));
    }
    partial[lid.x] = m;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            partial[lid.x] = max(partial[lid.x], partial[lid.x + stride]);
        }
        workgroupBarrier();
    }
    let top = partial[0];
    var scale = 1.0;
    if top >= MIN_ROW_MAX {
        scale = top / 127.0;
    }
    for (var j = lid.x; j < params.inputs; j += WG) {
        let level = clamp(round(master[base + j] / scale), -127.0, 127.0);
        effective[base + j] = level * scale;
    }
    if lid.x == 0u {
        effective[params.bias_offset + row] = master[params.bias_offset + row];
        scales[params.scale_offset + row] = scale;
    }
}
