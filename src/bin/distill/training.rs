//! One training job of the CLI: a model trained on the training set with a progress bar,
//! a checkpoint written atomically after every epoch (and on Ctrl-C), resumable bit for bit,
//! and the test errors after every epoch when given a test set.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use distill_wgpu::eval::evaluate;
use distill_wgpu::files::write_atomic;
use distill_wgpu::train::{fit, Checkpoint, EpochLog, FitEnd, FitOptions, FitPosition};
use distill_wgpu::{
    ClassSet, DeviceDataset, Dropout, Error, GpuContext, KdConfig, Mlp, MlpSpec, MultiKdConfig,
    Optimizer, Result, TeacherLogits, Teachers, Trainer, TrainerConfig,
};

use crate::objective_flags::Objectives;
use crate::output::{checkpoint_path, test_errors_path};
use crate::{defaults, Common};

/// Set by the Ctrl-C handler: training stops at the next batch and saves a checkpoint.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler (a second Ctrl-C exits at once).
pub fn catch_interrupts() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
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

/// Errors of `model` on `test`; `None` when its logits are not finite there (the loss was,
/// so training goes on and the final evaluation reports it).
fn count_test_errors(ctx: &GpuContext, model: &Mlp, test: &DeviceDataset) -> Result<Option<usize>> {
    match evaluate(ctx, model, test, 512) {
        Ok(eval) => Ok(Some(eval.errors)),
        Err(Error::NonFiniteOutput { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The test errors kept beside a checkpoint, for the epochs the checkpoint has finished
/// (none if the file is missing or unreadable: they are a record, not training state).
fn resumed_test_errors(path: &Path, logs: &[EpochLog]) -> TestErrors {
    let Ok(text) = std::fs::read_to_string(path) else {
        return TestErrors::new();
    };
    let mut errors: TestErrors = serde_json::from_str(&text).unwrap_or_default();
    errors.retain(|epoch, _| logs.iter().any(|l| l.epoch == *epoch));
    errors
}

/// The settings a checkpoint must agree with to be resumed (all but the epoch count, which a
/// resumed run may raise).
fn job_settings(common: &Common, job: &TrainJob<'_>) -> Value {
    json!({
        "job": job.name,
        "sizes": job.spec.sizes,
        "batch_size": common.batch_size.unwrap_or(defaults::BATCH),
        "lr": common.lr.unwrap_or(defaults::LR),
        "seed": common.seed.unwrap_or(defaults::SEED),
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

/// The checkpoint to resume for this job, if `--resume` and one exists, after checking that
/// it was made with the same settings.
fn resumable(
    common: &Common,
    job: &TrainJob<'_>,
    path: &Path,
    settings: &Value,
) -> Result<Option<Checkpoint>> {
    if !common.resume || !path.is_file() {
        return Ok(None);
    }
    let checkpoint = Checkpoint::load(path)?;
    if &checkpoint.settings != settings {
        return Err(Error::InvalidConfig(format!(
            "{}: made with settings {}, this run has {}; resume with the same flags",
            path.display(),
            checkpoint.settings,
            settings
        )));
    }
    if checkpoint.position.epoch > job.epochs + 1 {
        return Err(Error::InvalidConfig(format!(
            "{}: already past epoch {}, beyond --epochs {}",
            path.display(),
            checkpoint.position.epoch - 1,
            job.epochs
        )));
    }
    Ok(Some(checkpoint))
}

/// Trains one model on `train`, checkpointing into `out` after every epoch, and returns it
/// with its epoch logs and wall time.
pub fn train_model(
    ctx: &GpuContext,
    common: &Common,
    train: &DeviceDataset,
    job: &TrainJob<'_>,
    out: &Path,
) -> Result<Trained> {
    let batch = common.batch_size.unwrap_or(defaults::BATCH);
    let lr = common.lr.unwrap_or(defaults::LR);
    let seed = common.seed.unwrap_or(defaults::SEED);
    let model = match job.init {
        Some((params, _)) => Mlp::from_parameters(ctx, job.spec, params)?,
        None => Mlp::new(ctx, job.spec, job.init_seed)?,
    };
    let mut config = TrainerConfig::new(batch, Optimizer::adam(lr))
        .kd(job.kd)
        .dropout(job.dropout);
    let Objectives { dkd, hint, ema } = job.objectives;
    config.dkd = dkd;
    config.hint = hint;
    config.ema = ema;
    let mut trainer = match job.teachers {
        Some((teachers, multi)) => {
            let mut t = Trainer::new(ctx, model, &config.multi_kd(multi))?;
            t.attach_teachers(ctx, train, teachers, job.jitter, seed as u32)?;
            t
        }
        None => {
            let mut t = Trainer::new(ctx, model, &config)?;
            t.attach_dataset(ctx, train, job.teacher, job.jitter, seed as u32)?;
            t
        }
    };
    if hint.is_some() {
        let teacher = job.hint_teacher.ok_or_else(|| {
            Error::InvalidConfig(
                "--hint needs a --teacher model (logits carry no hidden layers)".into(),
            )
        })?;
        trainer.attach_hint_teacher(ctx, teacher, job.init_seed ^ 0x4849_4e54)?;
    }
    let settings = job_settings(common, job);
    let checkpoint_file = checkpoint_path(out, job.name);
    let errors_file = test_errors_path(out, job.name);
    let (from, mut logs, mut test_errors) =
        match resumable(common, job, &checkpoint_file, &settings)? {
            Some(c) => {
                trainer.restore(ctx, &c.state)?;
                let errors = resumed_test_errors(&errors_file, &c.logs);
                (c.position, c.logs, errors)
            }
            None => (FitPosition::start(), Vec::new(), TestErrors::new()),
        };
    if let Some(dir) = checkpoint_file.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let batches = trainer.batches_per_epoch() as u64;
    let bar = progress_bar(common, job.name, batches.saturating_mul(job.epochs as u64));
    bar.set_position(
        batches.saturating_mul(from.epoch.saturating_sub(1) as u64) + from.batch as u64,
    );
    let save = |trainer: &Trainer, position: FitPosition, logs: &[EpochLog]| {
        Checkpoint {
            state: trainer.state(ctx)?,
            position,
            logs: logs.to_vec(),
            settings: settings.clone(),
        }
        .save(&checkpoint_file)
    };
    let start = Instant::now();
    let mut test_seconds = 0.0;
    // The epoch hook keeps `logs` whole (earlier epochs included), so every checkpoint and
    // the result carry the run's full history; the test errors go beside the checkpoint.
    let (_, end) = fit(
        ctx,
        &mut trainer,
        train,
        FitOptions {
            epochs: job.epochs,
            seed,
            from,
            interrupt: Some(&INTERRUPTED),
        },
        None,
        || bar.inc(1),
        |trainer, log| {
            let tested = Instant::now();
            let errors = match job.test {
                Some(test) => count_test_errors(ctx, trainer.student(), test)?,
                None => None,
            };
            test_seconds += tested.elapsed().as_secs_f64();
            let shown = errors.map_or(String::new(), |e| format!(", test errors {e}"));
            let hint = log
                .hint_mse
                .map_or(String::new(), |m| format!(", hint mse {m:.4}"));
            bar.set_message(format!(
                "epoch {} loss {:.4} (ce {:.4} kl {:.4}{hint}){shown}",
                log.epoch, log.loss.total, log.loss.ce, log.loss.kl
            ));
            logs.push(*log);
            let next = FitPosition {
                epoch: log.epoch + 1,
                batch: 0,
            };
            save(trainer, next, &logs)?;
            if let Some(e) = errors {
                test_errors.insert(log.epoch, e);
            }
            if job.test.is_some() {
                write_atomic(
                    &errors_file,
                    serde_json::to_string(&test_errors)
                        .unwrap_or_default()
                        .as_bytes(),
                )?;
            }
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    if let FitEnd::Interrupted(position) = end {
        save(&trainer, position, &logs)?;
        return Err(Error::Interrupted {
            epoch: position.epoch,
            batch: position.batch,
            checkpoint: checkpoint_file,
        });
    }
    let secs = (start.elapsed().as_secs_f64() - test_seconds).max(0.0);
    if !common.quiet {
        if let Some(last) = logs.last() {
            // KL is only meaningful when a teacher term is trained.
            let kl = if job.kd.alpha > 0.0 {
                format!(", kl {:.4}", last.loss.kl)
            } else {
                String::new()
            };
            let tested = test_errors
                .get(&last.epoch)
                .map_or(String::new(), |e| format!(", test errors {e}"));
            eprintln!(
                "{:>10}: {} epochs in {:.1} s, final loss {:.4} (ce {:.4}{kl}){tested}",
                job.name, job.epochs, secs, last.loss.total, last.loss.ce
            );
        }
    }
    Ok(Trained {
        model: trainer.into_student(),
        logs,
        test_errors,
        seconds: secs,
    })
}

fn progress_bar(common: &Common, name: &str, steps: u64) -> ProgressBar {
    let bar = if common.quiet {
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
