//! Logit standardization for knowledge distillation (Sun et al., "Logit Standardization in
//! Knowledge Distillation", CVPR 2024): the KD loss on z-scored logits, per-row cross-entropy,
//! KL and `dL/dz` in one workgroup per row, followed by the deterministic batch reduction
//! ([`crate::ops::reduce`]).
//!
//! Followed exactly from the authors' code, `mdistiller/distillers/KD.py` in
//! github.com/sunshangquan/logit-standardization-KD (`normalize` and `kd_loss`): each row of the
//! student's and of the teacher's logits is standardized on its own,
//! `Z(x) = (x − mean(x)) / (ε + σ(x))`, with `σ` **`torch.std`'s default, the sample standard
//! deviation** (divided by C − 1) and **ε = 1e-7** ([`PAPER_EPSILON`]); then the usual KD term at
//! a base temperature T on the standardized logits, times T²:
//!
//! `L = (1 − α)·mean_b CE(y_b, softmax(z_b)) + α·T²·mean_b KL(softmax(Z(t_b)/T) ‖ softmax(Z(z_b)/T))`
//!
//! The cross-entropy is on the raw logits, as theirs is. Their loss is
//! `CE_WEIGHT·CE + KD_WEIGHT·T²·KL` (the KL batch-mean, `.sum(1).mean()`); with
//! `α = KD_WEIGHT / (CE_WEIGHT + KD_WEIGHT)` it is `(CE_WEIGHT + KD_WEIGHT)·L`, the same
//! gradient direction up to that constant factor ([`LogitStdConfig::from_weights`]). Their
//! defaults with `--logit-stand` (`tools/train.py`: `--base-temp 2`, `--kd-weight 9`; CIFAR-100's
//! `KD.LOSS.CE_WEIGHT = 0.1` in `mdistiller/engine/cfg.py`) are T = 2 and weights 0.1 / 9, so
//! α = 9 / 9.1 ([`LogitStdConfig::paper`]); ImageNet's `configs/imagenet/r34_r18/kd.yaml` keeps
//! `CE_WEIGHT = 1.0`, which gives α = 0.9. Per-row terms are `[CE_b, KL_b]`, unweighted; the
//! reduction weighs them `(1 − α, α·T²)`.
//!
//! The gradient goes through the standardization of the student's row. With `c = z − mean(z)`,
//! `s = σ + ε`, `u = c / s` and `g = ∂KL/∂u = (softmax(u/T) − softmax(Z(t)/T)) / T`:
//! `∂u_i/∂z_j = (δ_ij − 1/C)/s − c_i c_j / ((C − 1)·σ·s²)`, so
//! `∂KL/∂z_j = (g_j − mean(g) − c_j·Σ_i g_i u_i / ((C − 1)·σ)) / s` (mean(g) = 0, both softmaxes
//! summing to 1). The teacher's row is a constant.
//!
//! A row of equal logits has σ = 0: there `Z = 0` (ε keeps the division defined, as in theirs),
//! and the term through σ, quadratic in c over σ, is 0 (its limit), leaving `∂KL/∂z = (g −
//! mean(g))/ε`, the exact derivative of their `Z` at such a row (PyTorch's `std` backward gives
//! NaN there). It is large (ε = 1e-7): standardization magnifies whatever spread the student's
//! row has. One class has no standard deviation (C − 1 = 0), so fewer than two are refused.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_temperature, Error, Result};
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};
use crate::ops::kd_loss::{KdBatch, KdOutput};
use crate::ops::logit_loss::{run_prepared, RowLoss, UploadedBatch};
use crate::ops::reduce::ReduceParams;

/// The authors' ε, added to the standard deviation (`1e-7 + stdv` in their `normalize`).
pub const PAPER_EPSILON: f32 = 1e-7;

/// Base temperature, mixing weight and ε of the logit-standardization KD loss.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogitStdConfig {
    /// Base temperature T > 0, applied to the standardized logits.
    pub temperature: f32,
    /// Weight α ∈ [0, 1] of the KD term (the CE term has 1 − α); 0 is plain cross-entropy.
    pub alpha: f32,
    /// ε > 0 added to each row's standard deviation (the authors': [`PAPER_EPSILON`]).
    pub epsilon: f32,
}

impl LogitStdConfig {
    /// The authors' CIFAR-100 setting: T = 2, CE weight 0.1 and KD weight 9 (α = 9 / 9.1),
    /// ε = 1e-7.
    pub fn paper() -> Self {
        Self::from_weights(2.0, 0.1, 9.0)
    }

