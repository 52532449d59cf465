//! Distillation of a regression model: the student's real-valued outputs `s` `[B, K]` learn
//! from targets `y` and a teacher's outputs `t`, per row in one workgroup, followed by the
//! deterministic batch reduction ([`crate::ops::reduce`]):
//!
//! `L = (1 − α)·mean_b hard_b + α·mean_b soft_b`, with per-row means over the K outputs:
//!
//! - [`RegressionForm::Mse`]: `hard_b = (1/K)·Σ_j (s − y)²`, `soft_b = (1/K)·Σ_j (s − t)²`, so
//!   each term is PyTorch's `MSELoss(reduction='mean')` over the batch's B·K outputs;
//! - [`RegressionForm::Huber`]: the same with `h_δ(x) = x²/2` for `|x| < δ`, else
//!   `δ·(|x| − δ/2)`: PyTorch's `HuberLoss(delta=δ, reduction='mean')` on both terms;
//! - [`RegressionForm::Bounded`]: the teacher-bounded regression loss of Chen et al. 2017
//!   ("Learning Efficient Object Detection Models with Knowledge Distillation"):
//!   `L_b = ‖s − y‖²` if `‖s − y‖² + m > ‖t − y‖²`, else 0. The teacher is not a target: the
//!   student is pulled toward `y`, harder, only while it has not beaten the teacher by the
//!   margin m. Here the squared norms are per-output means (`hard_b` and `(1/K)·Σ (t − y)²`), so
//!   at K = 1 it is the paper's formula and m is in the targets' squared units per output; the
//!   hard term is the MSE.
//!
//! `dL/ds = (1/(B·K))·[(1 − α)·ℓ'(s − y) + α·ℓ'(s − t)]` with `ℓ'(x) = 2x` (MSE) or
//! `clamp(x, −δ, δ)` (Huber); bounded: `(1/(B·K))·[(1 − α) + α·[active_b]]·2(s − y)`.
//!
//! The kernel fits the logit losses' interface (the crate's `RowLoss`): it binds student outputs, teacher
//! outputs, the per-sample truth (here f32 targets `[B, K]` where a classifier binds u32 labels
//! `[B]`), the gradient and the two row terms, so the step plan, the reduction, backward and the
//! optimizer are the classifier's.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use serde::{Deserialize, Serialize};

use crate::error::{check_len, Error, Result};
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};
use crate::ops::logit_loss::{run_prepared, LogitBuffers, RowLoss};
use crate::ops::reduce::{ReduceParams, LOSS_SLOTS};

/// How the student's error is measured (both terms), and whether the teacher bounds it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum RegressionForm {
    /// Squared error against the targets and against the teacher.
    Mse,
    /// Huber loss at `delta` (PyTorch's `HuberLoss`) against the targets and the teacher.
    Huber {
        /// Where the loss turns from quadratic to linear (> 0).
        delta: f32,
    },
    /// Squared error against the targets, plus the teacher-bounded term of Chen et al. 2017.
    Bounded {
        /// The margin m by which the student must beat the teacher's squared error before the
        /// bounded term switches off.
        margin: f32,
    },
}

impl RegressionForm {
    /// A short name for reports (`mse`, `huber`, `bounded`).
    pub fn name(&self) -> &'static str {
        match self {
            RegressionForm::Mse => "mse",
            RegressionForm::Huber { .. } => "huber",
            RegressionForm::Bounded { .. } => "bounded",
        }
    }

    /// The kernel's form code.
    fn code(&self) -> u32 {
        match self {
            RegressionForm::Mse => 0,
            RegressionForm::Huber { .. } => 1,
            RegressionForm::Bounded { .. } => 2,
        }
    }
}

/// The regression-distillation loss: the weight α of the teacher term and the form.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionConfig {
    /// Weight α ∈ [0, 1] of the teacher term; 0 trains on the targets alone (no teacher).
    pub alpha: f32,
    /// The loss form.
    pub form: RegressionForm,
}

impl RegressionConfig {
    /// Training on the targets alone with the squared error (α = 0, no teacher).
    pub fn scratch() -> Self {
        Self {
            alpha: 0.0,
            form: RegressionForm::Mse,
        }
    }

    /// Checks α in [0, 1], δ finite and positive, m finite; the error names the value.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(Error::InvalidConfig(format!(
                "regression alpha must be in [0, 1], got {} (the weight of the teacher term)",
                self.alpha
            )));
        }
        match self.form {
            RegressionForm::Mse => Ok(()),
            RegressionForm::Huber { delta } if delta.is_finite() && delta > 0.0 => Ok(()),
            RegressionForm::Huber { delta } => Err(Error::InvalidConfig(format!(
                "Huber delta must be finite and positive, got {delta}"
            ))),
            RegressionForm::Bounded { margin } if margin.is_finite() => Ok(()),
            RegressionForm::Bounded { margin } => Err(Error::InvalidConfig(format!(
                "the bounded loss's margin must be finite, got {margin}"
            ))),
        }
    }
}

/// Uniform block of `shaders/regression_loss.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct RegressionLossParams {
    pub rows: u32,
    pub cols: u32,
    pub form: u32,
    pub hard_weight: f32,
    pub soft_weight: f32,
    pub inv_cols: f32,
    pub delta: f32,
    pub margin: f32,
}

