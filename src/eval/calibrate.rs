//! Temperature scaling of a model or a teacher's logits (Guo et al. 2017): fit `T_cal` on
//! held-out samples, and measure NLL, ECE, Brier score and accuracy at any temperature, on the
//! GPU ([`crate::ops::calibration`]).

use crate::data::DeviceDataset;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::Mlp;
use crate::ops::calibration::{Calibration, Calibrator, ECE_BINS};
use maybe_async::maybe_async;

/// Metadata key of a model file's fitted calibration temperature.
pub const CALIBRATION_KEY: &str = "distill_wgpu.calibration_temperature";

/// Metadata key of the training-set share a model was not trained on (`distill train
/// --val-fraction`): `"fraction;seed"` of [`crate::Dataset::split`].
pub const HELD_OUT_KEY: &str = "distill_wgpu.held_out";

/// The [`HELD_OUT_KEY`] entry of a `(fraction, seed)` split.
pub fn held_out_entry((fraction, seed): (f64, u64)) -> String {
    format!("{fraction};{seed}")
}

/// The `(fraction, seed)` split a [`HELD_OUT_KEY`] entry names, checked.
pub fn parse_held_out(entry: &str) -> Result<(f64, u64)> {
    let bad = || {
        Error::InvalidConfig(format!(
            "{HELD_OUT_KEY} = {entry:?} is not \"fraction;seed\""
        ))
    };
    let (f, s) = entry.split_once(';').ok_or_else(bad)?;
    let fraction: f64 = f.trim().parse().map_err(|_| bad())?;
    let seed: u64 = s.trim().parse().map_err(|_| bad())?;
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(bad());
    }
    Ok((fraction, seed))
}

/// Logits `[labels.len(), classes]` with their labels, uploaded for calibration.
pub fn calibrator(
    ctx: &GpuContext,
    logits: &[f32],
    labels: &[u8],
    classes: usize,
) -> Result<Calibrator> {
    let labels: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    Calibrator::new(ctx, logits, &labels, classes)
}

/// `model`'s logits over `data`, uploaded for calibration.
#[maybe_async]
pub async fn model_calibrator(
    ctx: &GpuContext,
    model: &Mlp,
    data: &DeviceDataset,
) -> Result<Calibrator> {
    let logits = super::logits(ctx, model, data, 512).await?;
    calibrator(ctx, &logits, data.labels(), data.classes())
}

/// Calibration of `model` on `data` before (T = 1) and after dividing its logits by
/// `temperature`, over [`ECE_BINS`] bins.
#[maybe_async]
pub async fn before_after(
    ctx: &GpuContext,
    model: &Mlp,
    data: &DeviceDataset,
    temperature: f32,
) -> Result<(Calibration, Calibration)> {
    let c = model_calibrator(ctx, model, data).await?;
    Ok((
        c.calibration(ctx, 1.0, ECE_BINS).await?,
        c.calibration(ctx, temperature, ECE_BINS).await?,
    ))
}

/// The temperature minimising `model`'s NLL on `validation` (held-out samples, never the test
/// set).
#[maybe_async]
pub async fn fit_model_temperature(
    ctx: &GpuContext,
    model: &Mlp,
    validation: &DeviceDataset,
) -> Result<f32> {
    model_calibrator(ctx, model, validation)
        .await?
        .fit_temperature(ctx)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_entries_round_trip_and_bad_ones_are_errors() {
        assert_eq!(parse_held_out(&held_out_entry((0.1, 7))).unwrap(), (0.1, 7));
        for bad in ["", "0.1", "1.5;3", "0.1;-2", "x;1", "0;1"] {
            assert!(parse_held_out(bad).is_err(), "{bad}");
        }
    }
}
