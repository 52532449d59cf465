//! Teacher-free knowledge distillation with a manually designed teacher (Yuan et al. 2020,
//! "Revisiting Knowledge Distillation via Label Smoothing Regularization", Tf-KD_reg): no
//! teacher model; a virtual teacher is built from each row's label. Per-row cross-entropy, the
//! KL to the virtual teacher and `dL/dz` in one workgroup per row, followed by the deterministic
//! batch reduction ([`crate::ops::reduce`]).
//!
//! Followed exactly as the authors' code computes it: `loss_kd_regularization` in
//! `my_loss_function.py` of yuanli2333/Teacher-free-Knowledge-Distillation. With `C ≥ 2`
//! classes, label `y`, correct-class probability `a`:
//!
//! - the virtual teacher `p_v` is `a` at `y` and `u = (1 − a)/(C − 1)` elsewhere
//!   (`teacher_soft`), softened the way their code does it: `π = softmax(p_v / T)`, the
//!   *probabilities* divided by T and taken as logits. So `π` is not `p_v`: at their defaults
//!   (a = 0.99, T = 20, C = 100) `π_y ≈ 0.0105` against `0.0100` elsewhere, and `a = 1/C` gives
//!   exactly the uniform distribution;
//! - the student is *not* softened: their `F.log_softmax(outputs, dim=1)`, `s = softmax(z)`;
//! - `nn.KLDivLoss()` keeps PyTorch's default `reduction='mean'`, the mean over all `B·C`
//!   elements, so their KL term is `mean_b KL(π ‖ s_b) / C`, times `params.multiplier` `m`, and
//!   there is no `T²`.
//!
//! `L = (1 − α)·mean_b CE_b + α·m·mean_b (KL_b / C)`, `KL_b = Σ_c π_c (log π_c − log s_c)`;
//! `dL/dz_b = (1/B)[(1 − α)(s_b − onehot(y_b)) + (α·m/C)(s_b − π_b)]`.
//!
//! The per-row terms are `[CE_b, KL_b / C]`, the soft one their pointwise mean over the classes,
//! so the output's `ce` and `kl` are exactly their `loss_CE` and `nn.KLDivLoss()(…)`; the
//! reduction weighs them `(1 − α, α·m)`.
//!
//! Where this differs from the crate's [`crate::KdConfig`]: that loss softens both sides at T
//! and weighs the batch-mean KL by `α·T²` (Hinton's factor, which restores the gradient scale
//! lost by dividing the student's logits by T). Here the student is not divided by T, so T² has
//! no part, and the authors' α and multiplier were tuned with their per-element mean: under
//! `α·T²·batch-mean` their ResNet18 setting would weigh the KL `T²·C/m` = 400 times heavier.
//! Their code is kept, and with it their settings carry over; the paper's Eq. 9 writes the
//! student softened at τ too, which their released code (the published numbers) does not do.
//!
//! The kernel binds the teacher logits (the shared logit-loss contract) and reads none of them.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_temperature, Error, Result};
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};
use crate::ops::kd_loss::{KdBatch, KdOutput};
use crate::ops::logit_loss::{run_prepared, RowLoss, UploadedBatch};
use crate::ops::reduce::ReduceParams;

/// Settings of the teacher-free loss with a manually designed teacher.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TfKdConfig {
    /// Temperature T > 0 that softens the virtual teacher `softmax(p_v / T)` (their
    /// `reg_temperature`); the student is not softened.
    pub temperature: f32,
    /// Weight α ∈ [0, 1] of the KL term (their `reg_alpha`); 0 is plain cross-entropy.
    pub alpha: f32,
    /// The virtual teacher's probability a ∈ (0, 1) of the correct class (their
    /// `correct_prob`); the others share 1 − a. `a = 1/C` makes the teacher uniform.
    pub correct_prob: f32,
    /// Factor m ≥ 0 on the KL term (their `multiplier`).
    pub multiplier: f32,
}

