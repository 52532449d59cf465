//! Logit regression (Ba & Caruana 2014, "Do Deep Nets Really Need to be Deep?"): the student
//! regresses the teacher's logits, mixed with the cross-entropy on the hard labels. Per-row
//! cross-entropy, squared error and `dL/dz` in one workgroup per row, followed by the
//! deterministic batch reduction ([`crate::ops::reduce`]).
//!
//! With `s = softmax(z)`:
//!
//! `L = (1 − α)·mean_b CE_b + α·mean_b MSE_b`, `CE_b = −log s_{y_b}`,
//! `MSE_b = (1/C)·Σ_c (z_bc − t_bc)²`, and
//! `dL/dz_b = (1/B)[(1 − α)(s_b − onehot(y_b)) + α·(2/C)(z_b − t_b)]`.
//!
//! The normalisation is the per-element mean: `mean_b MSE_b = Σ_{b,c} (z − t)² / (B·C)`, what
//! PyTorch's `MSELoss(reduction='mean')` gives over a `[B, C]` batch. Neither torchdistill nor
//! mdistiller has a dedicated logit-MSE loss: torchdistill composes it from torch's own losses,
//! which `torchdistill/losses/registry.py` (yoshitomo-matsubara/torchdistill) registers by name
//! (`LOSS_DICT`, `MSELoss` among them), fed student and teacher module outputs by
//! `SimpleLossWrapper` in `torchdistill/losses/mid_level.py`; its sample
//! `configs/sample/glue/stsb/kd/bert_base_uncased_from_bert_large_uncased.yaml` regresses the
//! teacher's `classifier` output that way (with `reduction: 'sum'`, on STS-B's single output). The paper itself writes `(1/2T)·Σ_t ‖g(x_t) − z_t‖²` over T examples: half the
//! summed squared error, which is `(C/2)·MSE_b` here; its objective is the regression alone,
//! α = 1 ([`LogitMseConfig::paper`]). There is no temperature.
//!
//! The per-row terms are `[CE_b, MSE_b]` (unweighted); the reduction weighs them `(1 − α, α)`.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{Error, Result};
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};
use crate::ops::kd_loss::{KdBatch, KdOutput};
use crate::ops::logit_loss::{run_prepared, RowLoss, UploadedBatch};
use crate::ops::reduce::ReduceParams;

/// Mixing weight of the logit-regression loss.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogitMseConfig {
    /// Weight α ∈ [0, 1] of the squared-error term; 0 is plain cross-entropy, 1 the paper's
    /// regression alone.
    pub alpha: f32,
}

impl LogitMseConfig {
    /// The paper's objective: the regression on the teacher's logits alone (α = 1).
    pub fn paper() -> Self {
        Self { alpha: 1.0 }
    }

    /// Checks α finite and in [0, 1]; the error names the value.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(Error::InvalidConfig(format!(
                "logit MSE alpha must be in [0, 1], got {} (the weight of the squared error)",
                self.alpha
            )));
        }
        Ok(())
    }
}

/// Uniform block of `shaders/logit_mse.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct LogitMseParams {
    pub rows: u32,
    pub cols: u32,
    pub hard_weight: f32,
    pub soft_weight: f32,
    pub inv_cols: f32,
    pub pad: [u32; 3],
}

impl LogitMseParams {
    pub fn new(rows: usize, cols: usize, config: LogitMseConfig) -> Self {
        let (b, c, alpha) = (rows as f64, cols as f64, config.alpha as f64);
        Self {
            rows: rows as u32,
            cols: cols as u32,
            // Each weight rounded once from f64.
            hard_weight: ((1.0 - alpha) / b) as f32,
            soft_weight: (alpha * 2.0 / (c * b)) as f32,
            inv_cols: (1.0 / c) as f32,
            // The kernel reads pad[0] as a run-time zero that keeps its exact two-sums from
            // being folded away by the shader compiler: it must stay 0.
            pad: [0; 3],
        }
    }
}

/// The shader: the shared exact differences, exp and log, the row sums, then the kernel.
pub const SHADER: ShaderSource = shader_source! {
    name: "logit_mse",
    entry_point: "logit_mse_rows",
    files: [
        "shaders/common/stable_math.wgsl",
        "shaders/common/row_kl.wgsl",
        "shaders/logit_mse.wgsl",
    ],
    uniform_size: std::mem::size_of::<LogitMseParams>(),
};

impl RowLoss for LogitMseConfig {
    fn shader(&self) -> &'static ShaderSource {
        &SHADER
    }

    fn label(&self) -> &'static str {
        "logit mse"
    }

    fn uniform(&self, rows: usize, cols: usize) -> Vec<u8> {
        bytemuck::bytes_of(&LogitMseParams::new(rows, cols, *self)).to_vec()
    }

    fn reduce(&self, rows: usize) -> ReduceParams {
        ReduceParams::weighted(rows, 1.0 - self.alpha, self.alpha)
    }
}

/// Uploads the inputs and prepares the logit-MSE and reduction kernels; outputs: gradient,
/// per-row terms `[ce, mse]` interleaved, loss slots ([`crate::ops::reduce::LOSS_SLOTS`]).
/// Rejects an invalid `config` and a bad batch.
pub fn prepare_logit_mse(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: LogitMseConfig,
) -> Result<PreparedKernel> {
    config.validate()?;
    batch.validate()?;
    UploadedBatch::new(ctx, batch)?.prepare(ctx, &config, None)
}

/// The logit-MSE loss and gradient on the GPU, followed by the deterministic reduction. In the
/// output, `kl` and `row_kl` hold the squared-error term `MSE_b` (batch mean and per row).
#[maybe_async]
pub async fn logit_mse(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: LogitMseConfig,
) -> Result<KdOutput<f32>> {
    run_prepared(ctx, &prepare_logit_mse(ctx, batch, config)?).await
}
