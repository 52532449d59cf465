//! The CPU reference: every GPU kernel's math written plainly in f64, the specification the
//! kernels are tested against (and that `distill validate` runs on a user's hardware).
//!
//! Shapes: B = batch rows, C = classes; dense layers map `[B, in]` to `[B, out]` with weights
//! `[out, in]`.

use crate::kernels::Optimizer;
use crate::matmul::{Epilogue, MatmulSpec};
use crate::model::{Activation, MlpSpec};

/// Widens f32 to f64.
pub fn to_f64(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

/// Narrows f64 to f32.
pub fn to_f32(values: &[f64]) -> Vec<f32> {
    values.iter().map(|&v| v as f32).collect()
}

/// The strided product of a [`MatmulSpec`]: returns the `m × n` result (without `c_offset`).
pub fn matmul(spec: &MatmulSpec, a: &[f64], b: &[f64], aux: &[f64]) -> Vec<f64> {
    let mut c = vec![0.0; spec.m * spec.n];
    for i in 0..spec.m {
        for j in 0..spec.n {
            let mut acc = 0.0;
            for k in 0..spec.k {
                let av = a[spec.a.offset + i * spec.a.row_stride + k * spec.a.col_stride];
                let bv = b[spec.b.offset + k * spec.b.row_stride + j * spec.b.col_stride];
                acc += av * bv;
            }
            c[i * spec.n + j] = match spec.epilogue {
                Epilogue::Store => acc,
                Epilogue::Bias => acc + aux[spec.aux_offset + j],
                Epilogue::BiasRelu => (acc + aux[spec.aux_offset + j]).max(0.0),
                Epilogue::ReluMask => {
                    if aux[spec.aux_offset + i * spec.n + j] > 0.0 {
                        acc * spec.mask_scale as f64
                    } else {
                        0.0
                    }
                }
            };
        }
    }
    c
}

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

/// Row-wise `(softmax(x / T), log_softmax(x / T))`, max-subtracted.
pub fn softmax(x: &[f64], rows: usize, cols: usize, temperature: f64) -> (Vec<f64>, Vec<f64>) {
    let mut probs = vec![0.0; rows * cols];
    let mut log_probs = vec![0.0; rows * cols];
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let lse = log_sum_exp(row, temperature);
        for (c, &v) in row.iter().enumerate() {
            let lp = v / temperature - lse;
            log_probs[r * cols + c] = lp;
            probs[r * cols + c] = lp.exp();
        }
    }
    (probs, log_probs)
}

/// `log Σ exp(x / T)` of one row, stable.
pub fn log_sum_exp(row: &[f64], temperature: f64) -> f64 {
    let m = row
        .iter()
        .map(|&v| v / temperature)
        .fold(f64::NEG_INFINITY, f64::max);
    m + row
        .iter()
        .map(|&v| (v / temperature - m).exp())
        .sum::<f64>()
        .ln()
}

/// Everything the fused KD loss produces.
#[derive(Debug, Clone)]
pub struct KdOutput {
    /// `(1 − α)·ce + α·T²·kl`.
    pub loss: f64,
    /// Batch-mean cross-entropy with the hard labels.
    pub ce: f64,
    /// Batch-mean KL(p ‖ q).
    pub kl: f64,
    /// Per-row cross-entropy.
    pub row_ce: Vec<f64>,
    /// Per-row KL.
    pub row_kl: Vec<f64>,
    /// `dL/dz`, `[B, C]`.
    pub grad: Vec<f64>,
}

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
) -> KdOutput {
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
    let ce = row_ce.iter().sum::<f64>() * inv_b;
    let kl = row_kl.iter().sum::<f64>() * inv_b;
    KdOutput {
        loss: (1.0 - alpha) * ce + alpha * temperature * temperature * kl,
        ce,
        kl,
        row_ce,
        row_kl,
        grad,
    }
}

