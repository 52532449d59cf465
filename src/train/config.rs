//! What a trainer is built with.

use crate::error::{Error, Result};
use crate::ops::dropout::Dropout;
use crate::ops::kd_loss::KdConfig;
use crate::ops::multi_kd::MultiKdConfig;
use crate::ops::optim::Optimizer;
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
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainerConfig {
    /// Rows per step.
    pub batch_size: usize,
    /// The optimizer and its hyper-parameters.
    pub optimizer: Optimizer,
    /// T and α of the loss (α = 0: plain cross-entropy, the default).
    pub kd: KdConfig,
    /// The multi-teacher objective, when set: it replaces `kd`, and the trainer takes its
    /// teachers with [`crate::train::Trainer::attach_teachers`].
    pub multi_kd: Option<MultiKdConfig>,
    /// Dropout on every hidden layer's output (none by default).
    pub dropout: Dropout,
    /// Decoupled KD instead of `kd`'s KL term (its own T; CE weight 1), when set.
    pub dkd: Option<DkdSchedule>,
    /// A hint from a teacher's hidden layer, when set: the teacher model is attached with
    /// [`crate::train::Trainer::attach_hint_teacher`].
    pub hint: Option<HintConfig>,
    /// An EMA teacher of the student's own weights, when set.
    pub ema: Option<EmaConfig>,
}

impl TrainerConfig {
    /// Cross-entropy training at `batch_size` with `optimizer`, no dropout.
    pub fn new(batch_size: usize, optimizer: Optimizer) -> Self {
        Self {
            batch_size,
            optimizer,
            kd: KdConfig::cross_entropy(),
            multi_kd: None,
            dropout: Dropout::none(),
            dkd: None,
            hint: None,
            ema: None,
        }
    }

    /// The same with decoupled KD (`schedule`) instead of the KL term.
    pub fn dkd(self, schedule: DkdSchedule) -> Self {
        Self {
            dkd: Some(schedule),
            ..self
        }
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

    /// The same with the KD loss at `kd`.
    pub fn kd(self, kd: KdConfig) -> Self {
        Self { kd, ..self }
    }

    /// The same with the multi-teacher loss at `multi` (several teachers, each over the
    /// classes it knows) instead of the single-teacher one.
    pub fn multi_kd(self, multi: MultiKdConfig) -> Self {
        Self {
            multi_kd: Some(multi),
            ..self
        }
    }

    /// The same with `dropout` on every hidden layer.
    pub fn dropout(self, dropout: Dropout) -> Self {
        Self { dropout, ..self }
    }

    /// Checks every part.
    pub fn validate(&self) -> Result<()> {
        self.dropout.validate()?;
        self.kd.validate()?;
        if let Some(multi) = &self.multi_kd {
            multi.validate()?;
        }
        self.optimizer.validate()?;
        if let Some(dkd) = &self.dkd {
            dkd.validate()?;
        }
        if let Some(hint) = &self.hint {
            hint.validate()?;
        }
        if let Some(ema) = &self.ema {
            ema.validate()?;
        }
        if self.multi_kd.is_some() && (self.dkd.is_some() || self.ema.is_some()) {
            return Err(Error::InvalidConfig(
                "the multi-teacher objective combines with neither DKD nor an EMA teacher".into(),
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::EmptyBatch);
        }
        Ok(())
    }
}
