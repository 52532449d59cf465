//! Input-gradient saliency in f64 over the MLP reference: the gradient of one logit per row
//! with respect to that row's input, and its absolute value.

use crate::model::reference::{dense_backward, mlp_forward, relu_backward};
use crate::model::spec::{Activation, MlpSpec};

/// `∂ z[r, targets[r]] / ∂ x[r, ·]` for every row `r` of `x` `[rows, inputs]` (signed).
///
/// # Panics
/// If a target is not a class of `spec` or a length does not match (a reference for tests).
pub fn input_gradient(spec: &MlpSpec, params: &[f64], x: &[f64], targets: &[usize]) -> Vec<f64> {
    let rows = targets.len();
    let layers = spec.layers();
    let outputs = mlp_forward(spec, params, x, rows);
    let classes = spec.classes();
    let mut dy = vec![0.0; rows * classes];
    for (r, &t) in targets.iter().enumerate() {
        assert!(
            t < classes,
            "target {t} of row {r} is not one of {classes} classes"
        );
        dy[r * classes + t] = 1.0;
    }
    // Down to layer 1's output gradient through each hidden activation, then layer 0's input.
    for l in (1..layers.len()).rev() {
        let layer = layers[l];
        let w = &params[layer.weight_offset..layer.bias_offset];
        let g = dense_backward(&outputs[l - 1], w, &dy, rows, layer.inputs, layer.outputs);
        dy = match spec.activation_after(l - 1) {
            Activation::Relu => relu_backward(&outputs[l - 1], &g.input),
            Activation::Identity => g.input,
        };
    }
    let first = layers[0];
    let w = &params[first.weight_offset..first.bias_offset];
    dense_backward(x, w, &dy, rows, first.inputs, first.outputs).input
}

/// The saliency map `|∂ z[r, targets[r]] / ∂ x[r, ·]|` of every row.
pub fn saliency(spec: &MlpSpec, params: &[f64], x: &[f64], targets: &[usize]) -> Vec<f64> {
    input_gradient(spec, params, x, targets)
        .into_iter()
        .map(f64::abs)
        .collect()
}
