//! Epoch loop over a device data set: reshuffle, step through every full batch, read the mean
//! loss once per epoch.

use std::time::Instant;

use crate::data::DeviceDataset;
use crate::distill::LossReport;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::Mlp;
use crate::train::trainer::Trainer;

/// One epoch's summary.
#[derive(Debug, Clone, Copy)]
pub struct EpochLog {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean loss over the epoch's steps.
    pub loss: LossReport,
    /// Steps taken.
    pub steps: u32,
    /// Wall time of the epoch, seconds.
    pub seconds: f64,
}

/// How long and with which seed [`fit`] trains.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// Passes over the data.
    pub epochs: usize,
    /// Seed of the per-epoch shuffles.
    pub seed: u64,
}

/// Trains for `options.epochs` over `data` (attached to `trainer` beforehand, else an error). Each epoch uses a fresh
/// seeded shuffle and drops the last partial batch. `on_step` runs after each submitted step,
/// `on_epoch` after each epoch.
pub fn fit(
    ctx: &GpuContext,
    trainer: &mut Trainer,
    data: &DeviceDataset,
    options: FitOptions,
    teacher: Option<&Mlp>,
    mut on_step: impl FnMut(),
    mut on_epoch: impl FnMut(&EpochLog),
) -> Result<Vec<EpochLog>> {
    if !trainer.is_attached_to(data) {
        return Err(Error::InvalidConfig(
            "fit needs the data set attached to the trainer".into(),
        ));
    }
    let batches = trainer.batches_per_epoch();
    let FitOptions { epochs, seed } = options;
    let mut logs = Vec::with_capacity(epochs);
    // Start from a clean accumulator.
    trainer.take_mean_loss(ctx)?;
    for epoch in 1..=epochs {
        let start = Instant::now();
        data.shuffle(
            ctx,
            seed.wrapping_mul(0x9E37_79B9).wrapping_add(epoch as u64),
        );
        for b in 0..batches {
            trainer.step_on_dataset(ctx, b, teacher)?;
            on_step();
        }
        let (loss, steps) = trainer.take_mean_loss(ctx)?;
        let log = EpochLog {
            epoch,
            loss,
            steps,
            seconds: start.elapsed().as_secs_f64(),
        };
        on_epoch(&log);
        logs.push(log);
    }
    Ok(logs)
}
