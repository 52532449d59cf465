//! Validation of the hint loss against the reference: one element, widths on either side of
//! the workgroup size, an MNIST-sized hidden layer, more rows than the reduction has
//! invocations, more rows than one grid dimension holds, β = 0, ±1e4 values, identical inputs
//! (MSE and gradient exactly 0), a weight changed between steps, and a seeded random sweep.
//!
//! The tolerances follow from the kernels' arithmetic (each f32 rounding off by at most
//! `u = 2⁻²⁴` relative), with a margin of 2: the gradient rounds three times (the difference,
//! `2β/(B·W)`, the product), so its relative error is at most `3u`; the row terms add `W`
//! non-negative squares, `⌈W/64⌉` in order per invocation, then a tree of 6 levels, so their
//! relative error is at most about `(⌈W/64⌉ + 6 + 3)·u`; the batch mean adds `⌈B/256⌉ + 8`
//! more steps. Nothing cancels, so the bounds are relative to the result.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::hint::{
    hint_loss, reference, HintBuffers, HintDispatches, HintOutput, HINT_WORKGROUP,
};
use crate::ops::reduce::LOSS_SLOTS;
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// f32's unit roundoff, 2⁻²⁴.
const UNIT: f64 = f32::EPSILON as f64 / 2.0;

/// Invocations of the batch reduction's workgroup.
const REDUCE_WORKGROUP: usize = 256;

/// The smallest normal f32: an absolute allowance for a device that flushes subnormals.
const FLUSH: f64 = f32::MIN_POSITIVE as f64;

/// Relative tolerance of a sum of non-negative terms: `per_lane` in order, then a tree over
/// `lanes`, plus three roundings (the square, a scale, a product), all doubled.
fn sum_rtol(per_lane: usize, lanes: usize) -> f64 {
    2.0 * (per_lane + lanes.ilog2() as usize + 3) as f64 * UNIT
}

/// Tolerances of the gradient, the row terms and the loss slots of a `rows × width` batch.
pub fn hint_tolerances(rows: usize, width: usize) -> [Tolerance; 3] {
    let row = sum_rtol(width.div_ceil(HINT_WORKGROUP), HINT_WORKGROUP);
    let batch = row + sum_rtol(rows.div_ceil(REDUCE_WORKGROUP), REDUCE_WORKGROUP);
    [
        Tolerance::new(FLUSH, 6.0 * UNIT),
        Tolerance::new(FLUSH, row),
        Tolerance::new(FLUSH, batch + 4.0 * UNIT),
    ]
}

/// Compares a GPU result with the reference: gradient, row terms, `[loss, mse]`.
pub fn compare_hint(
    got: &HintOutput<f32>,
    expected: &HintOutput<f64>,
    rows: usize,
    width: usize,
    label: &str,
) -> Vec<Comparison> {
    let [grad, row, loss] = hint_tolerances(rows, width);
    vec![
        compare(
            &format!("hint grad {label}"),
            &got.grad,
            &expected.grad,
            grad,
        ),
        compare(
            &format!("hint row mse {label}"),
            &got.row_mse,
            &expected.row_mse,
            row,
        ),
        compare(
            &format!("hint loss/mse {label}"),
            &[got.loss, got.mse],
            &[expected.loss, expected.mse],
            loss,
        ),
    ]
}

/// Runs the hint loss on the GPU and compares it with the reference; `note` ends the label.
#[maybe_async]
pub async fn check_hint(
    ctx: &GpuContext,
    prediction: &[f32],
    target: &[f32],
    (rows, width): (usize, usize),
    weight: f32,
    note: &str,
) -> Result<Vec<Comparison>> {
    let got = hint_loss(ctx, prediction, target, rows, width, weight).await?;
    let expected = reference::hint_loss(
        &to_f64(prediction),
        &to_f64(target),
        rows,
        width,
        weight as f64,
    );
    let label = format!("{rows}x{width} β={weight}{note}");
    Ok(compare_hint(&got, &expected, rows, width, &label))
}

/// Random inputs of magnitude up to `scale`, checked.
#[maybe_async]
pub async fn check_random_hint(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    (rows, width): (usize, usize),
    weight: f32,
    scale: f32,
) -> Result<Vec<Comparison>> {
    let r = random_vec(rng, rows * width, -scale, scale);
    let h = random_vec(rng, rows * width, -scale, scale);
    let note = if scale == 1.0 {
        String::new()
    } else {
        format!(" |x| ≤ {scale:e}")
    };
    check_hint(ctx, &r, &h, (rows, width), weight, &note).await
}

