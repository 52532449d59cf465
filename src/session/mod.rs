//! Training runs for apps that embed the crate: a builder for one model's whole run (sizes,
//! optimizer and objective, teacher, epochs, seeds, test set, checkpoints), progress events
//! through a callback, cancellation from any thread, and resumable checkpoints. The `distill`
//! binary trains every model through it.
//!
//! ```
//! use distill_wgpu::data::{bundled_dir, read_dir, DeviceDataset};
//! use distill_wgpu::session::{Progress, RunOutcome, TrainingRun};
//! use distill_wgpu::{ContextOptions, GpuContext, Optimizer, TrainerConfig};
//!
//! # fn main() -> distill_wgpu::Result<()> {
//! # if std::env::var_os("DISTILL_WGPU_SKIP_GPU_TESTS").is_some() { return Ok(()); }
//! let ctx = GpuContext::new(&ContextOptions::default())?;
//! let data = read_dir(&bundled_dir())?;
//! let train = DeviceDataset::new(&ctx, &data.train.head(64), data.classes)?;
//! let run = TrainingRun::new(&[16], TrainerConfig::new(32, Optimizer::adam(1e-3)))
//!     .epochs(2)
//!     .seed(7);
//! let mut epochs_seen = 0;
//! let outcome = run.run(&ctx, &train, |event| {
//!     if let Progress::Epoch { log, .. } = event {
//!         epochs_seen += 1;
//!         println!("epoch {} loss {:.3}", log.epoch, log.loss.total);
//!     }
//! })?;
//! let RunOutcome::Finished(trained) = outcome else { unreachable!("nothing cancels it") };
//! assert_eq!((epochs_seen, trained.logs.len()), (2, 2));
//! assert_eq!(trained.model.spec().sizes, vec![784, 16, 10]);
//! # Ok(())
//! # }
//! ```

mod events;
mod resume;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

pub use events::{CancelToken, Progress, RunOutcome, TrainedModel};
pub use resume::{CheckpointPlan, ExpectedSettings, RunSettings, TeacherKind};

use crate::data::DeviceDataset;
use crate::distill::{TeacherLogits, Teachers};
use crate::error::{Error, Result};
use crate::eval::evaluate;
use crate::files::write_atomic;
use crate::gpu::GpuContext;
use crate::model::prune::prune_magnitude;
use crate::model::{Mlp, MlpSpec};
use crate::train::{fit, Checkpoint, EpochLog, FitEnd, FitOptions, FitPosition, Trainer};
use crate::TrainerConfig;
use resume::resumed_test_errors;

/// Rows per pass when a teacher model's logits are cached over the training set.
const TEACHER_BATCH: usize = 512;

/// Where a run's teacher signal comes from.
#[derive(Debug, Clone, Copy, Default)]
pub enum RunTeacher<'a> {
    /// None: cross-entropy, unless the config's EMA teacher or mutual peers teach.
    #[default]
    None,
    /// A teacher model: its logits over the training set are computed once, at the start.
    Model(&'a Mlp),
    /// Logits already cached for the training set.
    Logits(&'a TeacherLogits),
    /// Several (or partial) teachers; the config's `multi_kd` says how they are weighed.
    Several(&'a Teachers<'a>),
}

/// One model's training run, built up and then [`run`](TrainingRun::run) over a device data
/// set. Every setting has a default but the sizes and the [`TrainerConfig`].
#[derive(Debug, Clone)]
pub struct TrainingRun<'a> {
    hidden: Vec<usize>,
    spec: Option<MlpSpec>,
    config: TrainerConfig,
    epochs: usize,
    seed: u64,
    init_seed: Option<u64>,
    init: Option<&'a [f32]>,
    jitter: u32,
    teacher: RunTeacher<'a>,
    hint_teacher: Option<&'a Mlp>,
    test: Option<&'a DeviceDataset>,
    checkpoint: Option<CheckpointPlan>,
    settings: Option<serde_json::Value>,
    cancel: Option<CancelToken>,
}