    /// The loss their `CE_WEIGHT·CE + KD_WEIGHT·T²·KL` is `(ce_weight + kd_weight)` times:
    /// `α = kd_weight / (ce_weight + kd_weight)`, ε = [`PAPER_EPSILON`].
    pub fn from_weights(temperature: f32, ce_weight: f32, kd_weight: f32) -> Self {
        Self {
            temperature,
            alpha: kd_weight / (ce_weight + kd_weight),
            epsilon: PAPER_EPSILON,
        }
    }

    /// Checks T finite and > 0 (with T² and 1/T finite, normal f32), α in [0, 1] and ε finite
    /// and at least f32's smallest normal number (a GPU may flush a smaller one to 0); the
    /// error names the offending setting and value.
    pub fn validate(&self) -> Result<()> {
        check_temperature(self.temperature)?;
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(Error::InvalidConfig(format!(
                "logit standardization alpha must be in [0, 1], got {} (the KD term's weight)",
                self.alpha
            )));
        }
        let eps = self.epsilon;
        if !(eps.is_finite() && eps >= f32::MIN_POSITIVE) {
            return Err(Error::InvalidConfig(format!(
                "logit standardization epsilon must be finite and ≥ {:e}, got {eps} (added to \
                 each row's standard deviation)",
                f32::MIN_POSITIVE
            )));
        }
        Ok(())
    }
}

/// Checks that rows of `cols` classes have a standard deviation.
pub fn check_classes(cols: usize) -> Result<()> {
    if cols < 2 {
        return Err(Error::InvalidConfig(format!(
            "logit standardization needs at least 2 classes (a row's sample standard deviation \
             divides by C − 1), got {cols}"
        )));
    }
    Ok(())
}

/// Uniform block of `shaders/logit_std.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct LogitStdParams {
    pub rows: u32,
    pub cols: u32,
    pub temperature: f32,
    pub inv_temperature: f32,
    pub alpha: f32,
    pub inv_batch: f32,
    pub epsilon: f32,
    pub pad: u32,
}

impl LogitStdParams {
    pub fn new(rows: usize, cols: usize, config: LogitStdConfig) -> Self {
        Self {
            rows: rows as u32,
            cols: cols as u32,
            temperature: config.temperature,
            inv_temperature: 1.0 / config.temperature,
            alpha: config.alpha,
            inv_batch: 1.0 / rows as f32,
            epsilon: config.epsilon,
            // The kernel reads pad as a run-time zero that keeps its exact two-sums from being
            // folded away by the shader compiler: it must stay 0.
            pad: 0,
        }
    }
}

/// The shader: the shared cancellation-free log1p / expm1 pieces and row-KL sums, then the
/// kernel.
pub const SHADER: ShaderSource = shader_source! {
    name: "logit_std",
    entry_point: "logit_std_rows",
    files: [
        "shaders/common/stable_math.wgsl",
        "shaders/common/row_kl.wgsl",
        "shaders/logit_std.wgsl",
    ],
    uniform_size: std::mem::size_of::<LogitStdParams>(),
};

impl RowLoss for LogitStdConfig {
    fn shader(&self) -> &'static ShaderSource {
        &SHADER
    }

    fn label(&self) -> &'static str {
        "logit std loss"
    }

    fn uniform(&self, rows: usize, cols: usize) -> Vec<u8> {
        bytemuck::bytes_of(&LogitStdParams::new(rows, cols, *self)).to_vec()
    }

    fn reduce(&self, rows: usize) -> ReduceParams {
        let t = self.temperature;
        ReduceParams::weighted(rows, 1.0 - self.alpha, self.alpha * (t * t))
    }
}

/// Uploads the inputs and prepares the loss and reduction kernels; outputs: gradient, per-row
/// terms `[ce, kl]` interleaved, loss slots ([`crate::ops::reduce::LOSS_SLOTS`]). Rejects an
/// invalid `config`, a bad batch and fewer than two classes.
pub fn prepare_logit_std(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: LogitStdConfig,
) -> Result<PreparedKernel> {
    config.validate()?;
    batch.validate()?;
    check_classes(batch.cols)?;
    UploadedBatch::new(ctx, batch)?.prepare(ctx, &config, None)
}

/// The logit-standardization KD loss and gradient on the GPU, followed by the deterministic
/// reduction; `kl` and `row_kl` hold the KL of the standardized rows.
#[maybe_async]
pub async fn logit_std(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: LogitStdConfig,
) -> Result<KdOutput<f32>> {
    run_prepared(ctx, &prepare_logit_std(ctx, batch, config)?).await
}
