//! Validation of the calibration kernels against the reference: one class, two classes, ties,
//! confident right rows (NLL ~1e-13, where lse − z_y would cancel), confident wrong rows, tiny
//! and large temperatures, then random logits with labels right about half the time.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::calibration::{reference, Calibrator, ECE_BINS};
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::metrics::reference::argmax;
use crate::rng::SplitMix64;
use maybe_async::maybe_async;

/// Per-row terms are within a few ulp, down to f32's smallest normal (an NLL of 1e-260 is 0
/// in f32); their compensated sums stay so.
const NLL_TOLERANCE: Tolerance = Tolerance::new(f32::MIN_POSITIVE as f64, 2e-6);
/// Bin sums: counts exact, confidence and accuracy sums to compensated-sum precision.
const SUM_TOLERANCE: Tolerance = Tolerance::new(1e-6, 2e-6);

/// Compares the NLL at `temperatures` and the reliability sums at the first of them.
#[maybe_async]
pub async fn check_calibration(
    ctx: &GpuContext,
    what: &str,
    logits: &[f32],
    labels: &[u32],
    cols: usize,
    temperatures: &[f32],
) -> Result<Vec<Comparison>> {
    let rows = labels.len();
    let calibrator = Calibrator::new(ctx, logits, labels, cols)?;
    let got = calibrator.nll(ctx, temperatures).await?;
    let expected: Vec<f64> = temperatures
        .iter()
        .map(|&t| reference::mean_nll(logits, labels, cols, t as f64))
        .collect();
    let nll = compare(
        &format!(
            "calibration nll {rows}x{cols} ({what}, {} T)",
            temperatures.len()
        ),
        &got,
        &expected,
        NLL_TOLERANCE,
    );
    let t = temperatures[0];
    let got = calibrator.calibration(ctx, t, ECE_BINS).await?;
    let (bins, totals) = reference::reliability_sums(logits, labels, cols, t as f64, ECE_BINS);
    let flatten = |c: &crate::ops::calibration::Calibration| -> Vec<f64> {
        let mut v: Vec<f64> = c
            .bins
            .iter()
            .flat_map(|b| {
                [
                    b.count as f64,
                    b.confidence * b.count as f64,
                    b.accuracy * b.count as f64,
                ]
            })
            .collect();
        v.extend([c.nll, c.brier, c.accuracy]);
        v
    };
    let n = rows as f64;
    let mut expected: Vec<f64> = bins.iter().flatten().copied().collect();
    expected.extend([totals[0] / n, totals[1] / n, totals[2] / n]);
    let got: Vec<f32> = flatten(&got).iter().map(|&v| v as f32).collect();
    let sums = compare(
        &format!("calibration bins {rows}x{cols} ({what}, T = {t})"),
        &got,
        &expected,
        SUM_TOLERANCE,
    );
    Ok(vec![nll, sums])
}

/// Named edge cases, then random logits.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    let temps = [1.0, 0.05, 0.5, 2.0, 20.0];
    out.extend(check_calibration(ctx, "one class", &[3.0, -2.0], &[0, 0], 1, &temps).await?);
    out.extend(check_calibration(ctx, "ties", &[1.0, 1.0, 0.5, 0.5], &[1, 0], 2, &temps).await?);
    // Right by 30 at T = 1: NLL ≈ 9·e^-30 ≈ 8e-13, kept to its relative precision.
    let confident: Vec<f32> = (0..10).map(|c| if c == 4 { 30.0 } else { 0.0 }).collect();
    out.extend(check_calibration(ctx, "confident right", &confident, &[4], 10, &temps).await?);
    out.extend(check_calibration(ctx, "confident wrong", &confident, &[7], 10, &temps).await?);
    let large: Vec<f32> = [80.0, -80.0, 79.5, 0.0].repeat(3);
    out.extend(check_calibration(ctx, "large logits", &large, &[0, 2, 3], 4, &temps).await?);
    for &(rows, cols) in &[(1000, 10), (257, 3), (64, 1000), (3000, 2)] {
        let logits = random_vec(rng, rows * cols, -6.0, 6.0);
        let labels: Vec<u32> = logits
            .chunks_exact(cols)
            .map(|row| {
                if rng.below(2) == 0 {
                    argmax(row) as u32
                } else {
                    rng.below(cols) as u32
                }
            })
            .collect();
        let temps = [1.0, 0.3, 0.7, 1.5, 3.0, 8.0];
        out.extend(check_calibration(ctx, "random", &logits, &labels, cols, &temps).await?);
    }
    Ok(out)
}
