//! Inference over a device data set: every sample's logits in chunks, and errors counted on
//! the GPU (or per class on the host).

use maybe_async::maybe_async;
pub mod calibrate;
mod per_class;
mod regression;
pub mod saliency;

pub use per_class::{confusion_matrix, ClassErrors};
pub use regression::{evaluate_regression, regression_metrics, RegressionMetrics};

use crate::data::{BatchBuffers, DeviceDataset};
use crate::error::{Error, Result};
use crate::gpu::dispatch::record;
use crate::gpu::GpuContext;
use crate::model::{ForwardPlan, Mlp};
use crate::ops::gather::GatherBatch;
use crate::ops::metrics::count_errors_on_device;

/// Classification result on a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// Misclassified samples.
    pub errors: usize,
    /// Samples evaluated.
    pub count: usize,
}

impl Evaluation {
    /// Fraction classified correctly.
    pub fn accuracy(&self) -> f64 {
        1.0 - self.errors as f64 / self.count.max(1) as f64
    }
}

/// Checks that `model` reads `data`'s features and predicts its classes; `role` names it in
/// the error ("model", "student").
pub fn check_fits(role: &str, model: &Mlp, data: &DeviceDataset) -> Result<()> {
    let spec = model.spec();
    if spec.inputs() != data.features() || spec.classes() != data.classes() {
        return Err(Error::InvalidConfig(format!(
            "{role} {:?} does not fit data with {} features and {} classes",
            spec.sizes,
            data.features(),
            data.classes()
        )));
    }
    Ok(())
}

/// Logits `[len, classes]` of `model` for every sample of `data` in stored order, computed in
/// chunks of `batch` (gather and forward on the GPU, one submit per chunk), left on the GPU.
pub fn logits_buffer(
    ctx: &GpuContext,
    model: &Mlp,
    data: &DeviceDataset,
    batch: usize,
) -> Result<wgpu::Buffer> {
    check_fits("model", model, data)?;
    let (count, classes) = (data.len(), data.classes());
    let batch = batch.clamp(1, count);
    let inputs = ctx.storage_buffer("eval inputs", batch * data.features(), None)?;
    let labels = ctx.storage_buffer("eval labels", batch * data.label_width(), None)?;
    let unused_teacher = ctx.storage_buffer("eval teacher", 1, None)?;
    let chunk = |rows: usize, start: usize| {
        data.gather_params(GatherBatch {
            rows,
            start,
            jitter: 0,
            seed: 0,
            step: 0,
            teacher: false,
        })
    };
    let uniform = ctx.uniform_buffer("eval gather params", &chunk(batch, 0))?;
    let gather = data.gather_dispatch(
        ctx,
        batch,
        true,
        &uniform,
        None,
        BatchBuffers {
            inputs: &inputs,
            labels: &labels,
            teacher: &unused_teacher,
        },
    )?;
    let plan = ForwardPlan::new(
        ctx,
        model.spec(),
        model.params_buffer(),
        &inputs,
        batch,
        "eval",
    )?;
    let all = ctx.storage_buffer("all logits", count * classes, None)?;
    let row_bytes = (classes * 4) as u64;
    for start in (0..count).step_by(batch) {
        let rows = batch.min(count - start);
        ctx.write(&uniform, 0, &[chunk(rows, start)]);
        ctx.submit("evaluating logits", |encoder| {
            record(encoder, "eval gather", std::slice::from_ref(&gather));
            record(encoder, "eval forward", &plan.dispatches);
            encoder.copy_buffer_to_buffer(
                plan.logits(),
                0,
                &all,
                start as u64 * row_bytes,
                rows as u64 * row_bytes,
            );
        })?;
    }
    Ok(all)
}

/// Logits `[len, classes]` of `model` for every sample of `data`, read back.
#[maybe_async]
pub async fn logits(
    ctx: &GpuContext,
    model: &Mlp,
    data: &DeviceDataset,
    batch: usize,
) -> Result<Vec<f32>> {
    let buffer = logits_buffer(ctx, model, data, batch)?;
    ctx.read_back("logits", &buffer, 0, data.len() * data.classes())
        .await
}

/// Errors and accuracy of `model` on `data`, counted on the GPU: logits in chunks of `batch`,
/// argmax against the labels, one 8-byte read-back. A model with a NaN or infinite logit on
/// any sample gets [`Error::NonFiniteOutput`], not a score.
#[maybe_async]
pub async fn evaluate(
    ctx: &GpuContext,
    model: &Mlp,
    data: &DeviceDataset,
    batch: usize,
) -> Result<Evaluation> {
    if data.is_regression() {
        return Err(Error::InvalidConfig(
            "errors are counted on classification data; a regression model is scored by RMSE \
             and MAE (eval::evaluate_regression)"
                .into(),
        ));
    }
    let logits = logits_buffer(ctx, model, data, batch)?;
    let counts =
        count_errors_on_device(ctx, data.len(), data.classes(), &logits, &data.labels).await?;
    if counts.non_finite_rows > 0 {
        return Err(Error::NonFiniteOutput {
            what: format!("model {:?}", model.spec().sizes),
            rows: counts.non_finite_rows as usize,
            count: data.len(),
        });
    }
    Ok(Evaluation {
        errors: counts.errors as usize,
        count: data.len(),
    })
}
