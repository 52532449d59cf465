//! A data set uploaded to the GPU once, from which mini-batches are gathered on the GPU. It
//! knows nothing of models: per-sample teacher logits, when a trainer gathers them, come from
//! a buffer the caller owns.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::data::dataset::Dataset;
use crate::data::regression::RegressionDataset;
use crate::error::{Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::GpuContext;
use crate::ops::gather::{gather_dispatch, GatherBatch, GatherBuffers, ImageShape};
use crate::rng::SplitMix64;

/// The per-step batch buffers a gather writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchBuffers<'a> {
    pub inputs: &'a wgpu::Buffer,
    pub labels: &'a wgpu::Buffer,
    pub teacher: &'a wgpu::Buffer,
}

/// Features (u8 packed four to a word, or f32), labels and a shuffled sample order on the GPU.
#[derive(Debug)]
pub struct DeviceDataset {
    features: wgpu::Buffer,
    /// How the kernel reads `features` (see `Inputs`).
    encoding: u32,
    pub(crate) labels: wgpu::Buffer,
    order: wgpu::Buffer,
    identity_order: wgpu::Buffer,
    /// Bound where a gather takes no teacher logits (a binding cannot be absent).
    no_teacher: wgpu::Buffer,
    host_labels: Vec<u8>,
    /// Regression targets `[count, outputs]` as uploaded (empty for a classification set).
    host_targets: Vec<f32>,
    /// Words of truth per sample: 1 (a class index) or the outputs (f32 targets).
    label_width: usize,
    count: usize,
    shape: ImageShape,
    id: u64,
}

