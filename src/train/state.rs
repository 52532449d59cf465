//! What a trainer reports and saves: losses (last step, a window's mean with its first
//! non-finite step, the hint's MSE), its full state for checkpoints, gradients and logits.

use crate::distill::LossReport;
use crate::error::{check_finite, check_len, Result};
use crate::gpu::GpuContext;
use crate::ops::reduce::LOSS_SLOTS;
use crate::train::Trainer;
use maybe_async::maybe_async;

/// Mean loss over a window of steps (an epoch), read once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowLoss {
    /// Mean loss over the window (0 over steps that only trained a hint).
    pub loss: LossReport,
    /// Steps in the window.
    pub steps: u32,
    /// The first step of the window (from 1) whose loss was NaN or infinite.
    pub first_non_finite_step: Option<u32>,
    /// Mean squared error of the hint over the window, when a hint took part.
    pub hint_mse: Option<f32>,
}

/// Everything a training step changes, on the host: what a checkpoint holds of a trainer.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerState {
    /// Flat student parameters.
    pub parameters: Vec<f32>,
    /// Optimizer state tensors (SGD: velocity; AdamW: two moments).
    pub optimizer: Vec<Vec<f32>>,
    /// Optimizer steps taken.
    pub step: u32,
    /// The loss slots (last step's loss, the window's sums and counts).
    pub loss_slots: Vec<f32>,
    /// What else the trainer learns, in order: the EMA teacher's parameters; the hint
    /// regressor's parameters, its optimizer state and its loss slots. Empty without either.
    pub auxiliary: Vec<Vec<f32>>,
}

/// `[Σtotal, Σce, Σkl, steps]` and the first non-finite step of a loss buffer's window,
/// read and reset.
#[maybe_async]
async fn take_window(ctx: &GpuContext, loss: &wgpu::Buffer) -> Result<(Vec<f32>, Option<u32>)> {
    let v: Vec<f32> = ctx.read_back("loss sums", loss, 3, 5).await?;
    ctx.write(loss, 3, &[0.0f32; 5]);
    let first = (v[0] > 0.0).then_some(v[0] as u32);
    Ok((v[1..].to_vec(), first))
}

impl Trainer {
    /// Reads the last step's loss (waits for the GPU).
    #[maybe_async]
    pub async fn read_loss(&self, ctx: &GpuContext) -> Result<LossReport> {
        let v: Vec<f32> = ctx.read_back("loss", &self.plan.loss, 0, 3).await?;
        Ok(LossReport {
            total: v[0],
            ce: v[1],
            kl: v[2],
        })
    }

    /// Mean loss over the steps since the last call (accumulated on the GPU, read once), and
    /// the number of steps it covers; resets the accumulator.
    #[maybe_async]
    pub async fn take_mean_loss(&self, ctx: &GpuContext) -> Result<(LossReport, u32)> {
        let mean = self.take_window_loss(ctx).await?;
        Ok((mean.loss, mean.steps))
    }

