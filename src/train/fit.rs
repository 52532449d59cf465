//! Epoch loop over a device data set: reshuffle, step through every full batch, read the mean
//! loss once per epoch; stop with an error at the first non-finite loss; start from any
//! position (resuming a checkpoint) and stop cleanly when asked (Ctrl-C).

use maybe_async::maybe_async;
use std::sync::atomic::{AtomicBool, Ordering};
use web_time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::DeviceDataset;
use crate::distill::LossReport;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::Mlp;
use crate::train::trainer::Trainer;

/// One epoch's summary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean loss over the epoch's steps.
    pub loss: LossReport,
    /// Steps taken.
    pub steps: u32,
    /// Wall time of the epoch, seconds.
    pub seconds: f64,
    /// Mean squared error of the hint over the epoch, when a hint took part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint_mse: Option<f32>,
}

/// Where training stands: the next epoch (from 1) and the next batch within it (from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FitPosition {
    /// The epoch to run next, from 1.
    pub epoch: usize,
    /// The batch of that epoch to run next, from 0.
    pub batch: usize,
}

impl FitPosition {
    /// The start of a run.
    pub fn start() -> Self {
        Self { epoch: 1, batch: 0 }
    }
}

/// How long and with which seed [`fit`] trains, and from where.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions<'a> {
    /// Epochs in the whole run (including those before `from`).
    pub epochs: usize,
    /// Seed of the per-epoch shuffles.
    pub seed: u64,
    /// Where to start ([`FitPosition::start`] for a new run).
    pub from: FitPosition,
    /// Checked after every step: when set, training stops at the next batch boundary.
    pub interrupt: Option<&'a AtomicBool>,
}

impl FitOptions<'_> {
    /// A new run of `epochs` epochs.
    pub fn new(epochs: usize, seed: u64) -> Self {
        Self {
            epochs,
            seed,
            from: FitPosition::start(),
            interrupt: None,
        }
    }
}

/// How [`fit`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitEnd {
    /// Every epoch ran.
    Finished,
    /// The interrupt flag was set; training can resume at this position.
    Interrupted(FitPosition),
}

/// The shuffle seed of `epoch` (a function of the run's seed and the epoch alone, so a
/// resumed run sees the same order).
pub(crate) fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9).wrapping_add(epoch as u64)
}

/// Trains from `options.from` to the end of epoch `options.epochs` over `data` (attached to
/// `trainer` beforehand, else an error). Each epoch uses a fresh seeded shuffle and drops the
/// last partial batch. `on_step` runs after each submitted step; `on_epoch` after each epoch
/// with the trainer (to save a checkpoint) and may stop the run with an error. A non-finite
/// loss stops the run with [`Error::NonFiniteTraining`] naming the epoch and step, before
/// `on_epoch` sees that epoch.
#[maybe_async]
pub async fn fit(
    ctx: &GpuContext,
    trainer: &mut Trainer,
    data: &DeviceDataset,
    options: FitOptions<'_>,
    teacher: Option<&Mlp>,
    mut on_step: impl FnMut(),
    mut on_epoch: impl FnMut(&Trainer, &EpochLog) -> Result<()>,
) -> Result<(Vec<EpochLog>, FitEnd)> {
    if !trainer.is_attached_to(data) {
        return Err(Error::InvalidConfig(
            "fit needs the data set attached to the trainer".into(),
        ));
    }
    let batches = trainer.batches_per_epoch();
    let FitOptions {
        epochs,
        seed,
        from,
        interrupt,
    } = options;
    if from.epoch == 0 || from.batch >= batches.max(1) {
        return Err(Error::InvalidConfig(format!(
            "cannot start at epoch {} batch {} ({batches} batches an epoch)",
            from.epoch, from.batch
        )));
    }
    let remaining = epochs
        .saturating_sub(from.epoch - 1)
        .checked_mul(batches)
        .and_then(|n| u32::try_from(n).ok())
        .and_then(|n| n.checked_add(trainer.steps_taken()));
    if remaining.is_none() {
        return Err(Error::InvalidConfig(format!(
            "{epochs} epochs of {batches} steps pass the {} steps a run can count",
            u32::MAX
        )));
    }
    if from.batch == 0 {
        // A fresh epoch starts from a clean accumulator (a resumed one keeps its sums).
        trainer.take_window_loss(ctx).await?;
    }
    let mut logs = Vec::new();
    for epoch in from.epoch..=epochs {
        let start = Instant::now();
        trainer.begin_epoch(ctx, epoch);
        data.shuffle(ctx, epoch_seed(seed, epoch));
        let first = if epoch == from.epoch { from.batch } else { 0 };
        for b in first..batches {
            if interrupt.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
                ctx.wait()?;
                return Ok((logs, FitEnd::Interrupted(FitPosition { epoch, batch: b })));
            }
            trainer.step_on_dataset(ctx, b, teacher)?;
            on_step();
        }
        let window = trainer.take_window_loss(ctx).await?;
        if let Some(step) = window.first_non_finite_step {
            return Err(Error::NonFiniteTraining {
                what: "the training loss".into(),
                epoch,
                step: step as usize,
            });
        }
        let log = EpochLog {
            epoch,
            loss: window.loss,
            steps: window.steps,
            seconds: start.elapsed().as_secs_f64(),
            hint_mse: window.hint_mse,
        };
        on_epoch(trainer, &log)?;
        logs.push(log);
    }
    Ok((logs, FitEnd::Finished))
}
