//! The flag groups several subcommands share, each flattened only into the subcommands that
//! use it, so a flag a command would ignore is refused by clap instead.

use std::path::PathBuf;

use clap::Args;

use distill_wgpu::data::{self, DataOptions};
use distill_wgpu::{Error, KdConfig, Result};

use crate::defaults;
use distill_wgpu::ops::regression_loss::{RegressionConfig, RegressionForm};

use crate::values::{self, Backend, ChoiceParser, Hidden, RegressionLossChoice, Task};

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

/// The task of `train` and `distill`, and the regression loss's settings.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Task")]
pub struct TaskFlags {
    /// What the model predicts: classification (integer labels; the default) or regression
    /// (real-valued targets from CSV --target-column columns or NumPy y_train/y_test; scored by
    /// RMSE and MAE).
    #[arg(long, default_value = "classification", value_parser = ChoiceParser::<Task>::new())]
    pub task: Task,
    /// Regression CSV data: a target column's name; repeat for several targets, in output
    /// order (default: one column, "target"). Every other column is a feature.
    #[arg(long, value_name = "NAME")]
    pub target_column: Vec<String>,
    /// Regression: the loss form, mse (default), huber or bounded (Chen et al. 2017).
    #[arg(long, value_parser = ChoiceParser::<RegressionLossChoice>::new())]
    pub regression_loss: Option<RegressionLossChoice>,
    /// Regression, --regression-loss huber: where the loss turns linear (default 1, > 0).
    #[arg(long, value_name = "DELTA", allow_hyphen_values = true, value_parser = values::positive)]
    pub huber_delta: Option<f32>,
    /// Regression, --regression-loss bounded: the margin m; the teacher term applies while the
    /// student's mean squared error + m exceeds the teacher's (default 0, finite).
    #[arg(long, value_name = "M", allow_hyphen_values = true, value_parser = values::finite)]
    pub bound_margin: Option<f32>,
}

impl TaskFlags {
    /// Whether --task regression was given.
    pub fn is_regression(&self) -> bool {
        self.task == Task::Regression
    }

    /// The regression loss at teacher weight `alpha`; refuses --huber-delta or --bound-margin
    /// without the form that takes it.
    pub fn regression_config(&self, alpha: f32) -> Result<RegressionConfig> {
        let choice = self.regression_loss.unwrap_or_default();
        if self.huber_delta.is_some() && choice != RegressionLossChoice::Huber {
            return Err(Error::InvalidConfig(
                "--huber-delta sets the Huber loss; add --regression-loss huber".into(),
            ));
        }
        if self.bound_margin.is_some() && choice != RegressionLossChoice::Bounded {
            return Err(Error::InvalidConfig(
                "--bound-margin sets the bounded loss; add --regression-loss bounded".into(),
            ));
        }
        let form = match choice {
            RegressionLossChoice::Mse => RegressionForm::Mse,
            RegressionLossChoice::Huber => RegressionForm::Huber {
                delta: self.huber_delta.unwrap_or(1.0),
            },
            RegressionLossChoice::Bounded => RegressionForm::Bounded {
                margin: self.bound_margin.unwrap_or(0.0),
            },
        };
        let config = RegressionConfig { alpha, form };
        config.validate()?;
        Ok(config)
    }

    /// Refuses the regression flags on a classification run, naming the first one given.
    pub fn check_classification(&self) -> Result<()> {
        let given = [
            ("--target-column", !self.target_column.is_empty()),
            ("--regression-loss", self.regression_loss.is_some()),
            ("--huber-delta", self.huber_delta.is_some()),
            ("--bound-margin", self.bound_margin.is_some()),
        ];
        match given.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(Error::InvalidConfig(format!(
                "{flag} applies to --task regression"
            ))),
            None => Ok(()),
        }
    }
}

/// Compression of a distilled student: int8 quantization-aware training, or pruning a trained
/// student and fine-tuning it with the pruned weights held at zero.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Compression")]
pub struct CompressionFlags {
    /// Train with int8 fake-quantized weights (straight-through) and also save
    /// student-distilled-int8.safetensors (I8 weights, F32 row scales and biases); the float
    /// student-distilled.safetensors holds the same weights dequantized.
    #[arg(long, value_parser = values::ChoiceParser::<values::QuantizeChoice>::new())]
    pub quantize: Option<values::QuantizeChoice>,
    /// Prune the --from student to this sparsity (one global magnitude threshold over the
    /// weights, biases kept) and fine-tune it with the pruned weights held at zero.
    #[arg(long, value_name = "FRACTION", allow_hyphen_values = true, value_parser = values::sparsity, requires = "init")]
    pub prune: Option<distill_wgpu::model::prune::Sparsity>,
    /// Epochs of fine-tuning after --prune (instead of --epochs).
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = values::at_least_one, requires = "prune", conflicts_with = "epochs")]
    pub finetune_epochs: Option<usize>,
}

impl CompressionFlags {
    /// The library's setting.
    pub fn compression(&self) -> distill_wgpu::train::Compression {
        distill_wgpu::train::Compression {
            quantize: self
                .quantize
                .map(|_| distill_wgpu::train::Quantization::Int8PerChannel),
            prune: self.prune,
        }
    }
}
