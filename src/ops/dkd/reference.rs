//! The DKD reference in f64, built from the KD-loss reference's accurate row pieces
//! ([`crate::ops::kd_loss::reference`] explains why plain f64 forms are not always enough):
//! - NCKD and `q̂ − p̂` are the KD row terms of the non-target sub-row (label column removed);
//! - TCKD and `q_y − p_y` are the KD row terms of the two-class rows `[λ_q, 0]` and `[λ_p, 0]`
//!   at T = 1, with the binary logits `λ = x_y/T − log Σ_{c≠y} e^{x_c/T}` (max-subtracted: no
//!   log of a softmax), so a teacher with `p_y = 1` or `p_y = 0` gives finite, exact terms;
//! - CE and `s − onehot(y)` from the row's softmax at T = 1 (`1 − s_y` as the sum of the rest).

use crate::ops::kd_loss::reference::{row_softmax, soft_row};
use crate::ops::kd_loss::KdOutput;

/// One batch's DKD terms before weighting, from which [`dkd_loss`] forms the loss and gradient
/// for any A, B and w (row-major `[B, C]` for the gradient parts).
#[derive(Debug, Clone)]
pub struct DkdParts {
    /// Per-row cross-entropy `−log softmax(z)_y`.
    pub row_ce: Vec<f64>,
    /// Per-row TCKD.
    pub row_tckd: Vec<f64>,
    /// Per-row NCKD.
    pub row_nckd: Vec<f64>,
    /// `s − onehot(y)`, the cross-entropy's `∂/∂z` of one row.
    pub hard: Vec<f64>,
    /// `T·∂TCKD/∂z = (q_y − p_y)·(1[c=y] − q̂_c)`.
    pub target: Vec<f64>,
    /// `T·∂NCKD/∂z = q̂_c − p̂_c`, 0 at the label.
    pub non_target: Vec<f64>,
}

/// The row's values at the non-target classes, in column order.
fn without(row: &[f64], label: usize) -> Vec<f64> {
    row.iter()
        .enumerate()
        .filter(|&(c, _)| c != label)
        .map(|(_, &v)| v)
        .collect()
}

/// The binary logit `x_y/T − log Σ_{c≠y} e^{x_c/T}` of target against the rest.
fn binary_logit(row: &[f64], label: usize, temperature: f64) -> f64 {
    let rest = without(row, label);
    let top = rest.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = rest.iter().map(|&x| ((x - top) / temperature).exp()).sum();
    (row[label] - top) / temperature - sum.ln()
}

/// `(TCKD, q_y − p_y)` of one row.
fn target_terms(z: &[f64], t: &[f64], label: usize, temperature: f64) -> (f64, f64) {
    let student = [binary_logit(z, label, temperature), 0.0];
    let teacher = [binary_logit(t, label, temperature), 0.0];
    let (kl, diff) = soft_row(&student, &teacher, 1.0);
    (kl, diff[0])
}

/// `TCKD = KL([p_y, 1 − p_y] ‖ [q_y, 1 − q_y])` of one row (`q`, `p` the softmaxes of `z/T`,
/// `t/T`); the row needs at least two classes.
pub fn tckd(z: &[f64], t: &[f64], label: usize, temperature: f64) -> f64 {
    target_terms(z, t, label, temperature).0
}

/// `NCKD = KL(p̂ ‖ q̂)` of one row, `q̂`, `p̂` the softmaxes of `z/T`, `t/T` over the non-target
/// classes; the row needs at least two classes.
pub fn nckd(z: &[f64], t: &[f64], label: usize, temperature: f64) -> f64 {
    soft_row(&without(z, label), &without(t, label), temperature).0
}