impl TfKdConfig {
    /// The authors' defaults: `correct_prob = 0.99` (fixed in their code) and the settings of
    /// `experiments/base_experiments/base_resnet18/params.json`, the directory their `main.py`
    /// defaults to: T = 20, α = 0.1, m = 100 (CIFAR-100). Their other Tf-KD_reg settings: MobileNetV2
    /// T = 40, α = 0.95, m = 1; ShuffleNetV2 T = 10, α = 0.95, m = 1; GoogLeNet T = 40, α = 0.1,
    /// m = 50.
    pub fn paper() -> Self {
        Self {
            temperature: 20.0,
            alpha: 0.1,
            correct_prob: 0.99,
            multiplier: 100.0,
        }
    }

    /// The reduction's weight of the per-row soft term `KL_b / C`: `α·m`.
    pub fn kl_weight(&self) -> f32 {
        self.alpha * self.multiplier
    }

    /// Checks T finite and a normal f32 > 0 (so `(a − u)/T` stays finite), α in [0, 1], a in
    /// (0, 1) and m finite and ≥ 0 (with α·m finite); the error names the offending setting.
    pub fn validate(&self) -> Result<()> {
        check_temperature(self.temperature)?;
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(Error::InvalidConfig(format!(
                "Tf-KD alpha must be in [0, 1], got {} (the weight of the KL term)",
                self.alpha
            )));
        }
        let a = self.correct_prob;
        if !(a > 0.0 && a < 1.0) {
            return Err(Error::InvalidConfig(format!(
                "Tf-KD correct_prob must be in (0, 1), got {a} (the virtual teacher's \
                 probability of the label)"
            )));
        }
        let m = self.multiplier;
        if !(m.is_finite() && m >= 0.0 && self.kl_weight().is_finite()) {
            return Err(Error::InvalidConfig(format!(
                "Tf-KD multiplier must be finite and ≥ 0, got {m} (the factor on the KL term)"
            )));
        }
        Ok(())
    }
}

/// Checks that a batch of `cols` classes has a class besides the label.
pub(crate) fn check_classes(cols: usize) -> Result<()> {
    if cols < 2 {
        return Err(Error::InvalidConfig(format!(
            "Tf-KD needs at least 2 classes (the label and one to share 1 − correct_prob), got \
             {cols}"
        )));
    }
    Ok(())
}

/// The virtual teacher of a batch of `cols ≥ 2` classes in f64, from the f32 settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VirtualTeacher {
    /// `g = ℓ_label − ℓ_other = (a − u)/T`, the logit gap of `softmax(p_v / T)`.
    pub gap: f64,
    /// `π` at the label.
    pub p_label: f64,
    /// `π` at every other class.
    pub p_other: f64,
    /// `log π` at the label.
    pub log_p_label: f64,
    /// `log π` at every other class.
    pub log_p_other: f64,
}

impl VirtualTeacher {
    /// `softmax(p_v / T)` for `cols` classes, with its logs taken without cancellation.
    pub fn new(config: &TfKdConfig, cols: usize) -> Self {
        let a = config.correct_prob as f64;
        let rest = (cols - 1) as f64;
        let u = (1.0 - a) / rest;
        let gap = (a - u) / config.temperature as f64;
        // log Σ e^{ℓ − ℓ_other} = log(e^g + C − 1), from the larger side.
        let log_norm = if gap >= 0.0 {
            gap + (rest * (-gap).exp()).ln_1p()
        } else {
            rest.ln() + (gap.exp() / rest).ln_1p()
        };
        let (log_p_label, log_p_other) = (gap - log_norm, -log_norm);
        Self {
            gap,
            p_label: log_p_label.exp(),
            p_other: log_p_other.exp(),
            log_p_label,
            log_p_other,
        }
    }
}

