//! An EMA teacher (mean teacher, Tarvainen & Valpola 2017): the student taught by the moving
//! average of its own weights, alone or beside the trained teacher, against scratch and plain
//! KD; and the EMA model's own errors.

use crate::distill::KdConfig;
use crate::error::Result;
use crate::experiment::beyond::baseline;
use crate::experiment::lab::{Lab, Objective};
use crate::experiment::{Data, Table};
use crate::train::EmaConfig;

/// The decay: about 100 steps of memory, under two epochs of these runs.
pub const DECAY: f32 = 0.99;

/// T and α when the EMA teacher teaches alone.
pub const ALONE: KdConfig = KdConfig {
    temperature: 4.0,
    alpha: 0.5,
};

pub(crate) fn run(lab: &mut Lab<'_>, data: &Data) -> Result<Table> {
    let mut table = Table::new(
        "ema",
        &format!("an EMA teacher of the student's own weights (decay {DECAY})"),
        &[("test errors", 1)],
    );
    let ema = EmaConfig {
        decay: DECAY,
        warmup_epochs: 1,
        update_every: 1,
    };
    for &seed in &lab.scale.seeds.clone() {
        let base = baseline(lab, data, &mut table, seed)?;
        let recipe = lab.scale.student.clone();
        let method = "student: EMA teacher alone";
        let objective = Objective::Ema(None, ema);
        let (trainer, _) =
            lab.fit_recipe(method, &recipe, &base.train, objective, base.init, ALONE)?;
        table.record(method, 0, base.errors(lab, trainer.student())?);
        if let Some(teacher) = trainer.ema_teacher() {
            table.record(
                "EMA model itself (alone run)",
                0,
                base.errors(lab, teacher)?,
            );
        }
        let method = "student: trained teacher + EMA teacher";
        let objective = Objective::Ema(Some(&base.logits), ema);
        let kd = lab.scale.kd;
        let model = lab.train_recipe(method, &recipe, &base.train, objective, base.init, kd)?;
        table.record(method, 0, base.errors(lab, &model)?);
    }
    table.notes.push(format!(
        "The EMA teacher follows the student from the first step (decay ramped as \
         min(d, 1 − 1/(t + 1))) and teaches from epoch 2. Alone: (1 − α)·CE + α·T²·KL to it at \
         T = {}, α = {}. With the trained teacher: the KL term is the mixture of both teachers' \
         KLs, half each, at the scale's T and α.",
        ALONE.temperature, ALONE.alpha
    ));
    Ok(table)
}
