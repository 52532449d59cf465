//! Validation of the logit-standardization KD loss against the reference: per-row CE to
//! [`LOGIT_STD_RTOL`] relative, per-row KL and every gradient entry to [`LOGIT_STD_RTOL`] of
//! their row's rounding scale, and the batch loss ([`check_logit_std`]), on random batches and
//! named edges ([`edge_cases`]).
//!
//! The standardized logits carry f32 rounding of about ulp(1) times the row's spread of
//! standardized values (the mean, σ and each `x − max` round relative to the row's range), and
//! no f32 kernel does better; the KL and the gradient move with it. So the KL's scale is
//! `kl + (1 + U + V)/T·Σ_j (|q_j − p_j| + p_j·|log p_j − log q_j − kl|)` (its sensitivity to
//! the standardized logits, U and V the student's and teacher's ranges of Z), and a gradient
//! entry's is its row's largest `(1 − α)·|s − onehot(y)|` plus `α·T/(σ + ε)` times the largest
//! rounding of `q − p` and of the term through σ, over B. Where the rounding of `u − v`
//! outweighs the rows' true difference (two classes ordered alike), the KL's second order in it,
//! `ulp(1)·((1 + U + V)/T)²`, is added. Measured on lavapipe over the suite at 40 seeds, the
//! worst errors as a fraction of their scale: gradient 1.5e-7, per-row CE 2.2e-7, per-row KL
//! 1.0e-7, batch loss 1.8e-7.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare_scaled, Comparison, Tolerance};
use crate::ops::kd_loss::check::{extreme_rows, mixed_rows};
use crate::ops::kd_loss::reference::row_softmax;
use crate::ops::kd_loss::{KdBatch, KdOutput};
pub use crate::ops::logit_loss::check::{random_rows, same_rows};
use crate::ops::logit_loss::check::{LossCase, LossCheck, Rows};
use crate::ops::logit_std::reference::{logit_std_loss, soft_row_std};
use crate::ops::logit_std::{logit_std, LogitStdConfig};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// Relative tolerance of the per-row CE and the batch loss, and of the per-row KL and every
/// gradient entry against their row's scale: over four times the worst error measured (module
/// docs), under ten ulps of 1.
pub const LOGIT_STD_RTOL: f64 = 1e-6;

/// Absolute floor of the per-row terms and gradient entries: f32's smallest normal number
/// (below it f32 keeps no relative precision, while the reference resolves terms of 1e-300).
pub const LOGIT_STD_FLOOR: f64 = f32::MIN_POSITIVE as f64;

/// The logit-standardization loss's comparison names and tolerances.
const CHECK: LossCheck = LossCheck::new("logit std", "kl", LOGIT_STD_RTOL, LOGIT_STD_FLOOR);

/// The reference at a batch and setting, with what the tolerances scale by.
pub struct Expected {
    /// Loss, per-row terms and gradient.
    pub out: KdOutput<f64>,
    /// Per row: the KL's rounding scale (module docs).
    pub kl_scales: Vec<f64>,
    /// Per row, over B: the gradient's rounding scale (module docs).
    pub grad_scales: Vec<f64>,
}

/// The largest minus the smallest entry.
fn range(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    max - min
}

impl Expected {
    /// The reference and scales of `batch` at `config`.
    pub fn new(batch: &KdBatch<'_>, config: LogitStdConfig) -> Self {
        let (z, t, cols) = (to_f64(batch.student), to_f64(batch.teacher), batch.cols);
        let (temperature, alpha) = (config.temperature as f64, config.alpha as f64);
        let epsilon = config.epsilon as f64;
        let out = logit_std_loss(
            &z,
            &t,
            batch.labels,
            batch.rows,
            cols,
            temperature,
            alpha,
            epsilon,
        );
        let inv_b = 1.0 / batch.rows as f64;
        let mut kl_scales = Vec::with_capacity(batch.rows);
        let mut grad_scales = Vec::with_capacity(batch.rows);
        for r in 0..batch.rows {
            let span = r * cols..(r + 1) * cols;
            let soft = soft_row_std(&z[span.clone()], &t[span.clone()], temperature, epsilon);
            let (u, v) = (&soft.student.z, &soft.teacher.z);
            let q = row_softmax(u, temperature);
            let p = row_softmax(v, temperature);
            let spread = 1.0 + range(u) + range(v);
            let sensitivity: f64 = (0..cols)
                .map(|j| {
                    let log_gap = p.log_prob[j] - q.log_prob[j] - soft.kl;
                    soft.diff[j].abs()
                        + p.prob[j] * if p.prob[j] > 0.0 { log_gap.abs() } else { 0.0 }
                })
                .sum();
            // Where the rounding of u − v outweighs the rows' true difference (a teacher whose
            // order the student shares, at two classes), the KL's second order in it remains.
            let second_order = f32::EPSILON as f64 * (spread / temperature).powi(2);
            kl_scales.push(soft.kl.abs() + spread / temperature * sensitivity + second_order);
            // q − p rounds by about (q + p)·k, k = 1 + spread/T; Σ (q − p)·u by Σ (q + p)·k·|u|
            // plus Σ |q − p|·(1 + U); the term through σ by |c|/((C − 1)σ) times that.
            let k = 1.0 + spread / temperature;
            let dot_rounding: f64 = (0..cols)
                .map(|j| {
                    (q.prob[j] + p.prob[j]) * k * u[j].abs() + soft.diff[j].abs() * (1.0 + range(u))
                })
                .sum();
            let sigma = soft.student.sigma;
            let scale = soft.student.scale;
            let soft_scale = (0..cols).fold(0.0f64, |m, j| {
                let through = if sigma > 0.0 {
                    soft.student.centred[j].abs() / ((cols as f64 - 1.0) * sigma) * dot_rounding
                } else {
                    0.0
                };
                m.max((q.prob[j] + p.prob[j]) * k + through + (soft.grad[j] * scale).abs())
            });
            let s = row_softmax(&z[span.clone()], 1.0);
            let y = batch.labels[r] as usize;
            let hard = span.clone().fold(0.0f64, |m, i| {
                let c = i - span.start;
                m.max(if c == y { s.complement[c] } else { s.prob[c] })
            });
            grad_scales
                .push(inv_b * ((1.0 - alpha) * hard + alpha * temperature / scale * soft_scale));
        }
        Self {
            out,
            kl_scales,
            grad_scales,
        }
    }
}

