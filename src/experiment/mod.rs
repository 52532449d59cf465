//! Experiments that answer the questions distillation users ask, each reproducible by
//! `distill experiment NAME`: a table of methods × metrics, mean ± std over seeds.
//!
//! - [`Experiment::Specialists`]: two teachers that each know half the classes, distilled into
//!   one student, against one generalist teacher and a scratch student.
//! - [`Experiment::NovelClass`]: a teacher that never saw one class; blind and partial KD.
//! - [`Experiment::OmittedClass`]: a transfer set without one class (Hinton et al. 2015, §3)
//!   and the bias correction that recovers it.
//! - [`Experiment::Ensemble`]: three teachers and a weak one, weighed five ways.
//! - [`Experiment::LabelNoise`]: 20 % flipped labels; keeping or dropping the KD term where the
//!   teacher contradicts a label, and α = 1.
//! - [`Experiment::Hints`], [`Experiment::Dkd`], [`Experiment::Mutual`], [`Experiment::Ema`]:
//!   beyond the logits' KL — FitNets hints, decoupled KD, mutual learning, an EMA teacher —
//!   each against the same scratch and plain-KD students.
//! - [`Experiment::SelfDistill`]: born-again generations of the student and their ensemble, and
//!   a teacher assistant between the teacher and a 30-unit student.
//! - [`Experiment::Regression`]: regression distillation on Friedman #1 (MSE, Huber and
//!   teacher-bounded), on data it draws itself ([`Experiment::run_on_own_data`]).
//! - [`Experiment::Compression`]: int8 quantization-aware training and magnitude pruning (50,
//!   80, 95 %), each with and without KD, with model bytes.

mod beyond;
pub mod compression;
mod dkd;
mod ema;
mod ensemble;
mod hints;
mod lab;
mod label_noise;
mod losses;
mod mutual;
mod novel_class;
mod omitted_class;
pub mod regression;
pub mod self_distill;
mod specialists;
pub mod sweep;
pub mod table;

pub use table::Table;

use crate::classes::ClassSet;
use crate::data::{Dataset, TrainTest};
use crate::distill::KdConfig;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use lab::Lab;

/// The class the novel-class and omitted-class experiments leave out (a 3, as in the paper).
pub const HELD_OUT_CLASS: usize = 3;

/// One model recipe: hidden widths, epochs and regularisation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recipe {
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// Training epochs.
    pub epochs: usize,
    /// Dropout on hidden layers.
    pub dropout: f32,
    /// Random ±pixels input shift.
    pub jitter: u32,
}

/// How big an experiment runs: seeds, data, recipes and the KD settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scale {
    /// One full repetition per seed; tables show mean ± std over them.
    pub seeds: Vec<u64>,
    /// Use only the first this many training samples (`None`: all).
    pub train_samples: Option<usize>,
    /// Use only the first this many test samples (`None`: all).
    pub test_samples: Option<usize>,
    /// Teachers' recipe.
    pub teacher: Recipe,
    /// Students' recipe.
    pub student: Recipe,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f32,
    /// Temperature and α of every distilled student.
    pub kd: KdConfig,
    /// Share of the training set held out for choices made after training (teacher accuracy
    /// weights, the best single teacher, a bias shift); never the test set.
    pub validation_fraction: f64,
    /// Born-again generations distilled after generation 0 (`self-distill`).
    pub born_again_generations: usize,
}

impl Scale {
    /// The scale of the README's tables: three seeds, all the data, 784-800-800-10 teachers
    /// (10 epochs, dropout 0.2, ±1 px jitter) and 784-300-300-10 students (10 epochs), T = 20,
    /// α = 0.9.
    pub fn full() -> Self {
        Self {
            seeds: vec![1, 2, 3],
            train_samples: None,
            test_samples: None,
            teacher: Recipe {
                hidden: vec![800, 800],
                epochs: 10,
                dropout: 0.2,
                jitter: 1,
            },
            student: Recipe {
                hidden: vec![300, 300],
                epochs: 10,
                dropout: 0.0,
                jitter: 0,
            },
            batch_size: 128,
            lr: 1e-3,
            kd: KdConfig {
                temperature: 20.0,
                alpha: 0.9,
            },
            validation_fraction: 0.1,
            born_again_generations: self_distill::FULL_GENERATIONS,
        }
    }

    /// A seconds-long version for tests: one seed, 1,500 training and 500 test samples,
    /// 784-64-10 teachers and 784-32-10 students for 3 epochs.
    pub fn quick() -> Self {
        Self {
            seeds: vec![1],
            train_samples: Some(1500),
            test_samples: Some(500),
            teacher: Recipe {
                hidden: vec![64],
                epochs: 3,
                dropout: 0.0,
                jitter: 0,
            },
            student: Recipe {
                hidden: vec![32],
                epochs: 3,
                dropout: 0.0,
                jitter: 0,
            },
            batch_size: 64,
            lr: 2e-3,
            born_again_generations: self_distill::QUICK_GENERATIONS,
            ..Self::full()
        }
    }

