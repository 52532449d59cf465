//! What a trainer is built with.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ops::dropout::Dropout;
use crate::ops::gjsd::GjsdConfig;
use crate::ops::kd_loss::KdConfig;
use crate::ops::logit_loss::RowLoss;
use crate::ops::logit_mse::LogitMseConfig;
use crate::ops::logit_std::LogitStdConfig;
use crate::ops::multi_kd::MultiKdConfig;
use crate::ops::optim::Optimizer;
use crate::ops::regression_loss::RegressionConfig;
use crate::ops::tf_kd::TfKdConfig;
use crate::train::compression::Compression;
use crate::train::objectives::{DkdSchedule, EmaConfig, HintConfig};

/// Batch size, optimizer, objective and regularisation of a [`crate::train::Trainer`].
///
/// ```
/// use distill_wgpu::{Dropout, KdConfig, Optimizer, TrainerConfig};
/// let config = TrainerConfig::new(128, Optimizer::adam(1e-3))
///     .kd(KdConfig { temperature: 4.0, alpha: 0.9 })
///     .dropout(Dropout { p: 0.2, seed: 1 });
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainerConfig {
    /// Rows per step.
    pub batch_size: usize,
    /// The optimizer and its hyper-parameters.
    pub optimizer: Optimizer,
    /// What the logits learn from: one objective, so no two can be named at once
    /// (cross-entropy, the default, is [`Objective::Kd`] at α = 0).
    pub objective: Objective,
    /// Dropout on every hidden layer's output (none by default).
    pub dropout: Dropout,
    /// A hint from a teacher's hidden layer, when set: the teacher model is attached with
    /// [`crate::train::Trainer::attach_hint_teacher`]. Adds to the objective.
    pub hint: Option<HintConfig>,
    /// An EMA teacher of the student's own weights, when set: it teaches through the KD or
    /// DKD objective (beside a fixed teacher, KD only).
    pub ema: Option<EmaConfig>,
    /// Int8 quantization-aware training and pruned fine-tuning (none by default; absent from
    /// the JSON of a configuration without them, so earlier checkpoints' settings still match).
    #[serde(default, skip_serializing_if = "Compression::is_none")]
    pub compression: Compression,
}

/// The loss on the student's logits: each kind is one variant, with its own settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Objective {
    /// `(1 − α)·CE + α·T²·KL(p ‖ q)` from one teacher (or an EMA teacher); plain
    /// cross-entropy at α = 0.
    Kd(KdConfig),
    /// Decoupled KD (Zhao et al. 2022) from one teacher, with its warm-up; CE weight 1.
    Dkd(DkdSchedule),
    /// Several teachers, each over the classes it knows, attached with
    /// [`crate::train::Trainer::attach_teachers`].
    MultiKd(MultiKdConfig),
    /// The generalized Jensen–Shannon divergence at T (trl's GKD): β = 0 the forward KL (KD),
    /// β = 1 the reverse KL(q ‖ p), between them `β·KL(p ‖ m) + (1 − β)·KL(q ‖ m)`.
    Gjsd(GjsdConfig),
    /// Regression of the teacher's logits beside cross-entropy (Ba & Caruana 2014):
    /// `(1 − α)·CE + α·mean (1/C)·Σ (z − t)²`.
    LogitMse(LogitMseConfig),
    /// KD on z-scored logits (Sun et al. 2024): `(1 − α)·CE + α·T²·KL` between the
    /// standardized rows' softened distributions.
    LogitStd(LogitStdConfig),
    /// The teacher-free baseline (Yuan et al. 2020): KD from a label-smoothing virtual teacher,
    /// no teacher model, as the authors' code computes it.
    TfKd(TfKdConfig),
    /// A regression model's outputs against real-valued targets and a teacher's outputs:
    /// `(1 − α)·loss(s, y) + α·loss(s, t)` in the MSE or Huber form, or the teacher-bounded
    /// loss of Chen et al. 2017. Needs a regression data set
    /// ([`crate::data::DeviceDataset::regression`]), whose targets take the labels' place.
    Regression(RegressionConfig),
}

