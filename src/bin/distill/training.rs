//! One training job of the CLI: a model trained on the training set with a progress bar,
//! a checkpoint written atomically after every epoch (and on Ctrl-C), resumable bit for bit,
//! and the test errors after every epoch when given a test set.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use distill_wgpu::session::{CancelToken, Progress, RunOutcome, RunTeacher, TrainingRun};
use distill_wgpu::train::{Compression, EpochLog};
use distill_wgpu::{
    ClassSet, DeviceDataset, Dropout, Error, GpuContext, KdConfig, Mlp, MlpSpec, MultiKdConfig,
    Optimizer, Result, TeacherLogits, Teachers, TrainerConfig,
};

use crate::flags::JobFlags;
use crate::lock;
use crate::objective_flags::Objectives;
use crate::output::checkpoint_path;

/// Cancelled by the Ctrl-C handler: training stops at the next batch and saves a checkpoint.
pub static INTERRUPT: LazyLock<CancelToken> = LazyLock::new(CancelToken::new);

/// Installs the Ctrl-C handler (a second Ctrl-C exits at once).
pub fn catch_interrupts() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPT.is_cancelled() {
            // Exiting skips destructors: release the output folder's claim first.
            lock::release_all();
            std::process::exit(130);
        }
        INTERRUPT.cancel();
        eprintln!(
            "\ninterrupt: stopping at the next batch and saving a checkpoint (again to quit now)"
        );
    });
}

/// Everything one training run needs.
#[derive(Clone, Copy)]
pub struct TrainJob<'a> {
    pub name: &'a str,
    pub spec: &'a MlpSpec,
    pub epochs: usize,
    pub kd: KdConfig,
    /// Cached teacher logits for the training set (needed when `kd.alpha > 0`).
    pub teacher: Option<&'a TeacherLogits>,
    pub dropout: Dropout,
    pub jitter: u32,
    pub init_seed: u64,
    /// Parameters to start from instead of the seeded initialisation (`--init`), and their file.
    pub init: Option<(&'a [f32], &'a Path)>,
    /// The classes trained on, when only some (`train --classes`).
    pub classes: Option<&'a ClassSet>,
    /// Several (or partial) teachers and how they are weighed, instead of `teacher`.
    pub teachers: Option<(&'a Teachers<'a>, MultiKdConfig)>,
    /// A test set to count the model's errors on after every epoch (not part of the
    /// settings a checkpoint must match: it changes no training step).
    pub test: Option<&'a DeviceDataset>,
    /// DKD, a hint, an EMA teacher.
    pub objectives: Objectives,
    /// The teacher model whose hidden layer the hint matches.
    pub hint_teacher: Option<&'a Mlp>,
}

/// Test errors after each epoch, by epoch.
pub type TestErrors = BTreeMap<usize, usize>;

/// A trained model with its epoch logs, test errors per epoch (when measured) and wall time
/// (without the time spent testing).
pub struct Trained {
    pub model: Mlp,
    pub logs: Vec<EpochLog>,
    pub test_errors: TestErrors,
    pub seconds: f64,
}

/// The settings a checkpoint must agree with to be resumed (all but the epoch count, which a
/// resumed run may raise).
fn job_settings(flags: &JobFlags, job: &TrainJob<'_>) -> Value {
    json!({
        "job": job.name,
        "sizes": job.spec.sizes,
        "batch_size": flags.training.batch_size(),
        "lr": flags.training.lr(),
        "seed": flags.training.seed(),
        "init_seed": job.init_seed,
        "init": job.init.map(|(_, path)| path.to_path_buf()),
        "temperature": job.kd.temperature,
        "alpha": job.kd.alpha,
        "teacher_logits": job.teacher.is_some(),
        "dropout": job.dropout.p,
        "dropout_seed": job.dropout.seed,
        "jitter": job.jitter,
        "classes": job.classes.map(ToString::to_string),
        "teachers": job.teachers.map(|(t, config)| json!({
            "count": t.logits.teachers(),
            "known": t.known.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "base_weights": t.base_weights,
            "weights": format!("{:?}", config.weights),
            "combine": format!("{:?}", config.combine),
        })),
        "objectives": job.objectives,
    })
}

/// Trains one model on `train` through the library's [`TrainingRun`], checkpointing into
/// `out` after every epoch, and returns it with its epoch logs and wall time.
pub fn train_model(
    ctx: &GpuContext,
    flags: &JobFlags,
    train: &DeviceDataset,
    job: &TrainJob<'_>,
    out: &Path,
) -> Result<Trained> {
    train_model_with(ctx, flags, train, job, out, Compression::none())
}

