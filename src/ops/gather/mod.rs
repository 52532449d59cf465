//! Mini-batch gather from a device-resident data set: features (u8 packed four per u32 and
//! scaled by 1/255, or f32 used as they are), labels, optional per-sample teacher logits and a
//! shuffled order, with an optional ±J pixel jitter drawn from a counter-based hash of
//! (seed, step, row).

use maybe_async::maybe_async;
pub mod check;
mod inputs;
pub mod reference;

pub use inputs::{pack_bytes, Inputs};

use crate::error::{check_len, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource, ELEMENT_WORKGROUP};

/// Uniform block of `shaders/gather.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct GatherParams {
    pub rows: u32,
    pub features: u32,
    /// Floats of teacher logits per sample (classes × teachers).
    pub teacher_width: u32,
    pub start: u32,
    pub width: u32,
    pub height: u32,
    pub jitter: u32,
    pub seed: u32,
    pub step: u32,
    pub gather_teacher: u32,
    /// How the feature words are read: 0 packed bytes scaled by 1/255, 1 f32 bits.
    pub encoding: u32,
    /// Words of truth per sample: 1 (a class index) or the outputs (f32 regression targets).
    pub label_width: u32,
}

/// The shader: the shared hash, then the kernel.
pub const SHADER: ShaderSource = shader_source! {
    name: "gather",
    entry_point: "gather_batch",
    files: ["shaders/common/hash.wgsl", "shaders/gather.wgsl"],
    uniform_size: std::mem::size_of::<GatherParams>(),
};

/// Shape of the images a gather reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageShape {
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// Classes (columns of the teacher logits).
    pub classes: usize,
}

impl ImageShape {
    /// Features per sample.
    pub fn features(&self) -> usize {
        self.width * self.height
    }
}

/// Which rows one gather takes, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatherBatch {
    /// Rows to gather.
    pub rows: usize,
    /// Position in the order of the first row.
    pub start: usize,
    /// Maximum shift in pixels (0: none).
    pub jitter: u32,
    /// Seed of the jitter hash.
    pub seed: u32,
    /// Optimizer step (part of the jitter hash key).
    pub step: u32,
    /// Whether teacher logits are gathered too.
    pub teacher: bool,
}

impl GatherBatch {
    /// The uniform of this gather from features of `shape` read with `encoding`
    /// ([`Inputs`]' encoding).
    pub(crate) fn params(&self, shape: ImageShape, encoding: u32) -> GatherParams {
        GatherParams {
            rows: self.rows as u32,
            features: shape.features() as u32,
            teacher_width: shape.classes as u32,
            start: self.start as u32,
            width: shape.width as u32,
            height: shape.height as u32,
            jitter: self.jitter,
            seed: self.seed,
            step: self.step,
            gather_teacher: self.teacher as u32,
            encoding,
            label_width: 1,
        }
    }
}

/// The device buffers a gather reads (the whole data set) and writes (one batch).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GatherBuffers<'a> {
    pub features: &'a wgpu::Buffer,
    pub labels: &'a wgpu::Buffer,
    pub teacher: &'a wgpu::Buffer,
    pub order: &'a wgpu::Buffer,
    pub batch_inputs: &'a wgpu::Buffer,
    pub batch_labels: &'a wgpu::Buffer,
    pub batch_teacher: &'a wgpu::Buffer,
}

impl GatherParams {
    /// The same gather copying `width` teacher floats per sample (K teachers' logits laid out
    /// `[N, K, C]` are one row of K·C floats).
    pub(crate) fn with_teacher_width(self, width: usize) -> Self {
        Self {
            teacher_width: width as u32,
            ..self
        }
    }

    /// The same gather copying `width` words of truth per sample (regression targets).
    pub(crate) fn with_label_width(self, width: usize) -> Self {
        Self {
            label_width: width as u32,
            ..self
        }
    }
}

/// A gather dispatch of up to `rows` rows driven by `uniform` (a [`GatherParams`] the caller
/// rewrites per batch) copying up to `teacher_width` teacher floats and `label_width` words of
/// truth per row.
pub(crate) fn gather_dispatch(
    ctx: &GpuContext,
    shape: ImageShape,
    teacher_width: usize,
    label_width: usize,
    rows: usize,
    uniform: &wgpu::Buffer,
    b: GatherBuffers<'_>,
) -> Result<Dispatch> {
    let x = shape
        .features()
        .max(teacher_width)
        .max(label_width)
        .div_ceil(ELEMENT_WORKGROUP);
    Dispatch::new(
        ctx,
        "gather batch",
        ctx.pipeline(&SHADER)?,
        &[
            uniform,
            b.features,
            b.labels,
            b.teacher,
            b.order,
            b.batch_inputs,
            b.batch_labels,
            b.batch_teacher,
        ],
        ctx.check_grid("gather batch", x, rows)?,
    )
}