/// SGD with momentum and weight decay, in place (PyTorch semantics).
pub fn sgd_step(
    params: &mut [f64],
    grads: &[f64],
    velocity: &mut [f64],
    lr: f64,
    momentum: f64,
    weight_decay: f64,
) {
    for ((p, &g), v) in params.iter_mut().zip(grads).zip(velocity.iter_mut()) {
        let g = g + weight_decay * *p;
        *v = momentum * *v + g;
        *p -= lr * *v;
    }
}

/// AdamW with bias correction, in place; `step` counts from 1.
#[allow(clippy::too_many_arguments)]
pub fn adamw_step(
    params: &mut [f64],
    grads: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    step: u32,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
) {
    let bc1 = 1.0 - beta1.powi(step as i32);
    let bc2 = 1.0 - beta2.powi(step as i32);
    for i in 0..params.len() {
        let g = grads[i];
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
        let update = (m[i] / bc1) / ((v[i] / bc2).sqrt() + eps);
        params[i] = params[i] * (1.0 - lr * weight_decay) - lr * update;
    }
}

/// One optimizer step in place, dispatching on the optimizer: `state` holds one tensor for
/// SGD (velocity) and two for AdamW (moments); `step` counts from 1.
pub fn optimizer_step(
    optimizer: Optimizer,
    step: u32,
    params: &mut [f64],
    grads: &[f64],
    state: &mut [Vec<f64>],
) {
    match optimizer {
        Optimizer::Sgd {
            lr,
            momentum,
            weight_decay,
        } => sgd_step(
            params,
            grads,
            &mut state[0],
            lr as f64,
            momentum as f64,
            weight_decay as f64,
        ),
        Optimizer::AdamW {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } => {
            let (m, v) = state.split_at_mut(1);
            adamw_step(
                params,
                grads,
                &mut m[0],
                &mut v[0],
                step,
                lr as f64,
                beta1 as f64,
                beta2 as f64,
                eps as f64,
                weight_decay as f64,
            )
        }
    }
}

/// Forward pass of an MLP over flat parameters: returns every layer's output (the last are the
/// logits).
pub fn mlp_forward(spec: &MlpSpec, params: &[f64], x: &[f64], rows: usize) -> Vec<Vec<f64>> {
    let mut outputs: Vec<Vec<f64>> = Vec::new();
    for (l, layer) in spec.layers().iter().enumerate() {
        let input = outputs.last().map(Vec::as_slice).unwrap_or(x);
        let w = &params[layer.weight_offset..layer.bias_offset];
        let b = &params[layer.bias_offset..layer.bias_offset + layer.outputs];
        let y = dense_forward(
            input,
            w,
            b,
            rows,
            layer.inputs,
            layer.outputs,
            spec.activation_after(l),
        );
        outputs.push(y);
    }
    outputs
}

/// Logits of an MLP.
pub fn mlp_logits(spec: &MlpSpec, params: &[f64], x: &[f64], rows: usize) -> Vec<f64> {
    mlp_forward(spec, params, x, rows).pop().unwrap_or_default()
}

/// The hash `dropout.wgsl` uses (PCG-style, Jarzynski & Olano 2020).
pub fn pcg_hash(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// Whether `dropout.wgsl` keeps element `index` of hidden layer `layer` at optimizer step
/// `step` (counted from 1) with drop probability `p`.
pub fn dropout_keeps(p: f32, seed: u32, step: u32, layer: u32, index: u32) -> bool {
    let threshold = (p as f64 * (1u32 << 24) as f64).round() as u32;
    let key = pcg_hash(seed ^ pcg_hash(step ^ pcg_hash(layer ^ pcg_hash(index))));
    (key >> 8) >= threshold
}

/// Forward pass with the GPU trainer's inverted dropout on every hidden output.
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
            for (i, v) in y.iter_mut().enumerate() {
                *v = if dropout_keeps(p, seed, step, l as u32, i as u32) {
                    *v / (1.0 - p as f64)
                } else {
                    0.0
                };
            }
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
) -> (KdOutput, Vec<f64>) {
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
