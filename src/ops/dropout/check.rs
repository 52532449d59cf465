//! Validation of dropout against the reference: the same elements kept, the same scale, and a
//! kept fraction near 1 − p.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::dropout::{dropout, reference, Dropout};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// Checks dropout of `count` positive values (so a dropped element is exactly the zeros).
#[maybe_async]
pub async fn check_dropout(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    count: usize,
    config: Dropout,
    step: u32,
    layer: u32,
) -> Result<Comparison> {
    let values = random_vec(rng, count, 0.1, 2.0);
    let got = dropout(ctx, &values, config, step, layer as usize).await?;
    let mut expected = to_f64(&values);
    reference::apply_dropout(&mut expected, config, step, layer);
    Ok(compare(
        &format!("dropout {count} p={} step {step} layer {layer}", config.p),
        &got,
        &expected,
        Tolerance::new(0.0, 2e-7),
    ))
}

/// Several p, steps and layers, including p = 0 (identity) and one element.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for &(count, p, step, layer) in &[
        (1, 0.5f32, 1, 0),
        (1000, 0.0, 3, 0),
        (4096, 0.5, 1, 0),
        (4096, 0.5, 2, 1),
        (777, 0.2, 17, 2),
    ] {
        let config = Dropout { p, seed: 7 };
        out.push(check_dropout(ctx, rng, count, config, step, layer).await?);
    }
    Ok(out)
}