/// `"9x10 T=2 α=0.989011 ε=1e-7"`.
fn describe(batch: &KdBatch<'_>, config: LogitStdConfig) -> String {
    format!(
        "{}x{} T={} α={} ε={:e}",
        batch.rows, batch.cols, config.temperature, config.alpha, config.epsilon
    )
}

/// The gradient and per-row KL against their rows' scales, per-row CE (relative), and the
/// batch loss, CE and KL (the KL's and loss's scales from the mean KL scale).
pub fn compare_logit_std(
    label: &str,
    got: &KdOutput<f32>,
    e: &Expected,
    config: LogitStdConfig,
) -> Vec<Comparison> {
    let (cols, floor) = (got.grad.len() / got.row_ce.len().max(1), LOGIT_STD_FLOOR);
    let rows = e.kl_scales.len().max(1) as f64;
    let kl_scale = e.kl_scales.iter().sum::<f64>() / rows;
    let (t, alpha) = (config.temperature as f64, config.alpha as f64);
    let batch_scales = [
        (1.0 - alpha) * e.out.ce + alpha * t * t * kl_scale,
        e.out.ce,
        kl_scale,
    ];
    vec![
        compare_scaled(
            &format!("logit std grad {label}"),
            &got.grad,
            &e.out.grad,
            |i| e.grad_scales[i / cols.max(1)],
            Tolerance::new(floor, LOGIT_STD_RTOL),
        ),
        CHECK.row_ce(label, got, &e.out),
        compare_scaled(
            &format!("logit std row kl {label}"),
            &got.row_kl,
            &e.out.row_kl,
            |r| e.kl_scales[r],
            Tolerance::new(floor, LOGIT_STD_RTOL),
        ),
        compare_scaled(
            &format!("logit std batch loss/ce/kl {label}"),
            &[got.loss, got.ce, got.kl],
            &[e.out.loss, e.out.ce, e.out.kl],
            |i| batch_scales[i],
            Tolerance::new(floor, LOGIT_STD_RTOL),
        ),
    ]
}

/// Checks the loss (gradient, per-row terms, batch loss) at one batch and setting.
#[maybe_async]
pub async fn check_logit_std(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: LogitStdConfig,
) -> Result<Vec<Comparison>> {
    let got = logit_std(ctx, batch, config).await?;
    let e = Expected::new(batch, config);
    Ok(compare_logit_std(
        &describe(batch, config),
        &got,
        &e,
        config,
    ))
}

/// An owned input at one setting (T, α and ε), named for reports.
pub type LogitStdCase = LossCase<LogitStdConfig>;

/// Rows of equal logits (σ = 0), three kinds in turn: the student's row equal (at 0, 3.7,
/// 1e4, −1e4, …) against a random teacher, the teacher's against a random student, both.
pub fn equal_rows(rng: &mut SplitMix64, rows: usize, cols: usize) -> Rows {
    let (mut z, mut t, _) = random_rows(rng, rows, cols);
    let levels = [0.0f32, 3.7, 1e4, -1e4, -0.25];
    for r in 0..rows {
        let level = levels[r % levels.len()];
        let span = r * cols..(r + 1) * cols;
        if r % 3 != 1 {
            z[span.clone()].fill(level);
        }
        if r % 3 != 0 {
            t[span].fill(-level);
        }
    }
    let labels = (0..rows).map(|_| rng.below(cols) as u32).collect();
    (z, t, labels)
}