impl RegressionLossParams {
    pub fn new(rows: usize, cols: usize, config: RegressionConfig) -> Self {
        let (b, k, alpha) = (rows as f64, cols as f64, config.alpha as f64);
        let (delta, margin) = match config.form {
            RegressionForm::Mse => (0.0, 0.0),
            RegressionForm::Huber { delta } => (delta, 0.0),
            RegressionForm::Bounded { margin } => (0.0, margin),
        };
        Self {
            rows: rows as u32,
            cols: cols as u32,
            form: config.form.code(),
            // Each weight rounded once from f64.
            hard_weight: ((1.0 - alpha) / (b * k)) as f32,
            soft_weight: (alpha / (b * k)) as f32,
            inv_cols: (1.0 / k) as f32,
            delta,
            margin,
        }
    }
}

/// The shader.
pub const SHADER: ShaderSource = shader_source! {
    name: "regression_loss",
    entry_point: "regression_loss_rows",
    files: ["shaders/regression_loss.wgsl"],
    uniform_size: std::mem::size_of::<RegressionLossParams>(),
};

impl RowLoss for RegressionConfig {
    fn shader(&self) -> &'static ShaderSource {
        &SHADER
    }

    fn label(&self) -> &'static str {
        "regression loss"
    }

    fn uniform(&self, rows: usize, cols: usize) -> Vec<u8> {
        bytemuck::bytes_of(&RegressionLossParams::new(rows, cols, *self)).to_vec()
    }

    fn reduce(&self, rows: usize) -> ReduceParams {
        ReduceParams::weighted(rows, 1.0 - self.alpha, self.alpha)
    }

    fn truth_width(&self, cols: usize) -> usize {
        cols
    }
}

/// One batch of regression-loss inputs: student and teacher outputs and targets, each
/// `[rows, outputs]`.
#[derive(Debug, Clone, Copy)]
pub struct RegressionBatch<'a> {
    /// Student outputs s.
    pub student: &'a [f32],
    /// Teacher outputs t.
    pub teacher: &'a [f32],
    /// Targets y.
    pub targets: &'a [f32],
    /// Rows B.
    pub rows: usize,
    /// Outputs K.
    pub outputs: usize,
}

impl RegressionBatch<'_> {
    /// Checks the shapes.
    pub fn validate(&self) -> Result<()> {
        if self.rows == 0 {
            return Err(Error::EmptyBatch);
        }
        if self.outputs == 0 {
            return Err(Error::InvalidConfig(
                "a regression loss needs at least one output".into(),
            ));
        }
        let len = self.rows.checked_mul(self.outputs).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "{} rows × {} outputs overflow",
                self.rows, self.outputs
            ))
        })?;
        check_len("student outputs", len, self.student.len())?;
        check_len("teacher outputs", len, self.teacher.len())?;
        check_len("targets", len, self.targets.len())
    }
}

/// What the regression loss produces, in f32 from the GPU or f64 from the reference.
#[derive(Debug, Clone)]
pub struct RegressionOutput<F> {
    /// `(1 − α)·hard + α·soft`.
    pub loss: F,
    /// Batch mean of the target term.
    pub hard: F,
    /// Batch mean of the teacher term.
    pub soft: F,
    /// Per-row target term.
    pub row_hard: Vec<F>,
    /// Per-row teacher term.
    pub row_soft: Vec<F>,
    /// `dL/ds`, `[B, K]`.
    pub grad: Vec<F>,
}

/// Uploads the inputs and prepares the regression-loss and reduction kernels; outputs:
/// gradient, per-row terms `[hard, soft]` interleaved, loss slots ([`LOSS_SLOTS`]); gradient and
/// row terms NaN-filled until the kernel writes them. Rejects an invalid `config` and a bad batch.
pub fn prepare_regression_loss(
    ctx: &GpuContext,
    batch: &RegressionBatch<'_>,
    config: RegressionConfig,
) -> Result<PreparedKernel> {
    config.validate()?;
    batch.validate()?;
    let (rows, cols) = (batch.rows, batch.outputs);
    let student = ctx.upload("regression student", batch.student)?;
    let teacher = ctx.upload("regression teacher", batch.teacher)?;
    let targets = ctx.upload("regression targets", batch.targets)?;
    let grad = ctx.nan_buffer("regression grad", rows * cols)?;
    let row_terms = ctx.nan_buffer("regression row terms", 2 * rows)?;
    // Zeroed: the reduction adds into its epoch sums.
    let loss = ctx.upload("regression loss slots", &[0.0f32; LOSS_SLOTS])?;
    let built = LogitBuffers {
        student: &student,
        teacher: &teacher,
        labels: &targets,
        grad: &grad,
        row_terms: &row_terms,
        loss: &loss,
    }
    .dispatches(ctx, (rows, cols), &config)?;
    let [rows_uniform, reduce_uniform] = built.uniforms;
    Ok(PreparedKernel::new(
        built.dispatches.to_vec(),
        vec![
            Output::new("regression grad", grad, rows * cols),
            Output::new("regression row terms", row_terms, 2 * rows),
            Output::new("regression loss slots", loss, LOSS_SLOTS),
        ],
        vec![student, teacher, targets, rows_uniform, reduce_uniform],
    ))
}

/// The regression loss and its gradient on the GPU, followed by the deterministic reduction.
#[maybe_async]
pub async fn regression_loss(
    ctx: &GpuContext,
    batch: &RegressionBatch<'_>,
    config: RegressionConfig,
) -> Result<RegressionOutput<f32>> {
    let out = run_prepared(ctx, &prepare_regression_loss(ctx, batch, config)?).await?;
    Ok(RegressionOutput {
        loss: out.loss,
        hard: out.ce,
        soft: out.kl,
        row_hard: out.row_ce,
        row_soft: out.row_kl,
        grad: out.grad,
    })
}
