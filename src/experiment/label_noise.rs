//! Noisy labels: 20 % of the training labels flipped (seeded) to another class; a teacher
//! trained on them, and students: scratch, KD keeping every KD term, KD dropping it where the
//! teacher confidently contradicts the (possibly flipped) label, and α = 1 (soft targets only).

use crate::classes::ClassSet;
use crate::data::{split_indices, Dataset};
use crate::distill::gating::disagreement_gates;
use crate::distill::{KdConfig, WeightMode};
use crate::error::Result;
use crate::experiment::lab::{Lab, Objective, Panel, Role};
use crate::experiment::{model_seed, Data, Table};
use crate::rng::SplitMix64;

/// Share of training labels flipped.
pub const NOISE: f64 = 0.2;
/// Teacher probability of a contradicting top class above which KD is dropped.
pub const THRESHOLD: f32 = 0.5;

pub(crate) fn run(lab: &mut Lab<'_>, data: &Data) -> Result<Table> {
    let mut table = Table::new(
        "label-noise",
        &format!(
            "{:.0} % of training labels flipped; a teacher trained on them",
            100.0 * NOISE
        ),
        &[("test errors", 1), ("KD terms dropped", 0)],
    );
    let test = lab.upload(&data.test, data.classes)?;
    for &seed in &lab.scale.seeds.clone() {
        let noisy = flip(&data.train, data.classes, model_seed(seed, 0))?;
        let train = lab.upload(&noisy, data.classes)?;
        let errors = |lab: &Lab<'_>, m| lab.errors(m, &test).map(|e| e.total() as f64);
        let teacher = lab.train(
            "teacher",
            Role::Teacher,
            &train,
            Objective::CrossEntropy,
            model_seed(seed, 1),
            None,
        )?;
        table.record("teacher (noisy labels)", 0, errors(lab, &teacher)?);
        let init = model_seed(seed, 2);
        let scratch = lab.train(
            "scratch",
            Role::Student,
            &train,
            Objective::CrossEntropy,
            init,
            None,
        )?;
        table.record("student: scratch", 0, errors(lab, &scratch)?);
        let logits = lab.teach(&teacher, &train)?;
        let keep = lab.train(
            "KD keep",
            Role::Student,
            &train,
            Objective::Kd(&logits),
            init,
            None,
        )?;
        table.record("student: KD, keep every term", 0, errors(lab, &keep)?);

        let gates = disagreement_gates(
            &logits.read(lab.ctx)?,
            train.labels(),
            data.classes,
            THRESHOLD,
        )?;
        let shut = gates.iter().filter(|g| !**g).count();
        let panel = Panel {
            logits: &[&logits],
            known: &[ClassSet::all(data.classes)],
            base_weights: &[1.0],
            gates: Some(&gates),
            mode: WeightMode::Uniform,
        };
        let dropped = lab.student_from("KD drop", &train, panel, init)?;
        let method = "student: KD, drop where the teacher contradicts the label";
        table.record(method, 0, errors(lab, &dropped)?);
        table.record(method, 1, shut as f64);

        let recipe = lab.scale.student.clone();
        let soft_only = KdConfig {
            alpha: 1.0,
            ..lab.scale.kd
        };
        let alpha_one = lab.train_recipe(
            "α = 1",
            &recipe,
            &train,
            Objective::Kd(&logits),
            init,
            soft_only,
        )?;
        table.record(
            "student: KD, α = 1 (no labels)",
            0,
            errors(lab, &alpha_one)?,
        );
    }
    table.notes.push(format!(
        "Each seed flips a different {:.0} % of the training labels to a uniformly drawn other \
         class; the test labels are clean. Drop: no KD term where the teacher's top class is not \
         the (noisy) label and has probability above {THRESHOLD}; those samples keep the \
         (1 − α) cross-entropy share.",
        100.0 * NOISE
    ));
    Ok(table)
}

/// `train` with a seeded `NOISE` share of its labels moved to another class.
fn flip(train: &Dataset, classes: usize, seed: u64) -> Result<Dataset> {
    let (_, chosen) = split_indices(train.len(), NOISE, seed)?;
    let mut noisy = train.clone();
    let mut rng = SplitMix64::new(seed ^ 0xf11b);
    for i in chosen {
        let shift = 1 + rng.below(classes - 1);
        noisy.labels[i] = ((noisy.labels[i] as usize + shift) % classes) as u8;
    }
    Ok(noisy)
}
