//! Validation of the DKD loss against the reference: per-row CE and the batch loss to
//! [`DKD_RTOL`] relative, the per-row KD term `A·TCKD + B·NCKD` to [`DKD_RTOL`] of itself plus
//! its sensitivity to rounding, every gradient entry to [`DKD_RTOL`] of the batch's largest
//! gradient term ([`check_dkd_loss`]); at the edges (two classes, a teacher with `p_y = 1` or
//! `p_y = 0`, logits of ±1e4, near-uniform rows at T = 20 and 100, 1000 classes, A, B or w at 0)
//! also of its row's largest gradient term ([`check_dkd_edges`]).
//!
//! TCKD depends on the logits through `δ = λ_q − λ_p` alone (`TCKD ≈ p_y(1 − p_y)·δ²/2` near 0).
//! Where δ is near 0 only because large logit gaps happen to cancel, its f32 rounding (about
//! ulp(1) times [`reference::delta_scale`]) is a large part of it, and no f32 kernel keeps
//! TCKD's or `q_y − p_y`'s relative precision; the row KD term and the row-scaled gradient allow
//! [`DKD_RTOL`] of that sensitivity. Measured on lavapipe over the suite at 80 seeds, the worst
//! errors as a fraction of their scale: per-row KD term 1.3e-6, gradient against the batch's
//! largest term 2.8e-7 and against its row's 4.3e-7, per-row CE 3.9e-7, batch loss 4.2e-7.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::Comparison;
use crate::ops::dkd::{dkd_loss, prepare_dkd_loss_restaged, reference, run_prepared, DkdConfig};
use crate::ops::kd_loss::check::{extreme_rows, mixed_rows, near_uniform_rows, saturated_rows};
use crate::ops::kd_loss::reference::row_softmax;
use crate::ops::kd_loss::{KdBatch, KdOutput};
use crate::ops::logit_loss::check::{random_rows, LossCase, LossCheck, Rows};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// Relative tolerance of the loss, the per-row CE and KD term, and of every gradient entry
/// against the batch's (at the edges also its row's) largest gradient term: three times the
/// worst error measured.
pub const DKD_RTOL: f64 = 4e-6;

/// Absolute floor of the per-row terms and gradient entries: f32's smallest normal number (below
/// it f32 keeps no relative precision, while the reference resolves terms of 1e-300).
pub const DKD_FLOOR: f64 = f32::MIN_POSITIVE as f64;

/// The DKD loss's comparison names and tolerances.
const CHECK: LossCheck = LossCheck::new("dkd", "kd", DKD_RTOL, DKD_FLOOR);

/// The reference at a batch and setting, with what the tolerances scale by.
struct Expected {
    /// Loss, per-row terms and gradient.
    out: KdOutput<f64>,
    /// Per row: `|kd| + A·|q_y − p_y|·delta_scale`, the KD term's scale.
    kd_scales: Vec<f64>,
    /// Per row, over B: the largest `|s − onehot(y)| + w·T·(A·|∂TCKD| + B·|∂NCKD|)` (each
    /// `T·∂/∂z`) over the row's entries, plus `w·T·A·(q_y(1 − p_y) + p_y(1 − q_y))·delta_scale`
    /// (how far `q_y − p_y` moves with the rounding of δ): the gradient's scale. The three parts
    /// may cancel to a gradient far smaller than any of them, which f32 cannot resolve relative
    /// to itself.
    grad_scales: Vec<f64>,
}

impl Expected {
    fn new(batch: &KdBatch<'_>, config: DkdConfig) -> Self {
        let (z, t, cols) = (to_f64(batch.student), to_f64(batch.teacher), batch.cols);
        let temperature = config.temperature as f64;
        let (a, b) = (config.target_weight as f64, config.non_target_weight as f64);
        let soft = config.ramp as f64 * temperature;
        let out = reference::dkd_loss(
            &z,
            &t,
            batch.labels,
            batch.rows,
            cols,
            temperature,
            a,
            b,
            config.ramp as f64,
        );
        let parts = reference::dkd_parts(&z, &t, batch.labels, batch.rows, cols, temperature);
        let inv_b = 1.0 / batch.rows as f64;
        let mut kd_scales = Vec::with_capacity(batch.rows);
        let mut grad_scales = Vec::with_capacity(batch.rows);
        for r in 0..batch.rows {
            let span = r * cols..(r + 1) * cols;
            let y = batch.labels[r] as usize;
            let (zr, tr) = (&z[span.clone()], &t[span.clone()]);
            let q = row_softmax(zr, temperature).prob[y];
            let p = row_softmax(tr, temperature).prob[y];
            let delta_scale = reference::delta_scale(zr, tr, y, temperature);
            kd_scales.push(out.row_kl[r].abs() + a * (q - p).abs() * delta_scale);
            let largest = span.fold(0.0f64, |m, i| {
                let soft_term = a * parts.target[i].abs() + b * parts.non_target[i].abs();
                m.max(parts.hard[i].abs() + soft * soft_term)
            });
            let rounding = soft * a * (q * (1.0 - p) + p * (1.0 - q)) * delta_scale;
            grad_scales.push(inv_b * (largest + rounding));
        }
        Self {
            out,
            kd_scales,
            grad_scales,
        }
    }
}

