//! The KD-loss reference in f64: softmaxes from the softmax reference, per-row terms, the
//! batch reduction from the reduce reference, and the gradient.

use crate::ops::kd_loss::KdOutput;
use crate::ops::reduce::reference::reduce_loss;
use crate::ops::softmax::reference::softmax;

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
    let (s, log_s) = softmax(student, rows, cols, 1.0);
    let (q, log_q) = softmax(student, rows, cols, temperature);
    let (p, log_p) = softmax(teacher, rows, cols, temperature);
    let inv_b = 1.0 / rows as f64;
    let mut row_ce = vec![0.0; rows];
    let mut row_kl = vec![0.0; rows];
    let mut grad = vec![0.0; rows * cols];
    for r in 0..rows {
        let y = labels[r] as usize;
        row_ce[r] = -log_s[r * cols + y];
        for c in 0..cols {
            let i = r * cols + c;
            if p[i] > 0.0 {
                row_kl[r] += p[i] * (log_p[i] - log_q[i]);
            }
            let onehot = if c == y { 1.0 } else { 0.0 };
            grad[i] =
                inv_b * ((1.0 - alpha) * (s[i] - onehot) + alpha * temperature * (q[i] - p[i]));
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
