//! Hinton et al. 2015, §3: a teacher that knows every class, a transfer set with no sample of
//! one class, and a student that learns that class from the soft targets of the others alone;
//! then the class's output bias raised by the amount that minimises errors on a validation
//! split of the training data (the paper chose it on the test set).

use crate::classes::ClassSet;
use crate::error::Result;
use crate::eval::ClassErrors;
use crate::experiment::lab::{Lab, Objective, Role};
use crate::experiment::{model_seed, Data, Table, HELD_OUT_CLASS};
use crate::model::Mlp;
use crate::DeviceDataset;

/// Bias shifts tried: 0 to `SHIFT_STEPS·SHIFT_STEP` in steps of `SHIFT_STEP` (logit units).
const SHIFT_STEP: f32 = 0.25;
const SHIFT_STEPS: usize = 80;

pub(crate) fn run(lab: &mut Lab<'_>, data: &Data) -> Result<Table> {
    let omitted = ClassSet::matching(data.classes, |c| c == HELD_OUT_CLASS)?;
    let kept = data.all_but(HELD_OUT_CLASS)?;
    let mut table = Table::new(
        "omitted-class",
        &format!(
            "a transfer set without any {HELD_OUT_CLASS}s; the class learnt from soft targets"
        ),
        &[
            ("test errors", 1),
            (&format!("errors on {HELD_OUT_CLASS}s"), 1),
            (&format!("class-{HELD_OUT_CLASS} bias shift"), 2),
        ],
    );
    let test = lab.upload(&data.test, data.classes)?;
    for &seed in &lab.scale.seeds.clone() {
        let record = |table: &mut Table, method: &str, errors: &ClassErrors| {
            table.record(method, 0, errors.total() as f64);
            table.record(method, 1, errors.on(&omitted) as f64);
        };
        let (fit, validation) = data
            .train
            .split(lab.scale.validation_fraction, model_seed(seed, 0))?;
        let fit_all = lab.upload(&fit, data.classes)?;
        let transfer = lab.upload(&fit.filter_classes(&kept)?, data.classes)?;
        let validation = lab.upload(&validation, data.classes)?;
        let teacher = lab.train(
            "teacher",
            Role::Teacher,
            &fit_all,
            Objective::CrossEntropy,
            model_seed(seed, 1),
            None,
        )?;
        record(
            &mut table,
            "teacher (all classes)",
            &lab.errors(&teacher, &test)?,
        );

        let student_seed = model_seed(seed, 2);
        let labels_only = lab.train(
            "labels only",
            Role::Student,
            &transfer,
            Objective::CrossEntropy,
            student_seed,
            None,
        )?;
        record(
            &mut table,
            &format!("student: labels only, no {HELD_OUT_CLASS}s"),
            &lab.errors(&labels_only, &test)?,
        );
        let logits = lab.teach(&teacher, &transfer)?;
        let student = lab.train(
            "distilled",
            Role::Student,
            &transfer,
            Objective::Kd(&logits),
            student_seed,
            None,
        )?;
        let distilled = format!("student: KD, no {HELD_OUT_CLASS}s");
        // One pass over the test set serves both rows: the shift only moves a logit.
        let test_logits = lab.logits(&student, &test)?;
        let plain = ClassErrors::count(&test_logits, test.labels(), data.classes, &[])?;
        record(&mut table, &distilled, &plain);
        table.record(&distilled, 2, 0.0);

        let shift = best_shift(lab, &student, &validation, data.classes)?;
        let shifts = held_out_shift(data.classes, shift);
        let shifted = ClassErrors::count(&test_logits, test.labels(), data.classes, &shifts)?;
        let method = format!("student: KD, no {HELD_OUT_CLASS}s, bias shifted");
        record(&mut table, &method, &shifted);
        table.record(&method, 2, shift as f64);
    }
    table.notes.push(format!(
        "The shift added to the class-{HELD_OUT_CLASS} logit is the one of 0, {SHIFT_STEP}, …, {} \
         with the fewest errors on a held-out {} of the training set (smallest on ties); the \
         teacher and students never train on that split.",
        SHIFT_STEP * SHIFT_STEPS as f32,
        lab.scale.validation_fraction
    ));
    Ok(table)
}

/// Per-class logit shifts: `shift` on `HELD_OUT_CLASS`, 0 elsewhere.
fn held_out_shift(classes: usize, shift: f32) -> Vec<f32> {
    (0..classes)
        .map(|c| if c == HELD_OUT_CLASS { shift } else { 0.0 })
        .collect()
}

/// The class-`HELD_OUT_CLASS` logit shift with the fewest errors on `validation`.
fn best_shift(
    lab: &Lab<'_>,
    student: &Mlp,
    validation: &DeviceDataset,
    classes: usize,
) -> Result<f32> {
    let logits = lab.logits(student, validation)?;
    let mut best = (usize::MAX, 0.0);
    for step in 0..=SHIFT_STEPS {
        let shift = step as f32 * SHIFT_STEP;
        let shifts = held_out_shift(classes, shift);
        let errors = ClassErrors::count(&logits, validation.labels(), classes, &shifts)?.total();
        if errors < best.0 {
            best = (errors, shift);
        }
    }
    Ok(best.1)
}
