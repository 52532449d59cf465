//! The fused KD loss: per-row cross-entropy, KL at temperature T and `dL/dz` in one workgroup
//! per row, followed by the deterministic batch reduction ([`crate::ops::reduce`]).
//!
//! `L = (1 − α)·CE(y, softmax(z)) + α·T²·KL(softmax(t/T) ‖ softmax(z/T))`, batch-mean.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_kd, check_labels, check_len, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};
use crate::ops::reduce::{reduce_dispatch, ReduceParams, LOSS_SLOTS};

/// Temperature and mixing weight of the KD loss.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
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

/// What the KD loss produces, in f32 from the GPU or f64 from the reference.
#[derive(Debug, Clone)]
pub struct KdOutput<F> {
    /// `(1 − α)·ce + α·T²·kl`.
    pub loss: F,
    /// Batch-mean cross-entropy with the hard labels.
    pub ce: F,
    /// Batch-mean KL(p ‖ q).
    pub kl: F,
    /// Per-row cross-entropy.
    pub row_ce: Vec<F>,
    /// Per-row KL.
    pub row_kl: Vec<F>,
    /// `dL/dz`, `[B, C]`.
    pub grad: Vec<F>,
}

/// One batch of KD-loss inputs: student and teacher logits `[rows, cols]`, hard labels `[rows]`.
#[derive(Debug, Clone, Copy)]
pub struct KdBatch<'a> {
    /// Student logits z.
    pub student: &'a [f32],
    /// Teacher logits t.
    pub teacher: &'a [f32],
    /// Hard labels y.
    pub labels: &'a [u32],
    /// Rows B.
    pub rows: usize,
    /// Classes C.
    pub cols: usize,
}

impl KdBatch<'_> {
    /// Checks shapes and labels.
    pub fn validate(&self) -> Result<()> {
        if self.rows == 0 {
            return Err(Error::EmptyBatch);
        }
        if self.cols == 0 {
            return Err(Error::InvalidConfig(
                "KD loss needs at least one class".into(),
            ));
        }
        check_len("student logits", self.rows * self.cols, self.student.len())?;
        check_len("teacher logits", self.rows * self.cols, self.teacher.len())?;
        check_len("labels", self.rows, self.labels.len())?;
        check_labels(self.labels, self.cols)
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

/// Buffers the KD loss reads and writes.
pub(crate) struct KdBuffers<'a> {
    pub student: &'a wgpu::Buffer,
    pub teacher: &'a wgpu::Buffer,
    pub labels: &'a wgpu::Buffer,
    pub grad: &'a wgpu::Buffer,
    pub row_terms: &'a wgpu::Buffer,
    pub loss: &'a wgpu::Buffer,
}

/// The KD-loss rows dispatch and the batch reduction, with their uniforms so a trainer can
/// change T and α without rebuilding ([`KdDispatches::set_config`]).
#[derive(Debug)]
pub(crate) struct KdDispatches {
    pub dispatches: [Dispatch; 2],
    uniforms: [wgpu::Buffer; 2],
    rows: usize,
    cols: usize,
}

impl KdDispatches {
    pub fn new(
        ctx: &GpuContext,
        rows: usize,
        cols: usize,
        kd: KdConfig,
        buffers: &KdBuffers<'_>,
    ) -> Result<Self> {
        let kd_uniform = ctx.uniform_buffer("kd params", &KdParams::new(rows, cols, kd))?;
        let kd_dispatch = Dispatch::new(
            ctx,
            "kd loss",
            ctx.pipeline(&SHADER)?,
            &[
                &kd_uniform,
                buffers.student,
                buffers.teacher,
                buffers.labels,
                buffers.grad,
                buffers.row_terms,
            ],
            ctx.grid("kd loss rows", rows)?,
        )?;
        let (reduce, reduce_uniform) = reduce_dispatch(
            ctx,
            ReduceParams::new(rows, kd.temperature, kd.alpha),
            buffers.row_terms,
            buffers.loss,
        )?;
        Ok(Self {
            dispatches: [kd_dispatch, reduce],
            uniforms: [kd_uniform, reduce_uniform],
            rows,
            cols,
        })
    }

    /// Stages new T and α for the next submit.
    pub fn set_config(&self, ctx: &GpuContext, kd: KdConfig) {
        ctx.write(
            &self.uniforms[0],
            0,
            &[KdParams::new(self.rows, self.cols, kd)],
        );
        ctx.write(
            &self.uniforms[1],
            0,
            &[ReduceParams::new(self.rows, kd.temperature, kd.alpha)],
        );
    }
}

