//! The generalized Jensen–Shannon divergence loss of on-policy distillation (GKD, Agarwal et
//! al. 2023, Eq. 1): per-row cross-entropy, the generalized JSD at temperature T and `dL/dz` in
//! one workgroup per row, followed by the deterministic batch reduction
//! ([`crate::ops::reduce`]).
//!
//! The definition followed is `GKDTrainer.generalized_jsd_loss` in huggingface/trl,
//! `trl/trainer/gkd_trainer.py` (read at commit a9fa292c2d1df64c6f0189ebe32d37b46ce64438). With
//! `p = softmax(t/T)` (teacher), `q = softmax(z/T)` (student), β ∈ [0, 1] and the mixture
//! `m = β·p + (1 − β)·q` (trl: `logsumexp(log q + log(1 − β), log p + log β)`):
//!
//! - 0 < β < 1: `JSD_β = β·KL(p ‖ m) + (1 − β)·KL(q ‖ m)`;
//! - β = 0: `KL(p ‖ q)`, the forward KL of the KD loss (trl's `kl_div(log q, log p)`);
//! - β = 1: `KL(q ‖ p)`, the reverse KL (trl's `kl_div(log p, log q)`).
//!
//! The mixture form tends to 0 at both ends, so, as in trl, the value jumps at β = 0 and 1: the
//! ends are the KLs the mixture form (value and gradient) approaches once divided by β (near 0)
//! or by 1 − β (near 1). trl applies no T² and no hard-label term; here, as for KD,
//! `L = (1 − α)·mean(CE(y, softmax(z))) + α·T²·mean(JSD_β)`, so the per-row terms are
//! `[CE_b, JSD_b]` and the reduction weights `(1 − α, α·T²)`. The gradient
//! (`∂JSD_β/∂q_c = (1 − β)·log(q_c/m_c)`, the softmax's Jacobian `q ⊙ (· − Σ q ·)/T`):
//!
//! `dL/dz_c = (1/B)[(1 − α)(s_c − 1[c=y]) + α·T·g_c]` (`s = softmax(z)`) with
//! `g = (1 − β)·q ⊙ (log(q/m) − KL(q ‖ m))` for 0 < β < 1, `g = q ⊙ (log(q/p) − KL(q ‖ p))` at
//! β = 1 and `g = q − p` at β = 0.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_temperature, Error, Result};
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};
use crate::ops::kd_loss::{KdBatch, KdOutput};
use crate::ops::logit_loss::{run_prepared, RowLoss, UploadedBatch};
use crate::ops::reduce::ReduceParams;

/// Temperature, hard/soft mixing weight and JSD interpolation of the generalized-JSD loss.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GjsdConfig {
    /// Temperature T > 0 of both softmaxes.
    pub temperature: f32,
    /// Weight α ∈ [0, 1] of the JSD term; 0 is plain cross-entropy.
    pub alpha: f32,
    /// Interpolation β ∈ [0, 1]: the mixture `m = β·p + (1 − β)·q`; 0 is the forward KL
    /// `KL(p ‖ q)` (the KD loss), 1 the reverse KL `KL(q ‖ p)`.
    pub beta: f32,
}

impl Default for GjsdConfig {
    /// T = 20 and α = 0.9 (the `distill` KD defaults), β = 0.5 (trl's default).
    fn default() -> Self {
        Self {
            temperature: 20.0,
            alpha: 0.9,
            beta: 0.5,
        }
    }
}

impl GjsdConfig {
    /// The reverse KL `KL(softmax(z/T) ‖ softmax(t/T))` as the soft term (β = 1).
    pub fn reverse_kl(temperature: f32, alpha: f32) -> Self {
        Self {
            temperature,
            alpha,
            beta: 1.0,
        }
    }

    /// The forward KL `KL(softmax(t/T) ‖ softmax(z/T))` as the soft term (β = 0): the KD loss.
    pub fn forward_kl(temperature: f32, alpha: f32) -> Self {
        Self {
            temperature,
            alpha,
            beta: 0.0,
        }
    }

    /// The weights the reduction puts on the batch-mean CE and JSD: `(1 − α, α·T²)`.
    pub fn weights(&self) -> (f32, f32) {
        (
            1.0 - self.alpha,
            self.alpha * (self.temperature * self.temperature),
        )
    }

