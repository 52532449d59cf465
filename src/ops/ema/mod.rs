//! The exponential-moving-average teacher (mean teacher, Tarvainen & Valpola 2017): after each
//! optimizer step the teacher's parameters θ' follow the student's θ,
//! `θ' ← d·θ' + (1 − d)·θ`, in place over the flat parameter buffer. The kernel computes
//! `θ' + (1 − d)·(θ − θ')`, one rounding fewer, with `1 − d` rounded once from f64.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_len, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};

/// Checks an EMA decay d: finite and strictly inside (0, 1) (0 copies the student, 1 never
/// moves).
pub fn check_decay(decay: f32) -> Result<()> {
    if decay.is_finite() && decay > 0.0 && decay < 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "EMA decay must be in (0, 1), got {decay}"
        )))
    }
}

/// The decay of update number `step` with the mean teacher's ramp-up,
/// `min(decay, 1 − 1/(step + 1))`, as in Tarvainen & Valpola's code: update 1 averages teacher
/// and student equally (0.5), update 9 keeps 0.9, and the configured decay takes over once
/// `step + 1 ≥ 1/(1 − decay)` (step 999 for 0.999), so early teachers follow the student
/// closely instead of keeping their random initialisation. `step` counts the updates from 1;
/// step 0 gives 0, a plain copy of the student.
pub fn ramped_decay(decay: f32, step: u32) -> f32 {
    let ramp = 1.0 - 1.0 / (step as f64 + 1.0);
    (ramp as f32).min(decay)
}

/// Uniform block of `shaders/ema.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct EmaParams {
    pub count: u32,
    /// d (not read by the kernel; kept for captures).
    pub keep: f32,
    /// `1 − d`, computed in f64 and rounded once.
    pub blend: f32,
    pub pad: u32,
}

impl EmaParams {
    /// The parameters of `count` elements at decay d.
    pub fn new(count: usize, decay: f32) -> Self {
        Self {
            count: count as u32,
            keep: decay,
            blend: (1.0 - decay as f64) as f32,
            pad: 0,
        }
    }
}

/// The shader.
pub const SHADER: ShaderSource = shader_source! {
    name: "ema",
    entry_point: "ema_update",
    files: ["shaders/ema.wgsl"],
    uniform_size: std::mem::size_of::<EmaParams>(),
};

/// The EMA update of a teacher's parameters from a student's, with its uniform (the decay can
/// change every step).
#[derive(Debug)]
pub(crate) struct EmaDispatch {
    pub dispatch: Dispatch,
    pub uniform: wgpu::Buffer,
    count: usize,
}

impl EmaDispatch {
    /// Binds `count` elements of `shadow` (θ', updated in place) and `source` (θ, read) at
    /// decay d, checked with [`check_decay`].
    pub fn new(
        ctx: &GpuContext,
        count: usize,
        decay: f32,
        shadow: &wgpu::Buffer,
        source: &wgpu::Buffer,
    ) -> Result<Self> {
        check_decay(decay)?;
        let uniform = ctx.uniform_buffer("ema params", &EmaParams::new(count, decay))?;
        let dispatch = Dispatch::new(
            ctx,
            "ema update",
            ctx.pipeline(&SHADER)?,
            &[&uniform, shadow, source],
            ctx.element_grid("ema update", count)?,
        )?;
        Ok(Self {
            dispatch,
            uniform,
            count,
        })
    }

    /// Rewrites the decay for later submits. Any d in [0, 1) works: the caller checks the
    /// configured decay with [`check_decay`], and [`ramped_decay`] may lower it (to 0 at
    /// step 0, a copy).
    pub fn set_decay(&self, ctx: &GpuContext, decay: f32) {
        ctx.write(&self.uniform, 0, &[EmaParams::new(self.count, decay)]);
    }
}

/// Uploads the teacher's `shadow` parameters θ' and the student's `source` parameters θ
/// (equal lengths) and prepares the update at decay d; output: θ' after it. Each run applies
/// one more update.
pub fn prepare_ema_update(
    ctx: &GpuContext,
    shadow: &[f32],
    source: &[f32],
    decay: f32,
) -> Result<PreparedKernel> {
    check_decay(decay)?;
    check_len("EMA source parameters", shadow.len(), source.len())?;
    let count = shadow.len();
    let shadow_buf = ctx.upload("EMA shadow parameters", shadow)?;
    let source_buf = ctx.upload("EMA source parameters", source)?;
    let built = EmaDispatch::new(ctx, count, decay, &shadow_buf, &source_buf)?;
    Ok(PreparedKernel::new(
        vec![built.dispatch],
        vec![Output::new("EMA shadow parameters", shadow_buf, count)],
        vec![source_buf, built.uniform],
    ))
}

/// One EMA update `d·θ' + (1 − d)·θ` on the GPU: returns the teacher's new parameters.
#[maybe_async]
pub async fn ema_update(
    ctx: &GpuContext,
    shadow: &[f32],
    source: &[f32],
    decay: f32,
) -> Result<Vec<f32>> {
    prepare_ema_update(ctx, shadow, source, decay)?
        .run_once(ctx, 0)
        .await
}