/// `"9x10 T=4 A=1 B=8 w=0.5"`.
fn describe(batch: &KdBatch<'_>, config: DkdConfig) -> String {
    format!(
        "{}x{} T={} A={} B={} w={}",
        batch.rows,
        batch.cols,
        config.temperature,
        config.target_weight,
        config.non_target_weight,
        config.ramp
    )
}

/// The gradient against the batch's largest gradient term, per-row CE (relative), per-row KD
/// term against its scale, and the batch loss.
fn compare_dkd(label: &str, got: &KdOutput<f32>, e: &Expected) -> Vec<Comparison> {
    let largest = e.grad_scales.iter().fold(0.0f64, |m, &v| m.max(v));
    vec![
        CHECK.grad(label, &got.grad, &e.out.grad, largest),
        CHECK.row_ce(label, got, &e.out),
        CHECK.by_row_scale("row kd", label, &got.row_kl, &e.out.row_kl, &e.kd_scales, 1),
        CHECK.batch(label, got, &e.out),
    ]
}

/// Checks the DKD loss (gradient, per-row terms, batch loss) at one shape and setting.
#[maybe_async]
pub async fn check_dkd_loss(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: DkdConfig,
) -> Result<Vec<Comparison>> {
    let got = dkd_loss(ctx, batch, config).await?;
    let e = Expected::new(batch, config);
    Ok(compare_dkd(&describe(batch, config), &got, &e))
}

/// Checks the loss built at `built_with` and restaged at `config` (a trainer's per-epoch change
/// of the warm-up factor) against the reference at `config`.
#[maybe_async]
pub async fn check_dkd_restaged(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    built_with: DkdConfig,
    config: DkdConfig,
) -> Result<Vec<Comparison>> {
    let got = run_prepared(
        ctx,
        &prepare_dkd_loss_restaged(ctx, batch, built_with, config)?,
    )
    .await?;
    let e = Expected::new(batch, config);
    let label = format!(
        "{} (restaged from w={})",
        describe(batch, config),
        built_with.ramp
    );
    Ok(compare_dkd(&label, &got, &e))
}

/// An owned DKD input at one setting (T, A, B and w), named for reports.
pub type DkdCase = LossCase<DkdConfig>;

/// Random rows (logits in [−5, 5), random labels) with `student_gap` added to the student's
/// label logit and `teacher_gap` to the teacher's: a gap of 1e4 makes that softmax's `p_y` 1
/// in f32 at any T ≤ 100, −1e4 makes it 0.
pub fn label_gap_rows(
    rng: &mut SplitMix64,
    rows: usize,
    cols: usize,
    student_gap: f32,
    teacher_gap: f32,
) -> Rows {
    let mut z = rng.uniform_vec(rows * cols, -5.0, 5.0);
    let mut t = rng.uniform_vec(rows * cols, -5.0, 5.0);
    let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
    for (r, &y) in labels.iter().enumerate() {
        z[r * cols + y as usize] += student_gap;
        t[r * cols + y as usize] += teacher_gap;
    }
    (z, t, labels)
}

/// Checks one edge case: [`check_dkd_loss`]'s comparisons and every gradient entry to
/// [`DKD_RTOL`] of its row's scale (see `Expected`).
#[maybe_async]
pub async fn check_dkd_edges(ctx: &GpuContext, case: &DkdCase) -> Result<Vec<Comparison>> {
    let batch = case.batch();
    let got = dkd_loss(ctx, &batch, case.config).await?;
    let e = Expected::new(&batch, case.config);
    let label = format!("{} ({})", describe(&batch, case.config), case.name);
    let scales = &e.grad_scales;
    let mut out = vec![CHECK.grad_by_rows(&label, &got.grad, &e.out.grad, scales, case.cols)];
    out.extend(compare_dkd(&label, &got, &e));
    Ok(out)
}

