//! `distill train --task regression`, `distill distill --task regression` and
//! `distill make-data`: regression models (linear outputs, one per target) trained on CSV or
//! NumPy data with float targets, scored by RMSE and MAE, and the Friedman #1 generator.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::json;

use distill_wgpu::data::{
    friedman1_splits, read_regression, write_regression_csv_dir, RegressionOptions,
    RegressionSplits,
};
use distill_wgpu::eval::{evaluate_regression, RegressionMetrics};
use distill_wgpu::model::io;
use distill_wgpu::ops::regression_loss::RegressionConfig;
use distill_wgpu::session::{Progress, RunOutcome, RunTeacher, TrainingRun};
use distill_wgpu::train::{Objective, TrainerConfig};
use distill_wgpu::{DeviceDataset, Error, GpuContext, Mlp, MlpSpec, Optimizer, Result};

use crate::cli::{DistillArgs, TrainArgs};
use crate::flags::{JobFlags, TaskFlags};
use crate::output::{check_inputs_not_outputs, checkpoint_path, prepare, Resume};
use crate::training::INTERRUPT;
use crate::values::{ChoiceParser, Choices, PrecisionChoice};
use crate::{defaults, open_context};

/// Hidden widths of a regression model `train` makes when --hidden is not given.
const REGRESSION_HIDDEN: &[usize] = &[64, 64];
/// Hidden widths of a regression student `distill` makes when --hidden is not given.
const REGRESSION_STUDENT_HIDDEN: &[usize] = &[16];
/// Rows per evaluation pass.
const EVAL_BATCH: usize = 512;

/// The synthetic data sets `make-data` writes.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyntheticSet {
    /// Friedman #1: ten features uniform on [0, 1), y = 10 sin(π x1 x2) + 20 (x3 − 0.5)² +
    /// 10 x4 + 5 x5 + N(0, 1) noise (the last five features irrelevant).
    Friedman1,
}

impl Choices for SyntheticSet {
    const WHAT: &'static str = "data set";
}

/// `distill make-data`.
#[derive(Args, Debug)]
pub struct MakeDataArgs {
    /// Which data set.
    #[arg(value_parser = ChoiceParser::<SyntheticSet>::new())]
    pub set: SyntheticSet,
    /// The folder to write train.csv and test.csv into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Training samples.
    #[arg(long, default_value_t = 2000, value_parser = crate::values::at_least_one)]
    pub train: usize,
    /// Test samples.
    #[arg(long, default_value_t = 1000, value_parser = crate::values::at_least_one)]
    pub test: usize,
    /// Seed of the draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Overwrite train.csv and test.csv if the folder holds them.
    #[arg(long)]
    pub force: bool,
}

/// Writes the synthetic data set.
pub fn make_data(args: &MakeDataArgs) -> Result<ExitCode> {
    let existing = ["train.csv", "test.csv"].map(|f| args.out.join(f));
    if let Some(path) = existing.iter().find(|p| p.exists()).filter(|_| !args.force) {
        return Err(Error::OutputExists { path: path.clone() });
    }
    let splits = match args.set {
        SyntheticSet::Friedman1 => friedman1_splits(args.train, args.test, args.seed)?,
    };
    write_regression_csv_dir(&args.out, &splits)?;
    println!(
        "wrote {} ({} training, {} test samples of {} features; target column {:?})",
        args.out.display(),
        splits.train.len(),
        splits.test.len(),
        splits.train.features,
        splits.target_names.join(",")
    );
    Ok(ExitCode::SUCCESS)
}

/// Refuses the job flags regression does not take, naming the first one given.
fn check_job_flags(job: &JobFlags, extra: &[(&str, bool)]) -> Result<()> {
    let refused = [
        ("--label-column", job.data.label_column.is_some()),
        ("--num-classes", job.data.num_classes.is_some()),
        ("--val-fraction", job.val_fraction.is_some()),
    ];
    match refused.iter().chain(extra).find(|(_, set)| *set) {
        Some((flag, _)) => Err(Error::InvalidConfig(format!(
            "{flag} does not apply to --task regression"
        ))),
        None => Ok(()),
    }
}

