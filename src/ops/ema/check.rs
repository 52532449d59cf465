//! Validation of the EMA update against the f64 reference `d·θ' + (1 − d)·θ`.
//!
//! The kernel's `θ' + b·(θ − θ')`, with `b = 1 − d` rounded once, rounds four times (b, the
//! difference, the product, the sum), each off by at most `u = 2⁻²⁴` relative to its own
//! result. With `M = max(|θ|, |θ'|)`, the first three each move the step `b·(θ − θ')` by at
//! most `u` of its size `≤ 2(1 − d)·M`, and the sum (≤ M) adds `u·M`, so one update is off by
//! at most `(1 + 6(1 − d))·u·M ≤ 7u·M`. The tolerance is `8u·M` per
//! element and update (relative to M, not to the result: a blend of values of opposite sign
//! may be near 0 while its rounding error follows M). Later updates shrink earlier errors by d,
//! so n updates stay within `8n·u·M`. Where `θ = θ'` the kernel must return θ' exactly.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::accumulate::check::{MLP_PARAMETERS, PAST_ONE_GRID_ROW};
use crate::ops::check::{compare, compare_scaled, random_vec, Comparison, Tolerance};
use crate::ops::ema::{prepare_ema_update, ramped_decay, reference, EmaDispatch};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// f32's unit roundoff, 2⁻²⁴.
const UNIT: f64 = f32::EPSILON as f64 / 2.0;

/// Tolerance of `updates` EMA updates, relative to `max(|θ|, |θ'|)` per element.
pub fn ema_tolerance(updates: usize) -> Tolerance {
    Tolerance::new(f32::MIN_POSITIVE as f64, 8.0 * UNIT * updates as f64)
}

/// Compares θ' after the updates with the reference, scaled by `max(|θ|, |θ'₀|)`.
fn compare_ema(
    what: &str,
    got: &[f32],
    expected: &[f64],
    (shadow, source): (&[f32], &[f32]),
    updates: usize,
) -> Comparison {
    let scale = |i: usize| shadow[i].abs().max(source[i].abs()) as f64;
    compare_scaled(what, got, expected, scale, ema_tolerance(updates))
}

/// Runs `updates` updates at decay d on the GPU (one prepared kernel replayed) and compares
/// them with the reference; `note` ends the label.
#[maybe_async]
pub async fn check_ema(
    ctx: &GpuContext,
    shadow: &[f32],
    source: &[f32],
    decay: f32,
    updates: usize,
    note: &str,
) -> Result<Comparison> {
    let prepared = prepare_ema_update(ctx, shadow, source, decay)?;
    prepared.run(ctx, updates)?;
    let got: Vec<f32> = prepared.output(ctx, 0).await?;
    let theta = to_f64(source);
    let mut expected = to_f64(shadow);
    for _ in 0..updates {
        expected = reference::ema_update(&expected, &theta, decay as f64);
    }
    let steps = if updates == 1 {
        String::new()
    } else {
        format!(" ×{updates} updates")
    };
    let label = format!("ema {} d={decay}{steps}{note}", shadow.len());
    Ok(compare_ema(
        &label,
        &got,
        &expected,
        (shadow, source),
        updates,
    ))
}

/// Random θ' and θ of magnitude up to `scale`, one update, checked.
#[maybe_async]
pub async fn check_random_ema(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    n: usize,
    decay: f32,
    scale: f32,
) -> Result<Comparison> {
    let shadow = random_vec(rng, n, -scale, scale);
    let source = random_vec(rng, n, -scale, scale);
    let note = if scale == 1.0 {
        String::new()
    } else {
        format!(" |x| ≤ {scale:e}")
    };
    check_ema(ctx, &shadow, &source, decay, 1, &note).await
}

/// Updates 0 to `updates − 1` through one dispatch with `EmaDispatch::set_decay` between
/// them, following the ramp [`ramped_decay`] up to `decay` (update 0 copies the student).
#[maybe_async]
pub async fn check_ramp(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    n: usize,
    decay: f32,
    updates: u32,
) -> Result<Comparison> {
    let shadow = random_vec(rng, n, -1.0, 1.0);
    let source = random_vec(rng, n, -1.0, 1.0);
    let shadow_buf = ctx.upload("EMA shadow parameters", &shadow)?;
    let source_buf = ctx.upload("EMA source parameters", &source)?;
    let ema = EmaDispatch::new(ctx, n, decay, &shadow_buf, &source_buf)?;
    let theta = to_f64(&source);
    let mut expected = to_f64(&shadow);
    for step in 0..updates {
        let d = ramped_decay(decay, step);
        ema.set_decay(ctx, d);
        ctx.run("ema update", std::slice::from_ref(&ema.dispatch))?;
        expected = reference::ema_update(&expected, &theta, d as f64);
    }
    let got: Vec<f32> = ctx
        .read_back("EMA shadow parameters", &shadow_buf, 0, n)
        .await?;
    let label = format!("ema {n} ramped to d={decay} over {updates} updates");
    Ok(compare_ema(
        &label,
        &got,
        &expected,
        (&shadow, &source),
        updates as usize,
    ))
}

/// Sizes on either side of a workgroup, a 784-800-800-10 MLP's parameters and a grid past one
/// dimension; decays near 0 and near 1; ±1e4 values; θ = −θ' (results near 0); θ = θ' (θ'
/// unchanged, exactly); 20 updates replayed; the ramp through `set_decay`; a seeded sweep.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for (n, decay) in [
        (1, 0.5f32),
        (63, 0.9),
        (65, 0.99),
        (1000, 1e-3),
        (1000, 1e-6),
        (1000, 0.9999),
        (MLP_PARAMETERS, 0.999),
        (PAST_ONE_GRID_ROW, 0.99),
    ] {
        out.push(check_random_ema(ctx, rng, n, decay, 1.0).await?);
    }
    out.push(check_random_ema(ctx, rng, 5000, 0.999, 1e4).await?);
    out.push(check_random_ema(ctx, rng, 5000, 0.3, 1e4).await?);
    let shadow = random_vec(rng, 2000, -1e4, 1e4);
    let opposite: Vec<f32> = shadow.iter().map(|v| -v).collect();
    out.push(check_ema(ctx, &shadow, &opposite, 0.5, 1, " θ = −θ'").await?);
    out.push(check_ema(ctx, &shadow, &opposite, 0.999, 1, " θ = −θ'").await?);
    // θ = θ': θ' must come back bit for bit.
    let prepared = prepare_ema_update(ctx, &shadow, &shadow, 0.7)?;
    let got: Vec<f32> = prepared.run_once(ctx, 0).await?;
    out.push(compare(
        "ema 2000 d=0.7 θ = θ' (unchanged)",
        &got,
        &to_f64(&shadow),
        Tolerance::new(0.0, 0.0),
    ));
    let shadow = random_vec(rng, 1000, -1.0, 1.0);
    let source = random_vec(rng, 1000, -1.0, 1.0);
    out.push(check_ema(ctx, &shadow, &source, 0.9, 20, "").await?);
    out.push(check_ramp(ctx, rng, 500, 0.99, 12).await?);
    for _ in 0..6 {
        let n = 1 + rng.below(100_000);
        let decay = [1e-3f32, 0.5, 0.9, 0.99, 0.999, 0.9999][rng.below(6)];
        let scale = [1.0f32, 1e2, 1e4][rng.below(3)];
        out.push(check_random_ema(ctx, rng, n, decay, scale).await?);
    }
    Ok(out)
}
