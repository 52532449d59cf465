//! The multi-teacher, partial-class KD loss: teacher k knows only the classes `S_k` and is
//! softened over those; each sample b listens to the teachers that know its label
//! (`E_b = {k : y_b ∈ S_k}`) with weights `w_kb` summing to 1 over them. One workgroup per row
//! writes the gradient, the per-row `[ce, kl]` terms and the weights used; the batch reduction
//! is [`crate::ops::reduce`]'s, unchanged.
//!
//! Mixture: `L_b = (1 − α)·CE_b + α·T²·Σ_k w_kb·KL(p_k ‖ q_k)`, with `p_k` and `q_k` the
//! softmaxes of `t_k/T` and `z/T` over `S_k`. Logits: one teacher `t̄_b = Σ_k w_kb·t_kb` and the
//! single-teacher loss over the (shared) class set. A sample no teacher knows has no KD term.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_finite, check_kd, check_labels, check_len, Error, Result};
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};
use crate::ops::logit_loss::{run_prepared, LossDispatches, RowLoss};
use crate::ops::reduce::{ReduceParams, LOSS_SLOTS};

/// Most teachers one batch may combine (the kernel keeps per-teacher statistics in registers).
pub const MAX_TEACHERS: usize = 8;

/// How each sample's weights over its eligible teachers are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WeightMode {
    /// 1 per eligible teacher, renormalised.
    Uniform,
    /// The batch's base weights, renormalised over the eligible teachers.
    Fixed,
    /// As [`WeightMode::Fixed`], the base weights being each teacher's validation accuracy.
    Accuracy,
    /// `∝ p_k(y_b)` at T = 1 over `S_k`: teachers sure of the true label count more.
    Confidence,
    /// All weight on the eligible teacher with the largest `p_k(y_b)` at T = 1 (first on ties).
    Route,
}

impl WeightMode {
    /// The kernel's code for this mode (accuracy runs the fixed path).
    fn code(self) -> u32 {
        match self {
            WeightMode::Uniform => 0,
            WeightMode::Fixed | WeightMode::Accuracy => 1,
            WeightMode::Confidence => 2,
            WeightMode::Route => 3,
        }
    }
}

/// How the weighted teachers form the soft target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Combine {
    /// `Σ_k w_k·KL(p_k ‖ q_k)`, each teacher over its own classes.
    Mixture,
    /// KL of the softmax of `Σ_k w_k·t_k`: only meaningful when every teacher knows the same
    /// classes, which [`MultiKdBatch::validate`] requires.
    Logits,
}

/// Temperature, mixing weight and teacher combination of the multi-teacher loss.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MultiKdConfig {
    /// Temperature T > 0.
    pub temperature: f32,
    /// Weight α ∈ [0, 1] of the teacher term.
    pub alpha: f32,
    /// How the eligible teachers are weighted per sample.
    pub weights: WeightMode,
    /// Mixture of per-teacher KLs or one teacher of combined logits.
    pub combine: Combine,
}

impl MultiKdConfig {
    /// Checks T > 0 finite and α ∈ [0, 1].
    pub fn validate(&self) -> Result<()> {
        check_kd(self.temperature, self.alpha)
    }
}

/// One batch of inputs: student logits `[rows, cols]`, teacher logits `[rows, teacher_count,
/// cols]` (sample-major), known-class masks `[teacher_count, cols]` (0 or 1), base weights
/// `[teacher_count]` (used by [`WeightMode::Fixed`] and [`WeightMode::Accuracy`], checked
/// always) and hard labels `[rows]`. `F` is f32 for the GPU, f64 for the reference.
#[derive(Debug, Clone, Copy)]
pub struct MultiKdBatch<'a, F = f32> {
    /// Student logits z.
    pub student: &'a [F],
    /// Teacher logits t.
    pub teachers: &'a [F],
    /// Known classes: `known[k·cols + c] = 1` when teacher k knows class c.
    pub known: &'a [u32],
    /// Base weights ≥ 0, one per teacher.
    pub base_weights: &'a [F],
    /// Hard labels y.
    pub labels: &'a [u32],
    /// Rows B.
    pub rows: usize,
    /// Classes C.
    pub cols: usize,
    /// Teachers K, 1 to [`MAX_TEACHERS`].
    pub teacher_count: usize,
    /// Per-sample gates `[rows, teacher_count]`: teacher k is eligible for row b only when
    /// `gates[b·K + k] > 0` (as well as knowing its label). `None`: every gate open.
    pub gates: Option<&'a [F]>,
}

