//! The teachers of `distill distill` and `distill run`: saved models and `.npy` logits, the
//! classes each knows, and how several are weighed and combined.

use std::path::{Path, PathBuf};

use distill_wgpu::classes::ClassSet;
use distill_wgpu::data::npy::read_f32_matrix;
use distill_wgpu::data::TrainTest;
use distill_wgpu::model::io;
use distill_wgpu::ops::metrics::reference::argmax;
use distill_wgpu::{
    Combine, DeviceDataset, Error, GpuContext, KdConfig, Mlp, MultiKdConfig, Result, SplitMix64,
    TeacherEnsemble, TeacherLogits, Teachers, WeightMode,
};

use crate::TeacherFlags;

/// Share of the training set each teacher's accuracy is measured on for `--teacher-weights
/// accuracy` (never the test set).
const VALIDATION_FRACTION: f64 = 0.1;

/// A teacher as read from disk, before the GPU is opened.
enum Source {
    Model(io::ModelFile),
    Logits(Vec<f32>),
}

/// Every teacher of a run, read and checked.
pub struct TeacherFiles {
    sources: Vec<(PathBuf, Source)>,
    /// The classes each teacher knows.
    pub known: Vec<ClassSet>,
}

impl TeacherFiles {
    /// Reads `--teacher` models then `--teacher-logits` arrays, in that order, and their
    /// class sets (`--teacher-classes` in the same order, else a model's recorded list, else
    /// every class).
    pub fn read(args: &TeacherFlags, data: &TrainTest) -> Result<Self> {
        let mut sources = Vec::new();
        for path in &args.teacher {
            sources.push((path.clone(), Source::Model(io::load_file(path)?)));
        }
        for path in &args.teacher_logits {
            let logits = read_f32_matrix(path, data.train.len(), data.classes)?;
            sources.push((path.clone(), Source::Logits(logits)));
        }
        if !args.teacher_classes.is_empty() && args.teacher_classes.len() != sources.len() {
            return Err(Error::InvalidConfig(format!(
                "{} --teacher-classes lists for {} teachers (one each, models first)",
                args.teacher_classes.len(),
                sources.len()
            )));
        }
        let mut known = Vec::new();
        for (i, (path, source)) in sources.iter().enumerate() {
            if let Source::Model(file) = source {
                if file.spec.inputs() != data.train.features()
                    || file.spec.classes() != data.classes
                {
                    return Err(Error::InvalidConfig(format!(
                        "teacher {} has sizes {:?}; the data has {} features and {} classes",
                        path.display(),
                        file.spec.sizes,
                        data.train.features(),
                        data.classes
                    )));
                }
            }
            known.push(match (args.teacher_classes.get(i), source) {
                (Some(list), _) => ClassSet::parse(list, data.classes)?,
                (None, Source::Model(file)) => {
                    ClassSet::from_metadata(&file.metadata, data.classes)?
                }
                (None, Source::Logits(_)) => ClassSet::all(data.classes),
            });
        }
        Ok(Self { sources, known })
    }

    /// The input files, for the inputs-are-not-outputs check.
    pub fn paths(&self) -> Vec<&Path> {
        self.sources.iter().map(|(p, _)| p.as_path()).collect()
    }

    /// Whether the plain single-teacher loss applies: one teacher knowing every class.
    pub fn is_single(&self) -> bool {
        self.sources.len() == 1 && self.known[0].is_all()
    }

    /// The teachers that are models (not logits files), with their paths.
    pub fn models(&self, ctx: &GpuContext) -> Result<Vec<(&Path, Mlp)>> {
        self.sources
            .iter()
            .filter_map(|(path, source)| match source {
                Source::Model(file) => Some(
                    Mlp::from_parameters(ctx, &file.spec, &file.params)
                        .map(|m| (path.as_path(), m)),
                ),
                Source::Logits(_) => None,
            })
            .collect()
    }

    /// Every teacher's logits over the training set, cached on the GPU.
    fn logits(&self, ctx: &GpuContext, train: &DeviceDataset) -> Result<Vec<TeacherLogits>> {
        self.sources
            .iter()
            .map(|(_, source)| match source {
                Source::Model(file) => {
                    let teacher = Mlp::from_parameters(ctx, &file.spec, &file.params)?;
                    TeacherLogits::compute(ctx, &teacher, train, 512)
                }
                Source::Logits(logits) => TeacherLogits::from_host(ctx, train, logits),
            })
            .collect()
    }
}

