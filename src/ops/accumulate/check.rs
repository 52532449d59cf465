//! Validation of the accumulation. The kernel's one addition per element is correctly rounded
//! (IEEE 754, required of f32 addition by WGSL and Vulkan), so it must equal the same f32
//! addition done on the host bit for bit: the checks allow no error at all.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::accumulate::{accumulate, accumulate_dispatch, reference};
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// No error allowed.
pub const EXACT: Tolerance = Tolerance::new(0.0, 0.0);

/// A 784-800-800-10 MLP's parameter count (784·800 + 800 + 800·800 + 800 + 800·10 + 10).
pub const MLP_PARAMETERS: usize = 1_276_810;

/// Elements past 65 535 workgroups of 64 invocations, so the grid needs its second dimension.
pub const PAST_ONE_GRID_ROW: usize = 70_000 * 64 + 3;

/// Checks `dst + src` on the GPU against the host's f32 sum, exactly; `note` ends the label.
#[maybe_async]
pub async fn check_accumulate(
    ctx: &GpuContext,
    dst: &[f32],
    src: &[f32],
    note: &str,
) -> Result<Comparison> {
    let got = accumulate(ctx, dst, src).await?;
    let expected = to_f64(&reference::accumulate(dst, src));
    Ok(compare(
        &format!("accumulate {}{note}", dst.len()),
        &got,
        &expected,
        EXACT,
    ))
}

/// Random operands in `[-scale, scale)`, checked.
#[maybe_async]
pub async fn check_random_accumulate(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    n: usize,
    scale: f32,
) -> Result<Comparison> {
    let dst = random_vec(rng, n, -scale, scale);
    let src = random_vec(rng, n, -scale, scale);
    let note = if scale == 1.0 {
        String::new()
    } else {
        format!(" |x| ≤ {scale:e}")
    };
    check_accumulate(ctx, &dst, &src, &note).await
}

/// Accumulates the first `n` of `len` elements: those change, the rest stay as they were.
#[maybe_async]
pub async fn check_prefix(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    n: usize,
    len: usize,
) -> Result<Comparison> {
    let dst = random_vec(rng, len, -1.0, 1.0);
    let src = random_vec(rng, len, -1.0, 1.0);
    let dst_buf = ctx.upload("accumulate destination", &dst)?;
    let src_buf = ctx.upload("accumulate source", &src)?;
    let (dispatch, _uniform) = accumulate_dispatch(ctx, n, &src_buf, &dst_buf)?;
    ctx.run("accumulate", &[dispatch])?;
    let got: Vec<f32> = ctx
        .read_back("accumulate destination", &dst_buf, 0, len)
        .await?;
    let mut expected = reference::accumulate(&dst[..n], &src[..n]);
    expected.extend_from_slice(&dst[n..]);
    Ok(compare(
        &format!("accumulate {n} of {len} (the rest untouched)"),
        &got,
        &to_f64(&expected),
        EXACT,
    ))
}

/// One element, counts on either side of a workgroup, a 784-800-800-10 MLP's parameters, a
/// grid past one dimension, ±1e4 operands, operands that cancel, a prefix of a longer buffer,
/// and a seeded sweep of counts.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for n in [1, 63, 65, 1000, MLP_PARAMETERS, PAST_ONE_GRID_ROW] {
        out.push(check_random_accumulate(ctx, rng, n, 1.0).await?);
    }
    out.push(check_random_accumulate(ctx, rng, 5000, 1e4).await?);
    // src ≈ −dst: the sums cancel to small values (exactly, by Sterbenz's lemma).
    let dst = random_vec(rng, 3000, -1e4, 1e4);
    let src: Vec<f32> = dst
        .iter()
        .zip(random_vec(rng, 3000, -1e-3, 1e-3))
        .map(|(&d, e)| -d + e)
        .collect();
    out.push(check_accumulate(ctx, &dst, &src, " cancelling").await?);
    out.push(check_prefix(ctx, rng, 1000, 1100).await?);
    for _ in 0..6 {
        let n = 1 + rng.below(200_000);
        let scale = [1.0f32, 1e2, 1e4][rng.below(3)];
        out.push(check_random_accumulate(ctx, rng, n, scale).await?);
    }
    Ok(out)
}
