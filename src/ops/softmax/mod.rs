//! Row-wise temperature softmax and log-softmax, one workgroup per row.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_kd, check_len, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};

/// Uniform block of `shaders/softmax.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct SoftmaxParams {
    pub rows: u32,
    pub cols: u32,
    pub inv_temperature: f32,
    pub pad: u32,
}

/// The shader: the shared online-softmax merge, then the kernel.
pub const SHADER: ShaderSource = shader_source! {
    name: "softmax",
    entry_point: "softmax_rows",
    files: ["shaders/common/online_softmax.wgsl", "shaders/softmax.wgsl"],
    uniform_size: std::mem::size_of::<SoftmaxParams>(),
};

/// Builds a softmax dispatch writing probabilities and log-probabilities.
pub(crate) fn softmax_dispatch(
    ctx: &GpuContext,
    params: SoftmaxParams,
    logits: &wgpu::Buffer,
    probs: &wgpu::Buffer,
    log_probs: &wgpu::Buffer,
) -> Result<Dispatch> {
    let groups = ctx.grid("softmax rows", params.rows as usize)?;
    let uniform = ctx.uniform_buffer("softmax params", &params)?;
    Dispatch::new(
        ctx,
        "softmax",
        ctx.pipeline(&SHADER)?,
        &[&uniform, logits, probs, log_probs],
        groups,
    )
}

/// Uploads logits `[rows, cols]` and prepares the kernel; outputs: probabilities,
/// log-probabilities.
pub fn prepare_softmax(
    ctx: &GpuContext,
    logits: &[f32],
    rows: usize,
    cols: usize,
    temperature: f32,
) -> Result<PreparedKernel> {
    check_kd(temperature, 0.0)?;
    if rows == 0 || cols == 0 {
        return Err(Error::EmptyBatch);
    }
    check_len("softmax logits", rows * cols, logits.len())?;
    let x = ctx.upload("softmax logits", logits)?;
    let probs = ctx.nan_buffer("softmax probs", rows * cols)?;
    let log_probs = ctx.nan_buffer("softmax log-probs", rows * cols)?;
    let params = SoftmaxParams {
        rows: rows as u32,
        cols: cols as u32,
        inv_temperature: 1.0 / temperature,
        pad: 0,
    };
    let dispatch = softmax_dispatch(ctx, params, &x, &probs, &log_probs)?;
    Ok(PreparedKernel::new(
        vec![dispatch],
        vec![
            Output::new("softmax probs", probs, rows * cols),
            Output::new("softmax log-probs", log_probs, rows * cols),
        ],
        vec![x],
    ))
}

/// Row-wise `(softmax(x / T), log_softmax(x / T))` on the GPU.
#[maybe_async]
pub async fn softmax(
    ctx: &GpuContext,
    logits: &[f32],
    rows: usize,
    cols: usize,
    temperature: f32,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let prepared = prepare_softmax(ctx, logits, rows, cols, temperature)?;
    prepared.run(ctx, 1)?;
    Ok((
        prepared.output(ctx, 0).await?,
        prepared.output(ctx, 1).await?,
    ))
}
