//! Validation of one optimizer step (parameters and state) against the reference.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::optim::{optimizer_step, reference, Optimizer};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// Checks one optimizer step (parameters and state).
#[maybe_async]
pub async fn check_optimizer(
    ctx: &GpuContext,
    optimizer: Optimizer,
    step: u32,
    params: &[f32],
    grads: &[f32],
    state: &[Vec<f32>],
) -> Result<Vec<Comparison>> {
    let (got_p, got_s) = optimizer_step(ctx, optimizer, step, params, grads, state).await?;
    let mut p = to_f64(params);
    let g = to_f64(grads);
    let mut s: Vec<Vec<f64>> = state.iter().map(|v| to_f64(v)).collect();
    reference::optimizer_step(optimizer, step, &mut p, &g, &mut s);
    let name = match optimizer {
        Optimizer::Sgd { .. } => "sgd",
        Optimizer::AdamW { .. } => "adamw",
    };
    let tol = Tolerance::new(1e-6, 1e-5);
    let mut out = vec![compare(
        &format!("{name} params (step {step})"),
        &got_p,
        &p,
        tol,
    )];
    for (i, (gs, es)) in got_s.iter().zip(&s).enumerate() {
        out.push(compare(
            &format!("{name} state {i} (step {step})"),
            gs,
            es,
            tol,
        ));
    }
    Ok(out)
}

/// SGD with momentum and decay at step 3, AdamW with decay at step 5, on 1000 parameters.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let n = 1000;
    let params = random_vec(rng, n, -1.0, 1.0);
    let grads = random_vec(rng, n, -1.0, 1.0);
    let sgd = Optimizer::Sgd {
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 1e-4,
    };
    let velocity = random_vec(rng, n, -1.0, 1.0);
    let mut out = check_optimizer(ctx, sgd, 3, &params, &grads, &[velocity]).await?;
    let adamw = Optimizer::AdamW {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
    };
    let m = random_vec(rng, n, -0.1, 0.1);
    let v = random_vec(rng, n, 0.0, 0.01);
    out.extend(check_optimizer(ctx, adamw, 5, &params, &grads, &[m, v]).await?);
    Ok(out)
}
