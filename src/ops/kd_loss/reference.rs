//! The KD-loss reference in f64: per-row softmaxes, per-row terms, the batch reduction from the
//! reduce reference, and the gradient.
//!
//! f64 alone does not make the plain forms exact where the f32 kernel is: a saturated row (logit
//! gap 40) has `ce = 4e-18` and `s[y] − 1 = −4e-18`, which `1 − s[y]` rounds to 0; two teacher
//! classes tied near 1/2 leave a KL of 1e-17 that `Σ p (log p − log q)` buries under its terms'
//! 1e-16 rounding. So, as in the kernel (whose notes give the derivations):
//! - a row's largest probability is `1 / (1 + r)`, `r` the sum of the others, its log-probability
//!   `−log1p(r)` and its complement `r / (1 + r)`;
//! - with `k` the teacher's top class, `d_c = ((z_c − t_c) − (z_k − t_k)) / T`, `μ = Σ p d` and
//!   `e = d − μ`: `kl = log1p(Σ p (e^e − 1 − e))` and `q − p = p·expm1(e − kl)` where that is
//!   the more accurate form, else `q − p` (from the complements where both exceed 1/2).
//!
//! `tests/kd_accuracy.rs` checks these against the plain forms wherever those are accurate.

use crate::ops::kd_loss::KdOutput;
use crate::ops::reduce::reference::reduce_loss;

/// `softmax(x / T)` of one row with its log-probabilities, complements `1 − prob`, and the first
/// column holding the largest.
pub(crate) struct RowSoftmax {
    pub top: usize,
    pub log_prob: Vec<f64>,
    pub prob: Vec<f64>,
    pub complement: Vec<f64>,
}

/// One row's softmax at temperature T, accurate at its largest entry (see the module docs).
pub(crate) fn row_softmax(row: &[f64], temperature: f64) -> RowSoftmax {
    let top = row
        .iter()
        .enumerate()
        .fold(0, |best, (c, &v)| if v > row[best] { c } else { best });
    // (x − max) / T: the difference first, so ±1e4 logits lose nothing before the division.
    let scaled: Vec<f64> = row.iter().map(|&v| (v - row[top]) / temperature).collect();
    let rest: f64 = scaled
        .iter()
        .enumerate()
        .filter(|&(c, _)| c != top)
        .map(|(_, &x)| x.exp())
        .sum();
    let log_sum = rest.ln_1p();
    let log_prob: Vec<f64> = scaled.iter().map(|&x| x - log_sum).collect();
    let prob: Vec<f64> = log_prob.iter().map(|&l| l.exp()).collect();
    // Every entry but the largest is at most 1/2, so 1 − prob is exact enough there.
    let complement = (0..row.len())
        .map(|c| {
            if c == top {
                rest / (1.0 + rest)
            } else {
                1.0 - prob[c]
            }
        })
        .collect();
    RowSoftmax {
        top,
        log_prob,
        prob,
        complement,
    }
}

/// `e^x − 1 − x ≥ 0`: its series where it would cancel.
pub(crate) fn exp_minus_1_minus_x(x: f64) -> f64 {
    if x.abs() > 0.5 {
        return x.exp_m1() - x;
    }
    let (mut term, mut sum) = (x * x / 2.0, 0.0);
    for n in 3..40 {
        sum += term;
        if term.abs() <= 1e-18 * sum.abs() {
            break;
        }
        term *= x / n as f64;
    }
    sum
}

/// `p·(e^e − 1 − e)`, with `p·e^e` from `e^{log p + e}` where p is (nearly) subnormal, or where
/// `e^e` overflows (q may hold mass where p has underflowed: `p·e^e = q·e^kl`).
fn p_times_exp_tail(p: f64, log_p: f64, e: f64) -> f64 {
    if e.abs() <= 0.5 {
        return p * exp_minus_1_minus_x(e);
    }
    let p_exp = if log_p > -700.0 && e < 700.0 {
        p * e.exp()
    } else {
        (log_p + e).exp()
    };
    p_exp - p * (1.0 + e)
}

