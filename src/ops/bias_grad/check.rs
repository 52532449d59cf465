//! Validation of the bias gradient against the reference.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::bias_grad::{bias_grad, reference};
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// Checks the bias gradient of `dy` `[rows, cols]`.
#[maybe_async]
pub async fn check_bias_grad(
    ctx: &GpuContext,
    dy: &[f32],
    rows: usize,
    cols: usize,
) -> Result<Comparison> {
    let got = bias_grad(ctx, dy, rows, cols).await?;
    let expected = reference::bias_grad(&to_f64(dy), rows, cols);
    Ok(compare(
        &format!("bias grad {rows}x{cols}"),
        &got,
        &expected,
        Tolerance::new(1e-6 * (rows as f64).sqrt() * 4.0, 1e-5),
    ))
}

/// One element, an MNIST batch, and a wide layer.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for &(rows, cols) in &[(1, 1), (128, 10), (3, 200)] {
        let dy = random_vec(rng, rows * cols, -1.0, 1.0);
        out.push(check_bias_grad(ctx, &dy, rows, cols).await?);
    }
    Ok(out)
}
