//! Keeping pruned weights pruned: after every optimizer update, each weight that was zero when
//! the model was pruned is set back to zero, `w[i] = 0 where snapshot[i] = 0`, over each
//! layer's weight range (biases are never pruned). `snapshot` is a copy of the parameters made
//! when the trainer was built, so the mask costs no host work and no separate mask format.
//!
//! The mask is a projection, not a differentiable function of the weights, so this op has no
//! finite-difference test; the tests check that a masked step equals the reference's step with
//! the pruned weights zeroed afterwards.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_len, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};

/// Uniform block of `shaders/prune_mask.wgsl`: one range of weights.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct PruneMaskParams {
    pub offset: u32,
    pub count: u32,
    pub pad: [u32; 2],
}

/// The shader.
pub const SHADER: ShaderSource = shader_source! {
    name: "prune_mask",
    entry_point: "prune_mask",
    files: ["shaders/prune_mask.wgsl"],
    uniform_size: std::mem::size_of::<PruneMaskParams>(),
};

/// One dispatch per `(offset, count)` range of `weights` (`len` floats): zero each entry whose
/// twin in `snapshot` is zero. Ranges must lie inside `len`.
pub(crate) fn prune_mask_dispatches(
    ctx: &GpuContext,
    (ranges, len): (&[(usize, usize)], usize),
    weights: &wgpu::Buffer,
    snapshot: &wgpu::Buffer,
) -> Result<Vec<Dispatch>> {
    let mut dispatches = Vec::new();
    for (k, &(offset, count)) in ranges.iter().enumerate() {
        let inside = offset.checked_add(count).is_some_and(|end| end <= len);
        let (Ok(offset32), Ok(count32), true) =
            (u32::try_from(offset), u32::try_from(count), inside)
        else {
            return Err(Error::InvalidConfig(format!(
                "prune range {offset}+{count} does not lie inside {len} parameters"
            )));
        };
        let params = PruneMaskParams {
            offset: offset32,
            count: count32,
            pad: [0; 2],
        };
        let what = format!("prune mask {k}");
        let uniform = ctx.uniform_buffer(&format!("{what} params"), &params)?;
        dispatches.push(Dispatch::new(
            ctx,
            &what,
            ctx.pipeline(&SHADER)?,
            &[&uniform, weights, snapshot],
            ctx.element_grid(&what, count)?,
        )?);
    }
    Ok(dispatches)
}

/// Uploads `weights` and `snapshot` (equal lengths) and prepares the mask over `ranges`;
/// output: the weights after it.
pub fn prepare_prune_mask(
    ctx: &GpuContext,
    weights: &[f32],
    snapshot: &[f32],
    ranges: &[(usize, usize)],
) -> Result<PreparedKernel> {
    check_len("prune snapshot", weights.len(), snapshot.len())?;
    let weights_buf = ctx.upload("pruned weights", weights)?;
    let snapshot_buf = ctx.upload("prune snapshot", snapshot)?;
    let dispatches =
        prune_mask_dispatches(ctx, (ranges, weights.len()), &weights_buf, &snapshot_buf)?;
    Ok(PreparedKernel::new(
        dispatches,
        vec![Output::new("pruned weights", weights_buf, weights.len())],
        vec![snapshot_buf],
    ))
}

/// Applies the mask on the GPU: `weights` with every entry in `ranges` whose `snapshot` entry
/// is zero set to zero.
#[maybe_async]
pub async fn prune_mask(
    ctx: &GpuContext,
    weights: &[f32],
    snapshot: &[f32],
    ranges: &[(usize, usize)],
) -> Result<Vec<f32>> {
    prepare_prune_mask(ctx, weights, snapshot, ranges)?
        .run_once(ctx, 0)
        .await
}
