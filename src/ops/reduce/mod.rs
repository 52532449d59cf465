//! Deterministic batch reduction of the per-row KD terms: one workgroup, a fixed tree, no float
//! atomics. Also accumulates the loss over steps on the GPU, so an epoch's mean is read once.

pub mod check;
pub mod reference;

use crate::error::{check_kd, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};

/// Elements of the loss buffer: `[total, ce, kl, first non-finite step, Σtotal, Σce, Σkl,
/// steps]`; the first non-finite step counts from 1 like `steps`, 0 while every loss was
/// finite.
pub const LOSS_SLOTS: usize = 8;

/// Uniform block of `shaders/reduce.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct ReduceParams {
    pub rows: u32,
    pub ce_weight: f32,
    pub kl_weight: f32,
    pub inv_batch: f32,
}

impl ReduceParams {
    /// The KD weighting: `(1 − α)·ce + α·T²·kl`.
    pub fn new(rows: usize, temperature: f32, alpha: f32) -> Self {
        Self::weighted(rows, 1.0 - alpha, alpha * (temperature * temperature))
    }

    /// Any weighting `ce_weight·ce + kl_weight·kl` of the two per-row terms (DKD, hint loss).
    pub fn weighted(rows: usize, ce_weight: f32, kl_weight: f32) -> Self {
        Self {
            rows: rows as u32,
            ce_weight,
            kl_weight,
            inv_batch: 1.0 / rows as f32,
        }
    }
}

/// The shader.
pub const SHADER: ShaderSource = shader_source! {
    name: "reduce_loss",
    entry_point: "reduce_loss",
    files: ["shaders/common/finite.wgsl", "shaders/reduce.wgsl"],
    uniform_size: std::mem::size_of::<ReduceParams>(),
};

/// Builds the reduction of `rows` interleaved `[ce, kl]` terms into `loss`
/// ([`LOSS_SLOTS`] elements); returns the dispatch and its uniform (T and α can change later).
pub(crate) fn reduce_dispatch(
    ctx: &GpuContext,
    params: ReduceParams,
    row_terms: &wgpu::Buffer,
    loss: &wgpu::Buffer,
) -> Result<(Dispatch, wgpu::Buffer)> {
    let uniform = ctx.uniform_buffer("reduce params", &params)?;
    let dispatch = Dispatch::new(
        ctx,
        "reduce loss",
        ctx.pipeline(&SHADER)?,
        &[&uniform, row_terms, loss],
        (1, 1),
    )?;
    Ok((dispatch, uniform))
}

/// Uploads interleaved per-row terms `[ce_0, kl_0, ce_1, …]` and prepares the reduction into
/// zeroed loss slots; output: the [`LOSS_SLOTS`] slots.
pub fn prepare_reduce_loss(
    ctx: &GpuContext,
    row_terms: &[f32],
    temperature: f32,
    alpha: f32,
) -> Result<PreparedKernel> {
    check_kd(temperature, alpha)?;
    if row_terms.is_empty() || !row_terms.len().is_multiple_of(2) {
        return Err(Error::InvalidConfig(format!(
            "reduce_loss needs interleaved [ce, kl] pairs, got {} values",
            row_terms.len()
        )));
    }
    let rows = row_terms.len() / 2;
    let terms = ctx.upload("reduce row terms", row_terms)?;
    let loss = ctx.upload("reduce loss", &[0.0f32; LOSS_SLOTS])?;
    let params = ReduceParams::new(rows, temperature, alpha);
    let (dispatch, uniform) = reduce_dispatch(ctx, params, &terms, &loss)?;
    Ok(PreparedKernel::new(
        vec![dispatch],
        vec![Output::new("loss slots", loss, LOSS_SLOTS)],
        vec![terms, uniform],
    ))
}
