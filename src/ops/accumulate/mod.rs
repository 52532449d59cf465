//! In-place accumulation `dst[i] += src[i]`: the trainer adds the hint loss's gradient into a
//! student layer's gradient after the backward pass wrote it.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_len, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};

/// Uniform block of `shaders/accumulate.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct AccumulateParams {
    pub count: u32,
    pub pad: [u32; 3],
}

/// The shader.
pub const SHADER: ShaderSource = shader_source! {
    name: "accumulate",
    entry_point: "accumulate",
    files: ["shaders/accumulate.wgsl"],
    uniform_size: std::mem::size_of::<AccumulateParams>(),
};

/// Builds `dst[i] += src[i]` for the first `n` elements (one invocation each, the grid split
/// over two dimensions when needed); returns the dispatch and its uniform.
pub(crate) fn accumulate_dispatch(
    ctx: &GpuContext,
    n: usize,
    src: &wgpu::Buffer,
    dst: &wgpu::Buffer,
) -> Result<(Dispatch, wgpu::Buffer)> {
    let params = AccumulateParams {
        count: n as u32,
        pad: [0; 3],
    };
    let uniform = ctx.uniform_buffer("accumulate params", &params)?;
    let dispatch = Dispatch::new(
        ctx,
        "accumulate",
        ctx.pipeline(&SHADER)?,
        &[&uniform, src, dst],
        ctx.element_grid("accumulate", n)?,
    )?;
    Ok((dispatch, uniform))
}

/// Uploads `dst` and `src` (equal lengths) and prepares `dst += src`; output: `dst`. Each run
/// adds `src` once more.
pub fn prepare_accumulate(ctx: &GpuContext, dst: &[f32], src: &[f32]) -> Result<PreparedKernel> {
    check_len("accumulate source", dst.len(), src.len())?;
    let n = dst.len();
    let dst_buf = ctx.upload("accumulate destination", dst)?;
    let src_buf = ctx.upload("accumulate source", src)?;
    let (dispatch, uniform) = accumulate_dispatch(ctx, n, &src_buf, &dst_buf)?;
    Ok(PreparedKernel::new(
        vec![dispatch],
        vec![Output::new("accumulate destination", dst_buf, n)],
        vec![src_buf, uniform],
    ))
}

/// `dst + src` element-wise on the GPU, as the in-place kernel computes it.
#[maybe_async]
pub async fn accumulate(ctx: &GpuContext, dst: &[f32], src: &[f32]) -> Result<Vec<f32>> {
    prepare_accumulate(ctx, dst, src)?.run_once(ctx, 0).await
}
