//! One folder per op: its WGSL, its launcher (uniform struct, dispatch builder, one-shot
//! function), its f64 reference (`reference.rs`) and its validation cases (`check.rs`).
//! Snippets several kernels share live in `wgsl/` and are prepended to each kernel's source.

pub mod accumulate;
pub mod bias_grad;
pub mod calibration;
pub mod check;
pub mod dkd;
pub mod dropout;
pub mod ema;
pub mod gather;
pub mod hint;
pub mod kd_loss;
pub mod matmul;
pub mod metrics;
pub mod multi_kd;
pub mod optim;
pub mod reduce;
pub mod shared;
pub mod softmax;

use crate::gpu::ShaderSource;

/// Every shader file of the crate (generated matmul variants come from
/// [`matmul::MatmulVariant::source`]): the list the portability and uniform-layout tests walk.
pub const SHADERS: &[ShaderSource] = &[
    matmul::TILED,
    softmax::SHADER,
    kd_loss::SHADER,
    multi_kd::SHADER,
    dkd::SHADER,
    reduce::SHADER,
    bias_grad::SHADER,
    optim::SGD,
    optim::ADAMW,
    dropout::SHADER,
    metrics::COUNT_ERRORS,
    calibration::NLL_SHADER,
    calibration::RELIABILITY_SHADER,
    gather::SHADER,
    hint::SHADER,
    accumulate::SHADER,
    ema::SHADER,
];
