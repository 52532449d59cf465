//! The hint-loss reference in f64.

use crate::ops::hint::HintOutput;

/// `β·MSE(prediction, target)` of `[rows, width]` inputs, its per-row terms and its gradient
/// `2β·(r − h)/(B·W)`.
pub fn hint_loss(
    prediction: &[f64],
    target: &[f64],
    rows: usize,
    width: usize,
    weight: f64,
) -> HintOutput<f64> {
    let scale = 2.0 * weight / (rows * width) as f64;
    let mut grad = Vec::with_capacity(rows * width);
    let mut row_mse = Vec::with_capacity(rows);
    for b in 0..rows {
        let span = b * width..(b + 1) * width;
        let mut sum = 0.0;
        for (&r, &h) in prediction[span.clone()].iter().zip(&target[span]) {
            let d = r - h;
            grad.push(scale * d);
            sum += d * d;
        }
        row_mse.push(sum / width as f64);
    }
    let mse = row_mse.iter().sum::<f64>() / rows.max(1) as f64;
    HintOutput {
        loss: weight * mse,
        mse,
        row_mse,
        grad,
    }
}