    /// Like [`Trainer::take_mean_loss`], and also which step of the window first had a
    /// non-finite loss (recorded on the GPU, so finding it costs no per-step read), and the
    /// hint's mean squared error.
    #[maybe_async]
    pub async fn take_window_loss(&self, ctx: &GpuContext) -> Result<WindowLoss> {
        let (sums, mut first) = take_window(ctx, &self.plan.loss).await?;
        let steps = sums[3].max(1.0);
        let (mut hint_mse, mut hint_steps) = (None, 0);
        if let Some(hint) = &self.hint {
            let (hint_sums, hint_first) = take_window(ctx, &hint.loss_buffer).await?;
            if hint_sums[3] > 0.0 {
                hint_mse = Some(hint_sums[2] / hint_sums[3]);
                hint_steps = hint_sums[3] as u32;
            }
            first = match (first, hint_first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let own_steps = sums[3] as u32;
        Ok(WindowLoss {
            loss: LossReport {
                total: sums[0] / steps,
                ce: sums[1] / steps,
                kl: sums[2] / steps,
            },
            // Steps of the hint-only stage count too, though they add no logits' loss.
            steps: own_steps.max(hint_steps),
            first_non_finite_step: first,
            hint_mse,
        })
    }

    /// A snapshot of everything a step changes: parameters, optimizer state and step, the loss
    /// slots (so an interrupted epoch's mean resumes too), and the EMA teacher and hint
    /// regressor when there are.
    #[maybe_async]
    pub async fn state(&self, ctx: &GpuContext) -> Result<TrainerState> {
        let mut auxiliary = Vec::new();
        if let Some(ema) = &self.ema {
            auxiliary.push(ema.model.parameters(ctx).await?);
        }
        if let Some(hint) = &self.hint {
            auxiliary.push(hint.regressor.parameters(ctx).await?);
            auxiliary.extend(hint.optimizer.read_state(ctx).await?);
            auxiliary.push(
                ctx.read_back("hint loss slots", &hint.loss_buffer, 0, LOSS_SLOTS)
                    .await?,
            );
        }
        Ok(TrainerState {
            parameters: self.student.parameters(ctx).await?,
            optimizer: self.optimizer.read_state(ctx).await?,
            step: self.optimizer.step,
            loss_slots: ctx
                .read_back("loss slots", &self.plan.loss, 0, LOSS_SLOTS)
                .await?,
            auxiliary,
        })
    }

    /// Restores a [`Trainer::state`] snapshot taken from a trainer built the same way (hint
    /// teacher attached first); later steps then give the same bits as the trainer it was
    /// taken from would have.
    pub fn restore(&mut self, ctx: &GpuContext, state: &TrainerState) -> Result<()> {
        let count = self.student.spec().parameter_count();
        check_len("checkpoint parameters", count, state.parameters.len())?;
        check_finite("checkpoint parameters", &state.parameters)?;
        check_len("checkpoint loss slots", LOSS_SLOTS, state.loss_slots.len())?;
        let mut expected = usize::from(self.ema.is_some());
        if let Some(hint) = &self.hint {
            expected += 2 + hint.optimizer.state.len();
        }
        check_len(
            "checkpoint auxiliary tensors",
            expected,
            state.auxiliary.len(),
        )?;
        // The length check above fixes the layout: [EMA teacher,] [regressor, moments…, slots].
        let (ema_part, hint_part) = state.auxiliary.split_at(usize::from(self.ema.is_some()));
        if let (Some(ema), [params]) = (&self.ema, ema_part) {
            check_len("checkpoint EMA teacher", count, params.len())?;
            check_finite("checkpoint EMA teacher", params)?;
            ctx.write(ema.model.params_buffer(), 0, params);
        }
        if let (Some(hint), [params, moments @ .., slots]) = (&mut self.hint, hint_part) {
            let regressor_count = hint.regressor.spec().parameter_count();
            check_len("checkpoint hint regressor", regressor_count, params.len())?;
            check_finite("checkpoint hint regressor", params)?;
            check_len("checkpoint hint loss slots", LOSS_SLOTS, slots.len())?;
            hint.optimizer.restore(ctx, state.step, moments)?;
            ctx.write(hint.regressor.params_buffer(), 0, params);
            ctx.write(&hint.loss_buffer, 0, slots);
        }
        self.optimizer.restore(ctx, state.step, &state.optimizer)?;
        ctx.write(self.student.params_buffer(), 0, &state.parameters);
        ctx.write(&self.plan.loss, 0, &state.loss_slots);
        Ok(())
    }

    /// Reads the parameter gradients of the last step (`[layers…]` flat layout).
    #[maybe_async]
    pub async fn read_gradients(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        let count = self.student.spec().parameter_count();
        ctx.read_back("gradients", &self.plan.grads, 0, count).await
    }

    /// Reads the student logits of the last step.
    #[maybe_async]
    pub async fn read_logits(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        let len = self.config.batch_size * self.student.spec().classes();
        ctx.read_back("logits", self.plan.forward.logits(), 0, len)
            .await
    }
}
