//! The one interface a loss on the student's logits implements, and the plumbing every such
//! loss shares.
//!
//! A logit loss is a per-row kernel that reads the student's logits `[B, C]` (and whatever
//! else it binds: teacher logits, labels, teacher masks) and writes `dL/dz` `[B, C]` — already
//! weighted and divided by B — and two per-row terms, interleaved `[hard, soft]`; the shared
//! reduction ([`crate::ops::reduce`]) then sums the terms in a fixed tree and writes the loss
//! slots (`hard_weight·mean(hard) + soft_weight·mean(soft)`, both means, the epoch sums and
//! the non-finite guard). So a new logit loss is its WGSL, its f64 reference, its check and
//! an implementation of [`RowLoss`]: the dispatches, the uniforms a schedule rewrites, the
//! one-shot launcher with NaN-filled outputs and the read-back are this module's.

use maybe_async::maybe_async;

pub mod check;

use crate::error::{check_labels, check_len, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};
use crate::ops::reduce::{reduce_dispatch, ReduceParams, LOSS_SLOTS};

/// What a logit loss produces (the KD loss's names: `ce` the hard term, `kl` the soft one), in f32 from the GPU or f64 from the reference.
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

/// A loss on the logits, as the step and the one-shot launchers run it.
pub(crate) trait RowLoss {
    /// The per-row kernel.
    fn shader(&self) -> &'static ShaderSource;
    /// What its dispatch and uniform are called (labels, errors).
    fn label(&self) -> &'static str;
    /// The kernel's uniform block for a batch of `rows × cols` logits, as bytes.
    fn uniform(&self, rows: usize, cols: usize) -> Vec<u8>;
    /// How the reduction weighs the two per-row terms over `rows` rows.
    fn reduce(&self, rows: usize) -> ReduceParams;
    /// Words of per-sample truth its kernel binds per row of `cols` outputs: one class index
    /// (the default), or a regression loss's `cols` f32 targets.
    fn truth_width(&self, _cols: usize) -> usize {
        1
    }
}

/// A logit loss's rows dispatch and the reduction after it, with both uniforms, so a trainer
/// can change the loss's settings (T, α, a warm-up weight) between submits without
/// rebuilding anything ([`LossDispatches::set`]).
#[derive(Debug)]
pub(crate) struct LossDispatches {
    /// The rows dispatch, then the reduction.
    pub dispatches: [Dispatch; 2],
    /// Their uniforms, in the same order.
    pub uniforms: [wgpu::Buffer; 2],
    rows: usize,
    cols: usize,
}

impl LossDispatches {
    /// Builds the dispatches of `loss` over `rows × cols` logits. `bindings` are the buffers
    /// its kernel binds after the uniform, in binding order (its per-row terms among them);
    /// `row_terms` and `loss_slots` are the reduction's input and output.
    pub fn new(
        ctx: &GpuContext,
        (rows, cols): (usize, usize),
        loss: &dyn RowLoss,
        bindings: &[&wgpu::Buffer],
        row_terms: &wgpu::Buffer,
        loss_slots: &wgpu::Buffer,
    ) -> Result<Self> {
        let label = loss.label();
        let uniform = ctx.uniform_bytes(&format!("{label} params"), &loss.uniform(rows, cols))?;
        let mut bound: Vec<&wgpu::Buffer> = Vec::with_capacity(bindings.len() + 1);
        bound.push(&uniform);
        bound.extend_from_slice(bindings);
        let rows_dispatch = Dispatch::new(
            ctx,
            label,
            ctx.pipeline(loss.shader())?,
            &bound,
            ctx.grid(&format!("{label} rows"), rows)?,
        )?;
        let (reduce, reduce_uniform) =
            reduce_dispatch(ctx, loss.reduce(rows), row_terms, loss_slots)?;
        Ok(Self {
            dispatches: [rows_dispatch, reduce],
            uniforms: [uniform, reduce_uniform],
            rows,
            cols,
        })
    }