/// `DkdConfig` from `(T, A, B, w)`.
fn config(
    (temperature, target_weight, non_target_weight, ramp): (f32, f32, f32, f32),
) -> DkdConfig {
    DkdConfig {
        temperature,
        target_weight,
        non_target_weight,
        ramp,
    }
}

/// The edge cases `distill validate` runs, `rows` rows each (at most 128 is the goal's range):
/// at T = 0.5, 4 and 100 (A = 1, B = 8, w = 1), two-class rows (random, and saturated with a
/// logit gap of 40), a teacher with `p_y = 1`, with `p_y = 0`, a student with `p_y = 0` against a
/// teacher with `p_y = 1`, both sure of the label, logits of ±1e4 and mixed rows of 1000
/// classes; near-uniform rows at T = 20 and 100; at T = 4, the weights A = 0, B = 0, w = 0 and
/// (A, B, w) = (2, 4, 0.5) on mixed rows and logits of ±1e4.
pub fn edge_cases(rng: &mut SplitMix64, rows: usize) -> Vec<DkdCase> {
    let mut cases = Vec::new();
    for t in [0.5f32, 4.0, 100.0] {
        let mut push = |name: &str, cols: usize, data: Rows| {
            cases.push(DkdCase::new(
                name,
                rows,
                cols,
                config((t, 1.0, 8.0, 1.0)),
                data,
            ));
        };
        push("two classes", 2, label_gap_rows(rng, rows, 2, 0.0, 0.0));
        push("two classes, saturated", 2, saturated_rows(rng, rows, 40.0));
        push(
            "teacher p_y = 1",
            10,
            label_gap_rows(rng, rows, 10, 0.0, 1e4),
        );
        push(
            "teacher p_y = 0",
            10,
            label_gap_rows(rng, rows, 10, 0.0, -1e4),
        );
        let against = label_gap_rows(rng, rows, 10, -1e4, 1e4);
        push("student p_y = 0, teacher p_y = 1", 10, against);
        push("both p_y = 1", 10, label_gap_rows(rng, rows, 10, 1e4, 1e4));
        push("logits ±1e4", 10, extreme_rows(rng, rows, 10));
        push("mixed", 1000, mixed_rows(rng, rows, 1000));
    }
    for t in [20.0f32, 100.0] {
        let data = near_uniform_rows(rng, rows, 10, 0.0);
        cases.push(DkdCase::new(
            "near-uniform",
            rows,
            10,
            config((t, 1.0, 8.0, 1.0)),
            data,
        ));
    }
    for weights in [
        (4.0, 0.0, 8.0, 1.0),
        (4.0, 1.0, 0.0, 1.0),
        (4.0, 1.0, 8.0, 0.0),
        (4.0, 2.0, 4.0, 0.5),
    ] {
        let c = config(weights);
        cases.push(DkdCase::new(
            "mixed",
            rows,
            10,
            c,
            mixed_rows(rng, rows, 10),
        ));
        cases.push(DkdCase::new(
            "logits ±1e4",
            rows,
            10,
            c,
            extreme_rows(rng, rows, 10),
        ));
    }
    cases
}

/// Random batches at several shapes and settings (one row, 2, 10 and 1000 classes), the loss
/// restaged to a new warm-up factor, then [`edge_cases`] of 32 rows.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    let settings = [
        (4.0f32, 1.0f32, 8.0f32, 1.0f32),
        (1.0, 1.0, 8.0, 0.5),
        (0.5, 2.0, 1.0, 1.0),
        (20.0, 1.0, 8.0, 0.3),
        (100.0, 0.5, 4.0, 1.0),
    ];
    for &(rows, cols) in &[(1, 2), (1, 10), (9, 10), (4, 1000)] {
        for &setting in &settings {
            let c = config(setting);
            let case = DkdCase::new("random", rows, cols, c, random_rows(rng, rows, cols));
            out.extend(check_dkd_loss(ctx, &case.batch(), c).await?);
        }
    }
    let paper = DkdConfig::paper();
    let (built_with, restaged) = (paper.with_ramp(0.0), paper.with_ramp(0.5));
    let case = DkdCase::new(
        "restaged",
        9,
        10,
        restaged,
        label_gap_rows(rng, 9, 10, 0.0, 0.0),
    );
    out.extend(check_dkd_restaged(ctx, &case.batch(), built_with, restaged).await?);
    for case in edge_cases(rng, 32) {
        out.extend(check_dkd_edges(ctx, &case).await?);
    }
    Ok(out)
}
