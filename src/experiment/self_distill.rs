//! Distillation without a bigger teacher, and across a capacity gap.
//!
//! - Born-again networks (Furlanello et al. 2018): generation 0 is the scale's student trained
//!   from labels (the shared scratch student); generation g + 1, of the same architecture and
//!   a fresh initialisation, is distilled from generation g; then the ensemble of the
//!   generations (the mean of their softmax outputs on the test set).
//! - A teacher assistant (Mirzadeh et al. 2020): a 30-unit student, where KD from the scale's
//!   teacher at T = 20 was worse than scratch in the `losses` experiment, is distilled from a
//!   100-unit assistant that was itself distilled from the teacher; against the same small
//!   student from scratch and distilled directly.

use crate::data::DeviceDataset;
use crate::error::Result;
use crate::experiment::beyond::{baseline, KD, SCRATCH, TEACHER};
use crate::experiment::lab::{Lab, Objective};
use crate::experiment::{model_seed, Data, Recipe, Table};
use crate::model::Mlp;
use crate::ops::softmax::reference::log_sum_exp;

/// Born-again generations after generation 0 at the full scale (the paper trains three or more).
pub const FULL_GENERATIONS: usize = 3;
/// Born-again generations after generation 0 at the quick scale.
pub const QUICK_GENERATIONS: usize = 2;
/// Hidden units of the small student across the capacity gap (the `losses` experiment's).
pub const SMALL_HIDDEN: usize = 30;
/// Hidden units of the teacher assistant, between the small student and the teacher.
pub const ASSISTANT_HIDDEN: usize = 100;

/// Row names.
pub const ASSISTANT_SCRATCH: &str = "assistant (100): scratch";
pub const ASSISTANT_KD: &str = "assistant (100): KD from the teacher";
pub const SMALL_SCRATCH: &str = "small (30): scratch";
pub const SMALL_KD: &str = "small (30): KD from the teacher";
pub const SMALL_VIA_ASSISTANT: &str = "small (30): KD from the assistant (TAKD)";

/// The name of born-again generation `g` (g ≥ 1).
pub fn generation_row(g: usize) -> String {
    format!("born-again: generation {g} (from generation {})", g - 1)
}

/// The name of the ensemble of generations `first..=last`.
pub fn ensemble_row(first: usize, last: usize) -> String {
    format!("born-again: ensemble of generations {first}–{last}")
}

/// Test errors and mean negative log-likelihood (T = 1) from class probabilities
/// `[samples, classes]`.
fn score_probabilities(probabilities: &[f64], labels: &[u8], classes: usize) -> (f64, f64) {
    let (mut errors, mut nll) = (0usize, 0.0);
    for (row, &y) in probabilities.chunks_exact(classes).zip(labels) {
        // The first largest probability, as the GPU's argmax picks the first largest logit.
        let top = (0..classes).fold(0, |best, c| if row[c] > row[best] { c } else { best });
        errors += usize::from(top != y as usize);
        nll -= row[y as usize].max(f64::MIN_POSITIVE).ln();
    }
    (errors as f64, nll / labels.len().max(1) as f64)
}

/// Softmax (T = 1) of every row of `logits`, in f64.
fn probabilities(logits: &[f32], classes: usize) -> Vec<f64> {
    logits
        .chunks_exact(classes)
        .flat_map(|row| {
            let row: Vec<f64> = row.iter().map(|&v| v as f64).collect();
            let lse = log_sum_exp(&row, 1.0);
            row.into_iter().map(move |v| (v - lse).exp())
        })
        .collect()
}

/// One model's test probabilities, and a way to record scores in the table.
struct Scorer<'t> {
    test: &'t DeviceDataset,
}

impl Scorer<'_> {
    /// `model`'s test probabilities.
    fn probabilities(&self, lab: &Lab<'_>, model: &Mlp) -> Result<Vec<f64>> {
        Ok(probabilities(
            &lab.logits(model, self.test)?,
            self.test.classes(),
        ))
    }

    /// Records test errors and NLL of `probabilities` as `method`.
    fn record(&self, table: &mut Table, method: &str, probabilities: &[f64]) {
        let (errors, nll) =
            score_probabilities(probabilities, self.test.labels(), self.test.classes());
        table.record(method, 0, errors);
        table.record(method, 1, nll);
    }

    /// Records `model`'s test errors and NLL as `method`.
    fn record_model(
        &self,
        lab: &Lab<'_>,
        table: &mut Table,
        method: &str,
        model: &Mlp,
    ) -> Result<()> {
        let p = self.probabilities(lab, model)?;
        self.record(table, method, &p);
        Ok(())
    }
}

/// The mean of several models' probabilities.
fn average(members: &[Vec<f64>]) -> Vec<f64> {
    let n = members.len().max(1) as f64;
    let len = members.first().map_or(0, Vec::len);
    (0..len)
        .map(|i| members.iter().map(|m| m[i]).sum::<f64>() / n)
        .collect()
}

