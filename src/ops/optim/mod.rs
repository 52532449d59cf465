//! Optimizers over the flat parameter buffer, in place: SGD with momentum and weight decay
//! (`shaders/optim/sgd.wgsl`), AdamW with bias correction (`shaders/optim/adamw.wgsl`),
//! PyTorch semantics.

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use bytemuck::Zeroable as _;

use crate::error::{check_len, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::{GpuContext, ShaderSource};

/// Optimizer hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Optimizer {
    /// SGD with momentum and L2 weight decay (PyTorch `torch.optim.SGD`).
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum μ (0 disables).
        momentum: f32,
        /// Weight decay added to the gradient.
        weight_decay: f32,
    },
    /// AdamW with bias correction (PyTorch `torch.optim.AdamW`).
    AdamW {
        /// Learning rate.
        lr: f32,
        /// β1.
        beta1: f32,
        /// β2.
        beta2: f32,
        /// ε.
        eps: f32,
        /// Decoupled weight decay.
        weight_decay: f32,
    },
}

impl Optimizer {
    /// Adam-style defaults at learning rate `lr` (β = 0.9, 0.999, ε = 1e-8, no decay).
    pub fn adam(lr: f32) -> Self {
        Optimizer::AdamW {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// Checks that the hyper-parameters are finite and in range.
    pub fn validate(&self) -> Result<()> {
        let check = |what: &str, v: f32, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(Error::InvalidConfig(format!(
                    "optimizer {what} = {v} is out of range"
                )))
            }
        };
        let positive = |v: f32| v.is_finite() && v > 0.0;
        let non_negative = |v: f32| v.is_finite() && v >= 0.0;
        let fraction = |v: f32| (0.0..1.0).contains(&v);
        match *self {
            Optimizer::Sgd {
                lr,
                momentum,
                weight_decay,
            } => {
                check("lr", lr, positive(lr))?;
                check("momentum", momentum, fraction(momentum))?;
                check("weight_decay", weight_decay, non_negative(weight_decay))
            }
            Optimizer::AdamW {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                check("lr", lr, positive(lr))?;
                check("beta1", beta1, fraction(beta1))?;
                check("beta2", beta2, fraction(beta2))?;
                check("eps", eps, positive(eps))?;
                check("weight_decay", weight_decay, non_negative(weight_decay))
            }
        }
    }

    /// Optimizer state tensors per parameter (SGD: velocity; AdamW: two moments).
    pub(crate) fn state_tensors(&self) -> usize {
        match self {
            Optimizer::Sgd { .. } => 1,
            Optimizer::AdamW { .. } => 2,
        }
    }
}

/// Uniform block of `shaders/optim/sgd.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct SgdParams {
    pub count: u32,
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
}

/// Uniform block of `shaders/optim/adamw.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct AdamWParams {
    pub count: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub bias_correction1: f32,
    pub bias_correction2: f32,
}

/// The SGD shader.
pub const SGD: ShaderSource = shader_source! {
    name: "sgd",
    entry_point: "sgd_step",
    files: ["shaders/optim/sgd.wgsl"],
    uniform_size: std::mem::size_of::<SgdParams>(),
};

/// The AdamW shader.
pub const ADAMW: ShaderSource = shader_source! {
    name: "adamw",
    entry_point: "adamw_step",
    files: ["shaders/optim/adamw.wgsl"],
    uniform_size: std::mem::size_of::<AdamWParams>(),
};

/// Optimizer state on the GPU plus its dispatch.
#[derive(Debug)]
pub(crate) struct OptimizerState {
    pub optimizer: Optimizer,
    pub step: u32,
    pub uniform: wgpu::Buffer,
    pub state: Vec<wgpu::Buffer>,
    pub dispatch: Dispatch,
    count: usize,
}