    /// Checks the settings before anything is trained.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if self.seeds.is_empty() {
            return bad("an experiment needs at least one seed".into());
        }
        for (role, r) in [("teacher", &self.teacher), ("student", &self.student)] {
            if r.epochs == 0 || r.hidden.contains(&0) {
                return bad(format!(
                    "{role} recipe needs epochs ≥ 1 and non-zero widths, got {r:?}"
                ));
            }
        }
        if self.born_again_generations == 0 {
            return bad("born-again training needs at least one generation after the first".into());
        }
        if self.batch_size == 0 || !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!(
                "batch size {} and learning rate {} must be positive",
                self.batch_size, self.lr
            ));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return bad(format!(
                "validation fraction must lie in (0, 1), got {}",
                self.validation_fraction
            ));
        }
        self.kd.validate()
    }

    /// Notes for a table: the data and recipes used.
    fn notes(&self, data: &Data) -> Vec<String> {
        let r = |r: &Recipe| {
            format!(
                "{:?} hidden, {} epochs, dropout {}, jitter ±{} px",
                r.hidden, r.epochs, r.dropout, r.jitter
            )
        };
        vec![
            format!(
                "{} training / {} test samples; batch {}, Adam lr {}; T = {}, α = {}.",
                data.train.len(),
                data.test.len(),
                self.batch_size,
                self.lr,
                self.kd.temperature,
                self.kd.alpha
            ),
            format!(
                "Teachers: {}. Students: {}.",
                r(&self.teacher),
                r(&self.student)
            ),
        ]
    }
}

/// The experiments `distill experiment` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Experiment {
    /// Two half-class specialists distilled into one student.
    Specialists,
    /// A teacher that never saw one class: blind vs partial KD.
    NovelClass,
    /// A transfer set without one class, and the bias shift that recovers it.
    OmittedClass,
    /// Several teachers of mixed quality, weighed uniformly, by accuracy, by confidence, routed.
    Ensemble,
    /// Flipped training labels: scratch, KD keep, KD drop, α = 1.
    LabelNoise,
    /// FitNets hints, joint with KD or as a first stage.
    Hints,
    /// Decoupled KD against KD.
    Dkd,
    /// Two students learning from each other, no teacher.
    Mutual,
    /// An EMA teacher of the student, alone or beside a trained teacher.
    Ema,
    /// Every logit loss from the same teacher.
    Losses,
    /// Int8 quantization-aware training and magnitude pruning, with and without KD.
    Compression,
    /// Born-again generations and their ensemble; a teacher assistant for a small student.
    SelfDistill,
    /// Regression distillation on Friedman #1, which it draws itself.
    Regression,
}

