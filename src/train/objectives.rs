//! Objectives beyond the logits' KL, as a trainer takes them: decoupled KD with its warm-up,
//! FitNets hints with an optional hint-only stage, and an exponential-moving-average teacher.
//! Each says what it does at a given epoch, so a resumed run picks up the same schedule.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ops::dkd::DkdConfig;
use crate::ops::ema::check_decay;
use crate::ops::hint::check_hint_weight;

/// Decoupled KD (Zhao et al. 2022) with the paper's linear warm-up of the KD weight.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DkdSchedule {
    /// T, the target-class weight A and the non-target weight B (its `ramp` is set per epoch).
    pub loss: DkdConfig,
    /// Epochs over which the KD weight rises linearly to 1 (`min(epoch / warmup, 1)`, epochs
    /// from 1 as in mdistiller; 0: full weight from the start).
    pub warmup_epochs: u32,
}

impl DkdSchedule {
    /// The paper's settings: T = 4, A = 1, B = 8, 20 warm-up epochs.
    pub fn paper() -> Self {
        Self {
            loss: DkdConfig::paper(),
            warmup_epochs: 20,
        }
    }

    /// The loss in force during `epoch` (from 1).
    pub fn at_epoch(&self, epoch: usize) -> DkdConfig {
        let ramp = if self.warmup_epochs == 0 {
            1.0
        } else {
            (epoch as f32 / self.warmup_epochs as f32).min(1.0)
        };
        DkdConfig { ramp, ..self.loss }
    }

    /// Checks the loss settings.
    pub fn validate(&self) -> Result<()> {
        DkdConfig {
            ramp: 1.0,
            ..self.loss
        }
        .validate()
    }
}

/// FitNets-style hints (Romero et al. 2015): a learned linear regressor maps the student's
/// hidden layer `student_layer` to the width of the teacher's hidden layer `teacher_layer`
/// (both from 1), and `weight`·MSE between the two is added to the loss. During the first
/// `stage_epochs` epochs the hint is the whole loss (weight 1) and only the student's layers up
/// to `student_layer` learn, as in the paper's first stage; after that the logits' loss plus
/// `weight`·MSE (0 turns the hint off, the paper's second stage).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HintConfig {
    /// The teacher's hidden layer, from 1.
    pub teacher_layer: usize,
    /// The student's hidden layer, from 1.
    pub student_layer: usize,
    /// β ≥ 0 on the MSE after the hint-only stage.
    pub weight: f32,
    /// Hint-only epochs first.
    pub stage_epochs: u32,
}

impl HintConfig {
    /// Whether `epoch` (from 1) is in the hint-only stage.
    pub fn hint_only(&self, epoch: usize) -> bool {
        epoch <= self.stage_epochs as usize
    }

    /// The hint's weight during `epoch`: 1 in the hint-only stage, β after.
    pub fn weight_at(&self, epoch: usize) -> f32 {
        if self.hint_only(epoch) {
            1.0
        } else {
            self.weight
        }
    }

    /// Checks β and that both layers count from 1 (the architectures are checked when the
    /// teacher is attached).
    pub fn validate(&self) -> Result<()> {
        check_hint_weight(self.weight)?;
        if self.teacher_layer == 0 || self.student_layer == 0 {
            return Err(Error::InvalidConfig(format!(
                "hint layers count hidden layers from 1, got {}:{}",
                self.teacher_layer, self.student_layer
            )));
        }
        Ok(())
    }
}

/// A teacher that is the exponential moving average of the student's own weights (mean
/// teacher, Tarvainen & Valpola 2017): `θ' ← d·θ' + (1 − d)·θ` on the GPU every
/// `update_every` steps, with the ramp `d_t = min(d, 1 − 1/(t + 1))`. Its logits on the batch
/// are computed in the step; the student learns from them with the trainer's T and α (alone,
/// or mixed half and half with a fixed teacher's) once `warmup_epochs` epochs have passed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmaConfig {
    /// The decay d, in (0, 1).
    pub decay: f32,
    /// Epochs before the EMA teacher's logits enter the loss (it is updated from the start).
    pub warmup_epochs: u32,
    /// Optimizer steps between updates, ≥ 1.
    pub update_every: u32,
}

impl EmaConfig {
    /// Decay `decay`, one warm-up epoch, an update every step.
    pub fn new(decay: f32) -> Self {
        Self {
            decay,
            warmup_epochs: 1,
            update_every: 1,
        }
    }

    /// Whether the EMA teacher teaches during `epoch` (from 1).
    pub fn teaches(&self, epoch: usize) -> bool {
        epoch > self.warmup_epochs as usize
    }

    /// Checks the decay and the update interval.
    pub fn validate(&self) -> Result<()> {
        check_decay(self.decay)?;
        if self.update_every == 0 {
            return Err(Error::InvalidConfig(
                "the EMA teacher's update interval must be at least 1 step".into(),
            ));
        }
        Ok(())
    }
}
