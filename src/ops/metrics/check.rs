//! Validation of the error count against the reference: ties (first index wins), one class,
//! and random logits where about half the labels are right.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::metrics::{count_errors, reference};
use crate::rng::SplitMix64;
use maybe_async::maybe_async;

/// Compares the GPU error count with the reference on one set of logits.
#[maybe_async]
pub async fn check_count_errors(
    ctx: &GpuContext,
    what: &str,
    logits: &[f32],
    labels: &[u32],
    cols: usize,
) -> Result<Comparison> {
    let got = count_errors(ctx, logits, labels, labels.len(), cols).await?;
    let expected = reference::count_errors(logits, labels, cols);
    Ok(compare(
        &format!("count errors {}x{cols} ({what})", labels.len()),
        &[got.errors as f32, got.non_finite_rows as f32],
        &[expected.errors as f64, expected.non_finite_rows as f64],
        Tolerance::new(0.0, 0.0),
    ))
}

/// Named edge cases, then random logits with labels right about half the time.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    // Ties go to the first index: rows 0 and 2 are right, row 1 is wrong.
    let ties = [1.0f32, 1.0, 0.0, 2.0, 2.0, 0.0, 0.5, 0.5, 0.5];
    // Pushed one by one: `.await` inside a `vec!` is out of `maybe_async`'s reach.
    let mut out = Vec::new();
    out.push(check_count_errors(ctx, "ties", &ties, &[0, 1, 0], 3).await?);
    out.push(check_count_errors(ctx, "one class", &[3.0, -1.0], &[0, 0], 1).await?);
    out.push(
        check_count_errors(
            ctx,
            "non-finite",
            &[
                f32::NAN,
                1.0,
                0.0,
                f32::INFINITY,
                0.0,
                1.0,
                -f32::INFINITY,
                0.0,
                2.0,
            ],
            &[1, 0, 2],
            3,
        )
        .await?,
    );
    for &(rows, cols) in &[(7, 2), (1000, 10), (65, 1000)] {
        let logits = random_vec(rng, rows * cols, -4.0, 4.0);
        let labels: Vec<u32> = logits
            .chunks_exact(cols)
            .map(|row| {
                if rng.below(2) == 0 {
                    reference::argmax(row) as u32
                } else {
                    rng.below(cols) as u32
                }
            })
            .collect();
        out.push(check_count_errors(ctx, "random", &logits, &labels, cols).await?);
    }
    Ok(out)
}