impl<'a> TrainingRun<'a> {
    /// A run of a ReLU MLP with `hidden` widths (inputs and classes come from the data),
    /// trained with `config`: 10 epochs, seed 1, no teacher, no test set, no checkpoint.
    pub fn new(hidden: &[usize], config: TrainerConfig) -> Self {
        Self {
            hidden: hidden.to_vec(),
            spec: None,
            config,
            epochs: 10,
            seed: 1,
            init_seed: None,
            init: None,
            jitter: 0,
            teacher: RunTeacher::None,
            hint_teacher: None,
            test: None,
            checkpoint: None,
            settings: None,
            cancel: None,
        }
    }

    /// The student's full spec (sizes and activation) instead of the hidden widths; its
    /// inputs and classes must match the data.
    pub fn spec(mut self, spec: MlpSpec) -> Self {
        self.spec = Some(spec);
        self
    }

    /// Epochs in the whole run (a resumed run counts those before the checkpoint).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Seed of the shuffles and jitter, and of the initialisation unless
    /// [`init_seed`](Self::init_seed) says otherwise.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Seed of the weights' initialisation alone.
    pub fn init_seed(mut self, seed: u64) -> Self {
        self.init_seed = Some(seed);
        self
    }

    /// Parameters to start from (the layout [`Mlp::parameters`] gives) instead of a seeded
    /// initialisation.
    pub fn init(mut self, parameters: &'a [f32]) -> Self {
        self.init = Some(parameters);
        self
    }

    /// Shift each training image by up to ±`pixels` in x and y (images only).
    pub fn jitter(mut self, pixels: u32) -> Self {
        self.jitter = pixels;
        self
    }

    /// The teacher signal.
    pub fn teacher(mut self, teacher: RunTeacher<'a>) -> Self {
        self.teacher = teacher;
        self
    }

    /// The model whose hidden layer the config's hint matches (default: a
    /// [`RunTeacher::Model`]).
    pub fn hint_teacher(mut self, teacher: &'a Mlp) -> Self {
        self.hint_teacher = Some(teacher);
        self
    }

    /// Count the model's errors on `test` after every epoch.
    pub fn test_set(mut self, test: &'a DeviceDataset) -> Self {
        self.test = Some(test);
        self
    }

