// Shared by the row kernels on the logits (KD loss, DKD, JSD, logit MSE and standardization,
// teacher-free KD), in DESIGN.md's cancellation-free form: the workgroup size (override WG) and
// its reductions (sums, maxima, compensated sums), the exact centred logit gap and the per-class
// tail p·(e^e − 1 − e). One workgroup per row; every reduction is a fixed tree. Needs
// ./stable_math.wgsl prepended; the kernel sets `zero` from its uniform before any use.

override WG: u32 = 64u;
const MAX_WG: u32 = 256u;

var<workgroup> red_sum: array<vec4<f32>, MAX_WG>;
var<workgroup> red_compensated: array<vec4<f32>, MAX_WG>;
// 0.0, but not known to the compiler (see two_sum).
var<private> zero: f32;

// Sums `v` over the workgroup with a fixed tree; every invocation gets the total. Call from
// uniform control flow.
fn workgroup_sum(lid: u32, v: vec4<f32>) -> vec4<f32> {
    // The previous sum's total may still be being read.
    workgroupBarrier();
    red_sum[lid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            red_sum[lid] = red_sum[lid] + red_sum[lid + stride];
        }
        workgroupBarrier();
    }
    return red_sum[0];
}

// Componentwise maxima over the workgroup with a fixed tree (in red_sum); every
// invocation gets them. Call from uniform control flow.
fn workgroup_max(lid: u32, v: vec2<f32>) -> vec2<f32> {
    workgroupBarrier();
    red_sum[lid] = vec4<f32>(v, 0.0, 0.0);
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            red_sum[lid] = max(red_sum[lid], red_sum[lid + stride]);
        }
        workgroupBarrier();
    }
    return red_sum[0].xy;
}

// workgroup_sum for two compensated sums, (x, y) and (z, w); the totals as two f32.
fn workgroup_compensated_sums(lid: u32, v: vec4<f32>) -> vec2<f32> {
    // The previous sums' totals may still be being read.
    workgroupBarrier();
    red_compensated[lid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            let mine = red_compensated[lid];
            let other = red_compensated[lid + stride];
            red_compensated[lid] = vec4<f32>(
                compensated_merge(mine.xy, other.xy, zero),
                compensated_merge(mine.zw, other.zw, zero),
            );
        }
        workgroupBarrier();
    }
    let total = red_compensated[0];
    return vec2<f32>(total.x + total.y, total.z + total.w);
}

// d_c = ((z_c − t_c) − (z_k − t_k)) / T with both differences exact (`shift` = z_k − t_k).
fn centred_gap(z: f32, t: f32, shift: vec2<f32>, inv_t: f32) -> f32 {
    let g = two_diff(z, t, zero);
    return ((g.x - shift.x) + (g.y - shift.y)) * inv_t;
}

// p_c·(e^e − 1 − e) ≥ 0 (e = d − μ): the series for |e| ≤ 1; beyond, p·e^e − p·(1 + e). The
// teacher's logit cancels from log p + e = (z_c − z_k)/T − (log Σw + μ) (`offset`), so p·e^e is
// taken from that where its parts are smaller than d's (a teacher's ±1e4 against a student's),
// and always where p underflows (q may still hold mass there: p·e^e = q·e^kl) or e^e overflows.
fn p_times_exp_tail(p: f32, e: f32, d: f32, z: f32, z_k: f32, inv_t: f32, offset: f32) -> f32 {
    if abs(e) <= 1.0 {
        return p * exp_minus_1_minus_x(e);
    }
    let gap = two_diff(z, z_k, zero);
    let via_student = gap.x * inv_t;
    var p_exp = exp_accurate(via_student - offset, gap.y * inv_t);
    if p > 1.0e-30 && e < 80.0 && abs(d) <= abs(via_student) {
        p_exp = p * exp_accurate(e, 0.0);
    }
    return p_exp - p * (1.0 + e);
}
