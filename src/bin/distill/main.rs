//! `distill`: train a teacher, distill a student on real data, validate kernels against the CPU
//! reference and benchmark the adapter.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use distill_wgpu::{ContextOptions, Error, GpuContext, Result};

mod analysis_pages;
mod commands;
mod environment;
mod jobs;
mod objective_flags;
mod output;
mod pages;
mod report;
mod teachers;
mod training;

#[derive(Parser)]
#[command(
    name = "distill",
    version,
    about = "Knowledge distillation on any GPU wgpu reaches (Vulkan, Metal, DX12, GL)",
    long_about = "With no subcommand, runs the full pipeline on the bundled MNIST subset: \
                  teacher, scratch student, distilled student, and a results table."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Clone, Debug)]
struct Common {
    /// Adapter name (case-insensitive substring); default: WGPU_ADAPTER_NAME or wgpu's choice.
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// Backend(s) to search: vulkan, gl, metal, dx12 or webgpu (comma-separated); default:
    /// WGPU_BACKEND or all.
    #[arg(long, global = true)]
    backend: Option<String>,
    /// The data set: a folder of MNIST-layout IDX files (train-images-idx3-ubyte[.gz], …), a
    /// .npz archive or folder of x_train/y_train/x_test/y_test .npy files, or a folder of
    /// train.csv and test.csv; default: the bundled MNIST subset.
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// CSV data: the label column's name (default: label).
    #[arg(long, global = true)]
    label_column: Option<String>,
    /// Standardize each feature to zero mean and unit variance, with the training split's
    /// statistics (applied to the test split too).
    #[arg(long, global = true)]
    standardize: bool,
    /// Training epochs (students; the teacher has --teacher-epochs in `run`).
    #[arg(long, global = true)]
    epochs: Option<usize>,
    /// Mini-batch size.
    #[arg(long, global = true)]
    batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long, global = true)]
    lr: Option<f32>,
    /// Distillation temperature T > 0 (`sweep`: a list, e.g. 1,2,4,8,20).
    #[arg(long = "temperature", global = true, value_delimiter = ',')]
    temperatures: Vec<f32>,
    /// Weight α ∈ [0, 1] of the teacher term (`sweep`: a list, e.g. 0,0.5,0.9,1).
    #[arg(long = "alpha", global = true, value_delimiter = ',')]
    alphas: Vec<f32>,
    /// Hidden layer widths, e.g. 800,800 (`sweep`: architectures separated by `;`, e.g.
    /// "30;100;300,300").
    #[arg(long = "hidden", global = true, value_parser = parse_hidden_list)]
    hidden_list: Option<HiddenList>,
    /// Seed for initialisation, shuffling, dropout and jitter.
    #[arg(long, global = true)]
    seed: Option<u64>,
    /// Output folder for weights, checkpoints, report.json, report.html and metrics.csv;
    /// default: a new
    /// runs/run-NNN. A folder that already holds files is refused unless --force or --resume.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// Overwrite this run's files in an --out folder that already holds results.
    #[arg(long, global = true)]
    force: bool,
    /// Continue the run in --out from its checkpoints (same flags; --epochs may grow).
    #[arg(long, global = true)]
    resume: bool,
    /// No progress bars or per-epoch lines.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Machine-readable JSON on stdout (bench, validate, eval, calibrate).
    #[arg(long, global = true)]
    json: bool,
    /// Share of the training set held out (seeded) for choices made after training: teacher
    /// accuracy weights, calibration temperatures. Never the test set. Default 0.1.
    #[arg(long, global = true)]
    val_fraction: Option<f64>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Full pipeline (default): teacher, scratch student, distilled student, table.
    Run(RunArgs),
    /// Train a model with cross-entropy (a teacher, or a scratch baseline).
    Train(TrainArgs),
    /// Distill a student from a saved teacher.
    Distill(DistillArgs),
    /// Evaluate a saved model on the test set.
    Eval {
        /// Model weights (.safetensors).
        #[arg(long)]
        model: PathBuf,
    },
    /// List the adapters wgpu finds.
    Adapters,
    /// Check every kernel and variant against the CPU reference on this adapter.
    Validate {
        /// Skip the larger MLP-shaped matmuls.
        #[arg(long)]
        quick: bool,
    },
    /// Deep mutual learning: --students N students (each its own --hidden, e.g.
    /// "300,300;800,800") learn together, each from the labels and the others' softened
    /// outputs of the same batch (default T = 1, α = 0.5).
    Mutual(commands::mutual::MutualArgs),
    /// Run an experiment end to end and write its table (`--list` names them).
    Experiment(ExperimentArgs),
    /// Fit a model's calibration temperature on a held-out share of the training set, report
    /// NLL, ECE, Brier score and accuracy on the test set before and after, and save the model
    /// with the temperature recorded.
    Calibrate {
        /// Model weights (.safetensors).
        #[arg(long)]
        model: PathBuf,
    },
    /// Why distillation helped or hurt: teacher accuracy and calibration, per-class accuracy,
    /// confusion matrices, teacher–label disagreements, student fidelity, and warnings.
    Diagnose(DiagnoseArgs),
    /// Students distilled over a grid of --temperature, --alpha, --hidden and --train-fraction
    /// lists (teacher logits cached once), beside scratch students, with mean ± std tables.
    Sweep(SweepArgs),
    /// Benchmark kernels and the KD training step on this adapter.
    Bench(commands::bench::BenchArgs),
}

