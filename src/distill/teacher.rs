//! Teacher sources: logits supplied per step, a teacher MLP run inside the step, or the cached
//! logits of a frozen teacher for every sample of a device data set.

use crate::data::DeviceDataset;
use crate::error::{check_finite, check_len, Error, Result};
use crate::eval::logits_buffer;
use crate::gpu::GpuContext;
use crate::model::Mlp;
use maybe_async::maybe_async;

/// Where a host step's teacher logits come from.
#[derive(Debug, Clone, Copy)]
pub enum TeacherSource<'a> {
    /// Precomputed logits `[rows, classes]`.
    Logits(&'a [f32]),
    /// A teacher MLP run forward (no gradient) inside the step.
    Mlp(&'a Mlp),
    /// No teacher: only valid with α = 0.
    None,
}

/// A frozen teacher's logits `[len, classes]` for every sample of one device data set, on the
/// GPU. It is tied to that data set: a trainer refuses to gather from it for another.
#[derive(Debug)]
pub struct TeacherLogits {
    pub(crate) buffer: wgpu::Buffer,
    pub(crate) dataset_id: u64,
    len: usize,
    classes: usize,
}

impl TeacherLogits {
    /// Runs `teacher` over every sample of `data` in chunks of `batch`; a teacher whose logits
    /// are NaN or infinite on any sample gets [`Error::NonFiniteOutput`].
    #[maybe_async]
    pub async fn compute(
        ctx: &GpuContext,
        teacher: &Mlp,
        data: &DeviceDataset,
        batch: usize,
    ) -> Result<Self> {
        let cache = Self {
            buffer: logits_buffer(ctx, teacher, data, batch)?,
            dataset_id: data.id(),
            len: data.len(),
            classes: data.classes(),
        };
        // One read-back of [len, classes] floats, once per distillation run.
        let logits = cache.read(ctx).await?;
        let rows = logits
            .chunks_exact(cache.classes.max(1))
            .filter(|row| row.iter().any(|v| !v.is_finite()))
            .count();
        if rows > 0 {
            return Err(Error::NonFiniteOutput {
                what: format!("teacher {:?}", teacher.spec().sizes),
                rows,
                count: cache.len,
            });
        }
        Ok(cache)
    }

    /// Uploads logits `[len, classes]` computed elsewhere (any model, any framework), in the
    /// data set's stored sample order.
    pub fn from_host(ctx: &GpuContext, data: &DeviceDataset, logits: &[f32]) -> Result<Self> {
        check_len("teacher logits", data.len() * data.classes(), logits.len())?;
        check_finite("teacher logits", logits)?;
        Ok(Self {
            buffer: ctx.upload("teacher logits", logits)?,
            dataset_id: data.id(),
            len: data.len(),
            classes: data.classes(),
        })
    }

    /// Samples covered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no samples are covered (never, once constructed).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Classes per sample.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The logits, read back.
    #[maybe_async]
    pub async fn read(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        ctx.read_back("teacher logits", &self.buffer, 0, self.len * self.classes)
            .await
    }
}
