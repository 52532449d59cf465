//! Why did distillation help or hurt? A diagnosis of a teacher (and optionally the student it
//! taught and a scratch baseline) from their logits: accuracy and calibration of the teacher on
//! the student's data, per-class accuracy and confusion matrices, where the teacher contradicts
//! the training labels, how faithfully the student follows the teacher (top-1 agreement and
//! mean KL, Stanton et al. 2021), and plain-language warnings with the numbers behind them.

mod rules;
pub mod saliency;

pub use rules::{Thresholds, Warning, WarningKind};
pub use saliency::{saliency_agreement, telling_samples, SaliencyAgreement};

use serde::Serialize;

use crate::error::{check_len, Result};
use crate::eval::{confusion_matrix, ClassErrors};
use crate::ops::calibration::Calibration;
use crate::ops::metrics::reference::argmax;
use crate::ops::softmax::reference::log_sum_exp;

/// One model's logits: on the test set, and (for teacher and student) on the training set.
#[derive(Debug, Clone, Copy)]
pub struct ModelLogits<'a> {
    /// Name shown in the report.
    pub name: &'a str,
    /// `[test samples, classes]`.
    pub test: &'a [f32],
    /// `[training samples, classes]`, when available.
    pub train: Option<&'a [f32]>,
}

/// What a diagnosis reads.
#[derive(Debug, Clone, Copy)]
pub struct DiagnoseInput<'a> {
    /// Classes.
    pub classes: usize,
    /// Test labels.
    pub test_labels: &'a [u8],
    /// Training labels.
    pub train_labels: &'a [u8],
    /// The teacher (its training logits give the disagreements).
    pub teacher: ModelLogits<'a>,
    /// Its calibration on the test set (from [`crate::eval::calibrate`]).
    pub teacher_calibration: &'a Calibration,
    /// The distilled student (its training logits give the fidelity there).
    pub student: Option<ModelLogits<'a>>,
    /// A student of the same size trained from scratch.
    pub baseline: Option<ModelLogits<'a>>,
}

/// One model's test results.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    /// Its name.
    pub name: String,
    /// Test errors.
    pub errors: usize,
    /// Test accuracy.
    pub accuracy: f64,
    /// Accuracy on each class's test samples (1 for a class with none).
    pub class_accuracy: Vec<f64>,
    /// Confusion matrix `[true, predicted]`, row-major.
    pub confusion: Vec<usize>,
}

/// A training sample whose label the teacher contradicts.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    /// Its index in the training set.
    pub index: usize,
    /// Its label.
    pub label: usize,
    /// The teacher's top class.
    pub teacher_class: usize,
    /// The teacher's probability of that class (T = 1).
    pub probability: f64,
}

/// Where the teacher contradicts the training labels.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreements {
    /// Training samples whose label is not the teacher's top class.
    pub count: usize,
    /// As a fraction of the training set.
    pub fraction: f64,
    /// The most confident contradictions, most confident first.
    pub most_confident: Vec<Disagreement>,
}

/// How closely the student follows the teacher (T = 1).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Fidelity {
    /// Share of test samples where both pick the same top class.
    pub test_agreement: f64,
    /// Mean KL(teacher ‖ student) on the test set.
    pub test_kl: f64,
    /// The same on the training set, when both have training logits.
    pub train_agreement: Option<f64>,
    /// Mean KL(teacher ‖ student) on the training set.
    pub train_kl: Option<f64>,
}

/// The whole diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// The teacher on the test set.
    pub teacher: ModelSummary,
    /// Its calibration on the test set.
    pub teacher_calibration: Calibration,
    /// The student, if given.
    pub student: Option<ModelSummary>,
    /// The baseline, if given.
    pub baseline: Option<ModelSummary>,
    /// Teacher–label disagreements on the training set (needs the teacher's training logits).
    pub disagreements: Option<Disagreements>,
    /// Student–teacher fidelity, if a student is given.
    pub fidelity: Option<Fidelity>,
    /// What looks wrong, in words, with its numbers.
    pub warnings: Vec<Warning>,
    /// How the student's (and baseline's) saliency maps rank-correlate with the teacher's on
    /// the test set; empty until [`saliency_agreement`]'s results are added.
    pub saliency: Vec<SaliencyAgreement>,
}

/// How many of the most confident disagreements a diagnosis lists.
pub const LISTED_DISAGREEMENTS: usize = 10;

