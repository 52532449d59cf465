//! The teachers of `distill distill` and `distill run`: saved models and `.npy` logits, the
//! classes each knows, and how several are weighed and combined.

use std::path::{Path, PathBuf};

use distill_wgpu::classes::ClassSet;
use distill_wgpu::data::npy::read_f32_matrix;
use distill_wgpu::data::{split_indices, TrainTest};
use distill_wgpu::distill::gating::disagreement_gates;
use distill_wgpu::eval::calibrate::{calibrator, parse_held_out, CALIBRATION_KEY, HELD_OUT_KEY};
use distill_wgpu::model::io;
use distill_wgpu::ops::metrics::reference::argmax;
use distill_wgpu::util::select_rows;
use distill_wgpu::{
    Combine, DeviceDataset, Error, GpuContext, KdConfig, Mlp, MultiKdConfig, Result,
    TeacherEnsemble, TeacherLogits, Teachers, WeightMode,
};

use crate::cli::{Disagreement, TeacherFlags};
use crate::values::{CombineChoice, TeacherWeights};

/// Salt of the validation split's seed, so it differs from the run's other seeded draws.
const VALIDATION_SALT: u64 = 0xacc0_ac1e;

/// Where a teacher's calibration temperature comes from.
enum CalibrationSource {
    /// Its file records one.
    Recorded(f32),
    /// Fit on these training rows, which it was not trained on.
    HeldOut(Vec<usize>),
    /// Fit on the run's validation rows.
    Shared,
}

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

    /// How teacher `i` is calibrated: the temperature its file records (`distill calibrate`),
    /// else fitted on the training rows its file says it was held out from (`train
    /// --val-fraction`), else on the run's shared validation rows.
    fn calibration_source(&self, i: usize, len: usize) -> Result<CalibrationSource> {
        let Some((path, Source::Model(file))) = self.sources.get(i) else {
            return Ok(CalibrationSource::Shared);
        };
        if let Some(text) = file.metadata.get(CALIBRATION_KEY) {
            return match text.parse::<f32>() {
                Ok(t) if t.is_finite() && t > 0.0 => Ok(CalibrationSource::Recorded(t)),
                _ => Err(Error::InvalidConfig(format!(
                    "{}: {CALIBRATION_KEY} = {text:?} is not a temperature",
                    path.display()
                ))),
            };
        }
        match file.metadata.get(HELD_OUT_KEY) {
            Some(entry) => {
                let (fraction, seed) = parse_held_out(entry)?;
                Ok(CalibrationSource::HeldOut(
                    split_indices(len, fraction, seed)?.1,
                ))
            }
            None => Ok(CalibrationSource::Shared),
        }
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
    validation: &[usize],
) -> Result<(MultiKdConfig, Vec<f32>)> {
    let k = logits.len();
    let (weights, base) = match args
        .teacher_weights
        .as_ref()
        .unwrap_or(&TeacherWeights::Uniform)
    {
        TeacherWeights::Uniform => (WeightMode::Uniform, vec![1.0; k]),
        TeacherWeights::Confidence => (WeightMode::Confidence, vec![1.0; k]),
        TeacherWeights::Route => (WeightMode::Route, vec![1.0; k]),
        TeacherWeights::Accuracy => (
            WeightMode::Accuracy,
            accuracies(ctx, logits, labels, validation)?,
        ),
        TeacherWeights::Fixed(base) => {
            if base.len() != k {
                return Err(Error::InvalidConfig(format!(
                    "--teacher-weights lists {} weights for {k} teachers: need one per teacher",
                    base.len()
                )));
            }
            (WeightMode::Fixed, base.clone())
        }
    };
    let combine = args
        .combine
        .map_or(Combine::Mixture, CombineChoice::combine);
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
    /// Each teacher's calibration temperature, when calibrated.
    calibration: Vec<f32>,
    /// Per teacher, the training samples whose KD term was dropped (--kd-disagreement drop).
    dropped: Vec<usize>,
}

impl Ready {
    /// One teacher that knows every class (trained in this run), calibrated when asked on the
    /// `validation` share as in [`Ready::from_files`].
    pub fn single(
        ctx: &GpuContext,
        logits: TeacherLogits,
        calibrate: bool,
        (train, labels): (&DeviceDataset, &[u8]),
        validation: (f64, u64),
    ) -> Result<Self> {
        let known = vec![ClassSet::all(logits.classes())];
        let mut logits = vec![logits];
        let calibration = if calibrate {
            let rows = validation_rows(labels.len(), validation)?;
            let shared = |_| Ok(CalibrationSource::Shared);
            calibrate_all(ctx, &mut logits, shared, (train, labels), &rows)?
        } else {
            Vec::new()
        };
        Ok(Self {
            logits,
            known,
            weighed: None,
            calibration,
            dropped: Vec::new(),
        })
    }