pub(crate) fn run(lab: &mut Lab<'_>, data: &Data, generations: usize) -> Result<Table> {
    let mut table = Table::new(
        "self-distill",
        "born-again generations of the student, and a teacher assistant for a 30-unit student",
        &[("test errors", 1), ("test NLL", 3)],
    );
    let kd = lab.scale.kd;
    let student = lab.scale.student.clone();
    let narrow = |width: usize| Recipe {
        hidden: vec![width],
        ..student.clone()
    };
    for &seed in &lab.scale.seeds.clone() {
        let base = baseline(lab, data, &mut table, seed)?;
        let scorer = Scorer { test: &base.test };
        let train = &base.train;
        // Generation 0 is the shared scratch student (trained by `baseline`, recalled here).
        let scratch_key = lab.key("scratch", train, seed);
        let gen0 = lab.shared(("scratch", &scratch_key), |lab| {
            let objective = Objective::CrossEntropy;
            lab.train_recipe("scratch", &student, train, objective, base.init, kd)
        })?;
        let kd_key = lab.key("kd", train, seed);
        let direct = lab.shared(("KD", &kd_key), |lab| {
            let objective = Objective::Kd(&base.logits);
            lab.train_recipe("KD", &student, train, objective, base.init, kd)
        })?;
        // `baseline` recorded the shared rows' errors; their NLL goes beside them.
        let mut members = vec![scorer.probabilities(lab, &gen0)?];
        for (method, p) in [
            (TEACHER, scorer.probabilities(lab, &base.teacher)?),
            (SCRATCH, members[0].clone()),
            (KD, scorer.probabilities(lab, &direct)?),
        ] {
            let (_, nll) = score_probabilities(&p, base.test.labels(), base.test.classes());
            table.record(method, 1, nll);
        }
        let mut previous = gen0;
        for g in 1..=generations {
            let teacher = lab.teach(&previous, train)?;
            let name = generation_row(g);
            let init = model_seed(seed, 20 + g as u64);
            let objective = Objective::Kd(&teacher);
            let model = lab.train_recipe(&name, &student, train, objective, init, kd)?;
            let p = scorer.probabilities(lab, &model)?;
            scorer.record(&mut table, &name, &p);
            members.push(p);
            previous = model;
        }
        scorer.record(
            &mut table,
            &ensemble_row(0, generations),
            &average(&members),
        );
        if generations > 1 {
            let row = ensemble_row(1, generations);
            scorer.record(&mut table, &row, &average(&members[1..]));
        }

        // Teacher → assistant → small student, beside the small student's scratch and direct KD.
        let (small, assistant) = (narrow(SMALL_HIDDEN), narrow(ASSISTANT_HIDDEN));
        let small_init = model_seed(seed, 30);
        let assistant_init = model_seed(seed, 31);
        let ce = Objective::CrossEntropy;
        let m = lab.train_recipe(ASSISTANT_SCRATCH, &assistant, train, ce, assistant_init, kd)?;
        scorer.record_model(lab, &mut table, ASSISTANT_SCRATCH, &m)?;
        let from_teacher = Objective::Kd(&base.logits);
        let ta = lab.train_recipe(
            ASSISTANT_KD,
            &assistant,
            train,
            from_teacher,
            assistant_init,
            kd,
        )?;
        scorer.record_model(lab, &mut table, ASSISTANT_KD, &ta)?;
        let ce = Objective::CrossEntropy;
        let m = lab.train_recipe(SMALL_SCRATCH, &small, train, ce, small_init, kd)?;
        scorer.record_model(lab, &mut table, SMALL_SCRATCH, &m)?;
        let from_teacher = Objective::Kd(&base.logits);
        let m = lab.train_recipe(SMALL_KD, &small, train, from_teacher, small_init, kd)?;
        scorer.record_model(lab, &mut table, SMALL_KD, &m)?;
        let ta_logits = lab.teach(&ta, train)?;
        let from_ta = Objective::Kd(&ta_logits);
        let m = lab.train_recipe(SMALL_VIA_ASSISTANT, &small, train, from_ta, small_init, kd)?;
        scorer.record_model(lab, &mut table, SMALL_VIA_ASSISTANT, &m)?;
    }
    table.notes.push(format!(
        "Every distilled model here learns at the scale's T = {} and α = {} (so born-again \
         students see the labels too, where Furlanello et al. match the teacher's outputs only); \
         each generation starts from a fresh initialisation. Generation 0 is the scratch \
         student. Ensembles average the members' softmax outputs (T = 1) on the test set. The \
         assistant and small students have one hidden layer of {ASSISTANT_HIDDEN} and \
         {SMALL_HIDDEN} units and the students' other settings; the assistant-taught and \
         directly-taught small students share an initialisation with the small scratch one.",
        kd.temperature, kd.alpha
    ));
    Ok(table)
}
