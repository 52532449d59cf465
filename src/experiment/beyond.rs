//! What the experiments beyond the logits share: per seed, a teacher trained at the scale's
//! teacher recipe, its logits over the training set, and the scratch and plain-KD students
//! the methods are measured against (trained once per process and seed when several of these
//! experiments run together).

use crate::data::DeviceDataset;
use crate::distill::TeacherLogits;
use crate::error::Result;
use crate::experiment::lab::{Lab, Objective, Role};
use crate::experiment::{model_seed, Data, Table};
use crate::model::Mlp;

/// Row names of the shared rows.
pub const TEACHER: &str = "teacher";
pub const SCRATCH: &str = "student: scratch";
pub const KD: &str = "student: KD";

/// One seed's teacher, data and student initialisation seed.
pub(crate) struct Baseline {
    pub teacher: Mlp,
    pub logits: TeacherLogits,
    pub train: DeviceDataset,
    pub test: DeviceDataset,
    /// Every student of the seed starts from this initialisation seed.
    pub init: u64,
}

impl Baseline {
    /// Test errors of `model`.
    pub fn errors(&self, lab: &Lab<'_>, model: &Mlp) -> Result<f64> {
        Ok(lab.errors(model, &self.test)?.total() as f64)
    }
}

/// Trains (or recalls) seed `seed`'s teacher, scratch and KD students and records their test
/// errors in column 0 of `table`.
pub(crate) fn baseline(
    lab: &mut Lab<'_>,
    data: &Data,
    table: &mut Table,
    seed: u64,
) -> Result<Baseline> {
    let train = lab.upload(&data.train, data.classes)?;
    let test = lab.upload(&data.test, data.classes)?;
    let teacher_key = lab.key("teacher", &train, seed);
    let teacher = lab.shared(("teacher", &teacher_key), |lab| {
        let objective = Objective::CrossEntropy;
        let seed = model_seed(seed, 1);
        lab.train("teacher", Role::Teacher, &train, objective, seed, None)
    })?;
    let logits = lab.teach(&teacher, &train)?;
    let init = model_seed(seed, 2);
    let scratch_key = lab.key("scratch", &train, seed);
    let scratch = lab.shared(("scratch", &scratch_key), |lab| {
        let objective = Objective::CrossEntropy;
        lab.train("scratch", Role::Student, &train, objective, init, None)
    })?;
    let kd_key = lab.key("kd", &train, seed);
    let kd = lab.shared(("KD", &kd_key), |lab| {
        let objective = Objective::Kd(&logits);
        lab.train("KD", Role::Student, &train, objective, init, None)
    })?;
    let base = Baseline {
        teacher,
        logits,
        train,
        test,
        init,
    };
    table.record(TEACHER, 0, base.errors(lab, &base.teacher)?);
    table.record(SCRATCH, 0, base.errors(lab, &scratch)?);
    table.record(KD, 0, base.errors(lab, &kd)?);
    Ok(base)
}
