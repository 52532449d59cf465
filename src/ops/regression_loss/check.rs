//! Validation of the regression loss against the reference: per-row terms and the batch loss to
//! [`REGRESSION_RTOL`] relative, every gradient entry to [`REGRESSION_RTOL`] of its own scale
//! `(1/(B·K))·[(1 − α)·|ℓ'(s − y)| + α·|ℓ'(s − t)|]` (the two parts may cancel to far less than
//! either, and f32 resolves the sum only relative to the larger).
//!
//! The bounded form switches its teacher term on or off per row by comparing two f32 sums. Where
//! `e_s + m` and `e_t` agree to within f32's rounding ([`TIE_RTOL`]), either decision is right;
//! the check then takes the kernel's and compares everything else against it. Exact ties of
//! exactly representable sums (the named edge case) are decided exactly on both sides.

use maybe_async::maybe_async;

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, compare_scaled, random_vec, Comparison, Tolerance};
use crate::ops::reduce::reference::reduce_loss;
use crate::ops::regression_loss::{
    reference, regression_loss, RegressionBatch, RegressionConfig, RegressionForm, RegressionOutput,
};
use crate::rng::SplitMix64;
use crate::util::to_f64;

/// Relative tolerance of the row terms, the batch loss and each gradient entry against its
/// scale: ten times the worst error measured on lavapipe over the suite at five seeds and the
/// sweep of `tests/regression_loss.rs` (2.5e-7, a per-row term).
pub const REGRESSION_RTOL: f64 = 2.5e-6;

/// Absolute floor: f32's smallest normal number (below it f32 keeps no relative precision).
pub const REGRESSION_FLOOR: f64 = f32::MIN_POSITIVE as f64;

/// How close (relative to `e_s + |m| + e_t`) the bounded form's two sides may be for either
/// decision to count as right.
pub const TIE_RTOL: f64 = 1e-5;

/// An owned regression-loss input, named for reports.
#[derive(Debug, Clone)]
pub struct RegressionCase {
    /// What the rows are.
    pub name: String,
    /// Student outputs `[rows, outputs]`.
    pub student: Vec<f32>,
    /// Teacher outputs.
    pub teacher: Vec<f32>,
    /// Targets.
    pub targets: Vec<f32>,
    /// Rows B.
    pub rows: usize,
    /// Outputs K.
    pub outputs: usize,
    /// The settings.
    pub config: RegressionConfig,
}

impl RegressionCase {
    /// Random student, teacher and targets in `[−scale, scale)`.
    pub fn random(
        rng: &mut SplitMix64,
        name: &str,
        (rows, outputs): (usize, usize),
        scale: f32,
        config: RegressionConfig,
    ) -> Self {
        let n = rows * outputs;
        Self {
            name: name.to_string(),
            student: random_vec(rng, n, -scale, scale),
            teacher: random_vec(rng, n, -scale, scale),
            targets: random_vec(rng, n, -scale, scale),
            rows,
            outputs,
            config,
        }
    }

    /// The batch view the kernel takes.
    pub fn batch(&self) -> RegressionBatch<'_> {
        RegressionBatch {
            student: &self.student,
            teacher: &self.teacher,
            targets: &self.targets,
            rows: self.rows,
            outputs: self.outputs,
        }
    }
}