    /// Checks T finite and > 0 (with T² and 1/T finite, normal f32), α and β in [0, 1]; the
    /// error names the offending setting and value.
    pub fn validate(&self) -> Result<()> {
        check_temperature(self.temperature)?;
        for (name, value, what) in [
            ("alpha", self.alpha, "weight of the JSD term"),
            ("beta", self.beta, "teacher's share of the mixture"),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(Error::InvalidConfig(format!(
                    "GJSD {name} must be in [0, 1], got {value} (the {what})"
                )));
            }
        }
        Ok(())
    }
}

/// Which form the kernel's soft term takes (`GjsdParams::mode`).
const MODE_FORWARD: u32 = 0;
const MODE_MIXTURE: u32 = 1;
const MODE_REVERSE: u32 = 2;

/// Uniform block of `shaders/gjsd.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct GjsdParams {
    pub rows: u32,
    pub cols: u32,
    pub temperature: f32,
    pub inv_temperature: f32,
    pub alpha: f32,
    pub inv_batch: f32,
    pub beta: f32,
    pub one_minus_beta: f32,
    pub log_beta: f32,
    pub log_one_minus_beta: f32,
    pub mode: u32,
    pub pad: u32,
}

impl GjsdParams {
    pub fn new(rows: usize, cols: usize, config: GjsdConfig) -> Self {
        let beta = config.beta as f64;
        let mode = if config.beta == 0.0 {
            MODE_FORWARD
        } else if config.beta == 1.0 {
            MODE_REVERSE
        } else {
            MODE_MIXTURE
        };
        // The logs only matter (and are finite) in the mixture; 1 − β and both logs rounded
        // once, from f64.
        let logs = if mode == MODE_MIXTURE {
            (beta.ln() as f32, (1.0 - beta).ln() as f32)
        } else {
            (0.0, 0.0)
        };
        Self {
            rows: rows as u32,
            cols: cols as u32,
            temperature: config.temperature,
            inv_temperature: 1.0 / config.temperature,
            alpha: config.alpha,
            inv_batch: 1.0 / rows as f32,
            beta: config.beta,
            one_minus_beta: (1.0 - beta) as f32,
            log_beta: logs.0,
            log_one_minus_beta: logs.1,
            mode,
            // The kernel reads it as a run-time zero that keeps its exact two-sums from being
            // folded away by the shader compiler: it must stay 0.
            pad: 0,
        }
    }
}

/// The shader: the shared cancellation-free exp / log pieces and row-KL sums, then the kernel.
pub const SHADER: ShaderSource = shader_source! {
    name: "gjsd_loss",
    entry_point: "gjsd_loss_rows",
    files: [
        "shaders/common/stable_math.wgsl",
        "shaders/common/row_kl.wgsl",
        "shaders/gjsd.wgsl",
    ],
    uniform_size: std::mem::size_of::<GjsdParams>(),
};

impl RowLoss for GjsdConfig {
    fn shader(&self) -> &'static ShaderSource {
        &SHADER
    }

    fn label(&self) -> &'static str {
        "gjsd loss"
    }

    fn uniform(&self, rows: usize, cols: usize) -> Vec<u8> {
        bytemuck::bytes_of(&GjsdParams::new(rows, cols, *self)).to_vec()
    }

    fn reduce(&self, rows: usize) -> ReduceParams {
        let (hard, soft) = self.weights();
        ReduceParams::weighted(rows, hard, soft)
    }
}

/// Uploads the inputs and prepares the generalized-JSD loss and reduction kernels; outputs:
/// gradient, per-row terms `[ce, jsd]` interleaved, loss slots
/// ([`crate::ops::reduce::LOSS_SLOTS`]). Rejects an invalid `config` or batch.
pub fn prepare_gjsd(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: GjsdConfig,
) -> Result<PreparedKernel> {
    config.validate()?;
    batch.validate()?;
    UploadedBatch::new(ctx, batch)?.prepare(ctx, &config, None)
}

/// The generalized-JSD loss and gradient on the GPU, followed by the deterministic reduction.
/// In the output, `kl` and `row_kl` hold `JSD_β` (batch mean and per row), `loss` the total
/// `(1 − α)·mean(ce) + α·T²·mean(jsd)`.
#[maybe_async]
pub async fn gjsd(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: GjsdConfig,
) -> Result<KdOutput<f32>> {
    run_prepared(ctx, &prepare_gjsd(ctx, batch, config)?).await
}