impl<F: Copy + Into<f64>> MultiKdBatch<'_, F> {
    /// Known classes of teacher `k`.
    pub fn known_row(&self, k: usize) -> &[u32] {
        &self.known[k * self.cols..(k + 1) * self.cols]
    }

    /// Whether row `row`'s gate for teacher `k` is open.
    pub fn gate_open(&self, row: usize, k: usize) -> bool {
        self.gates
            .is_none_or(|g| g[row * self.teacher_count + k].into() > 0.0)
    }
}

impl MultiKdBatch<'_, f32> {
    /// Checks `config`, shapes, finiteness, labels, base weights ≥ 0, masks of 0/1 with at
    /// least one known class per teacher, and equal class sets for [`Combine::Logits`].
    pub fn validate(&self, config: &MultiKdConfig) -> Result<()> {
        config.validate()?;
        let (rows, cols, k) = (self.rows, self.cols, self.teacher_count);
        if rows == 0 {
            return Err(Error::EmptyBatch);
        }
        if cols == 0 {
            return Err(Error::InvalidConfig(
                "multi-teacher KD needs at least one class".into(),
            ));
        }
        if k == 0 || k > MAX_TEACHERS {
            return Err(Error::InvalidConfig(format!(
                "multi-teacher KD takes 1 to {MAX_TEACHERS} teachers, got {k}"
            )));
        }
        check_len("student logits", rows * cols, self.student.len())?;
        check_len("teacher logits", rows * k * cols, self.teachers.len())?;
        check_len("known-class masks", k * cols, self.known.len())?;
        check_len("teacher base weights", k, self.base_weights.len())?;
        check_len("labels", rows, self.labels.len())?;
        check_finite("student logits", self.student)?;
        check_finite("teacher logits", self.teachers)?;
        check_finite("teacher base weights", self.base_weights)?;
        if let Some(gates) = self.gates {
            check_len("teacher gates", rows * k, gates.len())?;
            check_finite("teacher gates", gates)?;
        }
        if let Some(i) = self.base_weights.iter().position(|&w| w < 0.0) {
            return Err(Error::InvalidConfig(format!(
                "teacher base weights must be ≥ 0, teacher {i} has {}",
                self.base_weights[i]
            )));
        }
        if let Some(i) = self.known.iter().position(|&m| m > 1) {
            return Err(Error::InvalidConfig(format!(
                "known-class masks hold 0 or 1, teacher {} class {} has {}",
                i / cols,
                i % cols,
                self.known[i]
            )));
        }
        for t in 0..k {
            if !self.known_row(t).contains(&1) {
                return Err(Error::InvalidConfig(format!(
                    "teacher {t} knows no class: its softmax would be empty"
                )));
            }
        }
        if config.combine == Combine::Logits {
            if let Some(t) = (1..k).find(|&t| self.known_row(t) != self.known_row(0)) {
                return Err(Error::InvalidConfig(format!(
                    "combining logits needs every teacher to know the same classes; teacher {t} \
                     differs from teacher 0 (use the mixture)"
                )));
            }
        }
        check_labels(self.labels, cols)
    }
}

/// What the multi-teacher loss produces, in f32 from the GPU or f64 from the reference.
#[derive(Debug, Clone)]
pub struct MultiKdOutput<F> {
    /// `(1 − α)·ce + α·T²·kl`.
    pub loss: F,
    /// Batch-mean cross-entropy with the hard labels over all classes.
    pub ce: F,
    /// Batch mean of the per-row KL terms ([`MultiKdOutput::row_kl`]).
    pub kl: F,
    /// Per-row cross-entropy.
    pub row_ce: Vec<F>,
    /// Per-row KL term: `Σ_k w_kb·KL(p_k ‖ q_k)` (mixture) or `KL(p̄ ‖ q)` (logits); 0 for a
    /// row no teacher knows.
    pub row_kl: Vec<F>,
    /// `dL/dz`, `[B, C]`.
    pub grad: Vec<F>,
    /// The weights used, `[B, K]`: 0 outside `E_b`, summing to 1 over it (or all 0).
    pub weights: Vec<F>,
}

