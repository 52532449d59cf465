//! # distill-wgpu
//!
//! Knowledge distillation of MLPs on any GPU wgpu reaches, every kernel in WGSL and checked
//! against a plain CPU reference ([`cpu`]).
//!
//! The loss, batch-mean, with α weighting the teacher term:
//!
//! `L = (1 − α)·CE(y, softmax(z)) + α·T²·KL(softmax(t/T) ‖ softmax(z/T))`
#![doc = include_str!("../README.md")]

pub mod context;
pub mod cpu;
pub mod data;
pub mod error;
pub mod io;
pub mod kernels;
pub mod matmul;
pub mod mlp;
pub mod model;
pub mod shaders;
pub mod train;
pub mod validate;
pub mod workloads;

pub use context::{describe_adapter, list_adapters, ContextOptions, GpuContext};
pub use data::{Dataset, DeviceDataset, Evaluation};
pub use error::{Error, Result};
pub use matmul::{Epilogue, MatmulFamily, MatmulSpec, MatmulVariant, Strided};
pub use mlp::{Dropout, KdConfig, LossReport, Mlp, Optimizer, StepBatch, TeacherSource, Trainer};
pub use model::{Activation, LayerLayout, MlpSpec, SplitMix64};
