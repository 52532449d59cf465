//! Validation of the generalized-JSD loss against the reference: per-row CE and JSD and the
//! batch loss to [`GJSD_RTOL`] relative, every gradient entry to [`GJSD_RTOL`] of the batch's
//! largest and of its row's gradient scale ([`check_gjsd`]), on named edge shapes (one row, one
//! and two classes, 1000 classes, rows wider than a workgroup, saturated and near-uniform rows,
//! logits of ±1e4, T from 0.5 to 100, the teacher equal to the student, β at 0, 1 and between)
//! and a seeded random sweep.
//!
//! Measured on lavapipe over the suite at 160 seeds, the worst errors as a fraction of their
//! scale: gradient against its row's scale 4.6e-6, per-row JSD 3.8e-6, gradient against the
//! batch's largest entry 2.5e-6, batch loss 5.2e-7, per-row CE 2.9e-7.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::Comparison;
use crate::ops::gjsd::{gjsd, reference, GjsdConfig};
use crate::ops::kd_loss::check::{extreme_rows, mixed_rows, near_uniform_rows, saturated_rows};
use crate::ops::kd_loss::{KdBatch, KdOutput};
pub use crate::ops::logit_loss::check::random_rows;
use crate::ops::logit_loss::check::{fixed_extreme_rows, largest_abs, LossCase, LossCheck, Rows};
use crate::ops::softmax::check::EXTREME_TEMPERATURES;
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// Relative tolerance of the loss, the per-row CE and JSD, and of every gradient entry against
/// the batch's largest entry and its row's scale: twice the worst error measured.
pub const GJSD_RTOL: f64 = 1e-5;

/// Absolute floor of the per-row terms and gradient entries: f32's smallest normal number (below
/// it f32 keeps no relative precision, while the reference resolves terms of 1e-300).
pub const GJSD_FLOOR: f64 = f32::MIN_POSITIVE as f64;

/// The generalized-JSD loss's comparison names and tolerances.
const CHECK: LossCheck = LossCheck::new("gjsd", "jsd", GJSD_RTOL, GJSD_FLOOR);

/// The reference at a batch's logits and labels, at `config`.
pub fn reference_at(batch: &KdBatch<'_>, config: GjsdConfig) -> KdOutput<f64> {
    reference::gjsd_loss(
        &to_f64(batch.student),
        &to_f64(batch.teacher),
        batch.labels,
        batch.rows,
        batch.cols,
        config.temperature as f64,
        config.alpha as f64,
        config.beta as f64,
    )
}

/// Per row, the largest `(1 − α)·|s − onehot(y)| + α·T·max(w, FLOOR/RTOL)·f` over its entries,
/// over B, with `(w, f)` [`reference::row_grad_parts`]: what the gradient's rounding scales with
/// (the hard and soft terms, and in the mixture the soft term's two parts, may cancel to a
/// gradient far smaller than they are, which f32 cannot resolve relative to itself; a
/// probability below f32's normal range is lost, an error of up to FLOOR·f).
fn row_grad_scales(batch: &KdBatch<'_>, config: GjsdConfig) -> Vec<f64> {
    let (alpha, temperature) = (config.alpha as f64, config.temperature as f64);
    let hard = reference_at(
        batch,
        GjsdConfig {
            alpha: 0.0,
            ..config
        },
    )
    .grad;
    let (z, t) = (to_f64(batch.student), to_f64(batch.teacher));
    let inv_b = 1.0 / batch.rows as f64;
    (0..batch.rows)
        .map(|r| {
            let span = r * batch.cols..(r + 1) * batch.cols;
            let parts = reference::row_grad_parts(
                &z[span.clone()],
                &t[span.clone()],
                temperature,
                config.beta as f64,
            );
            hard[span]
                .iter()
                .zip(&parts)
                .fold(0.0f64, |m, (h, &(w, f))| {
                    let soft = temperature * inv_b * w.max(GJSD_FLOOR / GJSD_RTOL) * f;
                    m.max((1.0 - alpha) * h.abs() + alpha * soft)
                })
        })
        .collect()
}

/// `"9x10 T=4 α=0.5 β=0.9"`.
fn describe(batch: &KdBatch<'_>, config: GjsdConfig) -> String {
    format!(
        "{}x{} T={} α={} β={}",
        batch.rows, batch.cols, config.temperature, config.alpha, config.beta
    )
}

/// Checks the loss at one batch and setting: the gradient against the batch's largest entry and
/// against its row's scale (`row_grad_scales`), per-row CE and JSD, and the batch loss.
#[maybe_async]
pub async fn check_gjsd(
    ctx: &GpuContext,
    name: &str,
    batch: &KdBatch<'_>,
    config: GjsdConfig,
) -> Result<Vec<Comparison>> {
    let got = gjsd(ctx, batch, config).await?;
    let e = reference_at(batch, config);
    let label = format!("{} ({name})", describe(batch, config));
    let scales = row_grad_scales(batch, config);
    let mut out = vec![
        CHECK.grad(&label, &got.grad, &e.grad, largest_abs(&e.grad)),
        CHECK.grad_by_rows(&label, &got.grad, &e.grad, &scales, batch.cols),
    ];
    out.extend(CHECK.terms(&label, &got, &e));
    Ok(out)
}

