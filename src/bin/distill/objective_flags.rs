//! The flags of objectives beyond the logits' KL (`distill distill`): DKD, FitNets hints and
//! an EMA teacher, checked and turned into the library's settings.

use clap::Args;
use serde::Serialize;

use distill_wgpu::ops::gjsd::GjsdConfig;
use distill_wgpu::ops::logit_mse::LogitMseConfig;
use distill_wgpu::ops::logit_std::LogitStdConfig;
use distill_wgpu::ops::tf_kd::TfKdConfig;
use distill_wgpu::{
    DkdConfig, DkdSchedule, EmaConfig, Error, HintConfig, KdConfig, Objective, Result,
};

use crate::values::{ChoiceParser, Choices};

/// `--loss`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LossKind {
    /// (1 − α)·CE + α·T²·KL(teacher ‖ student).
    #[default]
    Kd,
    /// Decoupled KD (Zhao et al. 2022): CE + w·T²·(A·TCKD + B·NCKD), T = 4 unless given.
    Dkd,
    /// Generalized Jensen–Shannon divergence (trl's GKD) at --jsd-beta: (1 − α)·CE +
    /// α·T²·JSD_β(teacher, student).
    Jsd,
    /// Reverse KL: (1 − α)·CE + α·T²·KL(student ‖ teacher) (the JSD at β = 1).
    ReverseKl,
    /// Regression of the teacher's logits (Ba & Caruana 2014): (1 − α)·CE + α·mean (z − t)².
    LogitMse,
    /// KD on z-scored logits (Sun et al. 2024): (1 − α)·CE + α·T²·KL of the standardized rows.
    LogitStd,
    /// Teacher-free KD (Yuan et al. 2020): KD from a label-smoothing virtual teacher; the
    /// teacher's logits are not used.
    TfKd,
}

impl Choices for LossKind {
    const WHAT: &'static str = "loss";
}

/// `--hint`: the teacher's and the student's hidden layer, counted from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HintLayers {
    /// The teacher's hidden layer.
    pub teacher: usize,
    /// The student's hidden layer.
    pub student: usize,
}

/// Objectives beyond the logits' KL.
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Objectives")]
pub struct ObjectiveFlags {
    /// The logits' loss: kd (default) or dkd.
    #[arg(long, default_value = "kd", value_parser = ChoiceParser::<LossKind>::new())]
    pub loss: LossKind,
    /// DKD's weight A on the target-class term (TCKD).
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub dkd_alpha: f32,
    /// DKD's weight B on the non-target-class term (NCKD).
    #[arg(long, default_value_t = 8.0, allow_hyphen_values = true)]
    pub dkd_beta: f32,
    /// Epochs over which DKD's weight rises linearly to 1 (the paper's 20; 0: none).
    #[arg(long, default_value_t = 20, allow_hyphen_values = true)]
    pub dkd_warmup_epochs: u32,
    /// jsd: the interpolation β ∈ [0, 1] (trl's 0.5; 0 is KD's forward KL, 1 the reverse).
    #[arg(long, default_value_t = 0.5, allow_hyphen_values = true)]
    pub jsd_beta: f32,
    /// tf-kd: the virtual teacher's probability of the true class (the authors' 0.99).
    #[arg(long, default_value_t = 0.99, allow_hyphen_values = true)]
    pub tf_kd_correct_prob: f32,
    /// tf-kd: the authors' multiplier on their element-mean KL (100 in their ResNet18 setting).
    #[arg(long, default_value_t = 100.0, allow_hyphen_values = true)]
    pub tf_kd_multiplier: f32,
    /// Match a teacher's hidden layer with a student's, TEACHER:STUDENT (hidden layers from
    /// 1, e.g. 1:1) through a learned linear regressor (FitNets); needs a --teacher model.
    #[arg(long, value_name = "TEACHER:STUDENT", value_parser = parse_hint_layers)]
    pub hint: Option<HintLayers>,
    /// β on the hint's mean squared error after the hint-only stage (0: hint-only stage
    /// only, as FitNets).
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub hint_weight: f32,
    /// Hint-only epochs before the distillation stage (FitNets' stage 1): only the student's
    /// layers up to the hinted one learn.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub hint_epochs: u32,
    /// A teacher that is the exponential moving average of the student's weights with this
    /// decay in (0, 1), e.g. 0.999; with a --teacher too, both teach half and half.
    #[arg(long, allow_hyphen_values = true)]
    pub ema_teacher: Option<f32>,
    /// Epochs the EMA teacher only follows the student before it teaches.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    pub teacher_warmup_epochs: u32,
    /// Steps between EMA teacher updates.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    pub teacher_update_every: u32,
}

/// The objectives the flags ask for, checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Objectives {
    /// DKD's schedule, when the loss is DKD (recorded under this name since before other
    /// losses existed, so runs from then still resume).
    pub dkd: Option<DkdSchedule>,
    /// Any other loss on the logits but plain KD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<Objective>,
    pub hint: Option<HintConfig>,
    pub ema: Option<EmaConfig>,
}

impl Objectives {
    /// The loss on the logits when it is not plain KD.
    pub fn logits(&self) -> Option<Objective> {
        self.dkd.map(Objective::Dkd).or(self.loss)
    }
}

/// Prefixes an invalid-setting error with the flag it came from.
fn flag_error(flag: &str, e: Error) -> Error {
    match e {
        Error::InvalidConfig(m) => Error::InvalidConfig(format!("{flag}: {m}")),
        other => other,
    }
}

