//! Inverted dropout in place on a hidden layer's output, keyed by a counter-based hash of
//! (seed, step, layer, element): deterministic, no stored mask. Backward reads the mask from
//! the output's zeros (matmul epilogue `ReluMask` with `mask_scale = 1/(1 − p)`).

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};

/// Inverted dropout on every hidden layer's output during training (none at evaluation).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dropout {
    /// Drop probability p ∈ [0, 0.99].
    pub p: f32,
    /// Seed of the counter-based mask hash.
    pub seed: u32,
}

impl Dropout {
    /// No dropout.
    pub fn none() -> Self {
        Self { p: 0.0, seed: 0 }
    }

    /// Checks p ∈ [0, [`Dropout::MAX_P`]].
    pub fn validate(&self) -> Result<()> {
        if (0.0..=Self::MAX_P).contains(&self.p) {
            Ok(())
        } else {
            Err(Error::InvalidConfig(format!(
                "dropout p = {} must lie in [0, {}]",
                self.p,
                Self::MAX_P
            )))
        }
    }

    /// The largest drop probability accepted: beyond it the kept units' scale 1/(1 − p)
    /// passes 100 and training is noise.
    pub const MAX_P: f32 = 0.99;

    /// The factor kept elements are multiplied by, `1/(1 − p)`.
    pub fn scale(&self) -> f32 {
        1.0 / (1.0 - self.p)
    }

    /// Elements whose 24-bit hash is below this are dropped: `round(p · 2^24)`.
    pub fn drop_threshold(&self) -> u32 {
        (self.p as f64 * (1u32 << 24) as f64).round() as u32
    }
}

/// Uniform block of `shaders/dropout.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct DropoutParams {
    pub count: u32,
    pub drop_threshold: u32,
    pub scale: f32,
    pub seed: u32,
    pub step: u32,
    pub layer: u32,
    pub pad: [u32; 2],
}

impl DropoutParams {
    /// Parameters for `count` elements of hidden layer `layer` at optimizer step `step`.
    pub fn new(dropout: Dropout, count: usize, step: u32, layer: usize) -> Self {
        Self {
            count: count as u32,
            drop_threshold: dropout.drop_threshold(),
            scale: dropout.scale(),
            seed: dropout.seed,
            step,
            layer: layer as u32,
            pad: [0; 2],
        }
    }
}

/// The shader: the shared hash, then the kernel.
pub const SHADER: ShaderSource = shader_source! {
    name: "dropout",
    entry_point: "dropout",
    files: ["shaders/common/hash.wgsl", "shaders/dropout.wgsl"],
    uniform_size: std::mem::size_of::<DropoutParams>(),
};

/// A dropout dispatch over `values` in place; returns it with its uniform, which the trainer
/// rewrites every step (the step is part of the hash key).
pub(crate) fn dropout_dispatch(
    ctx: &GpuContext,
    params: DropoutParams,
    values: &wgpu::Buffer,
) -> Result<(Dispatch, wgpu::Buffer)> {
    let uniform = ctx.uniform_buffer("dropout params", &params)?;
    let dispatch = Dispatch::new(
        ctx,
        &format!("dropout layer {}", params.layer),
        ctx.pipeline(&SHADER)?,
        &[&uniform, values],
        ctx.element_grid("dropout", params.count as usize)?,
    )?;
    Ok((dispatch, uniform))
}

/// Uploads `values` and prepares dropout of hidden layer `layer` at step `step`; output: the
/// values after dropout.
pub fn prepare_dropout(
    ctx: &GpuContext,
    values: &[f32],
    dropout: Dropout,
    step: u32,
    layer: usize,
) -> Result<PreparedKernel> {
    dropout.validate()?;
    if values.is_empty() {
        return Err(Error::EmptyBatch);
    }
    let buffer = ctx.upload("dropout values", values)?;
    let params = DropoutParams::new(dropout, values.len(), step, layer);
    let (dispatch, uniform) = dropout_dispatch(ctx, params, &buffer)?;
    Ok(PreparedKernel::new(
        vec![dispatch],
        vec![Output::new("dropout values", buffer, values.len())],
        vec![uniform],
    ))
}

/// Dropout of `values` on the GPU, as the trainer applies it to hidden layer `layer` at
/// optimizer step `step`.
#[maybe_async]
pub async fn dropout(
    ctx: &GpuContext,
    values: &[f32],
    dropout: Dropout,
    step: u32,
    layer: usize,
) -> Result<Vec<f32>> {
    prepare_dropout(ctx, values, dropout, step, layer)?
        .run_once(ctx, 0)
        .await
}
