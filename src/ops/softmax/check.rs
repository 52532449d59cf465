//! Validation of softmax and log-softmax against the reference: degenerate and wide rows at
//! T from 0.5 to 20, and logits of ±1e4.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::softmax::{reference, softmax};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// Checks softmax and log-softmax at one shape and temperature.
#[maybe_async]
pub async fn check_softmax(
    ctx: &GpuContext,
    logits: &[f32],
    rows: usize,
    cols: usize,
    temperature: f32,
) -> Result<[Comparison; 2]> {
    let (p, lp) = softmax(ctx, logits, rows, cols, temperature).await?;
    let (ep, elp) = reference::softmax(&to_f64(logits), rows, cols, temperature as f64);
    let label = format!("{rows}x{cols} T={temperature}");
    Ok([
        compare(
            &format!("softmax {label}"),
            &p,
            &ep,
            Tolerance::new(1e-6, 1e-4),
        ),
        compare(
            &format!("log-softmax {label}"),
            &lp,
            &elp,
            Tolerance::new(1e-4, 1e-5),
        ),
    ])
}

/// Logits of ±1e4 and spreads of 1e4, two rows of four (shared with the KD-loss checks).
pub const EXTREME_LOGITS: [f32; 8] = [1e4, -1e4, 0.0, 5e3, -1e4, 1e4, 1e4, 0.0];

/// Temperatures the extreme-logit checks run at.
pub const EXTREME_TEMPERATURES: [f32; 5] = [0.5, 1.0, 4.0, 20.0, 100.0];

/// Random rows at several shapes and temperatures, then the extreme logits.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for &(rows, cols) in &[(1, 1), (1, 2), (7, 10), (33, 1000), (5, 3)] {
        for &t in &[0.5f32, 1.0, 4.0, 20.0] {
            let x = random_vec(rng, rows * cols, -8.0, 8.0);
            out.extend(check_softmax(ctx, &x, rows, cols, t).await?);
        }
    }
    for t in EXTREME_TEMPERATURES {
        out.extend(check_softmax(ctx, &EXTREME_LOGITS, 2, 4, t).await?);
    }
    Ok(out)
}
