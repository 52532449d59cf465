//! Decoupled KD (Zhao et al. 2022) at the paper's A = 1, B = 8, T = 4, against scratch, plain
//! KD at the scale's T and plain KD at DKD's T = 4.

use crate::distill::KdConfig;
use crate::error::Result;
use crate::experiment::beyond::baseline;
use crate::experiment::lab::{Lab, Objective};
use crate::experiment::{Data, Table};
use crate::ops::dkd::DkdConfig;
use crate::train::DkdSchedule;

/// DKD's warm-up in epochs: the paper's 20 of 240 epochs is about a twelfth of training.
pub const WARMUP_EPOCHS: u32 = 1;

pub(crate) fn run(lab: &mut Lab<'_>, data: &Data) -> Result<Table> {
    let mut table = Table::new(
        "dkd",
        "decoupled KD (A = 1, T = 4; B = 8 as the paper, and B = 1) against KD",
        &[("test errors", 1)],
    );
    let paper = DkdConfig::paper();
    let schedule = DkdSchedule {
        loss: paper,
        warmup_epochs: WARMUP_EPOCHS,
    };
    for &seed in &lab.scale.seeds.clone() {
        let base = baseline(lab, data, &mut table, seed)?;
        let recipe = lab.scale.student.clone();
        let kd_at_4 = KdConfig {
            temperature: paper.temperature,
            ..lab.scale.kd
        };
        let method = "student: KD at T = 4";
        let objective = Objective::Kd(&base.logits);
        let model =
            lab.train_recipe(method, &recipe, &base.train, objective, base.init, kd_at_4)?;
        table.record(method, 0, base.errors(lab, &model)?);
        let kd = lab.scale.kd;
        let low_b = DkdSchedule {
            loss: DkdConfig {
                non_target_weight: 1.0,
                ..paper
            },
            ..schedule
        };
        for (method, schedule) in [
            ("student: DKD (B = 8)", schedule),
            ("student: DKD (B = 1)", low_b),
        ] {
            let objective = Objective::Dkd(&base.logits, schedule);
            let model = lab.train_recipe(method, &recipe, &base.train, objective, base.init, kd)?;
            table.record(method, 0, base.errors(lab, &model)?);
        }
    }
    table.notes.push(format!(
        "DKD: CE + w·T²·(A·TCKD + B·NCKD), w rising linearly to 1 over {WARMUP_EPOCHS} epoch(s) \
         (the paper's 20 of 240 scaled to these runs); the CE weight is 1, so the scale's α \
         does not apply to it."
    ));
    Ok(table)
}
