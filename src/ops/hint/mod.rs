//! The FitNets hint loss (Romero et al. 2015): the mean squared error between a regressor's
//! output `r` and the teacher's hidden activation `h`, both `[rows, width]` = `[B, W]`, and its
//! gradient:
//!
//! `m_b = (1/W)·Σ_j (r_bj − h_bj)²`, `L = β·(1/B)·Σ_b m_b`, `dL/dr_bj = 2β·(r_bj − h_bj)/(B·W)`.
//!
//! One workgroup per row writes the gradient and the per-row terms `[0, m_b]` (a fixed-tree sum,
//! no float atomics); [`crate::ops::reduce`]'s batch reduction, weighted `(0, β)`, turns them into
//! the loss slots: `loss[0] = β·MSE`, `loss[1] = 0`, `loss[2] = MSE`, accumulated over steps in
//! `loss[4..8]` like every loss.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_finite, check_len, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};
use crate::ops::reduce::{reduce_dispatch, ReduceParams, LOSS_SLOTS};

/// Invocations per row of `shaders/hint.wgsl` (its `WG`): each sums every 64th column in
/// order before the tree.
pub const HINT_WORKGROUP: usize = 64;

/// Checks the hint weight β: finite and ≥ 0.
pub fn check_hint_weight(weight: f32) -> Result<()> {
    if weight.is_finite() && weight >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "hint weight β must be finite and ≥ 0, got {weight}"
        )))
    }
}

/// What the hint loss produces, in f32 from the GPU or f64 from the reference.
#[derive(Debug, Clone)]
pub struct HintOutput<F> {
    /// `β·MSE`.
    pub loss: F,
    /// The mean squared error over all `B·W` elements (the batch mean of
    /// [`HintOutput::row_mse`]).
    pub mse: F,
    /// Per-row mean squared error `m_b`.
    pub row_mse: Vec<F>,
    /// `dL/dr`, `[B, W]`.
    pub grad: Vec<F>,
}

/// Uniform block of `shaders/hint.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct HintParams {
    pub rows: u32,
    pub width: u32,
    /// `2β/(B·W)`, computed in f64.
    pub grad_scale: f32,
    /// `1/W`, computed in f64.
    pub inv_width: f32,
}

impl HintParams {
    /// The parameters of a `rows × width` batch at weight β.
    pub fn new(rows: usize, width: usize, weight: f32) -> Self {
        let elements = rows as f64 * width as f64;
        Self {
            rows: rows as u32,
            width: width as u32,
            grad_scale: (2.0 * weight as f64 / elements) as f32,
            inv_width: (1.0 / width as f64) as f32,
        }
    }
}

/// The shader.
pub const SHADER: ShaderSource = shader_source! {
    name: "hint",
    entry_point: "hint_rows",
    files: ["shaders/hint.wgsl"],
    uniform_size: std::mem::size_of::<HintParams>(),
};

/// Buffers the hint loss reads and writes: `prediction` (the regressor output r) and `target`
/// (the teacher's hidden activation h) `[rows, width]`, `grad` `[rows, width]`, `row_terms`
/// `[2·rows]` and the [`LOSS_SLOTS`] loss slots.
pub(crate) struct HintBuffers<'a> {
    pub prediction: &'a wgpu::Buffer,
    pub target: &'a wgpu::Buffer,
    pub grad: &'a wgpu::Buffer,
    pub row_terms: &'a wgpu::Buffer,
    pub loss: &'a wgpu::Buffer,
}

/// The hint rows dispatch and the batch reduction, with their uniforms (β can change later).
#[derive(Debug)]
pub(crate) struct HintDispatches {
    pub dispatches: [Dispatch; 2],
    pub uniforms: [wgpu::Buffer; 2],
    rows: usize,
    width: usize,
}