/// The reference for `batch` at `config`, with the bounded form's near-ties decided as the
/// kernel decided them (`got_soft`, its per-row teacher terms), and each gradient entry's scale.
fn expected(
    batch: &RegressionBatch<'_>,
    config: RegressionConfig,
    got_soft: &[f32],
) -> (RegressionOutput<f64>, Vec<f64>) {
    let (s, t, y) = (
        to_f64(batch.student),
        to_f64(batch.teacher),
        to_f64(batch.targets),
    );
    let shape = (batch.rows, batch.outputs);
    let at = |alpha: f64, form| reference::regression_loss(&s, &t, &y, shape, alpha, form);
    let alpha = config.alpha as f64;
    let mut out = at(alpha, config.form);
    if let RegressionForm::Bounded { margin } = config.form {
        let k = batch.outputs;
        let on = at(alpha, RegressionForm::Bounded { margin: f32::MAX });
        let off = at(alpha, RegressionForm::Bounded { margin: f32::MIN });
        for (r, &kernel_soft) in got_soft.iter().enumerate().take(batch.rows) {
            let span = r * k..(r + 1) * k;
            let teacher_error: f64 = t[span.clone()]
                .iter()
                .zip(&y[span.clone()])
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                / k as f64;
            let (hard, m) = (out.row_hard[r], margin as f64);
            let gap = (hard + m - teacher_error).abs();
            if gap > TIE_RTOL * (hard + m.abs() + teacher_error) {
                continue;
            }
            let pick = if kernel_soft != 0.0 { &on } else { &off };
            out.row_soft[r] = pick.row_soft[r];
            out.grad[span.clone()].copy_from_slice(&pick.grad[span]);
        }
        [out.loss, out.hard, out.soft] = reduce_loss(&out.row_hard, &out.row_soft, 1.0, alpha);
    }
    // The gradient is linear in α at fixed decisions: α = 0 is the target part, and the teacher
    // part is the difference of α = 1 and α = 0 (both with the decisions just taken).
    let hard_part = at(0.0, config.form).grad;
    let scale: Vec<f64> = out
        .grad
        .iter()
        .zip(&hard_part)
        .map(|(&g, &h)| {
            let teacher_part = g - (1.0 - alpha) * h;
            (1.0 - alpha) * h.abs() + teacher_part.abs()
        })
        .collect();
    (out, scale)
}

/// Checks the regression loss (gradient, per-row terms, batch loss) at one batch and setting;
/// `name` says what the rows are.
#[maybe_async]
pub async fn check_regression_loss(
    ctx: &GpuContext,
    name: &str,
    batch: &RegressionBatch<'_>,
    config: RegressionConfig,
) -> Result<Vec<Comparison>> {
    let got = regression_loss(ctx, batch, config).await?;
    let (e, scale) = expected(batch, config, &got.row_soft);
    let label = format!(
        "{}x{} {} α={} ({name})",
        batch.rows,
        batch.outputs,
        config.form.name(),
        config.alpha
    );
    let relative = Tolerance::new(REGRESSION_FLOOR, REGRESSION_RTOL);
    Ok(vec![
        compare_scaled(
            &format!("regression grad by scale {label}"),
            &got.grad,
            &e.grad,
            |i| scale[i],
            Tolerance::new(REGRESSION_FLOOR * REGRESSION_RTOL, REGRESSION_RTOL),
        ),
        compare(
            &format!("regression row hard {label}"),
            &got.row_hard,
            &e.row_hard,
            relative,
        ),
        compare(
            &format!("regression row soft {label}"),
            &got.row_soft,
            &e.row_soft,
            relative,
        ),
        compare(
            &format!("regression batch loss/hard/soft {label}"),
            &[got.loss, got.hard, got.soft],
            &[e.loss, e.hard, e.soft],
            relative,
        ),
    ])
}

/// The three forms at the settings the suite runs: MSE, Huber at δ = 1, bounded at m = 0.1.
pub fn forms() -> [RegressionForm; 3] {
    [
        RegressionForm::Mse,
        RegressionForm::Huber { delta: 1.0 },
        RegressionForm::Bounded { margin: 0.1 },
    ]
}

fn config(alpha: f32, form: RegressionForm) -> RegressionConfig {
    RegressionConfig { alpha, form }
}