/// Uniform block of `shaders/tf_kd.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct TfKdParams {
    pub rows: u32,
    pub cols: u32,
    pub hard_weight: f32,
    pub soft_weight: f32,
    pub gap_hi: f32,
    pub gap_lo: f32,
    pub p_label: f32,
    pub p_other: f32,
    pub log_p_label: f32,
    pub log_p_other: f32,
    pub w_label: f32,
    pub w_other: f32,
    pub label_top: u32,
    pub inv_cols: f32,
    pub pad: [u32; 2],
}

impl TfKdParams {
    pub fn new(rows: usize, cols: usize, config: TfKdConfig) -> Self {
        let teacher = VirtualTeacher::new(&config, cols.max(2));
        let (b, c) = (rows as f64, cols as f64);
        let alpha = config.alpha as f64;
        let gap_hi = teacher.gap as f32;
        let label_top = teacher.gap >= 0.0;
        // w = e^{ℓ − ℓ_top}: 1 at the top class, e^{−|g|} at the others.
        let below = (-teacher.gap.abs()).exp() as f32;
        Self {
            rows: rows as u32,
            cols: cols as u32,
            hard_weight: ((1.0 - alpha) / b) as f32,
            soft_weight: (alpha * config.multiplier as f64 / (c * b)) as f32,
            gap_hi,
            gap_lo: (teacher.gap - gap_hi as f64) as f32,
            p_label: teacher.p_label as f32,
            p_other: teacher.p_other as f32,
            log_p_label: teacher.log_p_label as f32,
            log_p_other: teacher.log_p_other as f32,
            w_label: if label_top { 1.0 } else { below },
            w_other: if label_top { below } else { 1.0 },
            label_top: label_top as u32,
            inv_cols: (1.0 / c) as f32,
            // The kernel reads pad[0] as a run-time zero that keeps its exact two-sums from
            // being folded away by the shader compiler: it must stay 0.
            pad: [0; 2],
        }
    }
}

/// The shader: the shared cancellation-free log1p / expm1 pieces and row-KL sums, then the
/// kernel.
pub const SHADER: ShaderSource = shader_source! {
    name: "tf_kd",
    entry_point: "tf_kd_rows",
    files: [
        "shaders/common/stable_math.wgsl",
        "shaders/common/row_kl.wgsl",
        "shaders/tf_kd.wgsl",
    ],
    uniform_size: std::mem::size_of::<TfKdParams>(),
};

impl RowLoss for TfKdConfig {
    fn shader(&self) -> &'static ShaderSource {
        &SHADER
    }

    fn label(&self) -> &'static str {
        "tf-kd loss"
    }

    fn uniform(&self, rows: usize, cols: usize) -> Vec<u8> {
        bytemuck::bytes_of(&TfKdParams::new(rows, cols, *self)).to_vec()
    }

    fn reduce(&self, rows: usize) -> ReduceParams {
        ReduceParams::weighted(rows, 1.0 - self.alpha, self.kl_weight())
    }
}

/// Uploads the inputs and prepares the Tf-KD and reduction kernels; outputs: gradient, per-row
/// terms `[ce, kl / C]` interleaved, loss slots ([`crate::ops::reduce::LOSS_SLOTS`]). The batch's
/// teacher logits are uploaded (one contract for every logit loss) but never read. Rejects an
/// invalid `config`, a bad batch and fewer than two classes.
pub fn prepare_tf_kd(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: TfKdConfig,
) -> Result<PreparedKernel> {
    config.validate()?;
    batch.validate()?;
    check_classes(batch.cols)?;
    UploadedBatch::new(ctx, batch)?.prepare(ctx, &config, None)
}

/// The Tf-KD loss and gradient on the GPU, followed by the deterministic reduction. In the
/// output, `kl` and `row_kl` hold `KL(π ‖ s) / C` (batch mean and per row), `loss` the total
/// `(1 − α)·ce + α·m·kl`.
#[maybe_async]
pub async fn tf_kd(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    config: TfKdConfig,
) -> Result<KdOutput<f32>> {
    run_prepared(ctx, &prepare_tf_kd(ctx, batch, config)?).await
}
