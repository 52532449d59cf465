// Row-wise temperature softmax and log-softmax: probs = softmax(x / T), log_probs = log_softmax(x / T).
//
// Needs common/online_softmax.wgsl prepended (see the op's mod.rs). One workgroup per row. Each invocation keeps an online (max, sum) pair over its strided
// columns in a single pass, pairs merge in a fixed tree, then a second pass writes outputs.
// log-softmax is x/T − m − log Σ exp(x/T − m); it never takes log(softmax).

struct SoftmaxParams {
    rows: u32,
    cols: u32,
    inv_temperature: f32,
    _pad: u32,
}

override WG: u32 = 64u;
const MAX_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: SoftmaxParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read_write> log_probs: array<f32>;

var<workgroup> red_max: array<f32, MAX_WG>;
var<workgroup> red_sum: array<f32, MAX_WG>;

@compute @workgroup_size(WG, 1, 1)
fn softmax_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wg.x + wg.y * groups.x;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    let row_active = row < params.rows;
    let base = row * params.cols;

    var m = -3.0e38;
    var s = 0.0;
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let v = logits[base + j] * params.inv_temperature;
            let merged = online_merge(vec2<f32>(m, s), vec2<f32>(v, 1.0));
            m = merged.x;
            s = merged.y;
        }
    }
    red_max[lid] = m;
    red_sum[lid] = s;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            let merged = online_merge(
                vec2<f32>(red_max[lid], red_sum[lid]),
                vec2<f32>(red_max[lid + stride], red_sum[lid + stride]),
            );
            red_max[lid] = merged.x;
            red_sum[lid] = merged.y;
        }
        workgroupBarrier();
    }
    let row_max = red_max[0];
    let log_sum = log(red_sum[0]);
    if row_active {
        for (var j = lid; j < params.cols; j += WG) {
            let shifted = logits[base + j] * params.inv_temperature - row_max;
            probs[base + j] = exp(shifted - log_sum);
            log_probs[base + j] = shifted - log_sum;
        }
    }
}