/// A KD batch on the GPU with NaN-filled outputs: what the one-shot KD and DKD launchers
/// prepare their kernels over.
pub(crate) struct UploadedBatch {
    inputs: [wgpu::Buffer; 3],
    grad: wgpu::Buffer,
    row_terms: wgpu::Buffer,
    loss: wgpu::Buffer,
    names: [&'static str; 3],
    shape: (usize, usize),
}

impl UploadedBatch {
    /// Uploads `batch`; `names` label the gradient, row-term and loss outputs.
    pub fn new(ctx: &GpuContext, batch: &KdBatch<'_>, names: [&'static str; 3]) -> Result<Self> {
        let (rows, cols) = (batch.rows, batch.cols);
        Ok(Self {
            inputs: [
                ctx.upload("student logits", batch.student)?,
                ctx.upload("teacher logits", batch.teacher)?,
                ctx.upload("labels", batch.labels)?,
            ],
            grad: ctx.nan_buffer(names[0], rows * cols)?,
            row_terms: ctx.nan_buffer(names[1], 2 * rows)?,
            loss: ctx.upload(names[2], &[0.0f32; LOSS_SLOTS])?,
            names,
            shape: (rows, cols),
        })
    }

    /// The buffers a loss dispatch binds.
    pub fn buffers(&self) -> KdBuffers<'_> {
        let [student, teacher, labels] = &self.inputs;
        KdBuffers {
            student,
            teacher,
            labels,
            grad: &self.grad,
            row_terms: &self.row_terms,
            loss: &self.loss,
        }
    }

    /// The prepared kernel of `dispatches` (loss rows, reduction) with their `uniforms`;
    /// outputs: gradient, per-row terms interleaved, loss slots ([`LOSS_SLOTS`]).
    pub fn prepared(self, dispatches: &[Dispatch], uniforms: [wgpu::Buffer; 2]) -> PreparedKernel {
        let (rows, cols) = self.shape;
        let [grad, terms, loss] = self.names;
        let [z, t, y] = self.inputs;
        let [rows_uniform, reduce_uniform] = uniforms;
        PreparedKernel::new(
            dispatches.to_vec(),
            vec![
                Output::new(grad, self.grad, rows * cols),
                Output::new(terms, self.row_terms, 2 * rows),
                Output::new(loss, self.loss, LOSS_SLOTS),
            ],
            vec![z, t, y, rows_uniform, reduce_uniform],
        )
    }
}

/// Runs a prepared KD or DKD loss once and reads its outputs back.
#[maybe_async]
pub(crate) async fn run_prepared(
    ctx: &GpuContext,
    prepared: &PreparedKernel,
) -> Result<KdOutput<f32>> {
    prepared.run(ctx, 1)?;
    let terms: Vec<f32> = prepared.output(ctx, 1).await?;
    let totals: Vec<f32> = prepared.output(ctx, 2).await?;
    Ok(KdOutput {
        loss: totals[0],
        ce: totals[1],
        kl: totals[2],
        row_ce: terms.iter().step_by(2).copied().collect(),
        row_kl: terms.iter().skip(1).step_by(2).copied().collect(),
        grad: prepared.output(ctx, 0).await?,
    })
}

/// Uploads the KD-loss inputs and prepares the loss and reduction kernels; outputs: gradient,
/// per-row terms `[ce, kl]` interleaved, loss slots ([`LOSS_SLOTS`]).
pub fn prepare_kd_loss(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    kd: KdConfig,
) -> Result<PreparedKernel> {
    kd.validate()?;
    batch.validate()?;
    let uploaded = UploadedBatch::new(ctx, batch, ["kd grad", "kd row terms", "kd loss"])?;
    let built = KdDispatches::new(ctx, batch.rows, batch.cols, kd, &uploaded.buffers())?;
    Ok(uploaded.prepared(&built.dispatches, built.uniforms))
}

/// The fused KD loss and gradient on the GPU, followed by the deterministic reduction.
#[maybe_async]
pub async fn kd_loss(ctx: &GpuContext, batch: &KdBatch<'_>, kd: KdConfig) -> Result<KdOutput<f32>> {
    run_prepared(ctx, &prepare_kd_loss(ctx, batch, kd)?).await
}
