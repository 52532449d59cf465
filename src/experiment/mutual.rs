//! Deep mutual learning (Zhang et al. 2018): two students of the student recipe trained
//! together from the labels and each other (T = 1, α = 0.5), with no teacher, against scratch
//! and plain KD from a trained teacher.

use crate::distill::KdConfig;
use crate::error::Result;
use crate::experiment::beyond::baseline;
use crate::experiment::lab::Lab;
use crate::experiment::{Data, Table};

/// Mutual learning's T and α (Zhang et al. used T = 1 and equal weights).
pub const MUTUAL: KdConfig = KdConfig {
    temperature: 1.0,
    alpha: 0.5,
};

pub(crate) fn run(lab: &mut Lab<'_>, data: &Data) -> Result<Table> {
    let mut table = Table::new(
        "mutual",
        "two students learning from each other (deep mutual learning), no teacher",
        &[("test errors", 1)],
    );
    for &seed in &lab.scale.seeds.clone() {
        let base = baseline(lab, data, &mut table, seed)?;
        let recipes = vec![lab.scale.student.clone(); 2];
        // Student 1 starts where the scratch and KD students do; student 2 elsewhere.
        let first = base.init;
        let pair = lab.train_mutual("mutual pair", &recipes, &base.train, first, MUTUAL)?;
        let mut errors = Vec::new();
        for (k, model) in pair.iter().enumerate() {
            let e = base.errors(lab, model)?;
            table.record(&format!("student: mutual, student {}", k + 1), 0, e);
            errors.push(e);
        }
        table.record(
            "student: mutual, mean of the pair",
            0,
            errors.iter().sum::<f64>() / errors.len() as f64,
        );
    }
    table.notes.push(format!(
        "Each mutual student: (1 − α)·CE + α·T²·KL(p_peer ‖ p_self) at T = {}, α = {}, the \
         peer's outputs on the same batch taken as fixed; both students step in one submit. \
         No teacher is involved; the teacher row is the one the KD row learns from.",
        MUTUAL.temperature, MUTUAL.alpha
    ));
    Ok(table)
}
