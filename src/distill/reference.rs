//! The reference of one distillation step in f64: the MLP reference's forward, the KD-loss
//! reference, and the MLP reference's backward.

use crate::model::reference::{mlp_backward, mlp_forward};
use crate::model::MlpSpec;
use crate::ops::kd_loss::reference::kd_loss;
use crate::ops::kd_loss::KdOutput;

/// One KD training step's loss and parameter gradient for a student MLP.
#[allow(clippy::too_many_arguments)]
pub fn kd_step_gradients(
    spec: &MlpSpec,
    params: &[f64],
    x: &[f64],
    labels: &[u32],
    teacher_logits: &[f64],
    rows: usize,
    temperature: f64,
    alpha: f64,
) -> (KdOutput<f64>, Vec<f64>) {
    let outputs = mlp_forward(spec, params, x, rows);
    let logits = outputs.last().map(Vec::as_slice).unwrap_or(&[]);
    let kd = kd_loss(
        logits,
        teacher_logits,
        labels,
        rows,
        spec.classes(),
        temperature,
        alpha,
    );
    let grads = mlp_backward(spec, params, x, &outputs, &kd.grad, rows);
    (kd, grads)
}
