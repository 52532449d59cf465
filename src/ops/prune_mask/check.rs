//! Validation of the prune mask: exact (it only copies or zeroes), so the tolerance is 0.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::prune_mask::{prune_mask, reference};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// Runs the mask on the GPU and compares it with the reference, exactly.
#[maybe_async]
pub async fn check_prune_mask(
    ctx: &GpuContext,
    what: &str,
    weights: &[f32],
    snapshot: &[f32],
    ranges: &[(usize, usize)],
) -> Result<Comparison> {
    let got = prune_mask(ctx, weights, snapshot, ranges).await?;
    let expected = reference::prune_mask(&to_f64(weights), &to_f64(snapshot), ranges);
    Ok(compare(
        &format!("prune mask {what}"),
        &got,
        &expected,
        Tolerance::new(0.0, 0.0),
    ))
}

/// A snapshot of `n` values with each zeroed with probability `sparsity`.
fn sparse_snapshot(rng: &mut SplitMix64, n: usize, sparsity: f64) -> Vec<f32> {
    random_vec(rng, n, -1.0, 1.0)
        .into_iter()
        .map(|v| if rng.next_f64() < sparsity { 0.0 } else { v })
        .collect()
}

/// Named cases — nothing pruned, everything pruned, −0 in the snapshot, one element, sizes
/// around a workgroup, several ranges with untouched entries (biases) between them, a range past
/// one grid row — and a seeded sweep.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    let weights = random_vec(rng, 1000, -1.0, 1.0);
    let dense = random_vec(rng, 1000, 0.5, 1.0);
    out.push(check_prune_mask(ctx, "1000 nothing pruned", &weights, &dense, &[(0, 1000)]).await?);
    let zeros = vec![0.0f32; 1000];
    out.push(check_prune_mask(ctx, "1000 all pruned", &weights, &zeros, &[(0, 1000)]).await?);
    let negative_zeros = vec![-0.0f32; 1000];
    out.push(
        check_prune_mask(
            ctx,
            "1000 −0 snapshot",
            &weights,
            &negative_zeros,
            &[(0, 1000)],
        )
        .await?,
    );
    out.push(check_prune_mask(ctx, "1 element", &[3.0], &[0.0], &[(0, 1)]).await?);
    for n in [63, 64, 65] {
        let weights = random_vec(rng, n, -1.0, 1.0);
        let snapshot = sparse_snapshot(rng, n, 0.5);
        out.push(check_prune_mask(ctx, &format!("{n}"), &weights, &snapshot, &[(0, n)]).await?);
    }
    // Layers 20x10 and 5x20 with biases after each: the zero biases of the snapshot stay
    // unmasked because no range covers them.
    let n = 200 + 20 + 100 + 5;
    let weights = random_vec(rng, n, -1.0, 1.0);
    let mut snapshot = sparse_snapshot(rng, n, 0.8);
    snapshot[200..220].fill(0.0);
    snapshot[320..].fill(0.0);
    let ranges = [(0, 200), (220, 100)];
    out.push(
        check_prune_mask(
            ctx,
            "2 layers, biases untouched",
            &weights,
            &snapshot,
            &ranges,
        )
        .await?,
    );
    let n = 64 * 65_536 + 3;
    let weights = random_vec(rng, n, -1.0, 1.0);
    let snapshot = sparse_snapshot(rng, n, 0.9);
    out.push(check_prune_mask(ctx, "past one grid row", &weights, &snapshot, &[(0, n)]).await?);
    for _ in 0..5 {
        let n = 2 + rng.below(50_000);
        let weights = random_vec(rng, n, -1.0, 1.0);
        let sparsity = [0.0, 0.5, 0.8, 0.95, 1.0][rng.below(5)];
        let snapshot = sparse_snapshot(rng, n, sparsity);
        let offset = rng.below(n / 2);
        let count = rng.below(n - offset);
        let what = format!("{n} at sparsity {sparsity}, range {offset}+{count}");
        out.push(check_prune_mask(ctx, &what, &weights, &snapshot, &[(offset, count)]).await?);
    }
    Ok(out)
}