/// The size of the parts `δ = λ_q − λ_p` (TCKD's argument; `TCKD ≈ p_y(1 − p_y)·δ²/2` for small
/// δ) can be computed from in f32: the smaller of the binary logits' parts
/// `|x_y − x_top|/T + log Σ_{c≠y} e^{(x_c − x_top)/T}` (student and teacher) and
/// `Σ_{c≠y} p̂_c·|D_c| + NCKD`, `D_c = ((z_y − t_y) − (z_c − t_c))/T` (`δ = Σ p̂ D − NCKD`).
/// Rounding moves δ by about ulp(1) times this, so where δ is near 0 only by a coincidence of
/// large parts no f32 computation keeps the relative precision of TCKD or `q_y − p_y`;
/// validation allows for it.
pub fn delta_scale(z: &[f64], t: &[f64], label: usize, temperature: f64) -> f64 {
    let parts = |row: &[f64]| {
        let rest = without(row, label);
        let top = rest.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = rest.iter().map(|&x| ((x - top) / temperature).exp()).sum();
        (row[label] - top).abs() / temperature + sum.ln()
    };
    let p_rest = row_softmax(&without(t, label), temperature).prob;
    let gap = z[label] - t[label];
    let spread: f64 = (0..z.len())
        .filter(|&c| c != label)
        .zip(&p_rest)
        .map(|(c, &p)| p * (gap - (z[c] - t[c])).abs() / temperature)
        .sum();
    (parts(z) + parts(t)).min(spread + nckd(z, t, label, temperature))
}

/// The unweighted DKD terms of a batch (at least two classes).
pub fn dkd_parts(
    student: &[f64],
    teacher: &[f64],
    labels: &[u32],
    rows: usize,
    cols: usize,
    temperature: f64,
) -> DkdParts {
    let mut parts = DkdParts {
        row_ce: vec![0.0; rows],
        row_tckd: vec![0.0; rows],
        row_nckd: vec![0.0; rows],
        hard: vec![0.0; rows * cols],
        target: vec![0.0; rows * cols],
        non_target: vec![0.0; rows * cols],
    };
    for r in 0..rows {
        let (z, t) = (
            &student[r * cols..(r + 1) * cols],
            &teacher[r * cols..(r + 1) * cols],
        );
        let y = labels[r] as usize;
        let s = row_softmax(z, 1.0);
        let (tckd, target_gap) = target_terms(z, t, y, temperature);
        let (z_rest, t_rest) = (without(z, y), without(t, y));
        let (nckd, rest_gap) = soft_row(&z_rest, &t_rest, temperature);
        let q_rest = row_softmax(&z_rest, temperature).prob;
        parts.row_ce[r] = -s.log_prob[y];
        parts.row_tckd[r] = tckd;
        parts.row_nckd[r] = nckd;
        for c in 0..cols {
            let i = r * cols + c;
            if c == y {
                parts.hard[i] = -s.complement[y];
                parts.target[i] = target_gap;
            } else {
                let n = if c < y { c } else { c - 1 };
                parts.hard[i] = s.prob[c];
                parts.target[i] = -target_gap * q_rest[n];
                parts.non_target[i] = rest_gap[n];
            }
        }
    }
    parts
}

/// The DKD loss `mean(CE) + w·T²·mean(A·TCKD + B·NCKD)` and its gradient
/// `(1/B)[(s − onehot(y)) + w·T·(A·(q_y − p_y)·(onehot(y) − q̂) + B·(q̂ − p̂))]`; `kl` and `row_kl`
/// hold the KD term `A·TCKD + B·NCKD`. The batch needs at least two classes.
#[allow(clippy::too_many_arguments)]
pub fn dkd_loss(
    student: &[f64],
    teacher: &[f64],
    labels: &[u32],
    rows: usize,
    cols: usize,
    temperature: f64,
    a: f64,
    b: f64,
    ramp: f64,
) -> KdOutput<f64> {
    let parts = dkd_parts(student, teacher, labels, rows, cols, temperature);
    let inv_b = 1.0 / rows as f64;
    let soft = ramp * temperature;
    let grad = (0..rows * cols)
        .map(|i| inv_b * (parts.hard[i] + soft * (a * parts.target[i] + b * parts.non_target[i])))
        .collect();
    let row_kl: Vec<f64> = (0..rows)
        .map(|r| a * parts.row_tckd[r] + b * parts.row_nckd[r])
        .collect();
    let ce = parts.row_ce.iter().sum::<f64>() * inv_b;
    let kl = row_kl.iter().sum::<f64>() * inv_b;
    KdOutput {
        loss: ce + ramp * temperature * temperature * kl,
        ce,
        kl,
        row_ce: parts.row_ce,
        row_kl,
        grad,
    }
}
