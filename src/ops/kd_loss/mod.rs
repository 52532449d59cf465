//! The fused KD loss: per-row cross-entropy, KL at temperature T and `dL/dz` in one workgroup
//! per row, followed by the deterministic batch reduction ([`crate::ops::reduce`]).
//!
//! `L = (1 − α)·CE(y, softmax(z)) + α·T²·KL(softmax(t/T) ‖ softmax(z/T))`, batch-mean.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_kd, Result};
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};
use crate::ops::logit_loss::{run_prepared, RowLoss, UploadedBatch};
pub use crate::ops::logit_loss::{KdBatch, KdOutput};
use crate::ops::reduce::ReduceParams;

/// Temperature and mixing weight of the KD loss.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KdConfig {
    /// Temperature T > 0.
    pub temperature: f32,
    /// Weight α ∈ [0, 1] of the teacher (KL) term; 0 is plain cross-entropy.
    pub alpha: f32,
}

impl KdConfig {
    /// Plain cross-entropy training (α = 0).
    pub fn cross_entropy() -> Self {
        Self {
            temperature: 1.0,
            alpha: 0.0,
        }
    }

    /// Checks T > 0 finite and α ∈ [0, 1].
    pub fn validate(&self) -> Result<()> {
        check_kd(self.temperature, self.alpha)
    }
}

/// Uniform block of `shaders/kd_loss.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct KdParams {
    pub rows: u32,
    pub cols: u32,
    pub temperature: f32,
    pub inv_temperature: f32,
    pub alpha: f32,
    pub inv_batch: f32,
    pub pad: [u32; 2],
}

impl KdParams {
    pub fn new(rows: usize, cols: usize, kd: KdConfig) -> Self {
        Self {
            rows: rows as u32,
            cols: cols as u32,
            temperature: kd.temperature,
            inv_temperature: 1.0 / kd.temperature,
            alpha: kd.alpha,
            inv_batch: 1.0 / rows as f32,
            // The kernel reads pad[0] as a run-time zero that keeps its exact two-sums from
            // being folded away by the shader compiler: it must stay 0.
            pad: [0; 2],
        }
    }
}

/// The shader: the shared cancellation-free log1p / expm1 pieces and row-KL sums, then the
/// kernel.
pub const SHADER: ShaderSource = shader_source! {
    name: "kd_loss",
    entry_point: "kd_loss_rows",
    files: [
        "shaders/common/stable_math.wgsl",
        "shaders/common/row_kl.wgsl",
        "shaders/kd_loss.wgsl",
    ],
    uniform_size: std::mem::size_of::<KdParams>(),
};

impl RowLoss for KdConfig {
    fn shader(&self) -> &'static ShaderSource {
        &SHADER
    }

    fn label(&self) -> &'static str {
        "kd loss"
    }

    fn uniform(&self, rows: usize, cols: usize) -> Vec<u8> {
        bytemuck::bytes_of(&KdParams::new(rows, cols, *self)).to_vec()
    }

    fn reduce(&self, rows: usize) -> ReduceParams {
        ReduceParams::new(rows, self.temperature, self.alpha)
    }
}

/// Uploads the KD-loss inputs and prepares the loss and reduction kernels; outputs: gradient,
/// per-row terms `[ce, kl]` interleaved, loss slots ([`crate::ops::reduce::LOSS_SLOTS`]).
pub fn prepare_kd_loss(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    kd: KdConfig,
) -> Result<PreparedKernel> {
    kd.validate()?;
    batch.validate()?;
    UploadedBatch::new(ctx, batch)?.prepare(ctx, &kd, None)
}

/// The fused KD loss and gradient on the GPU, followed by the deterministic reduction.
#[maybe_async]
pub async fn kd_loss(ctx: &GpuContext, batch: &KdBatch<'_>, kd: KdConfig) -> Result<KdOutput<f32>> {
    run_prepared(ctx, &prepare_kd_loss(ctx, batch, kd)?).await
}