/// The regression data set --data names (it must be given: the bundled set is MNIST).
fn load(job: &JobFlags, task: &TaskFlags) -> Result<RegressionSplits> {
    let path = job.data.data.as_ref().ok_or_else(|| {
        Error::InvalidConfig(
            "--task regression needs --data (CSV or NumPy data with float targets; \
             `distill make-data friedman1 --out DIR` writes a synthetic set)"
                .into(),
        )
    })?;
    read_regression(
        path,
        &RegressionOptions {
            target_columns: task.target_column.clone(),
            standardize: job.data.standardize,
        },
    )
}

/// Trains one regression model on `train` and scores it on `test`.
struct Job<'a> {
    name: &'a str,
    hidden: &'a [usize],
    loss: RegressionConfig,
    teacher: Option<&'a Mlp>,
}

/// Trains `spec` with a checkpoint in `out` (continued with --resume when its settings match;
/// Ctrl-C saves it and stops).
fn train_one(
    ctx: &GpuContext,
    job: &JobFlags,
    (train, test, out): (&DeviceDataset, &DeviceDataset, &Path),
    spec: &Job<'_>,
) -> Result<(Mlp, RegressionMetrics)> {
    let config = TrainerConfig::new(
        job.training.batch_size(),
        Optimizer::adam(job.training.lr()),
    )
    .objective(Objective::Regression(spec.loss));
    let epochs = job.training.epochs.unwrap_or(defaults::EPOCHS);
    let mut run = TrainingRun::new(spec.hidden, config)
        .epochs(epochs)
        .seed(job.training.seed())
        .cancel_token(INTERRUPT.clone())
        .checkpoint(
            checkpoint_path(out, spec.name),
            job.resume,
            job.output.force,
        )
        .settings(json!({
            "task": "regression",
            "loss": spec.loss,
            "hidden": spec.hidden,
            "data": job.data.data,
            "standardize": job.data.standardize,
        }));
    if let Some(teacher) = spec.teacher {
        run = run.teacher(RunTeacher::Model(teacher));
    }
    let quiet = job.training.quiet;
    let outcome = run.run(ctx, train, |event| {
        if let (Progress::Epoch { log, epochs, .. }, false) = (event, quiet) {
            eprintln!(
                "{} epoch {}/{epochs}: loss {:.5}",
                spec.name, log.epoch, log.loss.total
            );
        }
    })?;
    let model = match outcome {
        RunOutcome::Finished(done) => done.model,
        RunOutcome::Cancelled {
            position,
            checkpoint,
            ..
        } => {
            return Err(match checkpoint {
                Some(checkpoint) => Error::Interrupted {
                    epoch: position.epoch,
                    batch: position.batch,
                    checkpoint,
                },
                None => Error::InvalidConfig("training was interrupted".into()),
            })
        }
    };
    let metrics = evaluate_regression(ctx, &model, test, EVAL_BATCH)?;
    Ok((model, metrics))
}

/// Saves `model` as `<name>.safetensors` in `out`, marked as a regression model.
fn save(ctx: &GpuContext, out: &Path, name: &str, model: &Mlp) -> Result<()> {
    let params = model.parameters(ctx)?;
    let meta = [("task", "regression".to_string())];
    io::save(
        &out.join(format!("{name}.safetensors")),
        model.spec(),
        &params,
        &meta,
    )
}

/// Prints the models' scores and writes them to `results.json`.
fn report(
    out: &Path,
    command: &str,
    rows: &[(&str, &MlpSpec, RegressionMetrics)],
    loss: Option<RegressionConfig>,
) -> Result<()> {
    println!(
        "{:<10} {:<18} {:>10} {:>10}",
        "model", "sizes", "RMSE", "MAE"
    );
    for (name, spec, m) in rows {
        let sizes = format!("{:?}", spec.sizes);
        println!("{name:<10} {sizes:<18} {:>10.4} {:>10.4}", m.rmse, m.mae);
    }
    let models: Vec<_> = rows
        .iter()
        .map(|(name, spec, m)| {
            json!({"name": name, "sizes": spec.sizes, "rmse": m.rmse, "mae": m.mae, "test_samples": m.count})
        })
        .collect();
    let doc = json!({"command": command, "task": "regression", "loss": loss, "models": models});
    let path = out.join("results.json");
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    std::fs::write(&path, text).map_err(|source| Error::Io { path, source })
}

