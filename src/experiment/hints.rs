//! Hints (FitNets, Romero et al. 2015): the student's hidden layer regressed onto the
//! teacher's, added to KD (β = 1), or as a hint-only first stage before KD (the paper's
//! recipe), against scratch and plain KD.

use crate::error::Result;
use crate::experiment::beyond::baseline;
use crate::experiment::lab::{Lab, Objective};
use crate::experiment::{Data, Table};
use crate::train::HintConfig;

/// The share of the student's epochs the FitNets row spends on the hint alone (at least one).
pub const STAGE_SHARE: usize = 5;

pub(crate) fn run(lab: &mut Lab<'_>, data: &Data) -> Result<Table> {
    // The last hidden layer of each (the second where there are two).
    let teacher_layer = lab.scale.teacher.hidden.len().min(2);
    let student_layer = lab.scale.student.hidden.len().min(2);
    let mut table = Table::new(
        "hints",
        &format!(
            "hints from the teacher's hidden layer {teacher_layer} to the student's \
             {student_layer} (FitNets)"
        ),
        &[("test errors", 1), ("final hint MSE", 3)],
    );
    let joint = HintConfig {
        teacher_layer,
        student_layer,
        weight: 1.0,
        stage_epochs: 0,
    };
    let stage_epochs = (lab.scale.student.epochs / STAGE_SHARE).max(1) as u32;
    let fitnets = HintConfig {
        weight: 0.0,
        stage_epochs,
        ..joint
    };
    for &seed in &lab.scale.seeds.clone() {
        let base = baseline(lab, data, &mut table, seed)?;
        let recipe = lab.scale.student.clone();
        let kd = lab.scale.kd;
        for (method, hint) in [
            ("student: KD + hint (β = 1)", joint),
            ("student: FitNets (hint-only stage, then KD)", fitnets),
        ] {
            let objective = Objective::Hint(&base.logits, &base.teacher, hint);
            let (trainer, logs) =
                lab.fit_recipe(method, &recipe, &base.train, objective, base.init, kd)?;
            let mse = logs.iter().rev().find_map(|l| l.hint_mse);
            table.record(method, 0, base.errors(lab, trainer.student())?);
            if let Some(mse) = mse {
                table.record(method, 1, mse as f64);
            }
        }
    }
    table.notes.push(format!(
        "KD + hint: (1 − α)·CE + α·T²·KL + β·MSE(r(h_s), h_t) throughout, r a learned linear \
         regressor (not part of the student). FitNets: the first {stage_epochs} of the \
         student's epochs train only the layers up to the hinted one on the hint alone, the \
         rest plain KD. Final hint MSE: the mean over the last epoch in which the hint trained."
    ));
    Ok(table)
}