/// `(KL(p ‖ q), q − p)` of one row, `q = softmax(z / T)`, `p = softmax(t / T)`.
pub(crate) fn soft_row(z: &[f64], t: &[f64], temperature: f64) -> (f64, Vec<f64>) {
    let q = row_softmax(z, temperature);
    let p = row_softmax(t, temperature);
    let k = p.top;
    let cols = z.len();
    let d: Vec<f64> = (0..cols)
        .map(|c| ((z[c] - t[c]) - (z[k] - t[k])) / temperature)
        .collect();
    let mu: f64 = (0..cols).map(|c| p.prob[c] * d[c]).sum();
    let spread: f64 = (0..cols).map(|c| p.prob[c] * d[c].abs()).sum();
    let tail: f64 = (0..cols)
        .map(|c| p_times_exp_tail(p.prob[c], p.log_prob[c], d[c] - mu))
        .sum();
    // Where the tail overflows kl > 700 and the plain sum cannot cancel.
    let kl = if tail.is_finite() {
        tail.ln_1p()
    } else {
        (0..cols)
            .filter(|&c| p.prob[c] > 0.0)
            .map(|c| p.prob[c] * (p.log_prob[c] - q.log_prob[c]))
            .sum()
    };
    let diff = (0..cols)
        .map(|c| {
            let (qc, pc) = (q.prob[c], p.prob[c]);
            // Each form's rounding in ulps of 1: q − p, q + p, or from the complements where both
            // exceed 1/2, (1 − q) + (1 − p); p·expm1(x), p·(|d| + Σ p|d| + kl).
            let (direct, rounding) = if qc > 0.5 && pc > 0.5 {
                let (qn, pn) = (q.complement[c], p.complement[c]);
                (pn - qn, pn + qn)
            } else {
                (qc - pc, qc + pc)
            };
            let x = d[c] - mu - kl;
            if x.abs() <= 1.0 && pc * (d[c].abs() + spread + kl) < rounding {
                pc * x.exp_m1()
            } else {
                direct
            }
        })
        .collect();
    (kl, diff)
}

/// The KD loss `(1 − α)·CE(y, softmax(z)) + α·T²·KL(softmax(t/T) ‖ softmax(z/T))`, batch-mean,
/// and its gradient `(1/B)[(1 − α)(s − onehot(y)) + α·T·(q − p)]`.
#[allow(clippy::too_many_arguments)]
pub fn kd_loss(
    student: &[f64],
    teacher: &[f64],
    labels: &[u32],
    rows: usize,
    cols: usize,
    temperature: f64,
    alpha: f64,
) -> KdOutput<f64> {
    debug_assert_eq!(labels.len(), rows);
    softened_loss(
        student,
        teacher,
        labels,
        cols,
        temperature,
        alpha,
        |z, t| soft_row(z, t, temperature),
    )
}

/// A loss that softens at T: `(1 − α)·CE(y, softmax(z)) + α·T²·soft`, batch-mean, with
/// `dL/dz = (1/B)[(1 − α)(s − onehot(y)) + α·T·g]`, where `soft(z_row, t_row)` gives a row's
/// soft term and `g = T·∂soft/∂z` (for KD `q − p`). Rows are `labels.len()`; the per-row terms
/// are reduced by the reduce reference, as the kernels' are.
pub(crate) fn softened_loss(
    student: &[f64],
    teacher: &[f64],
    labels: &[u32],
    cols: usize,
    temperature: f64,
    alpha: f64,
    soft: impl Fn(&[f64], &[f64]) -> (f64, Vec<f64>),
) -> KdOutput<f64> {
    let rows = labels.len();
    let inv_b = 1.0 / rows as f64;
    let mut row_ce = vec![0.0; rows];
    let mut row_kl = vec![0.0; rows];
    let mut grad = vec![0.0; rows * cols];
    for r in 0..rows {
        let span = r * cols..(r + 1) * cols;
        let s = row_softmax(&student[span.clone()], 1.0);
        let (term, g) = soft(&student[span.clone()], &teacher[span]);
        let y = labels[r] as usize;
        row_ce[r] = -s.log_prob[y];
        row_kl[r] = term;
        for c in 0..cols {
            // s − onehot(y) at y is −(1 − s[y]).
            let hard = if c == y { -s.complement[c] } else { s.prob[c] };
            grad[r * cols + c] = inv_b * ((1.0 - alpha) * hard + alpha * temperature * g[c]);
        }
    }
    let [loss, ce, kl] = reduce_loss(&row_ce, &row_kl, temperature, alpha);
    KdOutput {
        loss,
        ce,
        kl,
        row_ce,
        row_kl,
        grad,
    }
}
