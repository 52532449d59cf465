//! Training: the trainer's configuration, the dispatches of one step, the trainer itself and
//! the epoch loop.

pub mod checkpoint;
pub mod config;
pub mod fit;
mod multi;
mod plan;
pub mod trainer;

pub use checkpoint::Checkpoint;
pub use config::TrainerConfig;
pub use fit::{fit, EpochLog, FitEnd, FitOptions, FitPosition};
pub use trainer::{StepBatch, Trainer, TrainerState, WindowLoss};