impl HintDispatches {
    /// Binds the buffers of a `rows × width` batch at weight β (the caller validates the
    /// shapes; β is checked here).
    pub fn new(
        ctx: &GpuContext,
        rows: usize,
        width: usize,
        weight: f32,
        buffers: &HintBuffers<'_>,
    ) -> Result<Self> {
        check_hint_weight(weight)?;
        let params = HintParams::new(rows, width, weight);
        let uniform = ctx.uniform_buffer("hint params", &params)?;
        let rows_dispatch = Dispatch::new(
            ctx,
            "hint loss",
            ctx.pipeline(&SHADER)?,
            &[
                &uniform,
                buffers.prediction,
                buffers.target,
                buffers.grad,
                buffers.row_terms,
            ],
            ctx.grid("hint loss rows", rows)?,
        )?;
        let (reduce, reduce_uniform) = reduce_dispatch(
            ctx,
            ReduceParams::weighted(rows, 0.0, weight),
            buffers.row_terms,
            buffers.loss,
        )?;
        Ok(Self {
            dispatches: [rows_dispatch, reduce],
            uniforms: [uniform, reduce_uniform],
            rows,
            width,
        })
    }

    /// Rewrites both uniforms for weight β (the caller validates it with
    /// [`check_hint_weight`]); later submits use it.
    pub fn set_weight(&self, ctx: &GpuContext, weight: f32) {
        let params = HintParams::new(self.rows, self.width, weight);
        ctx.write(&self.uniforms[0], 0, &[params]);
        let reduce = ReduceParams::weighted(self.rows, 0.0, weight);
        ctx.write(&self.uniforms[1], 0, &[reduce]);
    }
}

/// Checks β, a non-empty shape, the lengths and finiteness of both inputs.
fn validate(
    prediction: &[f32],
    target: &[f32],
    rows: usize,
    width: usize,
    weight: f32,
) -> Result<()> {
    check_hint_weight(weight)?;
    if rows == 0 {
        return Err(Error::EmptyBatch);
    }
    if width == 0 {
        return Err(Error::InvalidConfig(
            "the hint loss needs a width of at least 1".into(),
        ));
    }
    check_len("hint prediction", rows * width, prediction.len())?;
    check_len("hint target", rows * width, target.len())?;
    check_finite("hint prediction", prediction)?;
    check_finite("hint target", target)
}

/// Uploads the regressor output `prediction` and the teacher's hidden activation `target`
/// (`[rows, width]` each) and prepares the hint loss and its reduction at weight β; outputs:
/// gradient, per-row terms `[0, m_b]` interleaved (both pre-filled with NaN), loss slots
/// ([`LOSS_SLOTS`], zeroed).
pub fn prepare_hint_loss(
    ctx: &GpuContext,
    prediction: &[f32],
    target: &[f32],
    rows: usize,
    width: usize,
    weight: f32,
) -> Result<PreparedKernel> {
    validate(prediction, target, rows, width, weight)?;
    let r = ctx.upload("hint prediction", prediction)?;
    let h = ctx.upload("hint target", target)?;
    let grad = ctx.nan_buffer("hint grad", rows * width)?;
    let row_terms = ctx.nan_buffer("hint row terms", 2 * rows)?;
    let loss = ctx.upload("hint loss", &[0.0f32; LOSS_SLOTS])?;
    let built = HintDispatches::new(
        ctx,
        rows,
        width,
        weight,
        &HintBuffers {
            prediction: &r,
            target: &h,
            grad: &grad,
            row_terms: &row_terms,
            loss: &loss,
        },
    )?;
    let [uniform, reduce_uniform] = built.uniforms;
    Ok(PreparedKernel::new(
        built.dispatches.to_vec(),
        vec![
            Output::new("hint grad", grad, rows * width),
            Output::new("hint row terms", row_terms, 2 * rows),
            Output::new("hint loss", loss, LOSS_SLOTS),
        ],
        vec![r, h, uniform, reduce_uniform],
    ))
}

/// The hint loss `β·MSE(prediction, target)` and its gradient on the GPU, followed by the
/// deterministic reduction.
#[maybe_async]
pub async fn hint_loss(
    ctx: &GpuContext,
    prediction: &[f32],
    target: &[f32],
    rows: usize,
    width: usize,
    weight: f32,
) -> Result<HintOutput<f32>> {
    let prepared = prepare_hint_loss(ctx, prediction, target, rows, width, weight)?;
    prepared.run(ctx, 1)?;
    let terms: Vec<f32> = prepared.output(ctx, 1).await?;
    let slots: Vec<f32> = prepared.output(ctx, 2).await?;
    Ok(HintOutput {
        loss: slots[0],
        mse: slots[2],
        row_mse: terms.iter().skip(1).step_by(2).copied().collect(),
        grad: prepared.output(ctx, 0).await?,
    })
}