impl Experiment {
    /// Every experiment, in the order `--list` shows them.
    pub const ALL: [Experiment; 13] = [
        Experiment::Specialists,
        Experiment::NovelClass,
        Experiment::OmittedClass,
        Experiment::Ensemble,
        Experiment::LabelNoise,
        Experiment::Hints,
        Experiment::Dkd,
        Experiment::Mutual,
        Experiment::Ema,
        Experiment::Losses,
        Experiment::SelfDistill,
        Experiment::Compression,
        Experiment::Regression,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Experiment::Specialists => "specialists",
            Experiment::NovelClass => "novel-class",
            Experiment::OmittedClass => "omitted-class",
            Experiment::Ensemble => "ensemble",
            Experiment::LabelNoise => "label-noise",
            Experiment::Hints => "hints",
            Experiment::Dkd => "dkd",
            Experiment::Mutual => "mutual",
            Experiment::Ema => "ema",
            Experiment::Losses => "losses",
            Experiment::Compression => "compression",
            Experiment::SelfDistill => "self-distill",
            Experiment::Regression => "regression",
        }
    }

    /// What it measures, in a line.
    pub fn summary(self) -> &'static str {
        match self {
            Experiment::Specialists => {
                "teachers of the lower and upper half of the classes, distilled into one student"
            }
            Experiment::NovelClass => {
                "a teacher that never saw class 3: scratch vs blind KD vs partial KD (3 masked)"
            }
            Experiment::OmittedClass => {
                "a transfer set without any 3s (Hinton et al. 2015 §3), then a validated bias shift"
            }
            Experiment::Ensemble => {
                "three teachers and a weak one: best single, uniform, accuracy, confidence, route"
            }
            Experiment::LabelNoise => {
                "20 % flipped labels: scratch, KD keep, KD drop where the teacher disagrees, α = 1"
            }
            Experiment::Hints => {
                "FitNets hints (teacher's last hidden layer → student's): joint with KD, or a stage"
            }
            Experiment::Dkd => "decoupled KD (A = 1, B = 8, T = 4) against KD at T = 20 and T = 4",
            Experiment::Mutual => "two students learning from each other (DML), no teacher",
            Experiment::Ema => "an EMA teacher of the student, alone or beside a trained teacher",
            Experiment::Losses => {
                "KD, DKD, JSD, reverse KL, logit MSE, logit standardization, teacher-free"
            }
            Experiment::Compression => {
                "int8 quantization-aware training and pruning to 50/80/95 %, with and without KD"
            }
            Experiment::SelfDistill => {
                "born-again generations and their ensemble; teacher → assistant → 30-unit student"
            }
            Experiment::Regression => {
                "Friedman #1 regression: scratch vs distilled with MSE, Huber and teacher-bounded"
            }
        }
    }

    /// The experiment called `name`, or an error listing the names.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|e| e.name()).collect();
                Error::InvalidConfig(format!(
                    "no experiment {name:?}; there are: {}",
                    names.join(", ")
                ))
            })
    }

    /// Whether the experiment draws its own data ([`Experiment::run_on_own_data`]) instead of
    /// running on a classification data set ([`Experiment::run`]).
    pub fn brings_own_data(self) -> bool {
        matches!(self, Experiment::Regression)
    }

    /// Runs an experiment that draws its own data at `scale` (its seeds, batch size, learning
    /// rate, sample counts and epochs), sending progress lines to `progress`; an experiment
    /// that needs a data set is refused (it runs with [`Experiment::run`]).
    pub fn run_on_own_data(
        self,
        ctx: &GpuContext,
        scale: &Scale,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Table> {
        scale.validate()?;
        let mut table = match self {
            Experiment::Regression => regression::run(ctx, scale, progress)?,
            other => {
                return Err(Error::InvalidConfig(format!(
                    "{} runs on a classification data set (Experiment::run)",
                    other.name()
                )))
            }
        };
        table.seeds = scale.seeds.clone();
        Ok(table)
    }

    /// Runs the experiment on `data` at `scale`, sending progress lines to `progress`, and
    /// returns its table. An experiment that draws its own data is refused (it runs with
    /// [`Experiment::run_on_own_data`]).
    pub fn run(
        self,
        ctx: &GpuContext,
        data: &TrainTest,
        scale: &Scale,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Table> {
        scale.validate()?;
        if self.brings_own_data() {
            return Err(Error::InvalidConfig(format!(
                "{} draws its own data (Experiment::run_on_own_data)",
                self.name()
            )));
        }
        let data = Data::new(data, scale)?;
        if matches!(self, Experiment::NovelClass | Experiment::OmittedClass)
            && data.classes <= HELD_OUT_CLASS
        {
            return Err(Error::InvalidConfig(format!(
                "{} holds out class {HELD_OUT_CLASS}; the data has {} classes",
                self.name(),
                data.classes
            )));
        }
        let mut lab = Lab {
            ctx,
            scale,
            progress,
        };
        let mut table = match self {
            Experiment::Specialists => specialists::run(&mut lab, &data),
            Experiment::NovelClass => novel_class::run(&mut lab, &data),
            Experiment::OmittedClass => omitted_class::run(&mut lab, &data),
            Experiment::Ensemble => ensemble::run(&mut lab, &data),
            Experiment::LabelNoise => label_noise::run(&mut lab, &data),
            Experiment::Hints => hints::run(&mut lab, &data),
            Experiment::Dkd => dkd::run(&mut lab, &data),
            Experiment::Mutual => mutual::run(&mut lab, &data),
            Experiment::Ema => ema::run(&mut lab, &data),
            Experiment::Losses => losses::run(&mut lab, &data),
            Experiment::Compression => compression::run(&mut lab, &data),
            Experiment::SelfDistill => {
                self_distill::run(&mut lab, &data, scale.born_again_generations)
            }
            Experiment::Regression => unreachable!("refused above: it brings its own data"),
        }?;
        table.seeds = scale.seeds.clone();
        let mut notes = scale.notes(&data);
        notes.append(&mut table.notes);
        table.notes = notes;
        Ok(table)
    }
}

/// The data an experiment runs on, cut to the scale.
pub(crate) struct Data {
    pub train: Dataset,
    pub test: Dataset,
    pub classes: usize,
}

impl Data {
    fn new(data: &TrainTest, scale: &Scale) -> Result<Self> {
        let cut = |d: &Dataset, n: Option<usize>| n.map_or_else(|| d.clone(), |n| d.head(n));
        let train = cut(&data.train, scale.train_samples);
        let test = cut(&data.test, scale.test_samples);
        if data.classes < 2 || train.len() < 2 || test.is_empty() {
            return Err(Error::InvalidConfig(format!(
                "an experiment needs 2+ classes, 2+ training and 1+ test samples; got {}, {} and {}",
                data.classes,
                train.len(),
                test.len()
            )));
        }
        Ok(Self {
            train,
            test,
            classes: data.classes,
        })
    }

    /// Every class except `class`.
    fn all_but(&self, class: usize) -> Result<ClassSet> {
        ClassSet::matching(self.classes, |c| c != class)
    }
}

/// A seed for the `k`-th model of repetition `seed`, distinct across both.
fn model_seed(seed: u64, k: u64) -> u64 {
    seed.wrapping_mul(1000).wrapping_add(k)
}