/// The named edge cases, `rows` rows each: one output, more outputs than a workgroup, values of
/// ±1e15 and ±1e-15, teacher equal to student, student on the targets; Huber with every
/// difference linear (δ = 1e-3), every one quadratic (δ = 1e6) and differences of exactly ±δ;
/// bounded at a margin that keeps every row on, one that turns every row off, a negative margin,
/// a student that beats its teacher, and exact ties `e_s + m = e_t` (off: the inequality is
/// strict).
pub fn edge_cases(rng: &mut SplitMix64, rows: usize) -> Vec<RegressionCase> {
    let half = config(0.5, RegressionForm::Mse);
    let mut out = vec![
        RegressionCase::random(rng, "one output", (rows, 1), 3.0, half),
        RegressionCase::random(rng, "many outputs", (rows, 300), 3.0, half),
        RegressionCase::random(rng, "values ±1e15", (rows, 5), 1e15, half),
        RegressionCase::random(rng, "values ±1e-15", (rows, 5), 1e-15, half),
    ];
    let mut same = RegressionCase::random(rng, "teacher = student", (rows, 4), 3.0, half);
    same.teacher = same.student.clone();
    let mut exact = RegressionCase::random(rng, "student = targets", (rows, 4), 3.0, half);
    exact.targets = exact.student.clone();
    out.extend([same, exact]);
    for (name, delta) in [("huber all linear", 1e-3f32), ("huber all quadratic", 1e6)] {
        let huber = config(0.5, RegressionForm::Huber { delta });
        out.push(RegressionCase::random(rng, name, (rows, 6), 3.0, huber));
    }
    // s − y and s − t exactly ±δ (δ = 0.5): the kink, where both branches agree.
    let mut kink = RegressionCase::random(
        rng,
        "huber |d| = δ",
        (rows, 3),
        1.0,
        config(0.5, RegressionForm::Huber { delta: 0.5 }),
    );
    for (i, s) in kink.student.iter_mut().enumerate() {
        *s = if i % 2 == 0 { 0.5 } else { -0.5 };
    }
    kink.targets = vec![0.0; rows * 3];
    kink.teacher = kink.student.iter().map(|s| 2.0 * s).collect();
    out.push(kink);
    for (name, margin) in [
        ("bounded always on", 1e30f32),
        ("bounded always off", -1e30),
        ("bounded negative margin", -0.5),
    ] {
        let bounded = config(0.7, RegressionForm::Bounded { margin });
        out.push(RegressionCase::random(rng, name, (rows, 3), 2.0, bounded));
    }
    // The teacher on the targets and the student far off: e_s − e_t ≫ m, so the term stays on
    // until the student beats the teacher; here the student is the better one by far.
    let mut beats = RegressionCase::random(
        rng,
        "bounded student beats teacher",
        (rows, 3),
        2.0,
        config(0.7, RegressionForm::Bounded { margin: 0.1 }),
    );
    beats.student = beats.targets.clone();
    beats.teacher = beats.targets.iter().map(|y| y + 3.0).collect();
    out.push(beats);
    // Small integers: e_s = e_t = 1 exactly with m = 0, and 0 = 0 at s = t = y.
    let tie_rows = rows.max(2);
    let mut tie = RegressionCase::random(
        rng,
        "bounded exact tie",
        (tie_rows, 1),
        1.0,
        config(0.7, RegressionForm::Bounded { margin: 0.0 }),
    );
    for r in 0..tie_rows {
        let (s, t) = if r % 2 == 0 { (1.0, -1.0) } else { (0.0, 0.0) };
        tie.student[r] = s;
        tie.teacher[r] = t;
        tie.targets[r] = 0.0;
    }
    out.push(tie);
    out
}

/// Random batches (one row of one output, rows past a workgroup's width, 65 and 300 outputs),
/// each form at α ∈ {0, 0.5, 1}, and [`edge_cases`] of 32 rows at their own settings.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for &shape in &[(1, 1), (9, 2), (70, 3), (3, 65), (4, 300)] {
        for form in forms() {
            for alpha in [0.0f32, 0.5, 1.0] {
                let case = RegressionCase::random(rng, "random", shape, 4.0, config(alpha, form));
                out.extend(
                    check_regression_loss(ctx, &case.name, &case.batch(), case.config).await?,
                );
            }
        }
    }
    for case in edge_cases(rng, 32) {
        out.extend(check_regression_loss(ctx, &case.name, &case.batch(), case.config).await?);
    }
    Ok(out)
}