/// `distill train --task regression`: a model trained on the targets alone.
pub fn train(args: &TrainArgs) -> Result<ExitCode> {
    let job = &args.job;
    check_job_flags(
        job,
        &[
            ("--classes", args.classes.is_some()),
            ("--init", args.init.is_some()),
            ("--jitter", args.jitter != 0),
            (
                "--weights-precision f16",
                args.weights_precision != PrecisionChoice::F32,
            ),
        ],
    )?;
    let loss = args.task.regression_config(0.0)?;
    let data = load(job, &args.task)?;
    let out = prepare(&job.output, Resume::from_flag(job.resume))?;
    let ctx = open_context(&job.gpu, false)?;
    let train = DeviceDataset::regression(&ctx, &data.train)?;
    let test = DeviceDataset::regression(&ctx, &data.test)?;
    let hidden = job.hidden().unwrap_or(REGRESSION_HIDDEN);
    let spec = Job {
        name: "model",
        hidden,
        loss,
        teacher: None,
    };
    let (model, metrics) = train_one(&ctx, job, (&train, &test, &out), &spec)?;
    save(&ctx, &out, "model", &model)?;
    report(
        &out,
        "train",
        &[("model", model.spec(), metrics)],
        Some(loss),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `distill distill --task regression --teacher T.safetensors`: a student trained on the
/// targets and the teacher's outputs (cached once over the training set).
pub fn distill(args: &DistillArgs) -> Result<ExitCode> {
    let job = &args.job;
    let teachers = &args.teachers;
    check_job_flags(
        job,
        &[
            ("--teacher-logits", !teachers.teacher_logits.is_empty()),
            ("--teacher-classes", !teachers.teacher_classes.is_empty()),
            ("--temperature", args.kd.temperature.is_some()),
            ("--init", args.init.is_some()),
            ("--loss, --hint or --ema-teacher", args.objectives.any()),
        ],
    )?;
    let [teacher_path] = teachers.teacher.as_slice() else {
        return Err(Error::InvalidConfig(format!(
            "--task regression distills from one --teacher model; {} given",
            teachers.teacher.len()
        )));
    };
    let alpha = args.kd.alpha.unwrap_or(0.5);
    let loss = args.task.regression_config(alpha)?;
    let data = load(job, &args.task)?;
    let out = prepare(&job.output, Resume::from_flag(job.resume))?;
    check_inputs_not_outputs(
        &[teacher_path.as_path()],
        &[out.join("student.safetensors")],
    )?;
    let ctx = open_context(&job.gpu, false)?;
    let (teacher_spec, params) = io::load(teacher_path)?;
    let teacher = Mlp::from_parameters(&ctx, &teacher_spec, &params)?;
    let train = DeviceDataset::regression(&ctx, &data.train)?;
    let test = DeviceDataset::regression(&ctx, &data.test)?;
    let teacher_metrics = evaluate_regression(&ctx, &teacher, &test, EVAL_BATCH)?;
    let hidden = job.hidden().unwrap_or(REGRESSION_STUDENT_HIDDEN);
    let spec = Job {
        name: "student",
        hidden,
        loss,
        teacher: Some(&teacher),
    };
    let (student, metrics) = train_one(&ctx, job, (&train, &test, &out), &spec)?;
    save(&ctx, &out, "student", &student)?;
    report(
        &out,
        "distill",
        &[
            ("teacher", teacher.spec(), teacher_metrics),
            ("student", student.spec(), metrics),
        ],
        Some(loss),
    )?;
    Ok(ExitCode::SUCCESS)
}