    /// The teachers of `files` over `train` (with `labels`), calibrated and weighed by the
    /// flags; one teacher that knows every class, with no weighing asked for, keeps the plain
    /// loss. Accuracy weights and fitted calibration temperatures use the same seeded
    /// `validation` share (fraction, seed) of the training set.
    pub fn from_files(
        ctx: &GpuContext,
        files: &TeacherFiles,
        flags: &TeacherFlags,
        kd: KdConfig,
        (train, labels): (&DeviceDataset, &[u8]),
        (fraction, seed): (f64, u64),
    ) -> Result<Self> {
        let validation = validation_rows(labels.len(), (fraction, seed))?;
        let mut logits = files.logits(ctx, train)?;
        let calibration = if flags.calibrate_teacher {
            let source = |i| files.calibration_source(i, labels.len());
            calibrate_all(ctx, &mut logits, source, (train, labels), &validation)?
        } else {
            Vec::new()
        };
        let drop = flags.kd_disagreement == Disagreement::Drop;
        let plain = files.is_single()
            && flags.teacher_weights.is_none()
            && flags.combine.is_none()
            && !drop;
        let mut dropped = Vec::new();
        let weighed = if plain {
            None
        } else {
            let (config, base_weights) = weighing(flags, kd, ctx, &logits, labels, &validation)?;
            let gates = if drop {
                let (gates, counts) =
                    teacher_gates(ctx, &logits, labels, flags.disagreement_threshold)?;
                dropped = counts;
                Some(gates)
            } else {
                None
            };
            let all: Vec<&TeacherLogits> = logits.iter().collect();
            let stacked = TeacherLogits::stack_gated(ctx, &all, gates.as_deref())?;
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
            calibration,
            dropped,
        })
    }

    /// Per teacher, the training samples whose KD term was dropped (empty unless
    /// `--kd-disagreement drop`).
    pub fn dropped(&self) -> &[usize] {
        &self.dropped
    }

    /// Each teacher's calibration temperature (empty unless `--calibrate-teacher`).
    pub fn calibration(&self) -> &[f32] {
        &self.calibration
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

/// Gates `[N, K]` (sample-major) shutting each teacher's KD term where it confidently
/// contradicts the label, and how many each teacher shut.
fn teacher_gates(
    ctx: &GpuContext,
    logits: &[TeacherLogits],
    labels: &[u8],
    threshold: f32,
) -> Result<(Vec<bool>, Vec<usize>)> {
    let per_teacher: Vec<Vec<bool>> = logits
        .iter()
        .map(|t| disagreement_gates(&t.read(ctx)?, labels, t.classes(), threshold))
        .collect::<Result<_>>()?;
    let counts = per_teacher
        .iter()
        .map(|g| g.iter().filter(|open| !**open).count())
        .collect();
    let gates = (0..labels.len())
        .flat_map(|n| per_teacher.iter().map(move |g| g[n]))
        .collect();
    Ok((gates, counts))
}

/// The seeded validation rows of a training set of `len` samples.
fn validation_rows(len: usize, (fraction, seed): (f64, u64)) -> Result<Vec<usize>> {
    Ok(split_indices(len, fraction, seed ^ VALIDATION_SALT)?.1)
}

/// Divides each teacher's logits by its calibration temperature (from `source(i)`, fitted on
/// the shared `validation` rows when it names none) and returns the temperatures.
fn calibrate_all(
    ctx: &GpuContext,
    logits: &mut [TeacherLogits],
    source: impl Fn(usize) -> Result<CalibrationSource>,
    (train, labels): (&DeviceDataset, &[u8]),
    validation: &[usize],
) -> Result<Vec<f32>> {
    let mut temperatures = Vec::new();
    for (i, teacher) in logits.iter_mut().enumerate() {
        let host = teacher.read(ctx)?;
        let classes = teacher.classes();
        let t_cal = match source(i)? {
            CalibrationSource::Recorded(t) => t,
            CalibrationSource::HeldOut(rows) => fit_on_rows(ctx, &host, labels, classes, &rows)?,
            CalibrationSource::Shared => fit_on_rows(ctx, &host, labels, classes, validation)?,
        };
        let scaled: Vec<f32> = host.iter().map(|v| v / t_cal).collect();
        *teacher = TeacherLogits::from_host(ctx, train, &scaled)?;
        temperatures.push(t_cal);
    }
    Ok(temperatures)
}

/// The temperature minimising the NLL of `logits` `[labels.len(), classes]` on `rows`.
fn fit_on_rows(
    ctx: &GpuContext,
    logits: &[f32],
    labels: &[u8],
    classes: usize,
    rows: &[usize],
) -> Result<f32> {
    let picked = select_rows(logits, classes, rows);
    let picked_labels = select_rows(labels, 1, rows);
    calibrator(ctx, &picked, &picked_labels, classes)?.fit_temperature(ctx)
}

/// Each teacher's accuracy on the `validation` rows of the training set.
fn accuracies(
    ctx: &GpuContext,
    logits: &[TeacherLogits],
    labels: &[u8],
    validation: &[usize],
) -> Result<Vec<f32>> {
    logits
        .iter()
        .map(|t| {
            let all = t.read(ctx)?;
            let classes = t.classes();
            let right = validation
                .iter()
                .filter(|&&i| argmax(&all[i * classes..(i + 1) * classes]) == labels[i] as usize)
                .count();
            Ok(right as f32 / validation.len().max(1) as f32)
        })
        .collect()
}