/// Rows a few ulp apart at 1e4 (ulp 2^-10): `1e4 + k·2^-10`, k in 0..8, for both.
pub fn near_equal_rows(rng: &mut SplitMix64, rows: usize, cols: usize) -> Rows {
    let row = |rng: &mut SplitMix64| -> Vec<f32> {
        (0..rows * cols)
            .map(|_| 1e4 + rng.below(8) as f32 / 1024.0)
            .collect()
    };
    let (z, t) = (row(rng), row(rng));
    let labels = (0..rows).map(|_| rng.below(cols) as u32).collect();
    (z, t, labels)
}

/// Random rows with one logit 1e4 above the rest (the student's and the teacher's at different
/// classes in odd rows): Z of that class is near its largest, `(C − 1)/√C`.
pub fn outlier_rows(rng: &mut SplitMix64, rows: usize, cols: usize) -> Rows {
    let (mut z, mut t, labels) = random_rows(rng, rows, cols);
    for r in 0..rows {
        let top = rng.below(cols);
        z[r * cols + top] += 1e4;
        let other = if r % 2 == 1 { (top + 1) % cols } else { top };
        t[r * cols + other] += 1e4;
    }
    (z, t, labels)
}

/// The edge cases `distill validate` runs, `rows` rows each (8 for 1000 classes): at T = 0.5, 2
/// and 100 (the paper's α and ε), two classes, rows past a workgroup's width (65 and 257
/// classes), 1000 classes of mixed rows, logits of ±1e4, the teacher equal to the student,
/// equal logits, logits a few ulp apart at 1e4, one outlier in 1000 classes; at T = 1, 4 and 20
/// mixed rows and logits of ±1e4; at α = 0 and 1, mixed rows.
pub fn edge_cases(rng: &mut SplitMix64, rows: usize) -> Vec<LogitStdCase> {
    let paper = LogitStdConfig::paper();
    let mut cases = Vec::new();
    for temperature in [0.5f32, 2.0, 100.0] {
        let config = LogitStdConfig {
            temperature,
            ..paper
        };
        let mut push = |name: &str, rows: usize, cols: usize, data: Rows| {
            cases.push(LogitStdCase::new(name, rows, cols, config, data));
        };
        push("two classes", rows, 2, random_rows(rng, rows, 2));
        push("past a workgroup", rows, 65, random_rows(rng, rows, 65));
        push("past a workgroup", rows, 257, random_rows(rng, rows, 257));
        push("mixed", 8, 1000, mixed_rows(rng, 8, 1000));
        push("logits ±1e4", rows, 10, extreme_rows(rng, rows, 10));
        push("teacher = student", rows, 10, same_rows(rng, rows, 10));
        push("equal logits", rows, 10, equal_rows(rng, rows, 10));
        push(
            "ulps apart at 1e4",
            rows,
            10,
            near_equal_rows(rng, rows, 10),
        );
        push("one outlier", 8, 1000, outlier_rows(rng, 8, 1000));
    }
    for temperature in [1.0f32, 4.0, 20.0] {
        let config = LogitStdConfig {
            temperature,
            ..paper
        };
        let data = mixed_rows(rng, rows, 10);
        cases.push(LogitStdCase::new("mixed", rows, 10, config, data));
        let data = extreme_rows(rng, rows, 10);
        cases.push(LogitStdCase::new("logits ±1e4", rows, 10, config, data));
    }
    for alpha in [0.0f32, 1.0] {
        let config = LogitStdConfig { alpha, ..paper };
        let data = mixed_rows(rng, rows, 10);
        cases.push(LogitStdCase::new("mixed", rows, 10, config, data));
    }
    cases
}

/// Checks one edge case.
#[maybe_async]
pub async fn check_edge(ctx: &GpuContext, case: &LogitStdCase) -> Result<Vec<Comparison>> {
    let batch = case.batch();
    let got = logit_std(ctx, &batch, case.config).await?;
    let e = Expected::new(&batch, case.config);
    let label = format!("{} ({})", describe(&batch, case.config), case.name);
    Ok(compare_logit_std(&label, &got, &e, case.config))
}

/// Random batches at several shapes (one row, 2, 10, 65 and 1000 classes) and settings (T from
/// 0.5 to 100, α from 0.3 to 1), then [`edge_cases`] of 32 rows.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    let paper = LogitStdConfig::paper();
    let settings = [
        (2.0f32, paper.alpha),
        (0.5, 0.5),
        (1.0, 1.0),
        (4.0, 0.9),
        (20.0, 0.3),
        (100.0, 1.0),
    ];
    for &(rows, cols) in &[(1, 2), (1, 10), (9, 10), (3, 65), (4, 1000)] {
        for &(temperature, alpha) in &settings {
            let config = LogitStdConfig {
                temperature,
                alpha,
                ..paper
            };
            let case =
                LogitStdCase::new("random", rows, cols, config, random_rows(rng, rows, cols));
            out.extend(check_logit_std(ctx, &case.batch(), config).await?);
        }
    }
    for case in edge_cases(rng, 32) {
        out.extend(check_edge(ctx, &case).await?);
    }
    Ok(out)
}