/// Uniform block of `shaders/multi_kd.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct MultiKdParams {
    pub rows: u32,
    pub cols: u32,
    pub teachers: u32,
    pub weight_mode: u32,
    pub combine: u32,
    pub temperature: f32,
    pub inv_temperature: f32,
    pub alpha: f32,
    pub inv_batch: f32,
    /// 1 when each sample's teacher row ends with K gates.
    pub gated: u32,
    /// 1 for the teacher-major layout `[K, B, C]`.
    pub teacher_major: u32,
    pub pad: u32,
}

/// How the teacher logits of a batch are laid out in their buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TeacherLayout {
    /// `[B, K·C]`, each sample's row followed by its K gates when `gated` (gathered from a
    /// data set's stacked teacher logits).
    SampleMajor {
        /// Whether each row ends with K gates.
        gated: bool,
    },
    /// `[K, B, C]`: whole batches of logits one teacher after another, as copied from models'
    /// logit buffers within a step (peers in mutual learning, an EMA teacher). Never gated.
    TeacherMajor,
}

impl MultiKdParams {
    pub fn new(
        (rows, cols, teachers): (usize, usize, usize),
        layout: TeacherLayout,
        config: MultiKdConfig,
    ) -> Self {
        Self {
            rows: rows as u32,
            cols: cols as u32,
            teachers: teachers as u32,
            weight_mode: config.weights.code(),
            combine: match config.combine {
                Combine::Mixture => 0,
                Combine::Logits => 1,
            },
            temperature: config.temperature,
            inv_temperature: 1.0 / config.temperature,
            alpha: config.alpha,
            inv_batch: 1.0 / rows as f32,
            gated: u32::from(layout == TeacherLayout::SampleMajor { gated: true }),
            teacher_major: u32::from(layout == TeacherLayout::TeacherMajor),
            pad: 0,
        }
    }
}

/// The shader: the shared online-softmax merge, then the kernel.
pub const SHADER: ShaderSource = shader_source! {
    name: "multi_kd",
    entry_point: "multi_kd_rows",
    files: ["shaders/common/online_softmax.wgsl", "shaders/multi_kd.wgsl"],
    uniform_size: std::mem::size_of::<MultiKdParams>(),
};

/// Buffers the multi-teacher loss reads and writes.
pub(crate) struct MultiKdBuffers<'a> {
    pub student: &'a wgpu::Buffer,
    pub teachers: &'a wgpu::Buffer,
    pub known: &'a wgpu::Buffer,
    pub base_weights: &'a wgpu::Buffer,
    pub labels: &'a wgpu::Buffer,
    pub grad: &'a wgpu::Buffer,
    pub row_terms: &'a wgpu::Buffer,
    pub weights: &'a wgpu::Buffer,
    pub loss: &'a wgpu::Buffer,
}

impl MultiKdBuffers<'_> {
    /// The dispatches of `rows` over these buffers.
    pub fn dispatches(&self, ctx: &GpuContext, rows: &MultiKdRows) -> Result<LossDispatches> {
        LossDispatches::new(
            ctx,
            (rows.rows, rows.cols),
            rows,
            &[
                self.student,
                self.teachers,
                self.known,
                self.base_weights,
                self.labels,
                self.grad,
                self.row_terms,
                self.weights,
            ],
            self.row_terms,
            self.loss,
        )
    }
}

/// The multi-teacher loss over a batch of `rows × cols` logits with `teachers` teachers laid
/// out as `layout` says: the [`RowLoss`] the step and the one-shot launcher run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MultiKdRows {
    pub config: MultiKdConfig,
    pub rows: usize,
    pub cols: usize,
    pub teachers: usize,
    pub layout: TeacherLayout,
}

impl RowLoss for MultiKdRows {
    fn shader(&self) -> &'static ShaderSource {
        &SHADER
    }

    fn label(&self) -> &'static str {
        "multi kd loss"
    }

    fn uniform(&self, rows: usize, cols: usize) -> Vec<u8> {
        let params = MultiKdParams::new((rows, cols, self.teachers), self.layout, self.config);
        bytemuck::bytes_of(&params).to_vec()
    }

    fn reduce(&self, rows: usize) -> ReduceParams {
        ReduceParams::new(rows, self.config.temperature, self.config.alpha)
    }
}

/// Uploads the inputs and prepares the loss and reduction kernels; outputs: gradient, per-row
/// terms `[ce, kl]` interleaved, loss slots ([`LOSS_SLOTS`]), weights `[B, K]`, all but the
/// loss slots pre-filled with NaN.
pub fn prepare_multi_kd(
    ctx: &GpuContext,
    batch: &MultiKdBatch<'_>,
    config: MultiKdConfig,
) -> Result<PreparedKernel> {
    prepare_in_layout(ctx, batch, config, false)
}

