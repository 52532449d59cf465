//! The logit-MSE reference in f64: the cross-entropy from the KD-loss reference's row softmax
//! (accurate where a row saturates), the squared error and its gradient as written.

use crate::ops::kd_loss::reference::row_softmax;
use crate::ops::kd_loss::KdOutput;
use crate::ops::reduce::reference::reduce_loss;

/// `MSE_b = (1/C)·Σ_c (z_c − t_c)²` of one row.
pub fn row_mse(z: &[f64], t: &[f64]) -> f64 {
    let sum: f64 = z.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).sum();
    sum / z.len() as f64
}

/// The loss `(1 − α)·mean(CE) + α·mean(MSE)` and its gradient
/// `(1/B)[(1 − α)(s − onehot(y)) + α·(2/C)(z − t)]`; `kl` and `row_kl` hold the squared-error
/// term `MSE_b`.
pub fn logit_mse(
    student: &[f64],
    teacher: &[f64],
    labels: &[u32],
    rows: usize,
    cols: usize,
    alpha: f64,
) -> KdOutput<f64> {
    let inv_b = 1.0 / rows as f64;
    let two_over_c = 2.0 / cols as f64;
    let mut row_ce = vec![0.0; rows];
    let mut row_mse_terms = vec![0.0; rows];
    let mut grad = vec![0.0; rows * cols];
    for r in 0..rows {
        let span = r * cols..(r + 1) * cols;
        let (z, t) = (&student[span.clone()], &teacher[span]);
        let s = row_softmax(z, 1.0);
        let y = labels[r] as usize;
        row_ce[r] = -s.log_prob[y];
        row_mse_terms[r] = row_mse(z, t);
        for c in 0..cols {
            // s − onehot(y) at y is −(1 − s[y]).
            let hard = if c == y { -s.complement[c] } else { s.prob[c] };
            let soft = two_over_c * (z[c] - t[c]);
            grad[r * cols + c] = inv_b * ((1.0 - alpha) * hard + alpha * soft);
        }
    }
    // T = 1: the reduce reference's α·T² is α.
    let [loss, ce, kl] = reduce_loss(&row_ce, &row_mse_terms, 1.0, alpha);
    KdOutput {
        loss,
        ce,
        kl,
        row_ce,
        row_kl: row_mse_terms,
        grad,
    }
}
