//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in `distill_wgpu`, each variant naming the offending values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// wgpu found no adapter at all.
    #[error(
        "no GPU adapter found; on a machine without a GPU install Mesa's lavapipe \
         (Debian/Ubuntu: `apt-get install -y mesa-vulkan-drivers libvulkan1`)"
    )]
    NoAdapter,
    /// An adapter was requested by name and none matched.
    #[error("no adapter matches {requested:?}; available: {available:?}")]
    AdapterNotFound {
        /// The requested name (substring, case-insensitive).
        requested: String,
        /// Names of the adapters wgpu found.
        available: Vec<String>,
    },
    /// `request_device` failed.
    #[error("could not open a device on adapter {adapter:?}: {message}")]
    RequestDevice {
        /// Adapter name.
        adapter: String,
        /// wgpu's message.
        message: String,
    },
    /// A wgpu validation or internal error, caught by an error scope around `operation`.
    #[error("GPU error during {operation}: {message}")]
    Gpu {
        /// What the crate was doing.
        operation: String,
        /// wgpu's message.
        message: String,
    },
    /// The device ran out of memory during `operation`.
    #[error("GPU out of memory during {operation}")]
    OutOfMemory {
        /// What the crate was doing.
        operation: String,
    },
    /// The device was lost (driver reset, GPU removed, …).
    #[error("GPU device lost: {0}")]
    DeviceLost(String),
    /// A buffer could not be mapped for reading.
    #[error("reading back {what} failed: {message}")]
    Readback {
        /// The buffer being read.
        what: String,
        /// wgpu's message.
        message: String,
    },
    /// A tensor or slice has the wrong number of elements.
    #[error("shape mismatch for {what}: expected {expected} elements, got {got}")]
    ShapeMismatch {
        /// The tensor.
        what: String,
        /// Elements expected from the configured shapes.
        expected: usize,
        /// Elements supplied.
        got: usize,
    },
    /// A hard label is not a valid class index.
    #[error("label {label} at row {row} is out of range for {classes} classes")]
    LabelOutOfRange {
        /// Row of the batch.
        row: usize,
        /// The label.
        label: u32,
        /// Number of classes.
        classes: usize,
    },
    /// Temperature must be > 0 with T² and 1/T finite in f32.
    #[error(
        "temperature must be > 0 with T² and 1/T finite in f32 (about 1e-19 to 1e19), got {0}"
    )]
    InvalidTemperature(f32),
    /// α must lie in [0, 1].
    #[error("alpha must lie in [0, 1], got {0}")]
    InvalidAlpha(f32),
    /// A batch with no rows.
    #[error("empty batch: a step needs at least one row")]
    EmptyBatch,
    /// A NaN or infinity in user-supplied data.
    #[error("non-finite value {value} in {what} at index {index}")]
    NonFinite {
        /// The tensor.
        what: String,
        /// Flat index of the first bad element.
        index: usize,
        /// The value.
        value: f32,
    },
    /// The adapter offers less of a limit than the crate's kernels need.
    #[error(
        "{adapter} offers {limit_name} = {has}; distill-wgpu's kernels need at least {needed}"
    )]
    AdapterTooSmall {
        /// The adapter: `adapter NAME`, or `this adapter` where it has no name (browsers hide
        /// it).
        adapter: String,
        /// wgpu limit name.
        limit_name: &'static str,
        /// The least the kernels need.
        needed: u32,
        /// What the adapter offers.
        has: u32,
    },
    /// A size exceeds what the adapter supports.
    #[error("{what} needs {needed}, past the adapter's limit {limit_name} = {limit}")]
    ExceedsLimit {
        /// What was being created.
        what: String,
        /// Size or count needed.
        needed: u64,
        /// wgpu limit name.
        limit_name: &'static str,
        /// The adapter's value of that limit.
        limit: u64,
    },
    /// A configuration value that makes no sense (zero-width layer, bad optimizer setting, …).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A shader failed naga parsing, validation or translation.
    #[error("shader {shader}: {message}")]
    Shader {
        /// Shader name.
        shader: String,
        /// naga's message.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A data or model file is malformed.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Training produced a NaN or infinity; nothing after the last good epoch was saved.
    #[error("{what} became non-finite at epoch {epoch}, step {step} of the epoch; stopped (lower the learning rate, or check the inputs)")]
    NonFiniteTraining {
        /// What went non-finite (the loss, the parameters).
        what: String,
        /// Epoch, from 1.
        epoch: usize,
        /// Step within the epoch, from 1.
        step: usize,
    },
    /// A model's outputs hold NaN or infinity (e.g. weights so large that logits overflow).
    #[error("{what} gives non-finite logits on {rows} of {count} samples")]
    NonFiniteOutput {
        /// The model.
        what: String,
        /// Samples with a non-finite logit.
        rows: usize,
        /// Samples evaluated.
        count: usize,
    },
    /// Training was interrupted (Ctrl-C) after saving a checkpoint.
    #[error("interrupted at epoch {epoch}, batch {batch}; checkpoint saved to {checkpoint}; resume from it to continue")]
    Interrupted {
        /// The epoch to resume, from 1.
        epoch: usize,
        /// The batch of that epoch to resume, from 0.
        batch: usize,
        /// The checkpoint file.
        checkpoint: PathBuf,
    },
    /// An output would replace a file the user already has.
    #[error("{path} already holds results; overwrite them or resume that run, if either is meant")]
    OutputExists {
        /// The folder or file.
        path: PathBuf,
    },
    /// A plot, table or report file could not be made from the values given (no data to show,
    /// mismatched lengths, values out of range).
    #[error("report: {0}")]
    Report(String),
    /// An output path is also one of the run's inputs.
    #[error("{path} is an input of this run and would be overwritten by its output; choose another output folder")]
    InputIsOutput {
        /// The path.
        path: PathBuf,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Checks that a slice has `expected` elements.
pub(crate) fn check_len(what: &str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what: what.to_string(),
            expected,
            got,
        })
    }
}

/// Checks that every value is finite.
pub(crate) fn check_finite(what: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite {
            what: what.to_string(),
            index,
            value: values[index],
        }),
    }
}

/// Checks T and α of a KD loss: T finite and > 0 with T² a finite, normal f32 (the loss scales
/// by T², the kernels by 1/T), i.e. T in about [1.1e-19, 1.8e19].
pub(crate) fn check_kd(temperature: f32, alpha: f32) -> Result<()> {
    check_temperature(temperature)?;
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::InvalidAlpha(alpha));
    }
    Ok(())
}

/// Checks a loss's temperature, the one check every softened loss shares: T finite and > 0
/// with T² a finite, normal f32 (losses scale by T², kernels by 1/T).
pub(crate) fn check_temperature(temperature: f32) -> Result<()> {
    let t = temperature;
    let t2 = t * t;
    if !(t.is_finite() && t > 0.0 && t2.is_finite() && t2 >= f32::MIN_POSITIVE) {
        return Err(Error::InvalidTemperature(temperature));
    }
    Ok(())
}

/// Checks hard labels against the class count.
pub(crate) fn check_labels(labels: &[u32], classes: usize) -> Result<()> {
    match labels.iter().position(|&l| l as usize >= classes) {
        None => Ok(()),
        Some(row) => Err(Error::LabelOutOfRange {
            row,
            label: labels[row],
            classes,
        }),
    }
}
