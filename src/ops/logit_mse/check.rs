//! Validation of the logit-MSE loss against the reference: per-row CE and MSE and the batch
//! loss to [`LOGIT_MSE_RTOL`] relative, every gradient entry to [`LOGIT_MSE_RTOL`] of its row's
//! largest gradient term ([`check_logit_mse`]).
//!
//! The tolerances follow the row's magnitude. `MSE_b` is a sum of non-negative squares of one
//! correctly rounded subtraction each, so it keeps f32's relative precision at any size (at
//! logits of ±1e4 its terms are 4e8 and it is checked relative to itself). The gradient
//! `(1 − α)(s − onehot(y)) + α·(2/C)(z − t)` mixes terms of opposite sign that may cancel to far
//! less than either (at ±1e4 the squared-error term is 1e4 times the largest cross-entropy
//! term), and f32 only resolves it relative to the larger: each entry is checked against its
//! row's largest `(1 − α)·|s − onehot(y)| + α·(2/C)·|z − t|`, over B.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::Comparison;
use crate::ops::kd_loss::check::{extreme_rows, mixed_rows, near_uniform_rows, saturated_rows};
use crate::ops::kd_loss::{KdBatch, KdOutput};
pub use crate::ops::logit_loss::check::random_rows;
use crate::ops::logit_loss::check::{
    fixed_extreme_rows, row_term_scales, same_rows, LossCase, LossCheck,
};
use crate::ops::logit_mse::{logit_mse, reference, LogitMseConfig};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// Relative tolerance of the loss and the per-row CE and MSE, and of every gradient entry
/// against its row's largest gradient term: ten times the worst error measured on lavapipe over
/// the suite at five seeds (2.1e-7, the per-row MSE; the gradient 2.0e-7 of its row's scale).
pub const LOGIT_MSE_RTOL: f64 = 2e-6;

/// Absolute floor of the per-row terms and of the scaled gradient: f32's smallest normal number
/// (below it f32 keeps no relative precision, while the reference resolves a CE of 1e-300).
pub const LOGIT_MSE_FLOOR: f64 = f32::MIN_POSITIVE as f64;

/// The logit-MSE loss's comparison names and tolerances.
const CHECK: LossCheck = LossCheck::new("logit mse", "mse", LOGIT_MSE_RTOL, LOGIT_MSE_FLOOR);

/// The reference at a batch and setting, with each row's gradient scale.
struct Expected {
    out: KdOutput<f64>,
    /// Per row: the largest `(1 − α)·|s − onehot(y)| + α·(2/C)·|z − t|` over B.
    grad_scales: Vec<f64>,
}

impl Expected {
    fn new(batch: &KdBatch<'_>, config: LogitMseConfig) -> Self {
        let (z, t) = (to_f64(batch.student), to_f64(batch.teacher));
        let at =
            |alpha: f64| reference::logit_mse(&z, &t, batch.labels, batch.rows, batch.cols, alpha);
        let alpha = config.alpha as f64;
        // The gradient is linear in α: at α = 0 it is the hard term, at α = 1 the soft one.
        let (hard, soft) = (at(0.0).grad, at(1.0).grad);
        Self {
            out: at(alpha),
            grad_scales: row_term_scales(&hard, &soft, alpha, batch.cols),
        }
    }
}

/// The gradient against its row's scale (at least [`LOGIT_MSE_FLOOR`] / [`LOGIT_MSE_RTOL`], so
/// an error below f32's normal range passes), per-row CE and MSE, and the batch loss.
fn compare_logit_mse(
    label: &str,
    got: &KdOutput<f32>,
    e: &Expected,
    cols: usize,
) -> Vec<Comparison> {
    let mut out = vec![CHECK.grad_by_rows(label, &got.grad, &e.out.grad, &e.grad_scales, cols)];
    out.extend(CHECK.terms(label, got, &e.out));
    out
}

/// Checks the logit-MSE loss (gradient, per-row terms, batch loss) at one batch and setting;
/// `name` says what the rows are.
#[maybe_async]
pub async fn check_logit_mse(
    ctx: &GpuContext,
    name: &str,
    batch: &KdBatch<'_>,
    config: LogitMseConfig,
) -> Result<Vec<Comparison>> {
    let got = logit_mse(ctx, batch, config).await?;
    let e = Expected::new(batch, config);
    let label = format!("{}x{} α={} ({name})", batch.rows, batch.cols, config.alpha);
    Ok(compare_logit_mse(&label, &got, &e, batch.cols))
}

/// An owned logit-MSE input, named for reports; the suite runs each at several α.
pub type LogitMseCase = LossCase<()>;

/// The edge cases, `rows` rows each: one class, two saturated classes (logit gap 40), a teacher
/// equal to its student, near-uniform rows, 1000 mixed classes, logits of ±1e4 (10 and 1000
/// classes), and the fixed extreme rows of the softmax check.
pub fn edge_cases(rng: &mut SplitMix64, rows: usize) -> Vec<LogitMseCase> {
    let same = same_rows(rng, rows, 10);
    let case =
        |name: &str, rows: usize, cols: usize, data| LogitMseCase::new(name, rows, cols, (), data);
    vec![
        case("one class", rows, 1, random_rows(rng, rows, 1)),
        case("saturated gap 40", rows, 2, saturated_rows(rng, rows, 40.0)),
        case("teacher = student", rows, 10, same),
        case(
            "near-uniform",
            rows,
            10,
            near_uniform_rows(rng, rows, 10, 0.0),
        ),
        case("mixed", rows, 1000, mixed_rows(rng, rows, 1000)),
        case("logits ±1e4", rows, 10, extreme_rows(rng, rows, 10)),
        case("logits ±1e4", rows, 1000, extreme_rows(rng, rows, 1000)),
        case("fixed ±1e4", 2, 4, fixed_extreme_rows()),
    ]
}

/// Random batches (one row of one and two classes, rows past a workgroup's width, 300 and 1000
/// classes) and [`edge_cases`] of 32 rows, each at α ∈ {0, 0.5, 1} and one more weight.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    let alphas = [0.0f32, 0.5, 1.0, 0.9];
    for &(rows, cols) in &[(1, 1), (1, 2), (9, 10), (70, 10), (3, 300), (4, 1000)] {
        for alpha in alphas {
            let case = LogitMseCase::new("random", rows, cols, (), random_rows(rng, rows, cols));
            out.extend(
                check_logit_mse(ctx, &case.name, &case.batch(), LogitMseConfig { alpha }).await?,
            );
        }
    }
    for case in edge_cases(rng, 32) {
        for alpha in alphas {
            out.extend(
                check_logit_mse(ctx, &case.name, &case.batch(), LogitMseConfig { alpha }).await?,
            );
        }
    }
    Ok(out)
}