/// The multi-teacher settings from the flags, and the base weights (`0.7,0.3`, or each
/// teacher's accuracy on a seeded validation share of the training set).
fn weighing(
    args: &TeacherFlags,
    kd: KdConfig,
    ctx: &GpuContext,
    logits: &[TeacherLogits],
    labels: &[u8],
    seed: u64,
) -> Result<(MultiKdConfig, Vec<f32>)> {
    let k = logits.len();
    let spec = args.teacher_weights.as_deref().unwrap_or("uniform");
    let (weights, base) = match spec {
        "uniform" => (WeightMode::Uniform, vec![1.0; k]),
        "confidence" => (WeightMode::Confidence, vec![1.0; k]),
        "route" => (WeightMode::Route, vec![1.0; k]),
        "accuracy" => (WeightMode::Accuracy, accuracies(ctx, logits, labels, seed)?),
        list => {
            let base: Vec<f32> = list
                .split(',')
                .map(|w| w.trim().parse::<f32>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    Error::InvalidConfig(format!(
                        "--teacher-weights {list:?}: uniform, accuracy, confidence, route or numbers like 0.7,0.3"
                    ))
                })?;
            if base.len() != k || base.iter().any(|w| !w.is_finite() || *w < 0.0) {
                return Err(Error::InvalidConfig(format!(
                    "--teacher-weights {list:?}: need {k} finite weights ≥ 0, one per teacher"
                )));
            }
            (WeightMode::Fixed, base)
        }
    };
    let combine = match args.combine.as_deref().unwrap_or("mixture") {
        "mixture" => Combine::Mixture,
        "logits" => Combine::Logits,
        other => {
            return Err(Error::InvalidConfig(format!(
                "--combine {other:?}: mixture or logits"
            )))
        }
    };
    let config = MultiKdConfig {
        temperature: kd.temperature,
        alpha: kd.alpha,
        weights,
        combine,
    };
    config.validate()?;
    Ok((config, base))
}

/// Several (or partial) teachers stacked, with how they are weighed.
struct Weighed {
    config: MultiKdConfig,
    base_weights: Vec<f32>,
    stacked: TeacherEnsemble,
}

/// The teachers a distilled student learns from, cached for the training set: one plain
/// teacher, or several (or partial) ones stacked with their weighing.
pub struct Ready {
    logits: Vec<TeacherLogits>,
    known: Vec<ClassSet>,
    weighed: Option<Weighed>,
}

impl Ready {
    /// One teacher that knows every class.
    pub fn single(logits: TeacherLogits) -> Self {
        let known = vec![ClassSet::all(logits.classes())];
        Self {
            logits: vec![logits],
            known,
            weighed: None,
        }
    }

    /// The teachers of `files` over `train` (with `labels`), weighed by the flags; one teacher
    /// that knows every class, with no weighing asked for, keeps the plain loss.
    pub fn from_files(
        ctx: &GpuContext,
        files: &TeacherFiles,
        flags: &TeacherFlags,
        kd: KdConfig,
        (train, labels): (&DeviceDataset, &[u8]),
        seed: u64,
    ) -> Result<Self> {
        let logits = files.logits(ctx, train)?;
        let plain = files.is_single() && flags.teacher_weights.is_none() && flags.combine.is_none();
        let weighed = if plain {
            None
        } else {
            let (config, base_weights) = weighing(flags, kd, ctx, &logits, labels, seed)?;
            let stacked = TeacherLogits::stack(ctx, &logits.iter().collect::<Vec<_>>())?;
            Some(Weighed {
                config,
                base_weights,
                stacked,
            })
        };
        Ok(Self {
            logits,
            known: files.known.clone(),
            weighed,
        })
    }

    /// The one teacher of the plain loss (`None` when weighed).
    pub fn plain(&self) -> Option<&TeacherLogits> {
        match self.weighed {
            None => self.logits.first(),
            Some(_) => None,
        }
    }

    /// The stacked teachers and their settings (`None` for the plain loss).
    pub fn weighed(&self) -> Option<(Teachers<'_>, MultiKdConfig)> {
        self.weighed.as_ref().map(|w| {
            (
                Teachers {
                    logits: &w.stacked,
                    known: &self.known,
                    base_weights: &w.base_weights,
                },
                w.config,
            )
        })
    }

    /// How the teachers are weighed, for the report (`None` for the plain loss).
    pub fn describe(&self) -> Option<String> {
        self.weighed.as_ref().map(|w| {
            format!(
                "{:?} {:?} {:?}",
                w.config.weights, w.config.combine, w.base_weights
            )
        })
    }
}

/// Each teacher's accuracy on a seeded `VALIDATION_FRACTION` of the training samples.
fn accuracies(
    ctx: &GpuContext,
    logits: &[TeacherLogits],
    labels: &[u8],
    seed: u64,
) -> Result<Vec<f32>> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    SplitMix64::new(seed ^ 0xacc0_ac1e).shuffle(&mut order);
    let take = ((labels.len() as f64 * VALIDATION_FRACTION).ceil() as usize).max(1);
    let split = &order[..take.min(order.len())];
    logits
        .iter()
        .map(|t| {
            let all = t.read(ctx)?;
            let classes = t.classes();
            let right = split
                .iter()
                .filter(|&&i| argmax(&all[i * classes..(i + 1) * classes]) == labels[i] as usize)
                .count();
            Ok(right as f32 / split.len() as f32)
        })
        .collect()
}