    /// Stages `loss`'s settings for the next submit: both uniforms are rewritten. The
    /// caller validates `loss`; it must be the kind of loss the dispatches were built for.
    pub fn set(&self, ctx: &GpuContext, loss: &dyn RowLoss) {
        ctx.write(&self.uniforms[0], 0, &loss.uniform(self.rows, self.cols));
        ctx.write(&self.uniforms[1], 0, &[loss.reduce(self.rows)]);
    }
}

/// The buffers of a single-teacher logit loss, bound in this order after the uniform:
/// student logits, teacher logits, labels, gradient, per-row terms.
pub(crate) struct LogitBuffers<'a> {
    pub student: &'a wgpu::Buffer,
    pub teacher: &'a wgpu::Buffer,
    pub labels: &'a wgpu::Buffer,
    pub grad: &'a wgpu::Buffer,
    pub row_terms: &'a wgpu::Buffer,
    pub loss: &'a wgpu::Buffer,
}

impl LogitBuffers<'_> {
    /// The dispatches of `loss` over these buffers.
    pub fn dispatches(
        &self,
        ctx: &GpuContext,
        shape: (usize, usize),
        loss: &dyn RowLoss,
    ) -> Result<LossDispatches> {
        LossDispatches::new(
            ctx,
            shape,
            loss,
            &[
                self.student,
                self.teacher,
                self.labels,
                self.grad,
                self.row_terms,
            ],
            self.row_terms,
            self.loss,
        )
    }
}

/// A batch of single-teacher logit-loss inputs on the GPU with NaN-filled outputs: what every
/// one-shot logit-loss launcher prepares its kernels over.
pub(crate) struct UploadedBatch {
    inputs: [wgpu::Buffer; 3],
    grad: wgpu::Buffer,
    row_terms: wgpu::Buffer,
    loss: wgpu::Buffer,
    shape: (usize, usize),
}

impl UploadedBatch {
    /// Uploads `batch` (the caller validated it).
    pub fn new(ctx: &GpuContext, batch: &KdBatch<'_>) -> Result<Self> {
        let (rows, cols) = (batch.rows, batch.cols);
        Ok(Self {
            inputs: [
                ctx.upload("student logits", batch.student)?,
                ctx.upload("teacher logits", batch.teacher)?,
                ctx.upload("labels", batch.labels)?,
            ],
            grad: ctx.nan_buffer("logit loss grad", rows * cols)?,
            row_terms: ctx.nan_buffer("logit loss row terms", 2 * rows)?,
            loss: ctx.upload("logit loss slots", &[0.0f32; LOSS_SLOTS])?,
            shape: (rows, cols),
        })
    }

    /// The buffers a loss dispatch binds.
    pub fn buffers(&self) -> LogitBuffers<'_> {
        let [student, teacher, labels] = &self.inputs;
        LogitBuffers {
            student,
            teacher,
            labels,
            grad: &self.grad,
            row_terms: &self.row_terms,
            loss: &self.loss,
        }
    }

    /// The dispatches of `built_with` over this batch, restaged with `restage` when given
    /// (the path a trainer's schedule takes), as a prepared kernel; outputs: gradient,
    /// per-row terms interleaved, loss slots ([`LOSS_SLOTS`]).
    pub fn prepare(
        self,
        ctx: &GpuContext,
        built_with: &dyn RowLoss,
        restage: Option<&dyn RowLoss>,
    ) -> Result<PreparedKernel> {
        let built = self.buffers().dispatches(ctx, self.shape, built_with)?;
        if let Some(next) = restage {
            built.set(ctx, next);
        }
        let (rows, cols) = self.shape;
        let [z, t, y] = self.inputs;
        let [rows_uniform, reduce_uniform] = built.uniforms;
        Ok(PreparedKernel::new(
            built.dispatches.to_vec(),
            vec![
                Output::new("logit loss grad", self.grad, rows * cols),
                Output::new("logit loss row terms", self.row_terms, 2 * rows),
                Output::new("logit loss slots", self.loss, LOSS_SLOTS),
            ],
            vec![z, t, y, rows_uniform, reduce_uniform],
        ))
    }
}

/// Runs a prepared logit loss (outputs as [`UploadedBatch::prepare`] lays them out, any
/// outputs after the first three ignored) once and reads back the total, both means, the
/// per-row terms and the gradient.
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
