//! What every experiment does: train a teacher or student with a given objective on a device
//! data set, and count its test errors per class.

use std::sync::Mutex;

use crate::classes::ClassSet;
use crate::data::{Dataset, DeviceDataset};
use crate::distill::{Combine, KdConfig, MultiKdConfig, TeacherLogits, Teachers, WeightMode};
use crate::error::Result;
use crate::eval::{logits, ClassErrors};
use crate::experiment::{Recipe, Scale};
use crate::gpu::GpuContext;
use crate::model::{Mlp, MlpSpec};
use crate::ops::dropout::Dropout;
use crate::ops::optim::Optimizer;
use crate::train::{
    fit, fit_mutual, DkdSchedule, EmaConfig, EpochLog, FitOptions, HintConfig, MutualTrainer,
    Trainer, TrainerConfig,
};

/// Logits are computed this many samples per submit.
const EVAL_CHUNK: usize = 512;

/// What a model is trained on besides the labels.
pub(crate) enum Objective<'a> {
    /// Labels only.
    CrossEntropy,
    /// One teacher that knows every class, with the scale's T and α.
    Kd(&'a TeacherLogits),
    /// Several or partial teachers, weighed per sample, mixture of KL terms.
    Multi(Teachers<'a>, WeightMode),
    /// Decoupled KD from one teacher.
    Dkd(&'a TeacherLogits, DkdSchedule),
    /// KD from one teacher's logits plus a hint from that teacher model's hidden layer.
    Hint(&'a TeacherLogits, &'a Mlp, HintConfig),
    /// An EMA teacher of the student, alone or beside a fixed teacher.
    Ema(Option<&'a TeacherLogits>, EmaConfig),
    /// Any single-teacher logit objective (a teacher-free one takes none).
    Logit(Option<&'a TeacherLogits>, crate::train::Objective),
}

/// Several (or partial, or gated) teachers for one student, and how they are weighed.
pub(crate) struct Panel<'a> {
    /// Each teacher's logits over the training set.
    pub logits: &'a [&'a TeacherLogits],
    /// The classes each knows.
    pub known: &'a [ClassSet],
    /// Base weights (fixed and accuracy modes).
    pub base_weights: &'a [f32],
    /// Per-sample gates `[N, K]`, if any.
    pub gates: Option<&'a [bool]>,
    /// The weighting.
    pub mode: WeightMode,
}

/// The shuffle and jitter seed of a model seeded `seed`: a mutual student sees the batches a
/// student of the same seed trained alone sees.
fn data_seed(seed: u64) -> u32 {
    seed as u32 ^ 0x5eed
}

/// Which of the scale's recipes to train with.
#[derive(Clone, Copy)]
pub(crate) enum Role {
    Teacher,
    Student,
}

/// An experiment's context: the GPU, the scale, and where progress lines go.
pub(crate) struct Lab<'a> {
    pub ctx: &'a GpuContext,
    pub scale: &'a Scale,
    pub progress: &'a mut dyn FnMut(&str),
}

impl Lab<'_> {
    /// Uploads a host data set with the experiment's class count.
    pub fn upload(&self, data: &Dataset, classes: usize) -> Result<DeviceDataset> {
        DeviceDataset::new(self.ctx, data, classes)
    }

    /// Trains a fresh model of `role`'s recipe (its epochs, unless `epochs` says otherwise)
    /// on `data` with `objective` and the scale's KD settings, seeded by `seed`.
    pub fn train(
        &mut self,
        what: &str,
        role: Role,
        data: &DeviceDataset,
        objective: Objective<'_>,
        seed: u64,
        epochs: Option<usize>,
    ) -> Result<Mlp> {
        let mut recipe = match role {
            Role::Teacher => self.scale.teacher.clone(),
            Role::Student => self.scale.student.clone(),
        };
        recipe.epochs = epochs.unwrap_or(recipe.epochs);
        self.train_recipe(what, &recipe, data, objective, seed, self.scale.kd)
    }

    /// Trains a fresh model of `recipe` on `data` with `objective` at `kd`, seeded by `seed`.
    pub fn train_recipe(
        &mut self,
        what: &str,
        recipe: &Recipe,
        data: &DeviceDataset,
        objective: Objective<'_>,
        seed: u64,
        kd: KdConfig,
    ) -> Result<Mlp> {
        let (trainer, _) = self.fit_recipe(what, recipe, data, objective, seed, kd)?;
        Ok(trainer.into_student())
    }

    /// A fresh model of `recipe` (seeded by `seed`) for `data`.
    fn model(&self, recipe: &Recipe, data: &DeviceDataset, seed: u64) -> Result<Mlp> {
        let sizes: Vec<usize> = std::iter::once(data.features())
            .chain(recipe.hidden.iter().copied())
            .chain(std::iter::once(data.classes()))
            .collect();
        Mlp::new(self.ctx, &MlpSpec::relu(&sizes)?, seed)
    }

    /// The optimizer and dropout of every model of `recipe`.
    fn base_config(&self, recipe: &Recipe, seed: u64) -> TrainerConfig {
        TrainerConfig::new(self.scale.batch_size, Optimizer::adam(self.scale.lr)).dropout(Dropout {
            p: recipe.dropout,
            seed: seed as u32,
        })
    }

    /// Like [`Lab::train_recipe`], returning the trainer (for an EMA teacher) and the epoch
    /// logs.
    pub fn fit_recipe(
        &mut self,
        what: &str,
        recipe: &Recipe,
        data: &DeviceDataset,
        objective: Objective<'_>,
        seed: u64,
        kd: KdConfig,
    ) -> Result<(Trainer, Vec<EpochLog>)> {
        let epochs = recipe.epochs;
        (self.progress)(&format!(
            "  {what}: {:?} hidden, {epochs} epochs on {} samples (seed {seed})",
            recipe.hidden,
            data.len()
        ));
        let model = self.model(recipe, data, seed)?;
        let config = self.base_config(recipe, seed);
        let jitter = recipe.jitter;
        let data_seed = data_seed(seed);
        let mut trainer = match objective {
            Objective::CrossEntropy => {
                let mut t = Trainer::new(self.ctx, model, &config)?;
                t.attach_dataset(self.ctx, data, None, jitter, data_seed)?;
                t
            }
            Objective::Kd(teacher) => {
                let mut t = Trainer::new(self.ctx, model, &config.kd(kd))?;
                t.attach_dataset(self.ctx, data, Some(teacher), jitter, data_seed)?;
                t
            }
            Objective::Multi(teachers, weights) => {
                let multi = MultiKdConfig {
                    temperature: kd.temperature,
                    alpha: kd.alpha,
                    weights,
                    combine: Combine::Mixture,
                };
                let mut t = Trainer::new(self.ctx, model, &config.multi_kd(multi))?;
                t.attach_teachers(self.ctx, data, &teachers, jitter, data_seed)?;
                t
            }
            Objective::Dkd(teacher, schedule) => {
                let mut t = Trainer::new(self.ctx, model, &config.dkd(schedule))?;
                t.attach_dataset(self.ctx, data, Some(teacher), jitter, data_seed)?;
                t
            }
            Objective::Hint(teacher, model_teacher, hint) => {
                let mut t = Trainer::new(self.ctx, model, &config.kd(kd).hint(hint))?;
                t.attach_dataset(self.ctx, data, Some(teacher), jitter, data_seed)?;
                t.attach_hint_teacher(self.ctx, model_teacher, seed ^ 0x4849_4e54)?;
                t
            }
            Objective::Logit(teacher, objective) => {
                let mut t = Trainer::new(self.ctx, model, &config.objective(objective))?;
                t.attach_dataset(self.ctx, data, teacher, jitter, data_seed)?;
                t
            }
            Objective::Ema(teacher, ema) => {
                let mut t = Trainer::new(self.ctx, model, &config.kd(kd).ema(ema))?;
                t.attach_dataset(self.ctx, data, teacher, jitter, data_seed)?;
                t
            }
        };
        let (logs, _) = fit(
            self.ctx,
            &mut trainer,
            data,
            FitOptions::new(epochs, seed),
            None,
            || {},
            |_, _| Ok(()),
        )?;
        Ok((trainer, logs))
    }

    /// Students of `recipes` (seeded `seed`, `seed + 1`, …) trained together by mutual
    /// learning at `kd`, for the student recipe's epochs.
    pub fn train_mutual(
        &mut self,
        what: &str,
        recipes: &[Recipe],
        data: &DeviceDataset,
        seed: u64,
        kd: KdConfig,
    ) -> Result<Vec<Mlp>> {
        let epochs = self.scale.student.epochs;
        (self.progress)(&format!(
            "  {what}: {} students, {epochs} epochs on {} samples (seed {seed})",
            recipes.len(),
            data.len()
        ));
        let models = recipes
            .iter()
            .zip(seed..)
            .map(|(r, s)| self.model(r, data, s))
            .collect::<Result<Vec<_>>>()?;
        let config = self.base_config(&self.scale.student, seed).kd(kd);
        let mut trainer = MutualTrainer::new(self.ctx, models, &config)?;
        trainer.attach_dataset(self.ctx, data, self.scale.student.jitter, data_seed(seed))?;
        fit_mutual(self.ctx, &mut trainer, data, (epochs, seed), |_, _| Ok(()))?;
        Ok(trainer.into_students())
    }

    /// Trains a student of the scale's recipe from `panel` (stacked for `data`).
    pub fn student_from(
        &mut self,
        what: &str,
        data: &DeviceDataset,
        panel: Panel<'_>,
        seed: u64,
    ) -> Result<Mlp> {
        let stacked = TeacherLogits::stack_gated(self.ctx, panel.logits, panel.gates)?;
        let teachers = Teachers {
            logits: &stacked,
            known: panel.known,
            base_weights: panel.base_weights,
        };
        let objective = Objective::Multi(teachers, panel.mode);
        self.train(what, Role::Student, data, objective, seed, None)
    }

    /// `model`'s logits for every sample of `data`, cached on the GPU as a teacher's.
    pub fn teach(&self, model: &Mlp, data: &DeviceDataset) -> Result<TeacherLogits> {
        TeacherLogits::compute(self.ctx, model, data, EVAL_CHUNK)
    }

    /// `model`'s logits for every sample of `data`, on the host.
    pub fn logits(&self, model: &Mlp, data: &DeviceDataset) -> Result<Vec<f32>> {
        logits(self.ctx, model, data, EVAL_CHUNK)
    }

    /// `model`'s errors per class on `data`.
    pub fn errors(&self, model: &Mlp, data: &DeviceDataset) -> Result<ClassErrors> {
        let logits = self.logits(model, data)?;
        ClassErrors::count(&logits, data.labels(), data.classes(), &[])
    }
}