/// A host data set for a one-shot gather: features `[count, features]`, labels, optional
/// teacher logits `[count, classes]`, and the order rows are taken in.
#[derive(Debug, Clone, Copy)]
pub struct GatherSource<'a> {
    /// Feature values.
    pub inputs: &'a Inputs,
    /// Labels: `label_width` words per sample.
    pub labels: &'a [u32],
    /// Words of truth per sample: 1 (a class index), or K (the bits of K f32 regression
    /// targets).
    pub label_width: usize,
    /// Teacher logits, when gathered.
    pub teacher: Option<&'a [f32]>,
    /// Sample order.
    pub order: &'a [u32],
    /// Image shape and classes.
    pub shape: ImageShape,
}

/// One gathered batch: inputs `[rows, features]`, labels, teacher logits `[rows, classes]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathered<F> {
    /// Features as the model sees them, possibly shifted.
    pub inputs: Vec<F>,
    /// Labels of the rows.
    pub labels: Vec<u32>,
    /// Teacher logits of the rows (empty when not gathered).
    pub teacher: Vec<F>,
}

impl GatherSource<'_> {
    /// Checks lengths and that the batch stays inside the order.
    pub fn validate(&self, batch: &GatherBatch) -> Result<usize> {
        if self.label_width == 0 || !self.labels.len().is_multiple_of(self.label_width) {
            return Err(Error::InvalidConfig(format!(
                "gather labels: {} words are not whole samples of {} words",
                self.labels.len(),
                self.label_width
            )));
        }
        let count = self.labels.len() / self.label_width;
        if count == 0 || batch.rows == 0 {
            return Err(Error::EmptyBatch);
        }
        check_len(
            "gather features",
            count * self.shape.features(),
            self.inputs.len(),
        )?;
        check_len("gather order", count, self.order.len())?;
        if let Some(t) = self.teacher {
            check_len("gather teacher logits", count * self.shape.classes, t.len())?;
        }
        if batch.start + batch.rows > count {
            return Err(Error::InvalidConfig(format!(
                "gather of rows {}..{} runs past {count} samples",
                batch.start,
                batch.start + batch.rows
            )));
        }
        if let Some(&bad) = self.order.iter().find(|&&i| i as usize >= count) {
            return Err(Error::InvalidConfig(format!(
                "gather order names sample {bad} of {count}"
            )));
        }
        Ok(count)
    }
}

/// Uploads `source` and gathers `batch` on the GPU (outputs pre-filled with NaN).
#[maybe_async]
pub async fn gather(
    ctx: &GpuContext,
    source: &GatherSource<'_>,
    batch: GatherBatch,
) -> Result<Gathered<f32>> {
    source.validate(&batch)?;
    let shape = source.shape;
    let batch = GatherBatch {
        teacher: source.teacher.is_some(),
        ..batch
    };
    let features = ctx.upload("gather features", &source.inputs.to_words())?;
    let labels = ctx.upload("gather labels", source.labels)?;
    let teacher = ctx.upload("gather teacher", source.teacher.unwrap_or(&[0.0]))?;
    let order = ctx.upload("gather order", source.order)?;
    let inputs = ctx.nan_buffer("batch inputs", batch.rows * shape.features())?;
    let label_words = batch.rows * source.label_width;
    let batch_labels = ctx.upload("batch labels", &vec![u32::MAX; label_words])?;
    let batch_teacher = ctx.nan_buffer("batch teacher", batch.rows * shape.classes)?;
    let params = batch
        .params(shape, source.inputs.encoding())
        .with_label_width(source.label_width);
    let uniform = ctx.uniform_buffer("gather params", &params)?;
    let buffers = GatherBuffers {
        features: &features,
        labels: &labels,
        teacher: &teacher,
        order: &order,
        batch_inputs: &inputs,
        batch_labels: &batch_labels,
        batch_teacher: &batch_teacher,
    };
    let dispatch = gather_dispatch(
        ctx,
        shape,
        shape.classes,
        source.label_width,
        batch.rows,
        &uniform,
        buffers,
    )?;
    let teacher_len = if batch.teacher {
        batch.rows * shape.classes
    } else {
        0
    };
    let prepared = PreparedKernel::new(
        vec![dispatch],
        vec![
            Output::new("batch inputs", inputs, batch.rows * shape.features()),
            Output::new("batch labels", batch_labels, label_words),
            Output::new("batch teacher", batch_teacher, teacher_len),
        ],
        vec![features, labels, teacher, order, uniform],
    );
    prepared.run(ctx, 1)?;
    Ok(Gathered {
        inputs: prepared.output(ctx, 0).await?,
        labels: prepared.output(ctx, 1).await?,
        teacher: prepared.output(ctx, 2).await?,
    })
}
