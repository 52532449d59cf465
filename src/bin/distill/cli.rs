//! The command line: the subcommands and the flags each one takes. Every subcommand takes
//! exactly the flags it uses (the shared groups are in `flags.rs`); with no subcommand, the
//! flags are `run`'s.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands;
use crate::flags::{
    CompressionFlags, DataFlags, GpuFlags, JobFlags, KdFlags, OutputFlags, TaskFlags, TrainingFlags,
};
use crate::objective_flags::ObjectiveFlags;
use crate::values::{
    self, ChoiceParser, Choices, CombineChoice, Experiments, Hidden, HiddenList, PrecisionChoice,
    TeacherWeights,
};

/// `distill`.
#[derive(Parser, Debug)]
#[command(
    name = "distill",
    version,
    about = "Knowledge distillation on any GPU wgpu reaches (Vulkan, Metal, DX12, GL)",
    long_about = "With no subcommand, runs the full pipeline on the bundled MNIST subset: \
                  teacher, scratch student, distilled student, and a results table. The flags \
                  below are then `run`'s; a subcommand's flags follow its name.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The pipeline's flags when no subcommand is named.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Full pipeline (default): teacher, scratch student, distilled student, table.
    Run(RunArgs),
    /// Train a model with cross-entropy (a teacher, or a scratch baseline).
    Train(TrainArgs),
    /// Distill a student from a saved teacher.
    Distill(DistillArgs),
    /// Evaluate a saved model on the test set.
    Eval(EvalArgs),
    /// List the adapters wgpu finds.
    Adapters,
    /// Check every kernel and variant against the CPU reference on this adapter.
    Validate(ValidateArgs),
    /// Deep mutual learning: --students N students (each its own --hidden, e.g.
    /// "300,300;800,800") learn together, each from the labels and the others' softened
    /// outputs of the same batch (default T = 1, α = 0.5).
    Mutual(commands::mutual::MutualArgs),
    /// Run an experiment end to end and write its table (`--list` names them).
    Experiment(ExperimentArgs),
    /// Fit a model's calibration temperature on a held-out share of the training set, report
    /// NLL, ECE, Brier score and accuracy on the test set before and after, and save the model
    /// with the temperature recorded.
    Calibrate(CalibrateArgs),
    /// Why distillation helped or hurt: teacher accuracy and calibration, per-class accuracy,
    /// confusion matrices, teacher–label disagreements, student fidelity, and warnings.
    Diagnose(DiagnoseArgs),
    /// Students distilled over a grid of --temperature, --alpha, --hidden and --train-fraction
    /// lists (teacher logits cached once), beside scratch students, with mean ± std tables.
    Sweep(SweepArgs),
    /// Benchmark kernels and the KD training step on this adapter.
    Bench(commands::bench::BenchArgs),
    /// Write a seeded synthetic data set: friedman1 (Friedman #1 regression, train.csv and
    /// test.csv with the target in column "y").
    MakeData(commands::regression::MakeDataArgs),
}

/// `distill run` (and `distill` alone).
#[derive(Args, Debug, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub job: JobFlags,
    #[command(flatten)]
    pub kd: KdFlags,
    #[command(flatten)]
    pub teachers: TeacherFlags,
    /// Train the teacher live (default when --data points elsewhere or no bundled teacher).
    #[arg(long, conflicts_with_all = ["teacher", "teacher_logits"], help_heading = "Teachers")]
    pub train_teacher: bool,
    /// Teacher hidden widths.
    #[arg(long, value_name = "WIDTHS", allow_hyphen_values = true, value_parser = values::hidden, help_heading = "Teachers")]
    pub teacher_hidden: Option<Hidden>,
    /// Teacher epochs (at least 1: a random teacher teaches nothing).
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        value_parser = values::at_least_one,
        help_heading = "Teachers"
    )]
    pub teacher_epochs: Option<usize>,
}

