//! Two specialist teachers, one for each half of the classes, distilled into one student that
//! knows them all (each sample listens to the teacher that knows its label), against a
//! generalist teacher distilled the same way and a scratch student.

use crate::classes::ClassSet;
use crate::distill::WeightMode;
use crate::error::Result;
use crate::experiment::lab::{Lab, Objective, Panel, Role};
use crate::experiment::{model_seed, Data, Table};

pub(crate) fn run(lab: &mut Lab<'_>, data: &Data) -> Result<Table> {
    let half = data.classes / 2;
    let low = ClassSet::matching(data.classes, |c| c < half)?;
    let high = ClassSet::matching(data.classes, |c| c >= half)?;
    let mut table = Table::new(
        "specialists",
        &format!("specialist teachers of classes {low} and {high}, one student from both"),
        &[
            ("test errors", 1),
            (&format!("errors on {low}"), 1),
            (&format!("errors on {high}"), 1),
        ],
    );
    let train = lab.upload(&data.train, data.classes)?;
    let test = lab.upload(&data.test, data.classes)?;
    let low_train = lab.upload(&data.train.filter_classes(&low)?, data.classes)?;
    let high_train = lab.upload(&data.train.filter_classes(&high)?, data.classes)?;
    for &seed in &lab.scale.seeds.clone() {
        let mut record = |method: &str, errors: &crate::eval::ClassErrors| {
            table.record(method, 0, errors.total() as f64);
            table.record(method, 1, errors.on(&low) as f64);
            table.record(method, 2, errors.on(&high) as f64);
        };
        let ce = || Objective::CrossEntropy;
        let a = lab.train(
            "specialist A",
            Role::Teacher,
            &low_train,
            ce(),
            model_seed(seed, 1),
            None,
        )?;
        let b = lab.train(
            "specialist B",
            Role::Teacher,
            &high_train,
            ce(),
            model_seed(seed, 2),
            None,
        )?;
        let g = lab.train(
            "generalist",
            Role::Teacher,
            &train,
            ce(),
            model_seed(seed, 3),
            None,
        )?;
        record(
            &format!("teacher: specialist {low}"),
            &lab.errors(&a, &test)?,
        );
        record(
            &format!("teacher: specialist {high}"),
            &lab.errors(&b, &test)?,
        );
        record("teacher: generalist", &lab.errors(&g, &test)?);

        // Every student starts from the same initialisation: only the teacher signal differs.
        let student_seed = model_seed(seed, 4);
        let scratch = lab.train("scratch", Role::Student, &train, ce(), student_seed, None)?;
        record("student: scratch", &lab.errors(&scratch, &test)?);

        let logits = [lab.teach(&a, &train)?, lab.teach(&b, &train)?];
        let known = [low.clone(), high.clone()];
        let panel = Panel {
            logits: &[&logits[0], &logits[1]],
            known: &known,
            base_weights: &[1.0, 1.0],
            gates: None,
            mode: WeightMode::Uniform,
        };
        let from_both = lab.student_from("from specialists", &train, panel, student_seed)?;
        record(
            "student: KD from both specialists",
            &lab.errors(&from_both, &test)?,
        );

        let generalist = lab.teach(&g, &train)?;
        let objective = Objective::Kd(&generalist);
        let from_g = lab.train(
            "from generalist",
            Role::Student,
            &train,
            objective,
            student_seed,
            None,
        )?;
        record(
            "student: KD from the generalist",
            &lab.errors(&from_g, &test)?,
        );

        // The generalist knows which half a sample is in; the specialists add the detail.
        let known = [low.clone(), high.clone(), ClassSet::all(data.classes)];
        let panel = Panel {
            logits: &[&logits[0], &logits[1], &generalist],
            known: &known,
            base_weights: &[1.0, 1.0, 1.0],
            gates: None,
            mode: WeightMode::Uniform,
        };
        let combined = lab.student_from("specialists + generalist", &train, panel, student_seed)?;
        record(
            "student: KD from specialists + generalist",
            &lab.errors(&combined, &test)?,
        );
    }
    table.notes.push(
        "A specialist trains on the samples of its classes only; the student learns every \
         sample's KD term from the one specialist that knows its label (known-class masks, \
         uniform weights), the rest of the classes renormalised away, so nothing but the \
         (1 − α) cross-entropy share tells it which half a sample is in. With the generalist \
         added, each sample listens half to its specialist and half to the generalist."
            .into(),
    );
    Ok(table)
}