/// Parses `--hint`'s `TEACHER:STUDENT` hidden layers.
fn parse_hint_layers(text: &str) -> std::result::Result<HintLayers, String> {
    let bad = || "takes TEACHER:STUDENT hidden layers counted from 1, e.g. 1:1".to_string();
    let (t, s) = text.split_once(':').ok_or_else(bad)?;
    let teacher: usize = t.trim().parse().map_err(|_| bad())?;
    let student: usize = s.trim().parse().map_err(|_| bad())?;
    if teacher == 0 || student == 0 {
        return Err(bad());
    }
    Ok(HintLayers { teacher, student })
}

impl ObjectiveFlags {
    /// The objectives at `kd`'s temperature and α (DKD's own T; DKD's CE weight is 1).
    pub fn objectives(&self, kd: KdConfig) -> Result<Objectives> {
        let temperature = kd.temperature;
        let logits = match self.loss {
            LossKind::Kd => None,
            LossKind::Jsd | LossKind::ReverseKl => {
                let beta = if self.loss == LossKind::ReverseKl {
                    1.0
                } else {
                    self.jsd_beta
                };
                let gjsd = GjsdConfig {
                    temperature,
                    alpha: kd.alpha,
                    beta,
                };
                gjsd.validate().map_err(|e| flag_error("--jsd-beta", e))?;
                Some(Objective::Gjsd(gjsd))
            }
            LossKind::LogitMse => {
                let mse = LogitMseConfig { alpha: kd.alpha };
                mse.validate().map_err(|e| flag_error("--alpha", e))?;
                Some(Objective::LogitMse(mse))
            }
            LossKind::LogitStd => {
                let std = LogitStdConfig {
                    temperature,
                    alpha: kd.alpha,
                    ..LogitStdConfig::paper()
                };
                std.validate()
                    .map_err(|e| flag_error("--temperature/--alpha", e))?;
                Some(Objective::LogitStd(std))
            }
            LossKind::TfKd => {
                let tf = TfKdConfig {
                    temperature,
                    alpha: kd.alpha,
                    correct_prob: self.tf_kd_correct_prob,
                    multiplier: self.tf_kd_multiplier,
                };
                tf.validate()
                    .map_err(|e| flag_error("--tf-kd-correct-prob/--tf-kd-multiplier", e))?;
                Some(Objective::TfKd(tf))
            }
            LossKind::Dkd => {
                let schedule = DkdSchedule {
                    loss: DkdConfig {
                        temperature,
                        target_weight: self.dkd_alpha,
                        non_target_weight: self.dkd_beta,
                        ramp: 1.0,
                    },
                    warmup_epochs: self.dkd_warmup_epochs,
                };
                schedule
                    .validate()
                    .map_err(|e| flag_error("--dkd-alpha/--dkd-beta", e))?;
                Some(Objective::Dkd(schedule))
            }
        };
        let (dkd, loss) = match logits {
            Some(Objective::Dkd(schedule)) => (Some(schedule), None),
            other => (None, other),
        };
        let hint = match self.hint {
            None => None,
            Some(layers) => {
                let hint = HintConfig {
                    teacher_layer: layers.teacher,
                    student_layer: layers.student,
                    weight: self.hint_weight,
                    stage_epochs: self.hint_epochs,
                };
                hint.validate()
                    .map_err(|e| flag_error("--hint-weight", e))?;
                Some(hint)
            }
        };
        let ema = match self.ema_teacher {
            None => None,
            Some(decay) => {
                let ema = EmaConfig {
                    decay,
                    warmup_epochs: self.teacher_warmup_epochs,
                    update_every: self.teacher_update_every,
                };
                ema.validate().map_err(|e| flag_error("--ema-teacher", e))?;
                Some(ema)
            }
        };
        Ok(Objectives {
            dkd,
            loss,
            hint,
            ema,
        })
    }

    /// Whether any flag asks for more than the logits' KL.
    pub fn any(&self) -> bool {
        self.loss != LossKind::Kd || self.hint.is_some() || self.ema_teacher.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_layers_parse_and_reject_nonsense() {
        assert_eq!(
            parse_hint_layers("2:1").unwrap(),
            HintLayers {
                teacher: 2,
                student: 1
            }
        );
        for bad in ["", "1", "0:1", "1:0", "a:1", "1:2:3", "-1:1"] {
            let e = parse_hint_layers(bad).unwrap_err();
            assert!(e.contains("TEACHER:STUDENT"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn bad_weights_and_decays_name_their_flag() {
        let cases: [(ObjectiveFlags, &str); 5] = [
            (
                ObjectiveFlags {
                    loss: LossKind::Dkd,
                    dkd_beta: -1.0,
                    dkd_alpha: 1.0,
                    ..ObjectiveFlags::default()
                },
                "--dkd-alpha/--dkd-beta",
            ),
            (
                ObjectiveFlags {
                    loss: LossKind::Dkd,
                    dkd_alpha: f32::NAN,
                    dkd_beta: 8.0,
                    ..ObjectiveFlags::default()
                },
                "--dkd-alpha/--dkd-beta",
            ),
            (
                ObjectiveFlags {
                    hint: Some(HintLayers {
                        teacher: 1,
                        student: 1,
                    }),
                    hint_weight: -0.5,
                    ..ObjectiveFlags::default()
                },
                "--hint-weight",
            ),
            (
                ObjectiveFlags {
                    ema_teacher: Some(1.0),
                    teacher_update_every: 1,
                    ..ObjectiveFlags::default()
                },
                "--ema-teacher",
            ),
            (
                ObjectiveFlags {
                    ema_teacher: Some(0.0),
                    teacher_update_every: 1,
                    ..ObjectiveFlags::default()
                },
                "--ema-teacher",
            ),
        ];
        for (flags, flag) in cases {
            let kd = KdConfig {
                temperature: 4.0,
                alpha: 0.9,
            };
            let e = flags.objectives(kd).unwrap_err().to_string();
            assert!(e.contains(flag), "{e}");
        }
    }
}
