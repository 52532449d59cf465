//! The trainer's EMA teacher: a copy of the student whose weights follow the student's as an
//! exponential moving average, updated on the GPU at the end of a step, and whose forward
//! pass on the batch gives the step's teacher logits.

use crate::error::Result;
use crate::gpu::dispatch::record;
use crate::gpu::GpuContext;
use crate::model::{ForwardPlan, Mlp};
use crate::ops::ema::{ramped_decay, EmaDispatch};
use crate::train::objectives::EmaConfig;
use crate::train::plan::StepPlan;
use crate::train::Trainer;

/// The EMA teacher's model, forward pass and update.
#[derive(Debug)]
pub(crate) struct EmaTeacher {
    pub config: EmaConfig,
    pub model: Mlp,
    forward: ForwardPlan,
    update: EmaDispatch,
    /// Slot of the batch teacher buffer its logits go to: 0 alone, 1 beside a fixed teacher.
    pub slot: usize,
    logit_bytes: u64,
}

impl EmaTeacher {
    /// An EMA teacher starting from `student`'s current weights, reading `plan`'s batch.
    pub fn new(
        ctx: &GpuContext,
        config: EmaConfig,
        student: &Mlp,
        plan: &StepPlan,
        rows: usize,
    ) -> Result<Self> {
        config.validate()?;
        let spec = student.spec();
        let model = student.duplicate(ctx)?;
        let forward = ForwardPlan::new(
            ctx,
            spec,
            model.params_buffer(),
            &plan.inputs,
            rows,
            "ema teacher",
        )?;
        let update = EmaDispatch::new(
            ctx,
            spec.parameter_count(),
            config.decay,
            model.params_buffer(),
            student.params_buffer(),
        )?;
        Ok(Self {
            config,
            model,
            forward,
            update,
            slot: 0,
            logit_bytes: (rows * spec.classes() * 4) as u64,
        })
    }

    /// Stages the ramped decay for optimizer step `step` (from 1) and says whether this step
    /// updates the teacher.
    pub fn stage(&self, ctx: &GpuContext, step: u32) -> bool {
        let updates = step.is_multiple_of(self.config.update_every);
        if updates {
            // The ramp counts updates from 0 (the first copies the student, as in Tarvainen &
            // Valpola's code), so a teacher updated every k steps ramps k times as slowly.
            let update = step / self.config.update_every - 1;
            self.update
                .set_decay(ctx, ramped_decay(self.config.decay, update));
        }
        updates
    }

    /// Its forward pass on the batch, its logits copied to its slot of the teacher buffer.
    pub fn record_forward(&self, encoder: &mut wgpu::CommandEncoder, plan: &StepPlan) {
        record(encoder, "ema teacher forward", &self.forward.dispatches);
        encoder.copy_buffer_to_buffer(
            self.forward.logits(),
            0,
            &plan.teacher_logits,
            self.slot as u64 * self.logit_bytes,
            self.logit_bytes,
        );
    }

    /// The moving-average update (after the student's optimizer step).
    pub fn record_update(&self, encoder: &mut wgpu::CommandEncoder) {
        record(
            encoder,
            "ema teacher update",
            std::iter::once(&self.update.dispatch),
        );
    }
}

impl Trainer {
    /// The EMA teacher, when the trainer has one.
    pub fn ema_teacher(&self) -> Option<&Mlp> {
        self.ema.as_ref().map(|e| &e.model)
    }
}