/// Diagnoses `input` and raises the warnings `thresholds` define.
pub fn diagnose(input: &DiagnoseInput<'_>, thresholds: &Thresholds) -> Result<Diagnosis> {
    let c = input.classes;
    let summary = |m: &ModelLogits<'_>| -> Result<ModelSummary> {
        let errors = ClassErrors::count(m.test, input.test_labels, c, &[])?;
        let class_accuracy = errors
            .errors
            .iter()
            .zip(&errors.samples)
            .map(|(&e, &n)| {
                if n == 0 {
                    1.0
                } else {
                    1.0 - e as f64 / n as f64
                }
            })
            .collect();
        Ok(ModelSummary {
            name: m.name.to_string(),
            errors: errors.total(),
            accuracy: 1.0 - errors.total() as f64 / input.test_labels.len().max(1) as f64,
            class_accuracy,
            confusion: confusion_matrix(m.test, input.test_labels, c)?,
        })
    };
    let teacher = summary(&input.teacher)?;
    let student = input.student.as_ref().map(summary).transpose()?;
    let baseline = input.baseline.as_ref().map(summary).transpose()?;
    let disagreements = input
        .teacher
        .train
        .map(|train| disagreements(train, input.train_labels, c))
        .transpose()?;
    let fidelity = input
        .student
        .map(|s| -> Result<Fidelity> {
            let (test_agreement, test_kl) = agreement(input.teacher.test, s.test, c)?;
            let train = match (input.teacher.train, s.train) {
                (Some(t), Some(s)) => Some(agreement(t, s, c)?),
                _ => None,
            };
            Ok(Fidelity {
                test_agreement,
                test_kl,
                train_agreement: train.map(|t| t.0),
                train_kl: train.map(|t| t.1),
            })
        })
        .transpose()?;
    let mut diagnosis = Diagnosis {
        teacher,
        teacher_calibration: input.teacher_calibration.clone(),
        student,
        baseline,
        disagreements,
        fidelity,
        warnings: Vec::new(),
        saliency: Vec::new(),
    };
    diagnosis.warnings = rules::warnings(&diagnosis, thresholds);
    Ok(diagnosis)
}

/// Softmax (T = 1) of one row, in f64.
fn probabilities(row: &[f32]) -> Vec<f64> {
    let x: Vec<f64> = row.iter().map(|&v| v as f64).collect();
    let lse = log_sum_exp(&x, 1.0);
    x.iter().map(|v| (v - lse).exp()).collect()
}

fn disagreements(train: &[f32], labels: &[u8], classes: usize) -> Result<Disagreements> {
    check_len(
        "teacher training logits",
        labels.len() * classes,
        train.len(),
    )?;
    let mut found: Vec<Disagreement> = labels
        .iter()
        .enumerate()
        .filter_map(|(i, &y)| {
            let row = &train[i * classes..(i + 1) * classes];
            let top = argmax(row);
            (top != y as usize).then(|| Disagreement {
                index: i,
                label: y as usize,
                teacher_class: top,
                probability: probabilities(row)[top],
            })
        })
        .collect();
    let count = found.len();
    found.sort_by(|a, b| {
        b.probability
            .total_cmp(&a.probability)
            .then(a.index.cmp(&b.index))
    });
    found.truncate(LISTED_DISAGREEMENTS);
    Ok(Disagreements {
        count,
        fraction: count as f64 / labels.len().max(1) as f64,
        most_confident: found,
    })
}

/// Top-1 agreement and mean KL(teacher ‖ student) at T = 1 over rows of `classes`.
fn agreement(teacher: &[f32], student: &[f32], classes: usize) -> Result<(f64, f64)> {
    check_len("student logits", teacher.len(), student.len())?;
    let rows = teacher.len() / classes.max(1);
    let (mut same, mut kl) = (0usize, 0.0);
    for r in 0..rows {
        let (t, s) = (
            &teacher[r * classes..(r + 1) * classes],
            &student[r * classes..(r + 1) * classes],
        );
        same += usize::from(argmax(t) == argmax(s));
        let (p, q) = (probabilities(t), probabilities(s));
        kl += p
            .iter()
            .zip(&q)
            .filter(|(p, _)| **p > 0.0)
            .map(|(p, q)| p * (p.ln() - q.max(f64::MIN_POSITIVE).ln()))
            .sum::<f64>();
    }
    let n = rows.max(1) as f64;
    Ok((same as f64 / n, kl / n))
}
