//! Classification metrics on the GPU: errors counted as argmax-vs-label misses with an integer
//! atomic (exact and order-independent), so evaluation reads back 4 bytes.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_labels, check_len, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::{GpuContext, ShaderSource, ELEMENT_WORKGROUP};

/// Uniform block of `shaders/metrics/count_errors.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct CountParams {
    pub rows: u32,
    pub cols: u32,
    pub pad: [u32; 2],
}

/// The error-count shader.
pub const COUNT_ERRORS: ShaderSource = shader_source! {
    name: "count_errors",
    entry_point: "count_errors",
    files: ["shaders/common/finite.wgsl", "shaders/metrics/count_errors.wgsl"],
    uniform_size: std::mem::size_of::<CountParams>(),
};

/// Misclassified rows, and rows holding a NaN or infinite logit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCount {
    /// Rows whose argmax (first on ties) is not the label.
    pub errors: u32,
    /// Rows with a non-finite logit.
    pub non_finite_rows: u32,
}

/// Counts, on the GPU, the misclassified rows of `logits` `[rows, cols]` (a device buffer)
/// against `labels` and the rows holding a non-finite logit: one dispatch, an 8-byte read-back.
#[maybe_async]
pub(crate) async fn count_errors_on_device(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    logits: &wgpu::Buffer,
    labels: &wgpu::Buffer,
) -> Result<ErrorCount> {
    let params = CountParams {
        rows: rows as u32,
        cols: cols as u32,
        pad: [0; 2],
    };
    let uniform = ctx.uniform_buffer("count errors params", &params)?;
    let counts = ctx.upload("error counts", &[0u32; 2])?;
    let x = rows.div_ceil(ELEMENT_WORKGROUP);
    let dispatch = Dispatch::new(
        ctx,
        "count errors",
        ctx.pipeline(&COUNT_ERRORS)?,
        &[&uniform, logits, labels, &counts],
        ctx.check_grid("count errors", x, 1)?,
    )?;
    ctx.run("count errors", &[dispatch])?;
    let c: Vec<u32> = ctx.read_back("error counts", &counts, 0, 2).await?;
    Ok(ErrorCount {
        errors: c[0],
        non_finite_rows: c[1],
    })
}

/// Counts the rows of `logits` `[rows, cols]` whose argmax (first on ties) is not the label,
/// and those holding a non-finite logit.
#[maybe_async]
pub async fn count_errors(
    ctx: &GpuContext,
    logits: &[f32],
    labels: &[u32],
    rows: usize,
    cols: usize,
) -> Result<ErrorCount> {
    if rows == 0 || cols == 0 {
        return Err(Error::EmptyBatch);
    }
    check_len("count errors logits", rows * cols, logits.len())?;
    check_len("count errors labels", rows, labels.len())?;
    check_labels(labels, cols)?;
    let logits = ctx.upload("count errors logits", logits)?;
    let labels = ctx.upload("count errors labels", labels)?;
    count_errors_on_device(ctx, rows, cols, &logits, &labels).await
}
