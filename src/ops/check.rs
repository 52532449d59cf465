//! GPU-vs-CPU comparison with per-element tolerances and readable mismatch reports: what every
//! op's `check` module returns and `distill validate` prints.

use crate::rng::SplitMix64;

/// Per-element tolerance: `|got − expected| ≤ atol + rtol·|expected|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Absolute part.
    pub atol: f64,
    /// Relative part.
    pub rtol: f64,
}

impl Tolerance {
    /// A tolerance.
    pub const fn new(atol: f64, rtol: f64) -> Self {
        Self { atol, rtol }
    }
}

/// The result of comparing GPU output with the CPU reference.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// What was compared.
    pub what: String,
    /// Elements compared.
    pub count: usize,
    /// Largest absolute error.
    pub max_abs: f64,
    /// Largest relative error `|err| / max(|expected|, 1e-30)`, over elements with |expected| > atol.
    pub max_rel: f64,
    /// The tolerance used.
    pub tolerance: Tolerance,
    /// `(index, expected, got)` of the first mismatches (at most 10) and the total.
    pub mismatches: Vec<(usize, f64, f32)>,
    /// Number of elements out of tolerance (NaN counts as out).
    pub mismatch_count: usize,
}

impl Comparison {
    /// True when every element is within tolerance and the lengths agree.
    pub fn passed(&self) -> bool {
        self.mismatch_count == 0
    }

    /// A readable report: counts, max errors and the first mismatches.
    pub fn report(&self) -> String {
        let mut s = format!(
            "{}: {} of {} elements out of tolerance (atol {:e}, rtol {:e}); max abs err {:.3e}, max rel err {:.3e}",
            self.what,
            self.mismatch_count,
            self.count,
            self.tolerance.atol,
            self.tolerance.rtol,
            self.max_abs,
            self.max_rel
        );
        for (i, e, g) in &self.mismatches {
            s.push_str(&format!("\n  [{i}] expected {e:.9e}, got {g:.9e}"));
        }
        s
    }

    /// The kernel this check belongs to (its name without shape and settings), e.g.
    /// `matmul unrolled-32x16`, `softmax`, `kd grad`.
    pub fn kernel(&self) -> String {
        let mut words: Vec<&str> = Vec::new();
        for w in self.what.split_whitespace() {
            if w.starts_with(|c: char| c.is_ascii_digit() || c == '(') || w.ends_with(':') {
                break;
            }
            words.push(w);
            if words[0] == "matmul" && words.len() == 2 {
                break;
            }
        }
        words.join(" ")
    }

    /// Panics with [`Comparison::report`] unless passed (for tests).
    pub fn assert_ok(&self) -> &Self {
        assert!(self.passed(), "{}", self.report());
        self
    }
}

/// Compares `got` with `expected` element-wise.
pub fn compare(what: &str, got: &[f32], expected: &[f64], tolerance: Tolerance) -> Comparison {
    compare_scaled(what, got, expected, |i| expected[i].abs(), tolerance)
}

/// Compares `got` with `expected` element-wise against a tolerance relative to a per-element
/// scale: `|got − expected| ≤ atol + rtol·scale(i)` (for results whose rounding error follows
/// the size of the inputs rather than of the result, e.g. a blend of two values of opposite
/// sign). [`Comparison::max_rel`] is then `|err| / scale(i)`, over elements with
/// `scale(i) > atol`; [`compare`] is the case `scale(i) = |expected[i]|`.
pub fn compare_scaled(
    what: &str,
    got: &[f32],
    expected: &[f64],
    scale: impl Fn(usize) -> f64,
    tolerance: Tolerance,
) -> Comparison {
    let mut c = Comparison {
        what: what.to_string(),
        count: expected.len(),
        max_abs: 0.0,
        max_rel: 0.0,
        tolerance,
        mismatches: Vec::new(),
        mismatch_count: 0,
    };
    if got.len() != expected.len() {
        c.mismatch_count = got.len().abs_diff(expected.len()).max(1);
        c.what = format!(
            "{what} (length {} vs expected {})",
            got.len(),
            expected.len()
        );
        return c;
    }
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        let err = (g as f64 - e).abs();
        let size = scale(i);
        let ok = err <= tolerance.atol + tolerance.rtol * size;
        if err.is_finite() {
            c.max_abs = c.max_abs.max(err);
            if size > tolerance.atol {
                c.max_rel = c.max_rel.max(err / size);
            }
        } else {
            c.max_abs = f64::INFINITY;
        }
        if !ok {
            c.mismatch_count += 1;
            if c.mismatches.len() < 10 {
                c.mismatches.push((i, e, g));
            }
        }
    }
    c
}

/// Uniform random f32 values in `[lo, hi)`.
pub fn random_vec(rng: &mut SplitMix64, len: usize, lo: f32, hi: f32) -> Vec<f32> {
    rng.uniform_vec(len, lo, hi)
}