#[derive(Args, Debug, Default)]
struct RunArgs {
    #[command(flatten)]
    teachers: TeacherFlags,
    /// Train the teacher live (default when --data points elsewhere or no bundled teacher).
    #[arg(long, conflicts_with_all = ["teacher", "teacher_logits"])]
    train_teacher: bool,
    /// Teacher hidden widths.
    #[arg(long, value_delimiter = ',')]
    teacher_hidden: Option<Vec<usize>>,
    /// Teacher epochs.
    #[arg(long)]
    teacher_epochs: Option<usize>,
}

/// The teachers of `distill` and `run`: saved models and logits files, the classes each
/// knows, and how several are weighed and combined.
#[derive(Args, Debug, Default)]
struct TeacherFlags {
    /// Teacher weights (.safetensors); repeat for several teachers.
    #[arg(long)]
    teacher: Vec<PathBuf>,
    /// Teacher logits computed elsewhere: float32 .npy of shape [training samples, classes],
    /// rows in the training set's order (a teacher of any architecture or framework);
    /// repeatable.
    #[arg(long)]
    teacher_logits: Vec<PathBuf>,
    /// Classes a teacher knows, e.g. 0-4 (one per teacher, --teacher ones first); default:
    /// the list a model file records, else every class.
    #[arg(long)]
    teacher_classes: Vec<String>,
    /// How several teachers are weighed per sample: uniform, accuracy (on a validation
    /// share of the training set), confidence, route, or fixed weights like 0.7,0.3.
    #[arg(long, allow_hyphen_values = true)]
    teacher_weights: Option<String>,
    /// How weighed teachers combine: mixture (weighted KL to each, default) or logits (KL to
    /// the weighted average of their logits; equal class sets only).
    #[arg(long)]
    combine: Option<String>,
    /// Divide each teacher's logits by its calibration temperature before the distillation
    /// temperature: the one its file records (`distill calibrate`), else one fitted on the
    /// --val-fraction share of the training set.
    #[arg(long)]
    calibrate_teacher: bool,
    /// What to do where a teacher confidently contradicts a training label: keep its KD term
    /// (default) or drop it, leaving that sample its label alone.
    #[arg(long, value_enum, default_value_t = Disagreement::Keep)]
    kd_disagreement: Disagreement,
    /// With --kd-disagreement drop: the teacher's probability of its (wrong) top class above
    /// which the KD term is dropped.
    #[arg(long, default_value_t = 0.5)]
    disagreement_threshold: f32,
}

/// `--kd-disagreement`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Disagreement {
    /// Keep every KD term.
    #[default]
    Keep,
    /// Drop the KD term where the teacher confidently contradicts the label.
    Drop,
}

