//! The warning rules of a diagnosis: each fires on a number crossing a threshold and says which
//! number, in plain words.

use serde::Serialize;

use crate::diagnose::Diagnosis;

/// Where the warnings start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Teacher ECE above this is miscalibrated.
    pub max_ece: f64,
    /// A class whose student accuracy is this far below the baseline's was hurt.
    pub class_drop: f64,
    /// Student–teacher top-1 agreement on the training set below this is low fidelity.
    pub min_fidelity: f64,
    /// Teacher–label disagreement on the training set above this share is worth a look.
    pub max_disagreement: f64,
}

impl Default for Thresholds {
    /// ECE 0.05, a 2-point class drop, 95 % training agreement, 5 % disagreement.
    fn default() -> Self {
        Self {
            max_ece: 0.05,
            class_drop: 0.02,
            min_fidelity: 0.95,
            max_disagreement: 0.05,
        }
    }
}

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WarningKind {
    /// The teacher makes at least as many test errors as the scratch baseline.
    TeacherNoBetter,
    /// The teacher's confidence does not match its accuracy.
    TeacherMiscalibrated,
    /// The teacher contradicts many training labels.
    TeacherContradictsLabels,
    /// Classes where the student is clearly worse than the baseline.
    ClassesHurt,
    /// The student does not reproduce the teacher even on the training set.
    LowFidelity,
}

/// A warning and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    /// What it is about.
    pub kind: WarningKind,
    /// The message, with its numbers.
    pub message: String,
}

pub(crate) fn warnings(d: &Diagnosis, t: &Thresholds) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |kind, message: String| out.push(Warning { kind, message });
    if let Some(b) = &d.baseline {
        if d.teacher.errors >= b.errors {
            warn(
                WarningKind::TeacherNoBetter,
                format!(
                    "the teacher makes {} test errors, the scratch baseline {}: it has little to \
                     teach, and distilling from it can make the student worse",
                    d.teacher.errors, b.errors
                ),
            );
        }
    }
    let ece = d.teacher_calibration.ece;
    if ece > t.max_ece {
        warn(
            WarningKind::TeacherMiscalibrated,
            format!(
                "the teacher's ECE is {ece:.3} (above {:.3}): its confidence ({:.1} % accuracy) \
                 is off; try --calibrate-teacher",
                t.max_ece,
                100.0 * d.teacher_calibration.accuracy
            ),
        );
    }
    if let Some(dis) = &d.disagreements {
        if dis.fraction > t.max_disagreement {
            warn(
                WarningKind::TeacherContradictsLabels,
                format!(
                    "the teacher contradicts {} training labels ({:.1} %, above {:.1} %): noisy \
                     labels or a weak teacher; see the most confident ones, or try \
                     --kd-disagreement drop",
                    dis.count,
                    100.0 * dis.fraction,
                    100.0 * t.max_disagreement
                ),
            );
        }
    }
    if let (Some(s), Some(b)) = (&d.student, &d.baseline) {
        let hurt: Vec<String> = s
            .class_accuracy
            .iter()
            .zip(&b.class_accuracy)
            .enumerate()
            .filter(|(_, (s, b))| **b - **s > t.class_drop)
            .map(|(c, (s, b))| format!("{c} ({:.1} % vs {:.1} %)", 100.0 * s, 100.0 * b))
            .collect();
        if !hurt.is_empty() {
            warn(
                WarningKind::ClassesHurt,
                format!(
                    "distillation hurt class{} {} (student vs baseline test accuracy, more than \
                     {:.1} points lower)",
                    if hurt.len() > 1 { "es" } else { "" },
                    hurt.join(", "),
                    100.0 * t.class_drop
                ),
            );
        }
    }
    if let Some(agreement) = d.fidelity.and_then(|f| f.train_agreement) {
        if agreement < t.min_fidelity {
            warn(
                WarningKind::LowFidelity,
                format!(
                    "the student picks the teacher's top class on only {:.1} % of training \
                     samples (below {:.1} %): it may lack the capacity to match the teacher, or \
                     need more epochs",
                    100.0 * agreement,
                    100.0 * t.min_fidelity
                ),
            );
        }
    }
    out
}
