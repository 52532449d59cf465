//! The flag groups several subcommands share, each flattened only into the subcommands that
//! use it, so a flag a command would ignore is refused by clap instead.

use std::path::PathBuf;

use clap::Args;

use distill_wgpu::data::{self, DataOptions};
use distill_wgpu::{KdConfig, Result};

use crate::defaults;
use crate::values::{self, Backend, ChoiceParser, Hidden};

/// Which adapter a command opens.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Adapter")]
pub struct GpuFlags {
    /// Adapter name (case-insensitive substring); default: WGPU_ADAPTER_NAME or wgpu's choice.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Backends to search, comma-separated; default: WGPU_BACKEND or all.
    #[arg(long, value_delimiter = ',', value_parser = ChoiceParser::<Backend>::new())]
    pub backend: Vec<Backend>,
    /// Time the matmul candidates again instead of reusing the choices cached for this
    /// adapter (in DISTILL_CACHE_DIR, else $XDG_CACHE_HOME/distill-wgpu or
    /// ~/.cache/distill-wgpu).
    #[arg(long)]
    pub retune: bool,
    /// Run without subgroups, as an adapter without them would (on a CPU adapter: the
    /// unrolled matmul family instead of the subgroup one).
    #[arg(long)]
    pub no_subgroups: bool,
}

/// The data set a command reads.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Data")]
pub struct DataFlags {
    /// The data set: a folder of MNIST-layout IDX files (train-images-idx3-ubyte[.gz], …), a
    /// .npz archive or folder of x_train/y_train/x_test/y_test .npy files, or a folder of
    /// train.csv and test.csv; default: the bundled MNIST subset.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// CSV data: the label column's name (default: label).
    #[arg(long)]
    pub label_column: Option<String>,
    /// Standardize each feature to zero mean and unit variance, with the training split's
    /// statistics (applied to the test split too).
    #[arg(long)]
    pub standardize: bool,
    /// The number of classes; every label must be below it. Default: one more than the
    /// largest training label, and a test label the training split never had is refused.
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = values::at_least_one)]
    pub num_classes: Option<usize>,
}

impl DataFlags {
    /// The data set's path: --data, or the bundled one.
    pub fn path(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(data::bundled_dir)
    }

    /// How the data set is read.
    pub fn options(&self) -> DataOptions {
        DataOptions {
            label_column: self.label_column.clone(),
            standardize: self.standardize,
            classes: self.num_classes,
        }
    }
}

/// Training hyper-parameters and progress output of the commands that train.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Training")]
pub struct TrainingFlags {
    /// Training epochs (students; the teacher has --teacher-epochs).
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = values::at_least_one)]
    pub epochs: Option<usize>,
    /// Mini-batch size.
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = values::at_least_one)]
    pub batch_size: Option<usize>,
    /// Adam learning rate (finite, > 0).
    #[arg(long, allow_hyphen_values = true, value_parser = values::positive)]
    pub lr: Option<f32>,
    /// Seed for initialisation, shuffling, dropout and jitter.
    #[arg(long, allow_hyphen_values = true)]
    pub seed: Option<u64>,
    /// No progress bars or per-epoch lines.
    #[arg(long, short)]
    pub quiet: bool,
}

impl TrainingFlags {
    /// --seed, or the default.
    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or(defaults::SEED)
    }

    /// --batch-size, or the default.
    pub fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(defaults::BATCH)
    }

    /// --lr, or the default.
    pub fn lr(&self) -> f32 {
        self.lr.unwrap_or(defaults::LR)
    }
}

/// Where a command writes.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Output")]
pub struct OutputFlags {
    /// Output folder; default: a new runs/run-NNN. A folder that already holds files is
    /// refused unless --force (or --resume, where the command takes it), and one another
    /// run is writing to is refused.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite this run's files in an --out folder that already holds results.
    #[arg(long)]
    pub force: bool,
}

/// The distillation temperature and weight of a command that trains one setting.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Distillation")]
pub struct KdFlags {
    /// Distillation temperature T > 0.
    #[arg(long, value_name = "T", allow_hyphen_values = true, value_parser = values::temperature)]
    pub temperature: Option<f32>,
    /// Weight α ∈ [0, 1] of the teacher term.
    #[arg(long, value_name = "ALPHA", allow_hyphen_values = true, value_parser = values::alpha)]
    pub alpha: Option<f32>,
}

impl KdFlags {
    /// T and α from the flags, else `default`'s, checked.
    pub fn config_or(&self, default: KdConfig) -> Result<KdConfig> {
        let kd = KdConfig {
            temperature: self.temperature.unwrap_or(default.temperature),
            alpha: self.alpha.unwrap_or(default.alpha),
        };
        kd.validate()?;
        Ok(kd)
    }

    /// T and α from the flags or the pipeline's defaults, checked.
    pub fn config(&self) -> Result<KdConfig> {
        self.config_or(KdConfig {
            temperature: defaults::TEMPERATURE,
            alpha: defaults::ALPHA,
        })
    }
}

/// The flags of the commands that train checkpointed models into a run folder: `run`,
/// `train` and `distill`.
#[derive(Args, Clone, Debug, Default)]
pub struct JobFlags {
    #[command(flatten)]
    pub gpu: GpuFlags,
    #[command(flatten)]
    pub data: DataFlags,
    #[command(flatten)]
    pub training: TrainingFlags,
    #[command(flatten)]
    pub output: OutputFlags,
    /// Continue the run in --out from its checkpoints (same flags; --epochs may grow).
    #[arg(long, help_heading = "Output")]
    pub resume: bool,
    /// Hidden layer widths, e.g. 800,800.
    #[arg(long, value_name = "WIDTHS", allow_hyphen_values = true, value_parser = values::hidden, help_heading = "Training")]
    pub hidden: Option<Hidden>,
    /// Share of the training set held out (seeded) for choices made after training: teacher
    /// accuracy weights, calibration temperatures (`train`: left out of training and
    /// recorded in the model for `calibrate`). Never the test set. Default 0.1, in (0, 1).
    #[arg(
        long,
        value_name = "FRACTION",
        allow_hyphen_values = true,
        value_parser = values::open_fraction,
        help_heading = "Training"
    )]
    pub val_fraction: Option<f64>,
}

impl JobFlags {
    /// The one architecture --hidden names, if any.
    pub fn hidden(&self) -> Option<&[usize]> {
        self.hidden.as_ref().map(|h| h.0.as_slice())
    }

    /// The --val-fraction share, or the default 0.1.
    pub fn val_fraction(&self) -> f64 {
        self.val_fraction.unwrap_or(defaults::VAL_FRACTION)
    }
}