    /// Write a checkpoint to `path` after every epoch and when cancelled (atomically), with
    /// the test errors beside it. With `resume`, a checkpoint already there is continued
    /// after checking it was made with the same settings; without, an existing file is
    /// refused unless `overwrite`.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>, resume: bool, overwrite: bool) -> Self {
        self.checkpoint = Some(CheckpointPlan {
            path: path.into(),
            resume,
            overwrite,
        });
        self
    }

    /// The settings a checkpoint records and a resumed run must match (default: the sizes,
    /// the config, the seeds, the jitter and the kind of teacher).
    pub fn settings(mut self, settings: serde_json::Value) -> Self {
        self.settings = Some(settings);
        self
    }

    /// A token that stops the run at the next batch boundary.
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// The settings checked on resume: the app's, or the run's own [`RunSettings`].
    pub fn resume_settings(&self, train: &DeviceDataset) -> ExpectedSettings {
        if let Some(app) = &self.settings {
            return ExpectedSettings::App(app.clone());
        }
        ExpectedSettings::Run(RunSettings {
            version: RunSettings::VERSION,
            sizes: self.sizes(train),
            config: self.config,
            seed: self.seed,
            init_seed: self.init_seed,
            init: self.init.is_some(),
            jitter: self.jitter,
            teacher: match self.teacher {
                RunTeacher::None => TeacherKind::None,
                RunTeacher::Model(_) => TeacherKind::Model,
                RunTeacher::Logits(_) => TeacherKind::Logits,
                RunTeacher::Several(_) => TeacherKind::Several,
            },
        })
    }

    fn sizes(&self, train: &DeviceDataset) -> Vec<usize> {
        if let Some(spec) = &self.spec {
            return spec.sizes.clone();
        }
        std::iter::once(train.features())
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(train.classes()))
            .collect()
    }

    /// A trainer for `train`: the student initialised, the teacher attached.
    fn trainer(&self, ctx: &GpuContext, train: &DeviceDataset) -> Result<Trainer> {
        if self.epochs == 0 {
            return Err(Error::InvalidConfig("a run needs at least 1 epoch".into()));
        }
        let spec = match &self.spec {
            Some(spec) => spec.clone(),
            None => MlpSpec::relu(&self.sizes(train))?,
        };
        let model =
            match (self.init, self.config.compression.prune) {
                // Pruned fine-tuning starts from the given model pruned to the target; the trainer
                // keeps its zeros.
                (Some(params), Some(sparsity)) => {
                    let pruned = prune_magnitude(&spec, params, sparsity)?;
                    Mlp::from_parameters(ctx, &spec, &pruned.params)?
                }
                (None, Some(_)) => return Err(Error::InvalidConfig(
                    "pruning fine-tunes a trained model: give its parameters (TrainingRun::init)"
                        .into(),
                )),
                (Some(params), None) => Mlp::from_parameters(ctx, &spec, params)?,
                (None, None) => Mlp::new(ctx, &spec, self.init_seed.unwrap_or(self.seed))?,
            };
        let gather_seed = self.seed as u32;
        let cached;
        let mut trainer = match self.teacher {
            RunTeacher::Several(teachers) => {
                let mut t = Trainer::new(ctx, model, &self.config)?;
                t.attach_teachers(ctx, train, teachers, self.jitter, gather_seed)?;
                t
            }
            other => {
                let logits = match other {
                    RunTeacher::Model(teacher) => {
                        cached = TeacherLogits::compute(ctx, teacher, train, TEACHER_BATCH)?;
                        Some(&cached)
                    }
                    RunTeacher::Logits(logits) => Some(logits),
                    _ => None,
                };
                let mut t = Trainer::new(ctx, model, &self.config)?;
                t.attach_dataset(ctx, train, logits, self.jitter, gather_seed)?;
                t
            }
        };
        if self.config.hint.is_some() {
            let teacher = match (self.hint_teacher, self.teacher) {
                (Some(t), _) | (None, RunTeacher::Model(t)) => t,
                _ => {
                    return Err(Error::InvalidConfig(
                        "a hint needs a teacher model (logits carry no hidden layers)".into(),
                    ))
                }
            };
            let seed = self.init_seed.unwrap_or(self.seed) ^ 0x4849_4e54;
            trainer.attach_hint_teacher(ctx, teacher, seed)?;
        }
        Ok(trainer)
    }

    /// Trains over `train`, calling `on_progress` with every [`Progress`] event, and returns
    /// the trained model or, when cancelled, where it stopped. A non-finite loss stops the run
    /// with [`Error::NonFiniteTraining`] (nothing after the last good epoch is saved).
    pub fn run(
        &self,
        ctx: &GpuContext,
        train: &DeviceDataset,
        on_progress: impl FnMut(&Progress),
    ) -> Result<RunOutcome> {
        let mut trainer = self.trainer(ctx, train)?;
        let settings = self.resume_settings(train);
        let resumed = match &self.checkpoint {
            Some(plan) => plan.resumable(&settings, self.epochs)?,
            None => None,
        };
        let (from, logs, test_errors) = match (&resumed, &self.checkpoint) {
            (Some(c), Some(plan)) => {
                trainer.restore(ctx, &c.state)?;
                let errors = resumed_test_errors(&plan.test_errors_path(), &c.logs);
                (c.position, c.logs.clone(), errors)
            }
            _ => (FitPosition::start(), Vec::new(), BTreeMap::new()),
        };
        if let Some(plan) = &self.checkpoint {
            plan.create_dir()?;
        }
        let on_progress = RefCell::new(on_progress);
        let emit = |event: &Progress| {
            if let Ok(mut callback) = on_progress.try_borrow_mut() {
                callback(event);
            }
        };
        let mut record = Record {
            run: self,
            ctx,
            settings: settings.to_json(),
            logs,
            test_errors,
            test_seconds: 0.0,
            emit: &emit,
        };
        let start = Instant::now();
        let steps_per_epoch = trainer.batches_per_epoch();
        let position = Cell::new(from);
        let end = fit(
            ctx,
            &mut trainer,
            train,
            FitOptions {
                epochs: self.epochs,
                seed: self.seed,
                from,
                interrupt: self.cancel.as_ref().map(CancelToken::flag),
            },
            None,
            || {
                let mut at = position.get();
                at.batch += 1;
                position.set(at);
                emit(&Progress::Step {
                    epoch: at.epoch,
                    step: at.batch,
                    steps_per_epoch,
                });
            },
            |trainer, log| {
                position.set(FitPosition {
                    epoch: log.epoch + 1,
                    batch: 0,
                });
                record.finish_epoch(trainer, log)
            },
        )?
        .1;
        match end {
            FitEnd::Interrupted(position) => {
                let checkpoint = match &self.checkpoint {
                    Some(plan) => {
                        record.save(&trainer, position)?;
                        Some(plan.path.clone())
                    }
                    None => None,
                };
                Ok(RunOutcome::Cancelled {
                    position,
                    checkpoint,
                    logs: record.logs,
                })
            }
            FitEnd::Finished => Ok(RunOutcome::Finished(TrainedModel {
                seconds: (start.elapsed().as_secs_f64() - record.test_seconds).max(0.0),
                logs: record.logs,
                test_errors: record.test_errors,
                model: trainer.into_student(),
            })),
        }
    }
}

