//! Decoupled knowledge distillation (Zhao et al. 2022): per-row cross-entropy, the target-class
//! and non-target-class KD terms and `dL/dz` in one workgroup per row, followed by the
//! deterministic batch reduction ([`crate::ops::reduce`]).
//!
//! With `q`, `p` the student's and teacher's softmaxes at T, `y` the label and `q̂`, `p̂` their
//! softmaxes over the non-target classes only:
//!
//! `TCKD = KL([p_y, 1 − p_y] ‖ [q_y, 1 − q_y])`, `NCKD = KL(p̂ ‖ q̂)`,
//! `L = mean(CE) + w·T²·mean(A·TCKD + B·NCKD)`, and
//! `dL/dz_c = (1/B)[(s_c − 1[c=y]) + w·T·(A·(q_y − p_y)·(1[c=y] − q̂_c) + B·(q̂_c − p̂_c))]`
//! (`s = softmax(z)`, `q̂_y = p̂_y = 0`, `B` in `1/B` the batch size). DKD needs at least two
//! classes; with exactly two, NCKD is 0 and TCKD is the plain KD term.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_temperature, Error, Result};
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};
use crate::ops::kd_loss::{KdBatch, KdOutput};
pub(crate) use crate::ops::logit_loss::run_prepared;
use crate::ops::logit_loss::{RowLoss, UploadedBatch};
use crate::ops::reduce::ReduceParams;

/// Temperature, the weights of the two decoupled terms and the warm-up factor of the DKD loss.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DkdConfig {
    /// Temperature T > 0.
    pub temperature: f32,
    /// Weight A ≥ 0 of the target-class term TCKD (the paper's α).
    pub target_weight: f32,
    /// Weight B ≥ 0 of the non-target-class term NCKD (the paper's β).
    pub non_target_weight: f32,
    /// Warm-up factor w ∈ [0, 1] of the KD term, set by the caller each epoch (the paper ramps
    /// it linearly from 0 to 1 over the first 20 epochs).
    pub ramp: f32,
}

impl DkdConfig {
    /// The paper's (and mdistiller's) defaults: T = 4, A = 1, B = 8, fully ramped (w = 1).
    pub fn paper() -> Self {
        Self {
            temperature: 4.0,
            target_weight: 1.0,
            non_target_weight: 8.0,
            ramp: 1.0,
        }
    }

    /// This configuration at warm-up factor `ramp`.
    pub fn with_ramp(self, ramp: f32) -> Self {
        Self { ramp, ..self }
    }

    /// The weight of the batch-mean KD term in the loss, `w·T²`.
    pub fn kd_weight(&self) -> f32 {
        self.ramp * (self.temperature * self.temperature)
    }

