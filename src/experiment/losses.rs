//! The logit losses side by side, each from the same teacher and the same initialisation:
//! scratch, KD, DKD, the generalized JSD at β = 0.5 and the reverse KL (trl's GKD), logit MSE (Ba & Caruana 2014), logit standardization (Sun et al. 2024)
//! and the teacher-free baseline (Yuan et al. 2020), which shows what label smoothing alone
//! gives without a teacher.

use crate::error::Result;
use crate::experiment::beyond::baseline;
use crate::experiment::lab::{Lab, Objective};
use crate::experiment::{Data, Table};
use crate::ops::dkd::DkdConfig;
use crate::ops::gjsd::GjsdConfig;
use crate::ops::logit_mse::LogitMseConfig;
use crate::ops::logit_std::LogitStdConfig;
use crate::ops::tf_kd::TfKdConfig;
use crate::train::{DkdSchedule, Objective as Loss};

pub(crate) fn run(lab: &mut Lab<'_>, data: &Data) -> Result<Table> {
    let mut table = Table::new(
        "losses",
        "every logit loss from the same teacher and initialisation, beside scratch",
        &[("test errors", 1)],
    );
    let kd = lab.scale.kd;
    let losses: [(&str, Loss); 6] = [
        (
            "student: DKD (A = 1, B = 8, T = 4)",
            Loss::Dkd(DkdSchedule {
                loss: DkdConfig::paper(),
                warmup_epochs: super::dkd::WARMUP_EPOCHS,
            }),
        ),
        (
            "student: JSD (β = 0.5)",
            Loss::Gjsd(GjsdConfig {
                temperature: kd.temperature,
                alpha: kd.alpha,
                beta: 0.5,
            }),
        ),
        (
            "student: reverse KL",
            Loss::Gjsd(GjsdConfig::reverse_kl(kd.temperature, kd.alpha)),
        ),
        (
            "student: logit MSE",
            Loss::LogitMse(LogitMseConfig { alpha: kd.alpha }),
        ),
        (
            "student: logit standardization (T = 2)",
            Loss::LogitStd(LogitStdConfig {
                alpha: kd.alpha,
                ..LogitStdConfig::paper()
            }),
        ),
        (
            "student: teacher-free (Tf-KD, the authors' settings)",
            Loss::TfKd(TfKdConfig::paper()),
        ),
    ];
    for &seed in &lab.scale.seeds.clone() {
        let base = baseline(lab, data, &mut table, seed)?;
        let recipe = lab.scale.student.clone();
        for (method, loss) in losses {
            let teacher = loss.needs_teacher().then_some(&base.logits);
            let objective = Objective::Logit(teacher, loss);
            let model = lab.train_recipe(method, &recipe, &base.train, objective, base.init, kd)?;
            table.record(method, 0, base.errors(lab, &model)?);
        }
    }
    table.notes.push(format!(
        "KD, JSD and reverse KL at the scale's T and α (T = {}, α = {}); logit MSE at that α; logit \
         standardization at its paper's T = 2 and the scale's α; DKD as in the dkd experiment; \
         Tf-KD with no teacher at the authors' ResNet18 settings (a = 0.99, T = 20, α = 0.1, \
         multiplier 100).",
        kd.temperature, kd.alpha
    ));
    Ok(table)
}