/// Two steps through one set of dispatches, β rewritten by
/// `HintDispatches::set_weight` between them: the second step's outputs follow the new β,
/// and the accumulated slots hold both steps' losses.
#[maybe_async]
pub async fn check_set_weight(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    (rows, width): (usize, usize),
    [first, second]: [f32; 2],
) -> Result<Vec<Comparison>> {
    let r = random_vec(rng, rows * width, -1.0, 1.0);
    let h = random_vec(rng, rows * width, -1.0, 1.0);
    let prediction = ctx.upload("hint prediction", &r)?;
    let target = ctx.upload("hint target", &h)?;
    let grad = ctx.nan_buffer("hint grad", rows * width)?;
    let row_terms = ctx.nan_buffer("hint row terms", 2 * rows)?;
    let loss = ctx.upload("hint loss", &[0.0f32; LOSS_SLOTS])?;
    let buffers = HintBuffers {
        prediction: &prediction,
        target: &target,
        grad: &grad,
        row_terms: &row_terms,
        loss: &loss,
    };
    let built = HintDispatches::new(ctx, rows, width, first, &buffers)?;
    ctx.run("hint loss", &built.dispatches)?;
    built.set_weight(ctx, second);
    ctx.run("hint loss", &built.dispatches)?;
    let terms: Vec<f32> = ctx
        .read_back("hint row terms", &row_terms, 0, 2 * rows)
        .await?;
    let slots: Vec<f32> = ctx.read_back("hint loss", &loss, 0, LOSS_SLOTS).await?;
    let got = HintOutput {
        loss: slots[0],
        mse: slots[2],
        row_mse: terms.iter().skip(1).step_by(2).copied().collect(),
        grad: ctx.read_back("hint grad", &grad, 0, rows * width).await?,
    };
    let (wr, wh) = (to_f64(&r), to_f64(&h));
    let before = reference::hint_loss(&wr, &wh, rows, width, first as f64);
    let after = reference::hint_loss(&wr, &wh, rows, width, second as f64);
    let label = format!("{rows}x{width} β={first} then set_weight β={second}");
    let mut out = compare_hint(&got, &after, rows, width, &label);
    let tol = hint_tolerances(rows, width)[2];
    out.push(compare(
        &format!("hint accumulated loss/steps {label}"),
        &[slots[4], slots[6], slots[7]],
        &[before.loss + after.loss, 2.0 * after.mse, 2.0],
        Tolerance::new(tol.atol, tol.rtol + 2.0 * UNIT),
    ));
    Ok(out)
}

/// Named edge shapes `(rows, width)`: one element; widths one under, one over and far past the
/// 64-invocation workgroup; a 784-800-800-10 student's hidden layer at batch 128; more rows
/// than the reduction's 256 invocations; more rows than one grid dimension's 65 535 workgroups.
pub const HINT_SHAPES: &[(usize, usize)] = &[
    (1, 1),
    (3, 63),
    (5, 65),
    (2, 1000),
    (128, 800),
    (1000, 10),
    (70_000, 3),
];

/// The named shapes at β = 0.5 and 1, β = 0, ±1e4 values, near-equal large values, identical
/// inputs, a weight rewritten between steps, and a seeded sweep of shapes, weights and scales.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for (i, &shape) in HINT_SHAPES.iter().enumerate() {
        let weight = if i % 2 == 0 { 0.5 } else { 1.0 };
        out.extend(check_random_hint(ctx, rng, shape, weight, 1.0).await?);
    }
    out.extend(check_random_hint(ctx, rng, (128, 800), 0.0, 1.0).await?);
    out.extend(check_random_hint(ctx, rng, (64, 100), 1.0, 1e4).await?);
    // Large values a little apart: the difference cancels most digits, exactly (Sterbenz).
    let (rows, width) = (32, 130);
    let r = random_vec(rng, rows * width, -1e4, 1e4);
    let h: Vec<f32> = r
        .iter()
        .zip(random_vec(rng, rows * width, -0.01, 0.01))
        .map(|(&v, e)| v + e)
        .collect();
    out.extend(check_hint(ctx, &r, &h, (rows, width), 2.0, " near-equal").await?);
    let same = random_vec(rng, 7 * 90, -1e4, 1e4);
    out.extend(check_hint(ctx, &same, &same, (7, 90), 1.0, " identical").await?);
    out.extend(check_set_weight(ctx, rng, (16, 100), [0.5, 2.0]).await?);
    for _ in 0..8 {
        let shape = (1 + rng.below(200), 1 + rng.below(1100));
        let weight = [0.0f32, 0.1, 1.0, 100.0][rng.below(4)];
        let scale = [1.0f32, 1e2, 1e4][rng.below(3)];
        out.extend(check_random_hint(ctx, rng, shape, weight, scale).await?);
    }
    Ok(out)
}
