//! The MLP reference in f64: dense layers, ReLU, forward and backward over flat parameters,
//! and the trainer's dropout, plainly written.
//!
//! Shapes: B = batch rows; dense layers map `[B, in]` to `[B, out]` with weights `[out, in]`.

use crate::model::spec::{Activation, MlpSpec};
use crate::ops::dropout::reference::apply_dropout;
use crate::ops::dropout::Dropout;

/// Dense forward `Y[B, out] = act(X[B, in]·Wᵀ + b)`.
pub fn dense_forward(
    x: &[f64],
    weight: &[f64],
    bias: &[f64],
    rows: usize,
    inputs: usize,
    outputs: usize,
    activation: Activation,
) -> Vec<f64> {
    let mut y = vec![0.0; rows * outputs];
    for r in 0..rows {
        for o in 0..outputs {
            let dot: f64 = (0..inputs)
                .map(|i| x[r * inputs + i] * weight[o * inputs + i])
                .sum();
            let v = dot + bias[o];
            y[r * outputs + o] = match activation {
                Activation::Relu => v.max(0.0),
                Activation::Identity => v,
            };
        }
    }
    y
}

/// Gradients of a dense layer.
#[derive(Debug, Clone)]
pub struct DenseGrads {
    /// `dX[B, in] = dY·W`.
    pub input: Vec<f64>,
    /// `dW[out, in] = dYᵀ·X`.
    pub weight: Vec<f64>,
    /// `db[out] = Σ_rows dY`.
    pub bias: Vec<f64>,
}

/// Dense backward for a gradient `dy` with respect to the layer's (pre-activation) output.
pub fn dense_backward(
    x: &[f64],
    weight: &[f64],
    dy: &[f64],
    rows: usize,
    inputs: usize,
    outputs: usize,
) -> DenseGrads {
    let mut input = vec![0.0; rows * inputs];
    let mut dw = vec![0.0; outputs * inputs];
    let mut db = vec![0.0; outputs];
    for r in 0..rows {
        for o in 0..outputs {
            let g = dy[r * outputs + o];
            db[o] += g;
            for i in 0..inputs {
                input[r * inputs + i] += g * weight[o * inputs + i];
                dw[o * inputs + i] += g * x[r * inputs + i];
            }
        }
    }
    DenseGrads {
        input,
        weight: dw,
        bias: db,
    }
}

/// ReLU backward through the layer output `y = relu(pre)`: `dpre = dy · [y > 0]`.
pub fn relu_backward(y: &[f64], dy: &[f64]) -> Vec<f64> {
    y.iter()
        .zip(dy)
        .map(|(&yv, &g)| if yv > 0.0 { g } else { 0.0 })
        .collect()
}

/// Forward pass of an MLP over flat parameters: returns every layer's output (the last are the
/// logits).
pub fn mlp_forward(spec: &MlpSpec, params: &[f64], x: &[f64], rows: usize) -> Vec<Vec<f64>> {
    mlp_forward_dropout(spec, params, x, rows, (0.0, 0, 0))
}

/// Logits of an MLP.
pub fn mlp_logits(spec: &MlpSpec, params: &[f64], x: &[f64], rows: usize) -> Vec<f64> {
    mlp_forward(spec, params, x, rows).pop().unwrap_or_default()
}

/// Forward pass with the GPU trainer's inverted dropout on every hidden output;
/// `dropout = (p, seed, step)`, p = 0 for none.
pub fn mlp_forward_dropout(
    spec: &MlpSpec,
    params: &[f64],
    x: &[f64],
    rows: usize,
    dropout: (f32, u32, u32),
) -> Vec<Vec<f64>> {
    let (p, seed, step) = dropout;
    let mut outputs: Vec<Vec<f64>> = Vec::new();
    let layers = spec.layers();
    for (l, layer) in layers.iter().enumerate() {
        let input = outputs.last().map(Vec::as_slice).unwrap_or(x);
        let w = &params[layer.weight_offset..layer.bias_offset];
        let b = &params[layer.bias_offset..layer.bias_offset + layer.outputs];
        let mut y = dense_forward(
            input,
            w,
            b,
            rows,
            layer.inputs,
            layer.outputs,
            spec.activation_after(l),
        );
        if p > 0.0 && l + 1 < layers.len() {
            apply_dropout(&mut y, Dropout { p, seed }, step, l as u32);
        }
        outputs.push(y);
    }
    outputs
}

/// Backward pass of an MLP given `dL/dlogits`: returns the flat parameter gradient.
pub fn mlp_backward(
    spec: &MlpSpec,
    params: &[f64],
    x: &[f64],
    outputs: &[Vec<f64>],
    dlogits: &[f64],
    rows: usize,
) -> Vec<f64> {
    mlp_backward_scaled(spec, params, x, outputs, dlogits, rows, 1.0)
}

/// [`mlp_backward`] behind inverted dropout: the gradient through a kept hidden unit is scaled
/// by `mask_scale = 1/(1 − p)`; dropped units (zero outputs) pass none.
pub fn mlp_backward_scaled(
    spec: &MlpSpec,
    params: &[f64],
    x: &[f64],
    outputs: &[Vec<f64>],
    dlogits: &[f64],
    rows: usize,
    mask_scale: f64,
) -> Vec<f64> {
    let layers = spec.layers();
    let mut grads = vec![0.0; spec.parameter_count()];
    let mut dy = dlogits.to_vec();
    for l in (0..layers.len()).rev() {
        let layer = layers[l];
        let input = if l == 0 { x } else { &outputs[l - 1] };
        let w = &params[layer.weight_offset..layer.bias_offset];
        let g = dense_backward(input, w, &dy, rows, layer.inputs, layer.outputs);
        grads[layer.weight_offset..layer.bias_offset].copy_from_slice(&g.weight);
        grads[layer.bias_offset..layer.bias_offset + layer.outputs].copy_from_slice(&g.bias);
        if l > 0 {
            dy = match spec.activation_after(l - 1) {
                Activation::Relu => relu_backward(&outputs[l - 1], &g.input)
                    .into_iter()
                    .map(|v| v * mask_scale)
                    .collect(),
                Activation::Identity => g.input,
            };
        }
    }
    grads
}
