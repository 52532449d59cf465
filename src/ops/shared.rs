//! CPU twins of the WGSL snippets in `shaders/common/` that several kernels share.

/// The hash `shaders/common/hash.wgsl` defines (PCG-style, Jarzynski & Olano 2020), used by
/// dropout and the gather's jitter.
pub fn pcg_hash(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// CPU twins of `shaders/common/stable_math.wgsl`, in f32 as the kernels compute (WGSL's
/// `frexp`, `ldexp` and `round` spelled out), so their accuracy can be checked against f64 on
/// the CPU.
pub mod stable_math {
    /// `ln 2 = LN2_HI + LN2_LO`, `LN2_HI` with 9 bits.
    const LN2_HI: f32 = 355.0 / 512.0;
    const LN2_LO: f32 = -2.121_944_4e-4;

    /// `log(1 + u)` for `−0.29 ≤ u ≤ 0.42` by the series `2·atanh(u / (2 + u))`.
    pub fn log1p_series(u: f32) -> f32 {
        let s = u / (2.0 + u);
        let s2 = s * s;
        let odd = 1.0
            + s2 * (1.0 / 3.0
                + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0)))));
        2.0 * s * odd
    }

    /// `log(x)` for finite normal `x > 0`: `x = m·2^k`, `m ∈ [√½, √2)`.
    pub fn log_accurate(x: f32) -> f32 {
        let bits = x.to_bits();
        // frexp: x = fract·2^exp with fract ∈ [0.5, 1).
        let mut m = f32::from_bits((bits & 0x807f_ffff) | (126 << 23));
        let mut k = ((bits >> 23) & 0xff) as f32 - 126.0;
        if m < std::f32::consts::FRAC_1_SQRT_2 {
            m *= 2.0;
            k -= 1.0;
        }
        k * LN2_HI + (k * LN2_LO + log1p_series(m - 1.0))
    }

    /// `log(1 + u)` for `u ≥ −0.29`.
    pub fn log1p_stable(u: f32) -> f32 {
        if u <= std::f32::consts::SQRT_2 - 1.0 {
            log1p_series(u)
        } else {
            log_accurate(1.0 + u)
        }
    }

    /// `e^{x + x_lo}`: Cody–Waite reduction, the Taylor polynomial to r^7, times 2^n.
    pub fn exp_accurate(x: f32, x_lo: f32) -> f32 {
        if x.abs() > 87.0 || x.is_nan() {
            return (x + x_lo).exp();
        }
        let n = (x * std::f32::consts::LOG2_E).round_ties_even();
        let r = ((x - n * LN2_HI) - n * LN2_LO) + x_lo;
        let e_r = 1.0
            + r * (1.0
                + r * (1.0 / 2.0
                    + r * (1.0 / 6.0
                        + r * (1.0 / 24.0
                            + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
        e_r * 2f32.powi(n as i32)
    }

    /// `a + b = hi + lo` exactly (TwoSum).
    pub fn two_sum(a: f32, b: f32) -> (f32, f32) {
        let hi = a + b;
        let b_seen = hi - a;
        (hi, (a - (hi - b_seen)) + (b - b_seen))
    }

    /// `(e^x − 1 − x) / x²` for `|x| ≤ 1`, truncated after `x^9`.
    pub fn exp_tail_ratio(x: f32) -> f32 {
        let mut ratio = 0.0;
        for n in (2..=11).rev() {
            ratio = 1.0 / (1..=n).map(|i| i as f32).product::<f32>() + x * ratio;
        }
        ratio
    }

    /// `e^x − 1 − x` for any x.
    pub fn exp_minus_1_minus_x(x: f32) -> f32 {
        if x.abs() <= 1.0 {
            x * x * exp_tail_ratio(x)
        } else {
            (exp_accurate(x, 0.0) - 1.0) - x
        }
    }

    /// `e^x − 1` for `|x| ≤ 1`.
    pub fn expm1_small(x: f32) -> f32 {
        x + x * x * exp_tail_ratio(x)
    }
}
