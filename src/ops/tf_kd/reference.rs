//! The Tf-KD reference in f64, as the authors' `loss_kd_regularization` writes it: the virtual
//! teacher's row `p_v`, softened as `softmax(p_v / T)`, against the unsoftened student. The
//! KL and `s − π` are the KD-loss reference's accurate row terms
//! (`kd_loss::reference::soft_row`) at T = 1 with teacher logits `p_v / T`, the
//! cross-entropy its row softmax.

use crate::ops::kd_loss::reference::{row_softmax, soft_row};
use crate::ops::kd_loss::KdOutput;

/// The virtual teacher's probabilities `p_v` of one row (their `teacher_soft`): `a` at the
/// label, `(1 − a)/(C − 1)` elsewhere; `cols ≥ 2`.
pub fn virtual_teacher_row(cols: usize, label: usize, correct_prob: f64) -> Vec<f64> {
    let other = (1.0 - correct_prob) / (cols - 1) as f64;
    (0..cols)
        .map(|c| if c == label { correct_prob } else { other })
        .collect()
}

/// `softmax(p_v / T)`, the softened virtual teacher of one row.
pub fn softened_teacher_row(
    cols: usize,
    label: usize,
    temperature: f64,
    correct_prob: f64,
) -> Vec<f64> {
    row_softmax(&virtual_teacher_row(cols, label, correct_prob), temperature).prob
}

/// The Tf-KD loss `(1 − α)·mean(CE) + α·m·mean(KL(π ‖ s) / C)` and its gradient
/// `(1/B)[(1 − α)(s − onehot(y)) + (α·m/C)(s − π)]`, `π = softmax(p_v / T)`, `s = softmax(z)`;
/// `kl` and `row_kl` hold `KL / C` (their `nn.KLDivLoss()` per-element mean). The batch needs
/// at least two classes.
#[allow(clippy::too_many_arguments)]
pub fn tf_kd(
    student: &[f64],
    labels: &[u32],
    rows: usize,
    cols: usize,
    temperature: f64,
    alpha: f64,
    correct_prob: f64,
    multiplier: f64,
) -> KdOutput<f64> {
    let inv_b = 1.0 / rows as f64;
    let inv_c = 1.0 / cols as f64;
    let soft_weight = alpha * multiplier * inv_c;
    let mut row_ce = vec![0.0; rows];
    let mut row_kl = vec![0.0; rows];
    let mut grad = vec![0.0; rows * cols];
    for r in 0..rows {
        let z = &student[r * cols..(r + 1) * cols];
        let y = labels[r] as usize;
        // softmax(p_v / T) is the softmax at T = 1 of the logits p_v / T.
        let logits: Vec<f64> = virtual_teacher_row(cols, y, correct_prob)
            .iter()
            .map(|p| p / temperature)
            .collect();
        let s = row_softmax(z, 1.0);
        let (kl, soft) = soft_row(z, &logits, 1.0);
        row_ce[r] = -s.log_prob[y];
        row_kl[r] = kl * inv_c;
        for c in 0..cols {
            // s − onehot(y) at y is −(1 − s[y]).
            let hard = if c == y { -s.complement[c] } else { s.prob[c] };
            grad[r * cols + c] = inv_b * ((1.0 - alpha) * hard + soft_weight * soft[c]);
        }
    }
    let ce = row_ce.iter().sum::<f64>() * inv_b;
    let kl = row_kl.iter().sum::<f64>() * inv_b;
    KdOutput {
        loss: (1.0 - alpha) * ce + alpha * multiplier * kl,
        ce,
        kl,
        row_ce,
        row_kl,
        grad,
    }
}
