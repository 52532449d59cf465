//! Recording one training step into one encoder: the batch and the teachers' forward passes
//! (fixed, EMA, hint), the student's forward pass; then the loss, the hint, the backward pass
//! with the hint's gradient added where it belongs, the optimizers and the EMA update.

use crate::error::Result;
use crate::gpu::dispatch::{record, Dispatch};
use crate::gpu::GpuContext;
use crate::train::Trainer;

impl Trainer {
    /// Records and submits one step; `gather` runs first when the batch is gathered on the GPU.
    pub(super) fn submit_step(
        &mut self,
        ctx: &GpuContext,
        gather: Option<&Dispatch>,
        teacher_forward: bool,
    ) -> Result<()> {
        let updates_ema = self.stage_step(ctx)?;
        ctx.submit("training step", |encoder| {
            self.record_front(encoder, gather, teacher_forward);
            self.record_back(encoder, updates_ema);
        })
    }

    /// Stages the step's uniforms (optimizer steps, dropout, EMA decay); says whether the EMA
    /// teacher is updated in this step.
    pub(super) fn stage_step(&mut self, ctx: &GpuContext) -> Result<bool> {
        self.optimizer.stage_step(ctx)?;
        self.plan.stage_dropout(ctx, self.optimizer.step);
        let epoch = self.epoch;
        if let Some(hint) = &mut self.hint {
            if hint.active(epoch) {
                hint.optimizer.stage_step(ctx)?;
            }
        }
        Ok(self
            .ema
            .as_ref()
            .is_some_and(|e| e.stage(ctx, self.optimizer.step)))
    }

    /// The batch gather (when given), the teachers' forward passes the step needs and the
    /// student's forward pass.
    pub(super) fn record_front(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        gather: Option<&Dispatch>,
        teacher_forward: bool,
    ) {
        if let Some(gather) = gather {
            record(encoder, "batch gather", std::iter::once(gather));
        }
        if let Some(compression) = &self.compression {
            compression.record_quantize(encoder);
        }
        if let (true, Some((_, teacher))) = (teacher_forward, &self.teacher_plan) {
            let bytes = (self.config.batch_size * self.student.spec().classes() * 4) as u64;
            record(encoder, "teacher forward", &teacher.dispatches);
            encoder.copy_buffer_to_buffer(teacher.logits(), 0, &self.plan.teacher_logits, 0, bytes);
        }
        if let Some(ema) = &self.ema {
            if ema.config.teaches(self.epoch) {
                ema.record_forward(encoder, &self.plan);
            }
        }
        if let Some(hint) = &self.hint {
            if hint.active(self.epoch) {
                hint.record_teacher(encoder);
            }
        }
        record(encoder, "student forward", &self.plan.forward_steps);
    }

    /// The loss, the hint, the backward pass, the updates.
    pub(super) fn record_back(&self, encoder: &mut wgpu::CommandEncoder, updates_ema: bool) {
        let plan = &self.plan;
        let optimizer = std::iter::once(&self.optimizer.dispatch);
        match self.hint.as_ref().filter(|h| h.active(self.epoch)) {
            None => {
                let all = plan
                    .loss_step
                    .dispatches()
                    .iter()
                    .chain(&plan.backward)
                    .chain(optimizer);
                record(encoder, "training step", all);
            }
            Some(hint) => {
                let hint_only = hint.config.hint_only(self.epoch);
                if !hint_only {
                    record(encoder, "loss", plan.loss_step.dispatches());
                }
                hint.record_loss(encoder);
                let (upper, lower) = plan.backward.split_at(hint.split);
                if hint_only {
                    hint.record_hint_only_gradients(encoder, plan);
                } else {
                    record(encoder, "backward (upper layers)", upper);
                    hint.record_accumulate(encoder);
                }
                record(encoder, "backward", lower.iter().chain(optimizer));
                hint.record_update(encoder);
            }
        }
        // Pruned weights back to zero before anything (the EMA teacher) reads the update.
        if let Some(compression) = &self.compression {
            compression.record_mask(encoder);
        }
        if let (true, Some(ema)) = (updates_ema, &self.ema) {
            ema.record_update(encoder);
        }
    }
}