impl TeacherFlags {
    /// Whether any teacher was named.
    fn is_empty(&self) -> bool {
        self.teacher.is_empty() && self.teacher_logits.is_empty()
    }
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["teacher", "teacher_logits", "ema_teacher"])))]
struct DistillArgs {
    #[command(flatten)]
    teachers: TeacherFlags,
    #[command(flatten)]
    objectives: objective_flags::ObjectiveFlags,
    /// Start the student from these weights (fine-tuning) instead of a fresh initialisation.
    #[arg(long)]
    init: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct SweepArgs {
    /// The teacher (.safetensors); default: the bundled one (bundled data only).
    #[arg(long)]
    teacher: Option<PathBuf>,
    /// Shares of the training set, e.g. 0.1,0.3,1 (a seeded subset per seed).
    #[arg(long, value_delimiter = ',')]
    train_fraction: Vec<f64>,
    /// Seeds, e.g. 1,2,3 (default: --seed, or 1).
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
}

#[derive(Args, Debug)]
struct DiagnoseArgs {
    /// The teacher's weights (.safetensors).
    #[arg(long)]
    teacher: PathBuf,
    /// A student distilled from it.
    #[arg(long)]
    student: Option<PathBuf>,
    /// A student of the same size trained from scratch, to compare with.
    #[arg(long)]
    baseline: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ExperimentArgs {
    /// Experiment to run, several comma-separated (run in one process, sharing teachers and
    /// baselines), or `all`.
    name: Option<String>,
    /// Name and describe the experiments.
    #[arg(long)]
    list: bool,
    /// A seconds-long version (one seed, a data slice, tiny models) for smoke tests.
    #[arg(long)]
    quick: bool,
    /// Seeds to repeat over, e.g. 1,2,3 (default: 1,2,3; 1 with --quick; or --seed).
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Teacher hidden widths.
    #[arg(long, value_delimiter = ',')]
    teacher_hidden: Option<Vec<usize>>,
    /// Teacher epochs.
    #[arg(long)]
    teacher_epochs: Option<usize>,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Train on the samples of these classes only, e.g. 0-4,7 (the model keeps the list).
    #[arg(long)]
    classes: Option<String>,
    /// Start from these weights (fine-tuning) instead of a fresh initialisation.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Dropout on hidden layers, p in [0, 0.99] (0 disables).
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    /// Random ±pixels input shift, below the image's smaller side (0 disables).
    #[arg(long, default_value_t = 0)]
    jitter: u32,
}

/// Pipeline defaults. The teacher recipe is the one that produced the bundled teacher
/// (`models/teacher-mnist10k.safetensors`): training it live takes about half an hour on a
/// 2-core CPU with lavapipe, so `run` loads the bundled file unless told otherwise. The
/// students' defaults finish in a few minutes there.
mod defaults {
    pub const TEACHER_HIDDEN: &[usize] = &[1200, 1200];
    pub const TEACHER_EPOCHS: usize = 60;
    pub const TEACHER_DROPOUT: f32 = 0.5;
    pub const TEACHER_JITTER: u32 = 2;
    pub const STUDENT_HIDDEN: &[usize] = &[300, 300];
    pub const EPOCHS: usize = 20;
    pub const BATCH: usize = 128;
    pub const LR: f32 = 1e-3;
    pub const TEMPERATURE: f32 = 20.0;
    pub const ALPHA: f32 = 0.9;
    pub const SEED: u64 = 1;
    pub const VAL_FRACTION: f64 = 0.1;
}

/// One or more architectures' hidden widths: `800,800` or `30;100;300,300`.
#[derive(Debug, Clone, PartialEq)]
struct HiddenList(Vec<Vec<usize>>);

fn parse_hidden_list(text: &str) -> std::result::Result<HiddenList, String> {
    text.split(';')
        .map(|arch| {
            arch.split(',')
                .map(|w| {
                    w.trim()
                        .parse::<usize>()
                        .map_err(|_| format!("{w:?} is not a width in {text:?}"))
                })
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(HiddenList)
}

impl Common {
    /// The one temperature of a training command (`check_common` allows one outside `sweep`).
    fn temperature(&self) -> Option<f32> {
        self.temperatures.first().copied()
    }

    /// The one α of a training command.
    fn alpha(&self) -> Option<f32> {
        self.alphas.first().copied()
    }

    /// The one architecture of a training command.
    fn hidden(&self) -> Option<Vec<usize>> {
        self.hidden_list.as_ref().and_then(|h| h.0.first().cloned())
    }
}

fn main() -> ExitCode {
    environment::ensure_runtime_dir();
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e @ Error::Interrupted { .. }) => {
            eprintln!("{e}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Rejects nonsensical common flags before any data is read or file written; only a `sweep`
/// takes several temperatures, α values or architectures.
fn check_common(common: &Common, sweep: bool) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidConfig(m));
    if common.batch_size == Some(0) {
        return bad("--batch-size must be at least 1".into());
    }
    if common.epochs == Some(0) {
        return bad("--epochs must be at least 1".into());
    }
    if let Some(lr) = common.lr {
        if !(lr.is_finite() && lr > 0.0) {
            return bad(format!("--lr must be finite and > 0, got {lr}"));
        }
    }
    let archs = common.hidden_list.as_ref().map_or(&[][..], |h| &h.0[..]);
    if let Some(h) = archs.iter().find(|h| h.contains(&0)) {
        return bad(format!("--hidden has a zero width: {h:?}"));
    }
    if !sweep {
        let several = [
            ("--temperature", common.temperatures.len()),
            ("--alpha", common.alphas.len()),
            ("--hidden", archs.len()),
        ];
        if let Some((flag, _)) = several.iter().find(|(_, n)| *n > 1) {
            return bad(format!(
                "{flag} takes one value here (lists are for `distill sweep`)"
            ));
        }
        jobs::kd_from(common)?;
    }
    if let Some(f) = common.val_fraction {
        if !(f > 0.0 && f < 1.0) {
            return bad(format!("--val-fraction must lie in (0, 1), got {f}"));
        }
    }
    Ok(())
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let common = cli.common;
    let command = cli.command.unwrap_or(Command::Run(RunArgs::default()));
    check_common(
        &common,
        matches!(command, Command::Sweep(_) | Command::Mutual(_)),
    )?;
    match command {
        Command::Adapters => {
            let adapters = distill_wgpu::list_adapters();
            if adapters.is_empty() {
                return Err(Error::NoAdapter);
            }
            for info in adapters {
                println!("{}", distill_wgpu::describe_adapter(&info));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { quick } => commands::validate::run(&common, quick),
        Command::Bench(args) => commands::bench::run(&common, &args),
        Command::Run(args) => {
            if args.teacher_epochs == Some(0) {
                return Err(Error::InvalidConfig(
                    "--teacher-epochs must be at least 1 (a random teacher teaches nothing)".into(),
                ));
            }
            training::catch_interrupts();
            commands::run::run(&common, &args)
        }
        Command::Train(args) => {
            training::catch_interrupts();
            commands::train::run(&common, &args)
        }
        Command::Distill(args) => {
            training::catch_interrupts();
            commands::distill::run(&common, &args)
        }
        Command::Mutual(args) => {
            training::catch_interrupts();
            commands::mutual::run(&common, &args)
        }
        Command::Calibrate { model } => commands::calibrate::run(&common, &model),
        Command::Diagnose(args) => commands::diagnose::run(&common, &args),
        Command::Sweep(args) => {
            training::catch_interrupts();
            commands::sweep::run(&common, &args)
        }
        Command::Experiment(args) => commands::experiment::run(&common, &args),
        Command::Eval { model } => commands::eval::run(&common, &model),
    }
}

fn open_context(common: &Common) -> Result<GpuContext> {
    let backends = common
        .backend
        .as_deref()
        .map(distill_wgpu::gpu::parse_backends)
        .transpose()?;
    let ctx = GpuContext::new(&ContextOptions {
        adapter_name: common.adapter.clone(),
        backends,
        ..ContextOptions::default()
    })?;
    if !common.json {
        eprintln!("adapter: {}", ctx.describe());
    }
    Ok(ctx)
}
