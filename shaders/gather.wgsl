// Mini-batch gather from a device-resident data set, so no batch data crosses the bus per step:
//   inputs[r, f]  = feature(order[start + r], f), optionally shifted by a per-sample jitter
//   labels[r, k]  = all_labels[order[start + r], k]     (k below label_width: 1 for a class
//                   index, the outputs for f32 regression targets read as their bits)
//   teacher[r, c] = all_teacher[order[start + r], c]     (when gather_teacher != 0; c below
//                   teacher_width, the classes times the teachers stacked per sample)
// Features are u8 packed four per u32 (little-endian) and scaled by 1/255 (encoding 0), or f32
// bits read as they are (encoding 1). Jitter draws a shift in [−J, J]² per
// (seed, step, row) from a counter-based hash, so runs are deterministic; uncovered pixels are 0.
// Needs common/hash.wgsl prepended (see the op's mod.rs).

struct GatherParams {
    rows: u32,
    features: u32,
    teacher_width: u32,
    start: u32,
    width: u32,
    height: u32,
    jitter: u32,
    seed: u32,
    step: u32,
    gather_teacher: u32,
    encoding: u32,
    label_width: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: GatherParams;
@group(0) @binding(1) var<storage, read> features: array<u32>;
@group(0) @binding(2) var<storage, read> all_labels: array<u32>;
@group(0) @binding(3) var<storage, read> all_teacher: array<f32>;
@group(0) @binding(4) var<storage, read> order: array<u32>;
@group(0) @binding(5) var<storage, read_write> inputs: array<f32>;
@group(0) @binding(6) var<storage, read_write> labels: array<u32>;
@group(0) @binding(7) var<storage, read_write> teacher: array<f32>;

fn feature(sample: u32, index: u32) -> f32 {
    let flat = sample * params.features + index;
    if params.encoding == 1u {
        return bitcast<f32>(features[flat]);
    }
    let byte = (features[flat / 4u] >> (8u * (flat % 4u))) & 255u;
    return f32(byte) / 255.0;
}

@compute @workgroup_size(WG, 1, 1)
fn gather_batch(@builtin(global_invocation_id) gid: vec3<u32>) {
    let f = gid.x;
    let row = gid.y;
    if row >= params.rows {
        return;
    }
    let sample = order[params.start + row];
    if f < params.features {
        var value = 0.0;
        if params.jitter == 0u {
            value = feature(sample, f);
        } else {
            let h = hash(params.seed ^ hash(params.step ^ hash(row + 0x9e3779b9u)));
            let span = 2u * params.jitter + 1u;
            let dx = i32(h % span) - i32(params.jitter);
            let dy = i32((h / span) % span) - i32(params.jitter);
            let x = i32(f % params.width) - dx;
            let y = i32(f / params.width) - dy;
            if x >= 0 && y >= 0 && x < i32(params.width) && y < i32(params.height) {
                value = feature(sample, u32(y) * params.width + u32(x));
            }
        }
        inputs[row * params.features + f] = value;
    }
    if f < params.label_width {
        let w = params.label_width;
        labels[row * w + f] = all_labels[sample * w + f];
    }
    if params.gather_teacher != 0u && f < params.teacher_width {
        let w = params.teacher_width;
        teacher[row * w + f] = all_teacher[sample * w + f];
    }
}