impl Objective {
    /// Whether the objective needs teacher logits (a teacher model, cached logits or an EMA
    /// teacher) at every step.
    pub fn needs_teacher(&self) -> bool {
        match self {
            Objective::Kd(kd) => kd.alpha != 0.0,
            Objective::Regression(regression) => regression.alpha != 0.0,
            Objective::Dkd(_)
            | Objective::MultiKd(_)
            | Objective::Gjsd(_)
            | Objective::LogitMse(_)
            | Objective::LogitStd(_) => true,
            Objective::TfKd(_) => false,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        match self {
            Objective::Kd(kd) => kd.validate(),
            Objective::Dkd(dkd) => dkd.validate(),
            Objective::MultiKd(multi) => multi.validate(),
            Objective::Gjsd(gjsd) => gjsd.validate(),
            Objective::LogitMse(mse) => mse.validate(),
            Objective::LogitStd(std) => std.validate(),
            Objective::TfKd(tf) => tf.validate(),
            Objective::Regression(regression) => regression.validate(),
        }
    }

    /// A short name for reports and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Objective::Kd(_) => "kd",
            Objective::Dkd(_) => "dkd",
            Objective::MultiKd(_) => "multi_kd",
            Objective::Gjsd(_) => "gjsd",
            Objective::LogitMse(_) => "logit_mse",
            Objective::LogitStd(_) => "logit_std",
            Objective::TfKd(_) => "tf_kd",
            Objective::Regression(_) => "regression",
        }
    }

    /// The single-teacher loss the step runs during `epoch` (from 1), with its schedule
    /// applied; `None` for the multi-teacher loss, which is built when teachers are attached.
    /// A new logit loss registers here (and in the enum).
    pub(crate) fn row_loss_at(&self, epoch: usize) -> Option<Box<dyn RowLoss>> {
        Some(match *self {
            Objective::Kd(kd) => Box::new(kd),
            Objective::Dkd(schedule) => Box::new(schedule.at_epoch(epoch)),
            Objective::MultiKd(_) => return None,
            Objective::Gjsd(gjsd) => Box::new(gjsd),
            Objective::LogitMse(mse) => Box::new(mse),
            Objective::LogitStd(std) => Box::new(std),
            Objective::TfKd(tf) => Box::new(tf),
            Objective::Regression(regression) => Box::new(regression),
        })
    }

    /// Whether the objective trains a regression model (real-valued targets, not labels).
    pub fn is_regression(&self) -> bool {
        matches!(self, Objective::Regression(_))
    }

    /// Checks that the objective can run over `classes` classes.
    pub(crate) fn check_classes(&self, classes: usize) -> Result<()> {
        match self {
            Objective::Dkd(_) => crate::ops::dkd::check_classes(classes),
            Objective::LogitStd(_) => crate::ops::logit_std::check_classes(classes),
            Objective::TfKd(_) => crate::ops::tf_kd::check_classes(classes),
            _ => Ok(()),
        }
    }
}

impl TrainerConfig {
    /// Cross-entropy training at `batch_size` with `optimizer`, no dropout.
    pub fn new(batch_size: usize, optimizer: Optimizer) -> Self {
        Self {
            batch_size,
            optimizer,
            objective: Objective::Kd(KdConfig::cross_entropy()),
            dropout: Dropout::none(),
            hint: None,
            ema: None,
            compression: Compression::none(),
        }
    }

    /// The same with `compression` (int8 quantization-aware training, pruned fine-tuning).
    pub fn compression(self, compression: Compression) -> Self {
        Self {
            compression,
            ..self
        }
    }

    /// The same with `objective`.
    pub fn objective(self, objective: Objective) -> Self {
        Self { objective, ..self }
    }

    /// The same with decoupled KD (`schedule`) as the objective.
    pub fn dkd(self, schedule: DkdSchedule) -> Self {
        self.objective(Objective::Dkd(schedule))
    }

    /// The same with a hint from a teacher's hidden layer.
    pub fn hint(self, hint: HintConfig) -> Self {
        Self {
            hint: Some(hint),
            ..self
        }
    }

    /// The same with an EMA teacher.
    pub fn ema(self, ema: EmaConfig) -> Self {
        Self {
            ema: Some(ema),
            ..self
        }
    }

    /// The same with the KD loss at `kd` as the objective.
    pub fn kd(self, kd: KdConfig) -> Self {
        self.objective(Objective::Kd(kd))
    }

    /// The same with the multi-teacher loss at `multi` (several teachers, each over the
    /// classes it knows) as the objective.
    pub fn multi_kd(self, multi: MultiKdConfig) -> Self {
        self.objective(Objective::MultiKd(multi))
    }

    /// The same with `dropout` on every hidden layer.
    pub fn dropout(self, dropout: Dropout) -> Self {
        Self { dropout, ..self }
    }

    /// The KD settings, when the objective is KD.
    pub fn kd_settings(&self) -> Option<KdConfig> {
        match self.objective {
            Objective::Kd(kd) => Some(kd),
            _ => None,
        }
    }

    /// Checks every part.
    pub fn validate(&self) -> Result<()> {
        self.dropout.validate()?;
        self.objective.validate()?;
        self.optimizer.validate()?;
        if let Some(hint) = &self.hint {
            hint.validate()?;
        }
        if let Some(ema) = &self.ema {
            ema.validate()?;
            if !matches!(self.objective, Objective::Kd(_) | Objective::Dkd(_)) {
                return Err(Error::InvalidConfig(format!(
                    "an EMA teacher teaches through the KD or DKD objective, not {}",
                    self.objective.name()
                )));
            }
        }
        if self.batch_size == 0 {
            return Err(Error::EmptyBatch);
        }
        Ok(())
    }

    /// This configuration as `format!("{:?}")` printed it before the objective became one
    /// field: what checkpoints written then recorded, so they still resume.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn legacy_debug_text(&self) -> String {
        let (kd, multi, dkd) = match self.objective {
            Objective::Kd(kd) => (kd, None, None),
            Objective::Dkd(dkd) => (KdConfig::cross_entropy(), None, Some(dkd)),
            Objective::MultiKd(multi) => (KdConfig::cross_entropy(), Some(multi), None),
            // Objectives added since have no record from before.
            _ => (KdConfig::cross_entropy(), None, None),
        };
        format!(
            "TrainerConfig {{ batch_size: {:?}, optimizer: {:?}, kd: {kd:?}, multi_kd: {multi:?}, \
             dropout: {:?}, dkd: {dkd:?}, hint: {:?}, ema: {:?} }}",
            self.batch_size, self.optimizer, self.dropout, self.hint, self.ema
        )
    }
}
