//! A teacher that never saw one class (a novel class to it) and students on every class:
//! scratch, blind KD (the teacher's meaningless output for that class taken at face value)
//! and partial KD (that class masked out of the KD term; its samples get cross-entropy only).

use crate::classes::ClassSet;
use crate::distill::WeightMode;
use crate::error::Result;
use crate::experiment::lab::{Lab, Objective, Panel, Role};
use crate::experiment::{model_seed, Data, Table, HELD_OUT_CLASS};

pub(crate) fn run(lab: &mut Lab<'_>, data: &Data) -> Result<Table> {
    let known = data.all_but(HELD_OUT_CLASS)?;
    let novel = ClassSet::matching(data.classes, |c| c == HELD_OUT_CLASS)?;
    let mut table = Table::new(
        "novel-class",
        &format!("a teacher trained without class {HELD_OUT_CLASS}; students on every class"),
        &[
            ("test errors", 1),
            (&format!("errors on {HELD_OUT_CLASS}s"), 1),
        ],
    );
    let train = lab.upload(&data.train, data.classes)?;
    let test = lab.upload(&data.test, data.classes)?;
    let teacher_train = lab.upload(&data.train.filter_classes(&known)?, data.classes)?;
    for &seed in &lab.scale.seeds.clone() {
        let mut record = |method: &str, errors: &crate::eval::ClassErrors| {
            table.record(method, 0, errors.total() as f64);
            table.record(method, 1, errors.on(&novel) as f64);
        };
        let teacher = lab.train(
            "teacher",
            Role::Teacher,
            &teacher_train,
            Objective::CrossEntropy,
            model_seed(seed, 1),
            None,
        )?;
        record(
            &format!("teacher (never saw {HELD_OUT_CLASS})"),
            &lab.errors(&teacher, &test)?,
        );
        let student_seed = model_seed(seed, 2);
        let scratch = lab.train(
            "scratch",
            Role::Student,
            &train,
            Objective::CrossEntropy,
            student_seed,
            None,
        )?;
        record("student: scratch", &lab.errors(&scratch, &test)?);

        let logits = lab.teach(&teacher, &train)?;
        let blind = lab.train(
            "blind KD",
            Role::Student,
            &train,
            Objective::Kd(&logits),
            student_seed,
            None,
        )?;
        record("student: blind KD", &lab.errors(&blind, &test)?);

        let panel = Panel {
            logits: &[&logits],
            known: std::slice::from_ref(&known),
            base_weights: &[1.0],
            gates: None,
            mode: WeightMode::Uniform,
        };
        let partial = lab.student_from("partial KD", &train, panel, student_seed)?;
        record(
            &format!("student: partial KD ({HELD_OUT_CLASS} masked)"),
            &lab.errors(&partial, &test)?,
        );
    }
    table.notes.push(format!(
        "Blind KD softens the teacher over all classes, so every sample, {HELD_OUT_CLASS}s \
         included, is told class {HELD_OUT_CLASS} is unlikely. Partial KD renormalises teacher \
         and student over the classes the teacher knows; {HELD_OUT_CLASS}s get no KD term, only \
         the (1 − α) cross-entropy share."
    ));
    Ok(table)
}
