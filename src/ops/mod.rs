//! One folder per op: its launcher (uniform struct, dispatch builder, one-shot function), its
//! f64 reference (`reference.rs`) and its validation cases (`check.rs`). The WGSL lives in the
//! top-level `shaders/` folder (`shaders/<op>.wgsl`, or `shaders/<op>/<kernel>.wgsl` for an op
//! whose files carry their kernels' names); snippets several kernels share live in
//! `shaders/common/` and are prepended to each kernel's source. The matmul family for CPU
//! adapters is generated in [`matmul::codegen`], not read from a file.

/// A [`ShaderSource`](crate::gpu::ShaderSource) whose `source` is the given WGSL files
/// concatenated in order (shared snippets first, then the kernel) and whose `files` records
/// those same repository-relative paths: the only way the ops include WGSL, so no file is
/// compiled in without being listed (`tests/shaders.rs` matches the lists against `shaders/`).
macro_rules! shader_source {
    (
        name: $name:expr,
        entry_point: $entry_point:expr,
        files: [$($file:literal),+ $(,)?],
        uniform_size: $uniform_size:expr $(,)?
    ) => {
        $crate::gpu::ShaderSource {
            name: $name,
            entry_point: $entry_point,
            source: concat!($(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $file))),+),
            files: &[$($file),+],
            uniform_size: $uniform_size,
        }
    };
}

pub mod accumulate;
pub mod bias_grad;
pub mod calibration;
pub mod check;
pub mod dkd;
pub mod dropout;
pub mod ema;
pub mod fake_quant;
pub mod gather;
pub mod gjsd;
pub mod hint;
pub mod kd_loss;
pub(crate) mod logit_loss;
pub mod logit_mse;
pub mod logit_std;
pub mod matmul;
pub mod metrics;
pub mod multi_kd;
pub mod optim;
pub mod prune_mask;
pub mod reduce;
pub mod regression_loss;
pub mod shared;
pub mod softmax;
pub mod tf_kd;

use crate::gpu::ShaderSource;

/// Every hand-written shader of the crate (generated matmul variants come from
/// [`matmul::MatmulVariant::source`]): the list the portability and uniform-layout tests walk,
/// and whose `files` together must name every file under `shaders/`.
pub const SHADERS: &[ShaderSource] = &[
    matmul::TILED,
    matmul::layout::SHADER,
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
    gjsd::SHADER,
    logit_mse::SHADER,
    logit_std::SHADER,
    tf_kd::SHADER,
    fake_quant::SHADER,
    prune_mask::SHADER,
    regression_loss::SHADER,
];
