//! Training: the trainer's configuration and objectives, the dispatches of one step, the
//! trainer itself (with its EMA teacher and hint), mutual learning and the epoch loop.

#[cfg(not(target_arch = "wasm32"))]
pub mod checkpoint;
pub mod compression;
pub mod config;
mod ema;
pub mod fit;
mod hint;
mod multi;
pub mod mutual;
pub mod objectives;
mod plan;
#[cfg(not(target_arch = "wasm32"))]
pub mod profile;
mod record;
mod schedule;
mod state;
pub mod trainer;

#[cfg(not(target_arch = "wasm32"))]
pub use checkpoint::Checkpoint;
pub use compression::{Compression, Quantization};
pub use config::{Objective, TrainerConfig};
pub use fit::{fit, EpochLog, FitEnd, FitOptions, FitPosition};
pub use mutual::{fit_mutual, MutualTrainer};
pub use objectives::{DkdSchedule, EmaConfig, HintConfig};
#[cfg(not(target_arch = "wasm32"))]
pub use profile::DispatchTime;
pub use state::{TrainerState, WindowLoss};
pub use trainer::{StepBatch, Trainer};
