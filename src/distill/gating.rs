//! Disagreement gating: no KD term on a training sample whose teacher confidently contradicts
//! its label (the teacher's top class is not the label and has probability above a threshold
//! at T = 1), so a noisy label is not fought by a soft target, nor a wrong teacher followed.

use crate::error::{check_len, Error, Result};
use crate::ops::metrics::reference::argmax;
use crate::ops::softmax::reference::log_sum_exp;

/// Per sample, whether the teacher's KD term is kept: false when the teacher's top class
/// (first on ties) differs from the label with probability above `threshold` (in [0, 1)).
/// `logits` is `[labels.len(), classes]`.
pub fn disagreement_gates(
    logits: &[f32],
    labels: &[u8],
    classes: usize,
    threshold: f32,
) -> Result<Vec<bool>> {
    if !(0.0..1.0).contains(&threshold) {
        return Err(Error::InvalidConfig(format!(
            "the disagreement threshold is a probability in [0, 1), got {threshold}"
        )));
    }
    check_len(
        "teacher logits",
        labels.len().saturating_mul(classes),
        logits.len(),
    )?;
    Ok(labels
        .iter()
        .enumerate()
        .map(|(i, &y)| {
            let row = &logits[i * classes..(i + 1) * classes];
            let top = argmax(row);
            if top == y as usize {
                return true;
            }
            let x: Vec<f64> = row.iter().map(|&v| v as f64).collect();
            let p_top = (x[top] - log_sum_exp(&x, 1.0)).exp();
            p_top <= threshold as f64
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confident_contradictions_are_shut() {
        // Row 0 agrees; row 1 contradicts at p ≈ 0.73 (logits 1, 0); row 2 at p ≈ 0.98.
        let logits = [2.0, 0.0, 1.0, 0.0, 4.0, 0.0];
        let labels = [0, 1, 1];
        assert_eq!(
            disagreement_gates(&logits, &labels, 2, 0.5).unwrap(),
            [true, false, false]
        );
        assert_eq!(
            disagreement_gates(&logits, &labels, 2, 0.9).unwrap(),
            [true, true, false]
        );
        assert!(disagreement_gates(&logits, &labels, 2, 1.0).is_err());
        assert!(disagreement_gates(&logits, &labels[..2], 2, 0.5).is_err());
    }
}