/// [`prepare_multi_kd`], uploading the (ungated) teachers teacher-major when `teacher_major`.
pub(crate) fn prepare_in_layout(
    ctx: &GpuContext,
    batch: &MultiKdBatch<'_>,
    config: MultiKdConfig,
    teacher_major: bool,
) -> Result<PreparedKernel> {
    batch.validate(&config)?;
    let (rows, cols, k) = (batch.rows, batch.cols, batch.teacher_count);
    if teacher_major && batch.gates.is_some() {
        return Err(Error::InvalidConfig(
            "the teacher-major layout carries no gates".into(),
        ));
    }
    let z = ctx.upload("student logits", batch.student)?;
    // With gates, each sample's K teacher rows are followed by its K gates.
    let t = match batch.gates {
        None if teacher_major => {
            let by_teacher: Vec<f32> = (0..k)
                .flat_map(|t| {
                    (0..rows).flat_map(move |r| {
                        let start = (r * k + t) * cols;
                        batch.teachers[start..start + cols].iter().copied()
                    })
                })
                .collect();
            ctx.upload("teacher logits by teacher", &by_teacher)?
        }
        None => ctx.upload("teacher logits", batch.teachers)?,
        Some(gates) => {
            let rows_with_gates: Vec<f32> = (0..rows)
                .flat_map(|r| {
                    let logits = &batch.teachers[r * k * cols..(r + 1) * k * cols];
                    logits.iter().chain(&gates[r * k..(r + 1) * k]).copied()
                })
                .collect();
            ctx.upload("teacher logits and gates", &rows_with_gates)?
        }
    };
    let known = ctx.upload("known classes", batch.known)?;
    let base = ctx.upload("teacher base weights", batch.base_weights)?;
    let y = ctx.upload("labels", batch.labels)?;
    let grad = ctx.nan_buffer("multi kd grad", rows * cols)?;
    let row_terms = ctx.nan_buffer("multi kd row terms", 2 * rows)?;
    let weights = ctx.nan_buffer("multi kd weights", rows * k)?;
    let loss = ctx.upload("multi kd loss", &[0.0f32; LOSS_SLOTS])?;
    let layout = if teacher_major {
        TeacherLayout::TeacherMajor
    } else {
        TeacherLayout::SampleMajor {
            gated: batch.gates.is_some(),
        }
    };
    let loss_rows = MultiKdRows {
        config,
        rows,
        cols,
        teachers: k,
        layout,
    };
    let built = MultiKdBuffers {
        student: &z,
        teachers: &t,
        known: &known,
        base_weights: &base,
        labels: &y,
        grad: &grad,
        row_terms: &row_terms,
        weights: &weights,
        loss: &loss,
    }
    .dispatches(ctx, &loss_rows)?;
    let [uniform, reduce_uniform] = built.uniforms;
    Ok(PreparedKernel::new(
        built.dispatches.to_vec(),
        vec![
            Output::new("multi kd grad", grad, rows * cols),
            Output::new("multi kd row terms", row_terms, 2 * rows),
            Output::new("multi kd loss", loss, LOSS_SLOTS),
            Output::new("multi kd weights", weights, rows * k),
        ],
        vec![z, t, known, base, y, uniform, reduce_uniform],
    ))
}

/// The multi-teacher loss and gradient on the GPU, followed by the deterministic reduction.
#[maybe_async]
pub async fn multi_kd(
    ctx: &GpuContext,
    batch: &MultiKdBatch<'_>,
    config: MultiKdConfig,
) -> Result<MultiKdOutput<f32>> {
    run_in_layout(ctx, batch, config, false).await
}

/// [`multi_kd`] with the teachers in the layout [`prepare_in_layout`] takes.
#[maybe_async]
pub(crate) async fn run_in_layout(
    ctx: &GpuContext,
    batch: &MultiKdBatch<'_>,
    config: MultiKdConfig,
    teacher_major: bool,
) -> Result<MultiKdOutput<f32>> {
    let prepared = prepare_in_layout(ctx, batch, config, teacher_major)?;
    let common = run_prepared(ctx, &prepared).await?;
    Ok(MultiKdOutput {
        loss: common.loss,
        ce: common.ce,
        kl: common.kl,
        row_ce: common.row_ce,
        row_kl: common.row_kl,
        grad: common.grad,
        weights: prepared.output(ctx, 3).await?,
    })
}
