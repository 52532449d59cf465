//! Bias gradient: column sums `db[j] = Σ_rows dY[row, j]`, rows summed in order (deterministic,
//! no atomics), written at an offset of the flat gradient buffer.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_len, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::{GpuContext, ShaderSource, ELEMENT_WORKGROUP};

/// Uniform block of `shaders/bias_grad.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct BiasGradParams {
    pub rows: u32,
    pub cols: u32,
    pub grad_offset: u32,
    pub pad: u32,
}

/// The shader.
pub const SHADER: ShaderSource = shader_source! {
    name: "bias_grad",
    entry_point: "bias_grad",
    files: ["shaders/bias_grad.wgsl"],
    uniform_size: std::mem::size_of::<BiasGradParams>(),
};

/// Builds a bias-gradient dispatch writing `cols` sums at `grad_offset` of `grads`.
pub(crate) fn bias_grad_dispatch(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    grad_offset: usize,
    dy: &wgpu::Buffer,
    grads: &wgpu::Buffer,
) -> Result<Dispatch> {
    let params = BiasGradParams {
        rows: rows as u32,
        cols: cols as u32,
        grad_offset: grad_offset as u32,
        pad: 0,
    };
    let uniform = ctx.uniform_buffer("bias grad params", &params)?;
    let x = cols.div_ceil(ELEMENT_WORKGROUP);
    Dispatch::new(
        ctx,
        "bias grad",
        ctx.pipeline(&SHADER)?,
        &[&uniform, dy, grads],
        ctx.check_grid("bias grad", x, 1)?,
    )
}

/// Column sums of `dy` `[rows, cols]` on the GPU.
#[maybe_async]
pub async fn bias_grad(ctx: &GpuContext, dy: &[f32], rows: usize, cols: usize) -> Result<Vec<f32>> {
    check_len("bias grad dY", rows * cols, dy.len())?;
    let dy_buf = ctx.upload("bias grad dY", dy)?;
    let out = ctx.nan_buffer("bias grad", cols)?;
    let dispatch = bias_grad_dispatch(ctx, rows, cols, 0, &dy_buf, &out)?;
    ctx.run("bias grad", &[dispatch])?;
    ctx.read_back("bias grad", &out, 0, cols).await
}