    /// Checks T finite and > 0 (with T² and 1/T finite, normal f32), A and B finite and ≥ 0,
    /// and w finite in [0, 1]; the error names the offending setting.
    pub fn validate(&self) -> Result<()> {
        check_temperature(self.temperature)?;
        for (name, value, what) in [
            ("alpha", self.target_weight, "target-class weight A"),
            ("beta", self.non_target_weight, "non-target-class weight B"),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(Error::InvalidConfig(format!(
                    "DKD {name} must be finite and ≥ 0, got {value} (the {what})"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.ramp) {
            return Err(Error::InvalidConfig(format!(
                "DKD ramp must be finite and in [0, 1], got {} (the warm-up factor w)",
                self.ramp
            )));
        }
        Ok(())
    }
}

/// Checks that a batch of `cols` classes has a non-target class.
pub(crate) fn check_classes(cols: usize) -> Result<()> {
    if cols < 2 {
        return Err(Error::InvalidConfig(format!(
            "DKD needs at least 2 classes (the label and a non-target class), got {cols}"
        )));
    }
    Ok(())
}

/// Uniform block of `shaders/dkd.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct DkdParams {
    pub rows: u32,
    pub cols: u32,
    pub temperature: f32,
    pub inv_temperature: f32,
    pub target_weight: f32,
    pub non_target_weight: f32,
    pub ramp: f32,
    pub inv_batch: f32,
    pub pad: [u32; 4],
}

impl DkdParams {
    pub fn new(rows: usize, cols: usize, config: DkdConfig) -> Self {
        Self {
            rows: rows as u32,
            cols: cols as u32,
            temperature: config.temperature,
            inv_temperature: 1.0 / config.temperature,
            target_weight: config.target_weight,
            non_target_weight: config.non_target_weight,
            ramp: config.ramp,
            inv_batch: 1.0 / rows as f32,
            // The kernel reads pad[0] as a run-time zero that keeps its exact two-sums from
            // being folded away by the shader compiler: it must stay 0.
            pad: [0; 4],
        }
    }
}

/// The batch reduction's weights: `1·mean(ce) + w·T²·mean(kd)`.
fn reduce_params(rows: usize, config: DkdConfig) -> ReduceParams {
    ReduceParams::weighted(rows, 1.0, config.kd_weight())
}

/// The shader: the shared cancellation-free log1p / expm1 pieces and row-KL sums, then the
/// kernel.
pub const SHADER: ShaderSource = shader_source! {
    name: "dkd_loss",
    entry_point: "dkd_loss_rows",
    files: [
        "shaders/common/stable_math.wgsl",
        "shaders/common/row_kl.wgsl",
        "shaders/dkd.wgsl",
    ],
    uniform_size: std::mem::size_of::<DkdParams>(),
};

impl RowLoss for DkdConfig {
    fn shader(&self) -> &'static ShaderSource {
        &SHADER
    }

    fn label(&self) -> &'static str {
        "dkd loss"
    }

    fn uniform(&self, rows: usize, cols: usize) -> Vec<u8> {
        bytemuck::bytes_of(&DkdParams::new(rows, cols, *self)).to_vec()
    }

    fn reduce(&self, rows: usize) -> ReduceParams {
        reduce_params(rows, *self)
    }
}

/// Uploads the inputs and prepares the DKD loss and reduction kernels; outputs: gradient,
/// per-row terms `[ce, A·TCKD + B·NCKD]` interleaved, loss slots ([`crate::ops::reduce::LOSS_SLOTS`]). Rejects an
/// invalid `config`, a bad batch and fewer than two classes.
pub fn prepare_dkd_loss(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: DkdConfig,
) -> Result<PreparedKernel> {
    prepare(ctx, batch, config, None)
}

/// As [`prepare_dkd_loss`], but built at `built_with` and then restaged at `config` with
/// [`crate::ops::logit_loss::LossDispatches::set`]: the path a trainer takes when the warm-up
/// factor changes.
pub(crate) fn prepare_dkd_loss_restaged(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    built_with: DkdConfig,
    config: DkdConfig,
) -> Result<PreparedKernel> {
    config.validate()?;
    prepare(ctx, batch, built_with, Some(config))
}

fn prepare(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: DkdConfig,
    restage: Option<DkdConfig>,
) -> Result<PreparedKernel> {
    config.validate()?;
    batch.validate()?;
    check_classes(batch.cols)?;
    let restage = restage.as_ref().map(|next| next as &dyn RowLoss);
    UploadedBatch::new(ctx, batch)?.prepare(ctx, &config, restage)
}

/// The DKD loss and gradient on the GPU, followed by the deterministic reduction. In the
/// output, `kl` and `row_kl` hold the KD term `A·TCKD + B·NCKD` (batch mean and per row), `loss`
/// the total `mean(ce) + w·T²·mean(kd)`.
#[maybe_async]
pub async fn dkd_loss(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: DkdConfig,
) -> Result<KdOutput<f32>> {
    run_prepared(ctx, &prepare_dkd_loss(ctx, batch, config)?).await
}
