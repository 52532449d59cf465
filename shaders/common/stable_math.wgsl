// Shared by kernels whose results are small differences of exponentials or logarithms (KD
// loss): a ± b exactly, compensated sums, log and exp to about an ulp, log(1 + u), e^x − 1 and e^x − 1 − x
// without cancellation. The built-ins are not enough: Vulkan holds log only to an absolute
// 2^-21 on [0.5, 2] and exp to 3 + 2·|x| ulp (lavapipe: log(1.001) is 3e-5 off relative,
// exp(−30) 17 ulp), WGSL has no log1p or expm1, and compilers may fold (a + b) − a to b.
// `ops::shared` has CPU twins of these functions.

// ln 2 = LN2_HI + LN2_LO; LN2_HI has 9 bits, so n·LN2_HI is exact for |n| < 2^15.
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

// log(1 + u) for −0.29 ≤ u ≤ 0.42: the series 2·atanh(s), s = u / (2 + u) (|s| ≤ 0.172,
// truncated after s^11: error < 1e-10 relative).
fn log1p_series(u: f32) -> f32 {
    let s = u / (2.0 + u);
    let s2 = s * s;
    let odd = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0
        + s2 * (1.0 / 11.0)))));
    return 2.0 * s * odd;
}

// log(x) for finite x > 0: x = m·2^k with m ∈ [√½, √2), so m − 1 is exact and
// log x = k·ln 2 + log1p(m − 1).
fn log_accurate(x: f32) -> f32 {
    let parts = frexp(x);
    var m = parts.fract;
    var k = f32(parts.exp);
    if m < 0.70710678 {
        m = 2.0 * m;
        k = k - 1.0;
    }
    return k * LN2_HI + (k * LN2_LO + log1p_series(m - 1.0));
}

// log(1 + u) for u ≥ −0.29.
fn log1p_stable(u: f32) -> f32 {
    if u <= 0.41421356 {
        return log1p_series(u);
    }
    return log_accurate(1.0 + u);
}

// e^{x + x_lo} for |x_lo| ≲ ulp(x): x = n·ln 2 + r with |r| ≤ 0.35 (Cody–Waite, x_lo folded
// into r), e^r by its Taylor polynomial to r^7 (error < 6e-9 relative), times 2^n. Beyond ±87,
// where e^x overflows or is subnormal, the built-in.
fn exp_accurate(x: f32, x_lo: f32) -> f32 {
    if !(abs(x) <= 87.0) {
        return exp(x + x_lo);
    }
    let n = round(x * 1.44269504);
    let r = ((x - n * LN2_HI) - n * LN2_LO) + x_lo;
    let e_r = 1.0 + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0
        / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    return ldexp(e_r, i32(n));
}

// a + b = hi + lo exactly (Knuth's TwoSum). `zero` must be 0.0 at run time but unknown to the
// compiler (read from a buffer): lavapipe folds (hi − a) to b otherwise, and lo to 0.
fn two_sum(a: f32, b: f32, zero: f32) -> vec2<f32> {
    let hi = (a + b) + zero;
    let b_seen = hi - a;
    let lo = (a - (hi - b_seen)) + (b - b_seen);
    return vec2<f32>(hi, lo);
}

// a − b = hi + lo exactly. Without lo, e^{a − b} of two logits 30 apart carries the
// subtraction's rounding, up to 2e-6 relative, into every probability.
fn two_diff(a: f32, b: f32, zero: f32) -> vec2<f32> {
    return two_sum(a, -b, zero);
}

// A compensated sum (sum, error) plus x (Neumaier): the error stays about an ulp of the total
// whatever the terms cancel.
fn compensated_add(acc: vec2<f32>, x: f32, zero: f32) -> vec2<f32> {
    let s = two_sum(acc.x, x, zero);
    return vec2<f32>(s.x, acc.y + s.y);
}

// Two compensated sums merged.
fn compensated_merge(a: vec2<f32>, b: vec2<f32>, zero: f32) -> vec2<f32> {
    let s = two_sum(a.x, b.x, zero);
    return vec2<f32>(s.x, (a.y + b.y) + s.y);
}

// e^{(a − b)·scale} with a − b taken exactly (`zero` as for two_diff).
fn exp_of_diff(a: f32, b: f32, scale: f32, zero: f32) -> f32 {
    let d = two_diff(a, b, zero);
    return exp_accurate(d.x * scale, d.y * scale);
}

// (e^x − 1 − x) / x² = Σ x^n / (n + 2)! for |x| ≤ 1, truncated after x^9 (error < 1e-8
// relative; the sum is at least 1/e there).
fn exp_tail_ratio(x: f32) -> f32 {
    return 1.0 / 2.0 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0
        + x * (1.0 / 5040.0 + x * (1.0 / 40320.0 + x * (1.0 / 362880.0 + x * (1.0 / 3628800.0
        + x * (1.0 / 39916800.0)))))))));
}

// e^x − 1 − x ≥ 0 for any x (∞ once e^x overflows): the series for |x| ≤ 1, where it would
// cancel; beyond, the terms differ enough that it costs a few ulp at most.
fn exp_minus_1_minus_x(x: f32) -> f32 {
    if abs(x) <= 1.0 {
        return x * x * exp_tail_ratio(x);
    }
    return (exp_accurate(x, 0.0) - 1.0) - x;
}

// e^x − 1 for |x| ≤ 1.
fn expm1_small(x: f32) -> f32 {
    return x + x * x * exp_tail_ratio(x);
}
