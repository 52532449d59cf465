//! Three teachers from different seeds plus a deliberately weak one (one epoch), distilled
//! into one student five ways: from the best single teacher (chosen on a validation split),
//! uniform, accuracy-weighted, confidence-weighted and routed.

use crate::classes::ClassSet;
use crate::distill::{TeacherLogits, WeightMode};
use crate::error::Result;
use crate::experiment::lab::{Lab, Objective, Panel, Role};
use crate::experiment::{model_seed, Data, Table};
use crate::model::Mlp;
use crate::ops::multi_kd::reference::teacher_weights;
use crate::ops::softmax::reference::log_sum_exp;

/// Good teachers per repetition (plus one weak).
const GOOD_TEACHERS: usize = 3;
/// Epochs of the weak teacher.
const WEAK_EPOCHS: usize = 1;

pub(crate) fn run(lab: &mut Lab<'_>, data: &Data) -> Result<Table> {
    let mut table = Table::new(
        "ensemble",
        &format!(
            "{GOOD_TEACHERS} teachers from different seeds and a weak one ({WEAK_EPOCHS} epoch)"
        ),
        &[("test errors", 1), ("weight on the weak teacher", 3)],
    );
    let test = lab.upload(&data.test, data.classes)?;
    for &seed in &lab.scale.seeds.clone() {
        let (fit, validation) = data
            .train
            .split(lab.scale.validation_fraction, model_seed(seed, 0))?;
        let train = lab.upload(&fit, data.classes)?;
        let validation = lab.upload(&validation, data.classes)?;
        let mut models = Vec::new();
        for k in 0..=GOOD_TEACHERS {
            let weak = k == GOOD_TEACHERS;
            models.push(lab.train(
                if weak { "weak teacher" } else { "teacher" },
                Role::Teacher,
                &train,
                Objective::CrossEntropy,
                model_seed(seed, 1 + k as u64),
                weak.then_some(WEAK_EPOCHS),
            )?);
        }
        let accuracy: Vec<f32> = models
            .iter()
            .map(|m| {
                let e = lab.errors(m, &validation)?;
                Ok(1.0 - e.total() as f32 / validation.len() as f32)
            })
            .collect::<Result<_>>()?;
        let best = (0..GOOD_TEACHERS)
            .max_by(|&a, &b| accuracy[a].total_cmp(&accuracy[b]).then(b.cmp(&a)))
            .unwrap_or(0);
        let errors = |lab: &Lab<'_>, m: &Mlp| lab.errors(m, &test).map(|e| e.total() as f64);
        table.record(
            "teacher: best of 3 (validation)",
            0,
            errors(lab, &models[best])?,
        );
        table.record(
            &format!("teacher: weak ({WEAK_EPOCHS} epoch)"),
            0,
            errors(lab, &models[GOOD_TEACHERS])?,
        );

        let student_seed = model_seed(seed, 10);
        let scratch = lab.train(
            "scratch",
            Role::Student,
            &train,
            Objective::CrossEntropy,
            student_seed,
            None,
        )?;
        table.record("student: scratch", 0, errors(lab, &scratch)?);

        let logits: Vec<TeacherLogits> = models
            .iter()
            .map(|m| lab.teach(m, &train))
            .collect::<Result<_>>()?;
        let single = lab.train(
            "best single",
            Role::Student,
            &train,
            Objective::Kd(&logits[best]),
            student_seed,
            None,
        )?;
        table.record(
            "student: KD from the best single teacher",
            0,
            errors(lab, &single)?,
        );

        let all: Vec<&TeacherLogits> = logits.iter().collect();
        let known = vec![ClassSet::all(data.classes); models.len()];
        let host_logits: Vec<Vec<f32>> = logits
            .iter()
            .map(|l| l.read(lab.ctx))
            .collect::<Result<_>>()?;
        let modes = [
            ("uniform", WeightMode::Uniform),
            ("accuracy", WeightMode::Accuracy),
            ("confidence", WeightMode::Confidence),
            ("route", WeightMode::Route),
        ];
        for (name, mode) in modes {
            let panel = Panel {
                logits: &all,
                known: &known,
                base_weights: &accuracy,
                gates: None,
                mode,
            };
            let student = lab.student_from(name, &train, panel, student_seed)?;
            let method = format!("student: KD from all 4, {name}");
            table.record(&method, 0, errors(lab, &student)?);
            let weak_weight = mean_weight(
                &host_logits,
                train.labels(),
                data.classes,
                mode,
                &accuracy,
                GOOD_TEACHERS,
            );
            table.record(&method, 1, weak_weight);
        }
    }
    table.notes.push(
        "Accuracy weights are each teacher's accuracy on a held-out share of the training set \
         (which no model trains on); the best single teacher is chosen there too. The weight on \
         the weak teacher is its mean per-sample weight over the training set."
            .into(),
    );
    Ok(table)
}

/// Mean over samples of teacher `which`'s weight under `mode`, from the teachers' logits
/// `[K][len·classes]` (all teachers know every class).
fn mean_weight(
    logits: &[Vec<f32>],
    labels: &[u8],
    classes: usize,
    mode: WeightMode,
    base: &[f32],
    which: usize,
) -> f64 {
    let base: Vec<f64> = base.iter().map(|&b| b as f64).collect();
    let eligible = vec![true; logits.len()];
    let total: f64 = labels
        .iter()
        .enumerate()
        .map(|(i, &y)| {
            let confidence: Vec<f64> = logits
                .iter()
                .map(|l| {
                    let row: Vec<f64> = l[i * classes..(i + 1) * classes]
                        .iter()
                        .map(|&v| v as f64)
                        .collect();
                    row[y as usize] - log_sum_exp(&row, 1.0)
                })
                .collect();
            teacher_weights(mode, &eligible, &base, &confidence)[which]
        })
        .sum();
    total / labels.len().max(1) as f64
}