/// Models trained earlier in this process, by a key naming everything that produced them:
/// the experiments beyond the logits share their teacher and baselines when run together.
/// Training is deterministic, so a cached model is the one training again would give.
static TRAINED: Mutex<Vec<(String, MlpSpec, Vec<f32>)>> = Mutex::new(Vec::new());

impl Lab<'_> {
    /// The model `key` names if this process trained it already, else `train`'s (remembered).
    /// `key` must name the model's role, seed, data and every setting that shapes it.
    pub fn shared(
        &mut self,
        (what, key): (&str, &str),
        train: impl FnOnce(&mut Self) -> Result<Mlp>,
    ) -> Result<Mlp> {
        let found = TRAINED
            .lock()
            .ok()
            .and_then(|t| t.iter().find(|(k, _, _)| k == key).cloned());
        if let Some((_, spec, params)) = found {
            (self.progress)(&format!("  {what}: trained earlier in this run"));
            return Mlp::from_parameters(self.ctx, &spec, &params);
        }
        let model = train(self)?;
        let params = model.parameters(self.ctx)?;
        if let Ok(mut t) = TRAINED.lock() {
            t.push((key.to_string(), model.spec().clone(), params));
        }
        Ok(model)
    }

    /// What identifies a model trained at this scale on `data` with `seed`, for [`Lab::shared`].
    pub fn key(&self, what: &str, data: &DeviceDataset, seed: u64) -> String {
        let labels: u64 = data.labels().iter().map(|&l| l as u64).sum();
        format!(
            "{what} seed {seed} on {} samples (label sum {labels}), {:?}",
            data.len(),
            self.scale
        )
    }
}