/// What a run accumulates as it goes, and the side effects of each epoch.
struct Record<'r, 'a> {
    run: &'r TrainingRun<'a>,
    ctx: &'r GpuContext,
    settings: serde_json::Value,
    logs: Vec<EpochLog>,
    test_errors: BTreeMap<usize, usize>,
    test_seconds: f64,
    emit: &'r dyn Fn(&Progress),
}

impl Record<'_, '_> {
    fn emit(&self, event: &Progress) {
        (self.emit)(event);
    }

    /// Tests the model, keeps the log, writes the checkpoint and the test errors, and tells
    /// the app.
    fn finish_epoch(&mut self, trainer: &Trainer, log: &EpochLog) -> Result<()> {
        let tested = Instant::now();
        let errors = match self.run.test {
            Some(test) => count_test_errors(self.ctx, trainer.student(), test)?,
            None => None,
        };
        self.test_seconds += tested.elapsed().as_secs_f64();
        self.logs.push(*log);
        if let Some(e) = errors {
            self.test_errors.insert(log.epoch, e);
        }
        self.emit(&Progress::Epoch {
            log: *log,
            test_errors: errors,
            epochs: self.run.epochs,
        });
        let next = FitPosition {
            epoch: log.epoch + 1,
            batch: 0,
        };
        self.save(trainer, next)
    }

    /// The checkpoint at `position` and the test errors beside it, when the run keeps one.
    fn save(&self, trainer: &Trainer, position: FitPosition) -> Result<()> {
        let Some(plan) = &self.run.checkpoint else {
            return Ok(());
        };
        Checkpoint {
            state: trainer.state(self.ctx)?,
            position,
            logs: self.logs.clone(),
            settings: self.settings.clone(),
        }
        .save(&plan.path)?;
        if self.run.test.is_some() {
            let json = serde_json::to_string(&self.test_errors).unwrap_or_default();
            write_atomic(&plan.test_errors_path(), json.as_bytes())?;
        }
        self.emit(&Progress::Checkpoint {
            path: plan.path.clone(),
            position,
        });
        Ok(())
    }
}

/// Errors of `model` on `test`; `None` when its logits are not finite there (the loss was,
/// so training goes on and a final evaluation reports it), and for a regression test set,
/// which has no errors to count (it is scored by RMSE and MAE once trained,
/// [`crate::eval::evaluate_regression`]).
fn count_test_errors(ctx: &GpuContext, model: &Mlp, test: &DeviceDataset) -> Result<Option<usize>> {
    if test.is_regression() {
        return Ok(None);
    }
    match evaluate(ctx, model, test, 512) {
        Ok(eval) => Ok(Some(eval.errors)),
        Err(Error::NonFiniteOutput { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
