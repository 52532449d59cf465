//! Scores of a regression model: root-mean-square and mean absolute error over every output of
//! every sample, summed in f64 on the host from the outputs the GPU computed.

use maybe_async::maybe_async;
use serde::{Deserialize, Serialize};

use crate::data::DeviceDataset;
use crate::error::{check_len, Error, Result};
use crate::gpu::GpuContext;
use crate::model::Mlp;

/// How far a regression model's outputs are from the targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// `sqrt(mean (s − y)²)` over every output of every sample.
    pub rmse: f64,
    /// `mean |s − y|` over every output of every sample.
    pub mae: f64,
    /// Samples scored.
    pub count: usize,
}

/// RMSE and MAE of `outputs` against `targets` (same length, not empty). A non-finite output
/// is [`Error::NonFiniteOutput`], naming `what` and how many samples of `outputs_per_sample`
/// outputs have one.
pub fn regression_metrics(
    what: &str,
    outputs: &[f32],
    targets: &[f32],
    outputs_per_sample: usize,
) -> Result<RegressionMetrics> {
    check_len("model outputs", targets.len(), outputs.len())?;
    if targets.is_empty() || outputs_per_sample == 0 {
        return Err(Error::EmptyBatch);
    }
    let count = targets.len() / outputs_per_sample;
    let bad_rows = outputs
        .chunks(outputs_per_sample)
        .filter(|row| row.iter().any(|v| !v.is_finite()))
        .count();
    if bad_rows > 0 {
        return Err(Error::NonFiniteOutput {
            what: what.to_string(),
            rows: bad_rows,
            count,
        });
    }
    let (mut squares, mut absolute) = (0.0f64, 0.0f64);
    for (&s, &y) in outputs.iter().zip(targets) {
        let d = s as f64 - y as f64;
        squares += d * d;
        absolute += d.abs();
    }
    let n = targets.len() as f64;
    Ok(RegressionMetrics {
        rmse: (squares / n).sqrt(),
        mae: absolute / n,
        count,
    })
}

/// RMSE and MAE of `model` on the regression data set `data`: outputs in chunks of `batch` on the
/// GPU ([`crate::eval::logits`]), scored on the host.
#[maybe_async]
pub async fn evaluate_regression(
    ctx: &GpuContext,
    model: &Mlp,
    data: &DeviceDataset,
    batch: usize,
) -> Result<RegressionMetrics> {
    if !data.is_regression() {
        return Err(Error::InvalidConfig(
            "RMSE and MAE score a regression data set (DeviceDataset::regression); this one \
             holds class labels"
                .into(),
        ));
    }
    let outputs = crate::eval::logits(ctx, model, data, batch).await?;
    regression_metrics(
        &format!("model {:?}", model.spec().sizes),
        &outputs,
        data.targets(),
        data.classes(),
    )
}
