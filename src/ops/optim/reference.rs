//! The optimizer references in f64.

use crate::ops::optim::Optimizer;

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
