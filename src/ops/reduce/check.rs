//! Validation of the batch reduction: more rows than invocations (each sums a strided share
//! before the tree), one row, and the step accumulator after repeated runs.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::reduce::{prepare_reduce_loss, reference};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// Reduces `rows` random terms, runs `repeats` times, and compares the last step's slots, the
/// accumulated sums and the (zero) first non-finite step with the reference.
#[maybe_async]
pub async fn check_reduce(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    rows: usize,
    temperature: f32,
    alpha: f32,
    repeats: usize,
) -> Result<Vec<Comparison>> {
    let terms = random_vec(rng, 2 * rows, 0.0, 3.0);
    let prepared = prepare_reduce_loss(ctx, &terms, temperature, alpha)?;
    prepared.run(ctx, repeats)?;
    let got: Vec<f32> = prepared.output(ctx, 0).await?;
    let wide = to_f64(&terms);
    let ce: Vec<f64> = wide.iter().step_by(2).copied().collect();
    let kl: Vec<f64> = wide.iter().skip(1).step_by(2).copied().collect();
    let [loss, ce_mean, kl_mean] =
        reference::reduce_loss(&ce, &kl, temperature as f64, alpha as f64);
    let t2 = (temperature as f64).powi(2);
    let tol = Tolerance::new(1e-6 * (1.0 + t2), 1e-5);
    let label = format!("{rows} rows T={temperature} α={alpha}");
    let n = repeats as f64;
    Ok(vec![
        compare(
            &format!("reduce loss/ce/kl {label}"),
            &got[0..3],
            &[loss, ce_mean, kl_mean],
            tol,
        ),
        compare(
            &format!("reduce accumulated sums, steps {label} ×{repeats}"),
            &got[3..8],
            &[0.0, n * loss, n * ce_mean, n * kl_mean, n],
            Tolerance::new(tol.atol * n, tol.rtol),
        ),
    ])
}

/// One row, a batch, and more rows than the workgroup has invocations.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for &(rows, t, alpha, repeats) in &[
        (1, 1.0f32, 0.0f32, 1),
        (128, 4.0, 0.9, 3),
        (1000, 20.0, 0.5, 2),
    ] {
        out.extend(check_reduce(ctx, rng, rows, t, alpha, repeats).await?);
    }
    Ok(out)
}
