//! # distill-wgpu
//!
//! Knowledge distillation of MLPs on any GPU wgpu reaches, every kernel in WGSL and checked
//! against a plain CPU reference ([`cpu`]).
//!
//! The loss, batch-mean, with α weighting the teacher term:
//!
//! `L = (1 − α)·CE(y, softmax(z)) + α·T²·KL(softmax(t/T) ‖ softmax(z/T))`
//!
//! Layers, each depending only on those before it: [`gpu`] → [`ops`] → [`model`] / [`data`] →
//! [`eval`] / [`distill`] / [`train`] → [`session`] (training runs for apps) / [`validate`],
//! and, with the default `cli` feature, `bench`, `experiment` and `report`, which only the
//! `distill` binary uses.
#![doc = include_str!("../README.md")]
//!
//! In a browser (wasm32) the same kernels and launchers compile, and every call that waits
//! for the GPU (opening the context, read-backs and what is built on them) is an `async fn`
//! (`maybe-async` writes both forms from one source); the disk-backed parts (files, data
//! formats, checkpoints, sessions, reports, experiments, benches) and the CLI are native only.

#[cfg(all(feature = "cli", not(target_arch = "wasm32")))]
pub mod bench;
pub mod classes;
pub mod cpu;
pub mod data;
pub mod diagnose;
pub mod distill;
pub mod error;
pub mod eval;
#[cfg(all(feature = "cli", not(target_arch = "wasm32")))]
pub mod experiment;
#[cfg(not(target_arch = "wasm32"))]
pub mod files;
pub mod gpu;
pub mod model;
pub mod ops;
#[cfg(all(feature = "cli", not(target_arch = "wasm32")))]
pub mod report;
pub mod rng;
#[cfg(not(target_arch = "wasm32"))]
pub mod session;
pub mod train;
pub mod util;
pub mod validate;

pub use classes::ClassSet;
pub use data::{Dataset, DeviceDataset};
pub use distill::{
    Combine, DkdConfig, KdConfig, LossReport, MultiKdConfig, TeacherEnsemble, TeacherLogits,
    TeacherSource, Teachers, WeightMode,
};
pub use error::{Error, Result};
pub use eval::Evaluation;
#[cfg(not(target_arch = "wasm32"))]
pub use gpu::list_adapters;
pub use gpu::{describe_adapter, ContextOptions, GpuContext, MatmulFamily};
pub use model::{Activation, LayerLayout, Mlp, MlpSpec};
pub use ops::dropout::Dropout;
pub use ops::matmul::{Epilogue, MatmulSpec, MatmulVariant, Strided};
pub use ops::optim::Optimizer;
pub use rng::SplitMix64;
#[cfg(not(target_arch = "wasm32"))]
pub use session::{CancelToken, Progress, RunOutcome, RunTeacher, TrainingRun};
pub use train::{
    DkdSchedule, EmaConfig, HintConfig, MutualTrainer, Objective, StepBatch, Trainer, TrainerConfig,
};
