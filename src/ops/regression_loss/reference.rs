//! The regression-loss reference in f64, written as the module's formulas read.

use crate::ops::reduce::reference::reduce_loss;
use crate::ops::regression_loss::{RegressionForm, RegressionOutput};

/// PyTorch's `HuberLoss` of one difference: `x²/2` for `|x| < δ`, else `δ·(|x| − δ/2)`.
pub fn huber(x: f64, delta: f64) -> f64 {
    if x.abs() < delta {
        0.5 * x * x
    } else {
        delta * (x.abs() - 0.5 * delta)
    }
}

/// The per-output loss of `form` (squared error for MSE and the bounded form's terms) and its
/// derivative.
fn point(form: RegressionForm, x: f64) -> (f64, f64) {
    match form {
        RegressionForm::Huber { delta } => {
            let delta = delta as f64;
            (huber(x, delta), x.clamp(-delta, delta))
        }
        RegressionForm::Mse | RegressionForm::Bounded { .. } => (x * x, 2.0 * x),
    }
}

/// Whether the bounded term applies to a row: `e_s + m > e_t` (Chen et al. 2017), `e_s` and `e_t`
/// the student's and teacher's mean squared errors against the targets.
pub fn bounded_active(student_error: f64, teacher_error: f64, margin: f64) -> bool {
    student_error + margin > teacher_error
}

/// The loss `(1 − α)·mean(hard) + α·mean(soft)` over `rows × cols` outputs and its gradient
/// with respect to the student's outputs.
pub fn regression_loss(
    student: &[f64],
    teacher: &[f64],
    targets: &[f64],
    (rows, cols): (usize, usize),
    alpha: f64,
    form: RegressionForm,
) -> RegressionOutput<f64> {
    let scale = 1.0 / (rows * cols) as f64;
    let inv_k = 1.0 / cols as f64;
    let mut row_hard = vec![0.0; rows];
    let mut row_soft = vec![0.0; rows];
    let mut grad = vec![0.0; rows * cols];
    for r in 0..rows {
        let span = r * cols..(r + 1) * cols;
        let (s, t, y) = (
            &student[span.clone()],
            &teacher[span.clone()],
            &targets[span],
        );
        let hard: f64 = s
            .iter()
            .zip(y)
            .map(|(a, b)| point(form, a - b).0)
            .sum::<f64>()
            * inv_k;
        row_hard[r] = hard;
        let active = match form {
            RegressionForm::Bounded { margin } => {
                let teacher_error =
                    t.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() * inv_k;
                bounded_active(hard, teacher_error, margin as f64)
            }
            _ => true,
        };
        row_soft[r] = match form {
            RegressionForm::Bounded { .. } if active => hard,
            RegressionForm::Bounded { .. } => 0.0,
            _ => {
                s.iter()
                    .zip(t)
                    .map(|(a, b)| point(form, a - b).0)
                    .sum::<f64>()
                    * inv_k
            }
        };
        for j in 0..cols {
            let to_target = point(form, s[j] - y[j]).1;
            let to_teacher = match form {
                RegressionForm::Bounded { .. } if active => to_target,
                RegressionForm::Bounded { .. } => 0.0,
                _ => point(form, s[j] - t[j]).1,
            };
            grad[r * cols + j] = scale * ((1.0 - alpha) * to_target + alpha * to_teacher);
        }
    }
    // T = 1: the reduction reference's α·T² is α.
    let [loss, hard, soft] = reduce_loss(&row_hard, &row_soft, 1.0, alpha);
    RegressionOutput {
        loss,
        hard,
        soft,
        row_hard,
        row_soft,
        grad,
    }
}