/// [`train_model`] with int8 quantization-aware training or pruned fine-tuning
/// (`distill distill --quantize`, `--prune`); the checkpoint records the compression.
pub fn train_model_with(
    ctx: &GpuContext,
    flags: &JobFlags,
    train: &DeviceDataset,
    job: &TrainJob<'_>,
    out: &Path,
    compression: Compression,
) -> Result<Trained> {
    let batch = flags.training.batch_size();
    let lr = flags.training.lr();
    let mut config = TrainerConfig::new(batch, Optimizer::adam(lr))
        .kd(job.kd)
        .dropout(job.dropout)
        .compression(compression);
    let Objectives { hint, ema, .. } = job.objectives;
    let logits = job.objectives.logits();
    if let Some(objective) = logits {
        config = config.objective(objective);
    }
    config.hint = hint;
    config.ema = ema;
    let teacher = match (job.teachers, job.teacher) {
        (Some(_), _) if logits.is_some() => {
            return Err(Error::InvalidConfig(
                "--loss kd is the one loss that takes several teachers".into(),
            ))
        }
        (Some((teachers, multi)), _) => {
            config = config.multi_kd(multi);
            RunTeacher::Several(teachers)
        }
        (None, Some(logits)) => RunTeacher::Logits(logits),
        (None, None) => RunTeacher::None,
    };
    if hint.is_some() && job.hint_teacher.is_none() {
        return Err(Error::InvalidConfig(
            "--hint needs a --teacher model (logits carry no hidden layers)".into(),
        ));
    }
    let checkpoint_file = checkpoint_path(out, job.name);
    let mut settings = job_settings(flags, job);
    if !compression.is_none() {
        settings["compression"] = json!(compression);
    }
    // The output folder's own check (--force, --resume) guards the files in it.
    let mut run = TrainingRun::new(&[], config)
        .spec(job.spec.clone())
        .epochs(job.epochs)
        .seed(flags.training.seed())
        .init_seed(job.init_seed)
        .jitter(job.jitter)
        .teacher(teacher)
        .checkpoint(&checkpoint_file, flags.resume, true)
        .settings(settings)
        .cancel_token(INTERRUPT.clone());
    if let Some((params, _)) = job.init {
        run = run.init(params);
    }
    if let Some(teacher) = job.hint_teacher {
        run = run.hint_teacher(teacher);
    }
    if let Some(test) = job.test {
        run = run.test_set(test);
    }
    let quiet = flags.training.quiet;
    let bar = progress_bar(quiet, job.name, 0);
    let outcome = run.run(ctx, train, |event| match event {
        Progress::Step {
            epoch,
            step,
            steps_per_epoch,
        } => {
            let steps = *steps_per_epoch as u64;
            bar.set_length(steps.saturating_mul(job.epochs as u64));
            bar.set_position(steps.saturating_mul(*epoch as u64 - 1) + *step as u64);
        }
        Progress::Epoch {
            log, test_errors, ..
        } => {
            let shown = test_errors.map_or(String::new(), |e| format!(", test errors {e}"));
            let hint = log
                .hint_mse
                .map_or(String::new(), |m| format!(", hint mse {m:.4}"));
            bar.set_message(format!(
                "epoch {} loss {:.4} (ce {:.4} kl {:.4}{hint}){shown}",
                log.epoch, log.loss.total, log.loss.ce, log.loss.kl
            ));
        }
        Progress::Checkpoint { .. } => {}
    })?;
    bar.finish_and_clear();
    let trained = match outcome {
        RunOutcome::Finished(trained) => trained,
        RunOutcome::Cancelled { position, .. } => {
            return Err(Error::Interrupted {
                epoch: position.epoch,
                batch: position.batch,
                checkpoint: checkpoint_file,
            })
        }
    };
    if !quiet {
        if let Some(last) = trained.logs.last() {
            // KL is only meaningful when a teacher term is trained.
            let kl = if job.kd.alpha > 0.0 {
                format!(", kl {:.4}", last.loss.kl)
            } else {
                String::new()
            };
            let tested = trained
                .test_errors
                .get(&last.epoch)
                .map_or(String::new(), |e| format!(", test errors {e}"));
            eprintln!(
                "{:>10}: {} epochs in {:.1} s, final loss {:.4} (ce {:.4}{kl}){tested}",
                job.name, job.epochs, trained.seconds, last.loss.total, last.loss.ce
            );
        }
    }
    Ok(Trained {
        model: trained.model,
        logs: trained.logs,
        test_errors: trained.test_errors,
        seconds: trained.seconds,
    })
}

fn progress_bar(quiet: bool, name: &str, steps: u64) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(steps)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} steps {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    bar
}