/// The teachers of `distill` and `run`: saved models and logits files, the classes each
/// knows, and how several are weighed and combined.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Teachers")]
pub struct TeacherFlags {
    /// Teacher weights (.safetensors); repeat for several teachers.
    #[arg(long)]
    pub teacher: Vec<PathBuf>,
    /// Teacher logits computed elsewhere: float32 .npy of shape [training samples, classes],
    /// rows in the training set's order (a teacher of any architecture or framework);
    /// repeatable.
    #[arg(long)]
    pub teacher_logits: Vec<PathBuf>,
    /// Classes a teacher knows, e.g. 0-4 (one per teacher, --teacher ones first); default:
    /// the list a model file records, else every class.
    #[arg(long)]
    pub teacher_classes: Vec<String>,
    /// How several teachers are weighed per sample: uniform (default), accuracy (on a
    /// validation share of the training set), confidence, route, or fixed weights like
    /// 0.7,0.3.
    #[arg(long, value_name = "WEIGHTS", allow_hyphen_values = true, value_parser = values::teacher_weights)]
    pub teacher_weights: Option<TeacherWeights>,
    /// How weighed teachers combine: mixture (weighted KL to each, default) or logits (KL to
    /// the weighted average of their logits; equal class sets only).
    #[arg(long, value_parser = ChoiceParser::<CombineChoice>::new())]
    pub combine: Option<CombineChoice>,
    /// Divide each teacher's logits by its calibration temperature before the distillation
    /// temperature: the one its file records (`distill calibrate`), else one fitted on the
    /// --val-fraction share of the training set.
    #[arg(long)]
    pub calibrate_teacher: bool,
    /// What to do where a teacher confidently contradicts a training label: keep its KD term
    /// (default) or drop it, leaving that sample its label alone.
    #[arg(long, default_value = "keep", value_parser = ChoiceParser::<Disagreement>::new())]
    pub kd_disagreement: Disagreement,
    /// With --kd-disagreement drop: the teacher's probability of its (wrong) top class above
    /// which the KD term is dropped.
    #[arg(long, default_value_t = 0.5, allow_hyphen_values = true)]
    pub disagreement_threshold: f32,
}

/// `--kd-disagreement`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Disagreement {
    /// Keep every KD term.
    #[default]
    Keep,
    /// Drop the KD term where the teacher confidently contradicts the label.
    Drop,
}

impl Choices for Disagreement {
    const WHAT: &'static str = "disagreement policy";
}

impl TeacherFlags {
    /// Whether any teacher was named.
    pub fn is_empty(&self) -> bool {
        self.teacher.is_empty() && self.teacher_logits.is_empty()
    }
}

/// `distill distill`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["teacher", "teacher_logits", "ema_teacher"])))]
pub struct DistillArgs {
    #[command(flatten)]
    pub job: JobFlags,
    #[command(flatten)]
    pub kd: KdFlags,
    #[command(flatten)]
    pub teachers: TeacherFlags,
    #[command(flatten)]
    pub objectives: ObjectiveFlags,
    #[command(flatten)]
    pub task: TaskFlags,
    /// Start the student from these weights (fine-tuning) instead of a fresh initialisation.
    #[arg(long, visible_alias = "from", help_heading = "Training")]
    pub init: Option<PathBuf>,
    #[command(flatten)]
    pub compression: CompressionFlags,
}

/// `distill train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Train on the samples of these classes only, e.g. 0-4,7 (the model keeps the list).
    #[arg(long)]
    pub classes: Option<String>,
    /// Start from these weights (fine-tuning) instead of a fresh initialisation.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Dropout on hidden layers, p in [0, 0.99] (0 disables).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub dropout: f32,
    /// Random ±pixels input shift, below the image's smaller side (0 disables).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub jitter: u32,
    /// How model.safetensors stores the weights: f32, or f16 (half the size; the test errors
    /// reported are the stored model's). Checkpoints stay f32.
    #[arg(long, default_value = "f32", value_parser = ChoiceParser::<PrecisionChoice>::new())]
    pub weights_precision: PrecisionChoice,
    #[command(flatten)]
    pub job: JobFlags,
    #[command(flatten)]
    pub task: TaskFlags,
}

/// `distill eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model weights (.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gpu: GpuFlags,
    #[command(flatten)]
    pub data: DataFlags,
}

/// `distill validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Skip the larger MLP-shaped matmuls.
    #[arg(long)]
    pub quick: bool,
    /// Machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gpu: GpuFlags,
}

/// `distill calibrate`.
#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Model weights (.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Share of the training set the temperature is fitted on, in (0, 1); default: the share
    /// the model was held out from (`train --val-fraction`), else 0.1.
    #[arg(long, value_name = "FRACTION", allow_hyphen_values = true, value_parser = values::open_fraction)]
    pub val_fraction: Option<f64>,
    /// Seed of that share (default 1).
    #[arg(long, allow_hyphen_values = true)]
    pub seed: Option<u64>,
    /// Machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gpu: GpuFlags,
    #[command(flatten)]
    pub data: DataFlags,
    #[command(flatten)]
    pub output: OutputFlags,
}