/// An owned input at one setting (T, α and β), named for reports.
pub type GjsdCase = LossCase<GjsdConfig>;

/// [`mixed_rows`] with the teacher's logits replaced by the student's.
pub fn equal_rows(rng: &mut SplitMix64, rows: usize, cols: usize) -> Rows {
    let (z, _, labels) = mixed_rows(rng, rows, cols);
    (z.clone(), z, labels)
}

/// The β the edge cases run at: both ends (forward and reverse KL), trl's default and two
/// mixtures near the ends.
pub const EDGE_BETAS: [f32; 5] = [0.0, 0.1, 0.5, 0.9, 1.0];

/// The edge cases `distill validate` runs, `rows` rows each, at every β of [`EDGE_BETAS`] and
/// α ∈ {0.5, 1}: saturated two-class rows (gaps 16 and 40, T = 1), near-uniform rows (T = 20
/// and 100), mixed rows of 1000 classes (T = 1, 4, 20) and of 65 (one more than a workgroup's
/// 64 invocations), logits of ±1e4 (T = 0.5, 1, 20, 100), the teacher equal to the student
/// (T = 0.5 and 4) and one class.
pub fn edge_cases(rng: &mut SplitMix64, rows: usize) -> Vec<GjsdCase> {
    let mut cases = Vec::new();
    for beta in EDGE_BETAS {
        for alpha in [0.5f32, 1.0] {
            let mut push = |name: &str, cols: usize, temperature: f32, data: Rows| {
                let config = GjsdConfig {
                    temperature,
                    alpha,
                    beta,
                };
                cases.push(GjsdCase::new(name, rows, cols, config, data));
            };
            for gap in [16.0f32, 40.0] {
                let name = format!("saturated gap {gap}");
                push(&name, 2, 1.0, saturated_rows(rng, rows, gap));
            }
            for t in [20.0, 100.0] {
                push("near-uniform", 10, t, near_uniform_rows(rng, rows, 10, 0.0));
            }
            for t in [1.0, 4.0, 20.0] {
                push("mixed", 1000, t, mixed_rows(rng, rows, 1000));
            }
            push("mixed", 65, 2.0, mixed_rows(rng, rows, 65));
            for t in [0.5, 1.0, 20.0, 100.0] {
                push("logits ±1e4", 10, t, extreme_rows(rng, rows, 10));
            }
            for t in [0.5, 4.0] {
                push("teacher = student", 10, t, equal_rows(rng, rows, 10));
            }
            push("one class", 1, 4.0, random_rows(rng, rows, 1));
        }
    }
    cases
}

/// β within an f32 rounding of the ends (and 1e-30, whose log is far from f32's 1 − β).
pub const EXTREME_BETAS: [f32; 3] = [1e-30, 1e-7, 1.0 - f32::EPSILON / 2.0];

/// The settings `(T, α, β)` of the random sweep.
const SWEEP: [(f32, f32, f32); 8] = [
    (1.0, 0.5, 0.5),
    (4.0, 0.9, 0.1),
    (20.0, 1.0, 0.9),
    (0.5, 0.3, 1.0),
    (100.0, 0.7, 0.0),
    (2.0, 0.0, 0.5),
    (4.0, 0.8, 1e-7),
    (1.0, 0.6, 1.0 - f32::EPSILON / 2.0),
];

/// A seeded sweep over shapes (one row of 1 and 2 classes, 9×10, 70×65, 4×1000) and settings,
/// the extreme logits at every T of [`EXTREME_TEMPERATURES`] and β of [`EDGE_BETAS`] and
/// [`EXTREME_BETAS`], then [`edge_cases`] of 32 rows.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let (mut cases, mut out) = (Vec::new(), Vec::new());
    for &(rows, cols) in &[(1, 1), (1, 2), (9, 10), (70, 65), (4, 1000)] {
        for (temperature, alpha, beta) in SWEEP {
            let config = GjsdConfig {
                temperature,
                alpha,
                beta,
            };
            cases.push(GjsdCase::new(
                "random",
                rows,
                cols,
                config,
                random_rows(rng, rows, cols),
            ));
        }
    }
    for temperature in EXTREME_TEMPERATURES {
        for beta in EDGE_BETAS.into_iter().chain(EXTREME_BETAS) {
            let config = GjsdConfig {
                temperature,
                alpha: 0.5,
                beta,
            };
            cases.push(GjsdCase::new(
                "extreme logits",
                2,
                4,
                config,
                fixed_extreme_rows(),
            ));
        }
    }
    cases.extend(edge_cases(rng, 32));
    for case in cases {
        out.extend(check_gjsd(ctx, &case.name, &case.batch(), case.config).await?);
    }
    Ok(out)
}