/// Source of [`DeviceDataset::id`]s.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl DeviceDataset {
    /// Uploads `data` (with `classes` classes) once.
    pub fn new(ctx: &GpuContext, data: &Dataset, classes: usize) -> Result<Self> {
        if data.is_empty() {
            return Err(Error::EmptyBatch);
        }
        if let Some(row) = data.labels.iter().position(|&l| l as usize >= classes) {
            return Err(Error::LabelOutOfRange {
                row,
                label: data.labels[row] as u32,
                classes,
            });
        }
        let labels: Vec<u32> = data.labels.iter().map(|&l| l as u32).collect();
        let identity: Vec<u32> = (0..data.len() as u32).collect();
        Ok(Self {
            features: upload_features(ctx, data)?,
            encoding: data.inputs.encoding(),
            labels: ctx.upload("dataset labels", &labels)?,
            order: ctx.upload("dataset order", &identity)?,
            identity_order: ctx.upload("dataset identity order", &identity)?,
            no_teacher: ctx.storage_buffer("no teacher logits", 1, None)?,
            host_labels: data.labels.clone(),
            host_targets: Vec::new(),
            label_width: 1,
            count: data.len(),
            shape: ImageShape {
                width: data.width,
                height: data.height,
                classes,
            },
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Uploads a regression data set once: its targets `[len, outputs]` take the labels' place
    /// (as f32 bits, `outputs` words per sample), and [`DeviceDataset::classes`] is the number
    /// of outputs (the width of a model's last layer and of teacher outputs).
    pub fn regression(ctx: &GpuContext, data: &RegressionDataset) -> Result<Self> {
        data.validate()?;
        let features = upload_f32_features(ctx, data)?;
        let count = data.len();
        let identity: Vec<u32> = (0..count as u32).collect();
        let bits: Vec<u32> = data.targets.iter().map(|v| v.to_bits()).collect();
        Ok(Self {
            features,
            encoding: data.inputs.encoding(),
            labels: ctx.upload("dataset targets", &bits)?,
            order: ctx.upload("dataset order", &identity)?,
            identity_order: ctx.upload("dataset identity order", &identity)?,
            no_teacher: ctx.storage_buffer("no teacher logits", 1, None)?,
            host_labels: Vec::new(),
            host_targets: data.targets.clone(),
            label_width: data.outputs,
            count,
            shape: ImageShape {
                width: data.features,
                height: 1,
                classes: data.outputs,
            },
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// True for a regression data set ([`DeviceDataset::regression`]).
    pub fn is_regression(&self) -> bool {
        !self.host_targets.is_empty()
    }

    /// Regression targets `[len, outputs]` as uploaded (host copy; empty for classification).
    pub fn targets(&self) -> &[f32] {
        &self.host_targets
    }

    /// Words of truth each sample's gather copies: 1, or the outputs of a regression set.
    pub(crate) fn label_width(&self) -> usize {
        self.label_width
    }

    /// A number unique to this upload in the process, so per-sample data computed for it
    /// (cached teacher logits) cannot be paired with another data set.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Samples.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when empty (never, once constructed).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Features per sample.
    pub fn features(&self) -> usize {
        self.shape.features()
    }

    /// Classes.
    pub fn classes(&self) -> usize {
        self.shape.classes
    }

    /// Image shape and classes.
    pub fn shape(&self) -> ImageShape {
        self.shape
    }

    /// Labels as uploaded (host copy).
    pub fn labels(&self) -> &[u8] {
        &self.host_labels
    }

    /// Reshuffles the sample order (seeded) and uploads it; called once per epoch.
    pub fn shuffle(&self, ctx: &GpuContext, seed: u64) {
        let mut order: Vec<u32> = (0..self.count as u32).collect();
        SplitMix64::new(seed).shuffle(&mut order);
        ctx.write(&self.order, 0, &order);
    }

    /// The uniform of a gather of `batch` from this data set.
    pub(crate) fn gather_params(&self, batch: GatherBatch) -> crate::ops::gather::GatherParams {
        batch
            .params(self.shape, self.encoding)
            .with_label_width(self.label_width)
    }

    /// A gather dispatch of up to `rows` rows into `out`, driven by `uniform`; `identity`
    /// takes samples in stored order (evaluation) instead of the shuffled one, and `teacher`
    /// is the per-sample teacher-logit buffer `[len, width]` and its width (classes, or
    /// classes × teachers when several are stacked) when one is gathered. The uniform's
    /// teacher width must match (see `GatherParams::with_teacher_width`).
    pub(crate) fn gather_dispatch(
        &self,
        ctx: &GpuContext,
        rows: usize,
        identity: bool,
        uniform: &wgpu::Buffer,
        teacher: Option<(&wgpu::Buffer, usize)>,
        out: BatchBuffers<'_>,
    ) -> Result<Dispatch> {
        let order = if identity {
            &self.identity_order
        } else {
            &self.order
        };
        let buffers = GatherBuffers {
            features: &self.features,
            labels: &self.labels,
            teacher: teacher.map_or(&self.no_teacher, |(b, _)| b),
            order,
            batch_inputs: out.inputs,
            batch_labels: out.labels,
            batch_teacher: out.teacher,
        };
        let width = teacher.map_or(self.shape.classes, |(_, w)| w);
        gather_dispatch(
            ctx,
            self.shape,
            width,
            self.label_width,
            rows,
            uniform,
            buffers,
        )
    }
}

/// Uploads a regression set's features, or names the adapter limit it passes.
fn upload_f32_features(ctx: &GpuContext, data: &RegressionDataset) -> Result<wgpu::Buffer> {
    let limit = ctx.limits().max_storage_buffer_binding_size;
    let bytes = (data.inputs.len() as u64)
        .saturating_mul(data.inputs.bytes_per_value() as u64)
        .next_multiple_of(4);
    if bytes > limit {
        return Err(Error::ExceedsLimit {
            what: format!(
                "a regression data set of {} samples × {} features ({bytes} bytes)",
                data.len(),
                data.features
            ),
            needed: bytes,
            limit_name: "max_storage_buffer_binding_size",
            limit,
        });
    }
    ctx.upload("dataset features", &data.inputs.to_words())
}

/// Uploads the features, or names the adapter limit a data set this size passes.
fn upload_features(ctx: &GpuContext, data: &Dataset) -> Result<wgpu::Buffer> {
    check_features_fit(data, ctx.limits().max_storage_buffer_binding_size)?;
    ctx.upload("dataset features", &data.inputs.to_words())
}

/// Whether `data`'s features fit one storage binding of `limit` bytes; the error names the
/// limit, the data set's size and what to do.
fn check_features_fit(data: &Dataset, limit: u64) -> Result<()> {
    let bytes = (data.inputs.len() as u64)
        .saturating_mul(data.inputs.bytes_per_value() as u64)
        .next_multiple_of(4);
    if bytes > limit {
        return Err(Error::ExceedsLimit {
            what: format!(
                "a data set of {} samples × {} {} features ({bytes} bytes; use fewer samples, \
                 uint8 features, or an adapter with a larger limit)",
                data.len(),
                data.features(),
                data.inputs.element_name()
            ),
            needed: bytes,
            limit_name: "max_storage_buffer_binding_size",
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::gather::Inputs;

    #[test]
    fn features_past_one_binding_are_refused_naming_the_limit() {
        let data = |inputs| Dataset {
            inputs,
            labels: vec![0; 10],
            height: 1,
            width: 10,
        };
        // 100 bytes as uint8 fit 100; 400 as float32 do not.
        assert!(check_features_fit(&data(Inputs::U8(vec![0; 100])), 100).is_ok());
        let err = check_features_fit(&data(Inputs::F32(vec![0.0; 100])), 100)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("10 samples × 10 float32 features (400 bytes")
                && err.contains("max_storage_buffer_binding_size = 100"),
            "{err}"
        );
    }
}