/// `distill diagnose`.
#[derive(Args, Debug)]
pub struct DiagnoseArgs {
    /// The teacher's weights (.safetensors).
    #[arg(long)]
    pub teacher: PathBuf,
    /// A student distilled from it.
    #[arg(long)]
    pub student: Option<PathBuf>,
    /// A student of the same size trained from scratch, to compare with.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gpu: GpuFlags,
    #[command(flatten)]
    pub data: DataFlags,
    #[command(flatten)]
    pub output: OutputFlags,
}

/// `distill sweep`.
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The teacher (.safetensors); default: the bundled one (bundled data only).
    #[arg(long)]
    pub teacher: Option<PathBuf>,
    /// Distillation temperatures T > 0, e.g. 1,2,4,8,20.
    #[arg(long, value_name = "T,…", value_delimiter = ',', allow_hyphen_values = true, value_parser = values::positive)]
    pub temperature: Vec<f32>,
    /// Weights α ∈ [0, 1] of the teacher term, e.g. 0,0.5,0.9,1.
    #[arg(long, value_name = "ALPHA,…", value_delimiter = ',', allow_hyphen_values = true, value_parser = values::unit)]
    pub alpha: Vec<f32>,
    /// Architectures' hidden widths separated by `;`, e.g. "30;100;300,300".
    #[arg(long, value_name = "WIDTHS;…", allow_hyphen_values = true, value_parser = values::hidden_list)]
    pub hidden: Option<HiddenList>,
    /// Shares of the training set, e.g. 0.1,0.3,1 (a seeded subset per seed).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub train_fraction: Vec<f64>,
    /// Seeds, e.g. 1,2,3 (default: --seed, or 1).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub seeds: Vec<u64>,
    #[command(flatten)]
    pub gpu: GpuFlags,
    #[command(flatten)]
    pub data: DataFlags,
    #[command(flatten)]
    pub training: TrainingFlags,
    #[command(flatten)]
    pub output: OutputFlags,
}

/// `distill experiment`.
#[derive(Args, Debug)]
pub struct ExperimentArgs {
    /// Experiment to run, several comma-separated (run in one process, sharing teachers and
    /// baselines), or `all`.
    #[arg(value_parser = values::experiments)]
    pub name: Option<Experiments>,
    /// Name and describe the experiments.
    #[arg(long)]
    pub list: bool,
    /// A seconds-long version (one seed, a data slice, tiny models) for smoke tests.
    #[arg(long)]
    pub quick: bool,
    /// Seeds to repeat over, e.g. 1,2,3 (default: 1,2,3; 1 with --quick; or --seed).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub seeds: Option<Vec<u64>>,
    /// Student hidden widths, e.g. 300,300.
    #[arg(long, value_name = "WIDTHS", allow_hyphen_values = true, value_parser = values::hidden)]
    pub hidden: Option<Hidden>,
    /// Teacher hidden widths.
    #[arg(long, value_name = "WIDTHS", allow_hyphen_values = true, value_parser = values::hidden)]
    pub teacher_hidden: Option<Hidden>,
    /// Teacher epochs.
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = values::at_least_one)]
    pub teacher_epochs: Option<usize>,
    #[command(flatten)]
    pub kd: KdFlags,
    #[command(flatten)]
    pub gpu: GpuFlags,
    #[command(flatten)]
    pub data: DataFlags,
    #[command(flatten)]
    pub training: TrainingFlags,
    #[command(flatten)]
    pub output: OutputFlags,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_flag_a_command_does_not_use_is_refused() {
        for args in [
            &["distill", "adapters", "--lr", "5"][..],
            &["distill", "validate", "--epochs", "3"],
            &["distill", "eval", "--model", "m", "--temperature", "4"],
            &["distill", "bench", "--teacher", "t"],
            &["distill", "train", "--alpha", "0.5"],
            &["distill", "mutual", "--resume"],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{args:?}"
            );
        }
        // The pipeline's flags go after a subcommand's name, not before it.
        let e = Cli::try_parse_from(["distill", "--seed", "2", "train"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn without_a_subcommand_the_flags_are_runs() {
        let cli = Cli::try_parse_from(["distill", "--hidden", "800,800", "--seed", "3"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.job.hidden, Some(Hidden(vec![800, 800])));
        assert_eq!(cli.run.job.training.seed, Some(3));
        let cli = Cli::try_parse_from(["distill", "run", "--val-fraction", "0.2"]).unwrap();
        let Some(Command::Run(run)) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.job.val_fraction, Some(0.2));
    }

    #[test]
    fn negative_numbers_reach_the_value_parsers() {
        let e = Cli::try_parse_from(["distill", "train", "--val-fraction", "-0.1"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        let text = e.to_string();
        assert!(
            text.contains("--val-fraction") && text.contains("-0.1"),
            "{text}"
        );
    }
}