impl OptimizerState {
    /// Zeroed state for `count` parameters in `weights`, updated from `grads`.
    pub fn new(
        ctx: &GpuContext,
        optimizer: Optimizer,
        count: usize,
        grads: &wgpu::Buffer,
        weights: &wgpu::Buffer,
    ) -> Result<Self> {
        optimizer.validate()?;
        let zeros = vec![0.0f32; count];
        let state: Vec<wgpu::Buffer> = (0..optimizer.state_tensors())
            .map(|i| {
                ctx.storage_buffer(
                    &format!("optimizer state {i}"),
                    count,
                    Some(bytemuck::cast_slice(&zeros)),
                )
            })
            .collect::<Result<_>>()?;
        let (pipeline, uniform) = match optimizer {
            Optimizer::Sgd { .. } => (
                ctx.pipeline(&SGD)?,
                ctx.uniform_buffer("sgd params", &SgdParams::zeroed())?,
            ),
            Optimizer::AdamW { .. } => (
                ctx.pipeline(&ADAMW)?,
                ctx.uniform_buffer("adamw params", &AdamWParams::zeroed())?,
            ),
        };
        let mut bound: Vec<&wgpu::Buffer> = vec![&uniform, grads, weights];
        bound.extend(state.iter());
        let groups = ctx.element_grid("optimizer", count)?;
        let dispatch = Dispatch::new(ctx, "optimizer", pipeline, &bound, groups)?;
        Ok(Self {
            optimizer,
            step: 0,
            uniform,
            state,
            dispatch,
            count,
        })
    }

    /// The state tensors, read back (SGD: velocity; AdamW: two moments).
    #[maybe_async]
    pub async fn read_state(&self, ctx: &GpuContext) -> Result<Vec<Vec<f32>>> {
        let mut tensors = Vec::with_capacity(self.state.len());
        for buffer in &self.state {
            tensors.push(
                ctx.read_back("optimizer state", buffer, 0, self.count)
                    .await?,
            );
        }
        Ok(tensors)
    }

    /// Replaces the state tensors and the step counter (resuming from a checkpoint).
    pub fn restore(&mut self, ctx: &GpuContext, step: u32, state: &[Vec<f32>]) -> Result<()> {
        check_len("optimizer state tensors", self.state.len(), state.len())?;
        for (buffer, host) in self.state.iter().zip(state) {
            check_len("optimizer state", self.count, host.len())?;
            ctx.write(buffer, 0, host);
        }
        self.step = step;
        Ok(())
    }

    /// Advances the step counter and stages this step's uniform (bias corrections).
    pub fn stage_step(&mut self, ctx: &GpuContext) -> Result<()> {
        self.step = self.step.checked_add(1).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "the optimizer step counter passed {}; start a new run from these weights",
                u32::MAX
            ))
        })?;
        let count = self.count as u32;
        match self.optimizer {
            Optimizer::Sgd {
                lr,
                momentum,
                weight_decay,
            } => ctx.write(
                &self.uniform,
                0,
                &[SgdParams {
                    count,
                    lr,
                    momentum,
                    weight_decay,
                }],
            ),
            Optimizer::AdamW {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                // β^t underflows to 0 long before t reaches i32::MAX.
                let t = self.step.min(i32::MAX as u32) as i32;
                ctx.write(
                    &self.uniform,
                    0,
                    &[AdamWParams {
                        count,
                        lr,
                        beta1,
                        beta2,
                        eps,
                        weight_decay,
                        bias_correction1: 1.0 - (beta1 as f64).powi(t) as f32,
                        bias_correction2: 1.0 - (beta2 as f64).powi(t) as f32,
                    }],
                )
            }
        };
        Ok(())
    }
}

/// One optimizer step on the GPU over host tensors: returns the new parameters and state.
/// `state` holds one tensor for SGD (velocity) and two for AdamW (moments); `step` counts
/// from 1.
#[maybe_async]
pub async fn optimizer_step(
    ctx: &GpuContext,
    optimizer: Optimizer,
    step: u32,
    params: &[f32],
    grads: &[f32],
    state: &[Vec<f32>],
) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
    let n = params.len();
    check_len("optimizer grads", n, grads.len())?;
    check_len(
        "optimizer state tensors",
        optimizer.state_tensors(),
        state.len(),
    )?;
    for s in state {
        check_len("optimizer state", n, s.len())?;
    }
    if step == 0 {
        return Err(Error::InvalidConfig("optimizer steps count from 1".into()));
    }
    let weights = ctx.upload("optimizer weights", params)?;
    let grads_buf = ctx.upload("optimizer grads", grads)?;
    let mut opt = OptimizerState::new(ctx, optimizer, n, &grads_buf, &weights)?;
    opt.restore(ctx, step - 1, state)?;
    opt.stage_step(ctx)?;
    ctx.run("optimizer step", std::slice::from_ref(&opt.dispatch))?;
    let new_params = ctx.read_back("optimizer weights", &weights, 0, n).await?;
    let new_state = opt.read_state(ctx).await?;
    Ok((new_params, new_state))
}
