//! Where a training step's time goes: each dispatch of a plain step (gather, forward, loss,
//! backward, optimizer) timed on its own, so a kernel's share of the step is measured rather
//! than guessed. Native only (it waits on the device).

use std::time::Instant;

use crate::error::{Error, Result};
use crate::gpu::dispatch::{record, Dispatch};
use crate::gpu::GpuContext;
use crate::train::Trainer;

/// One dispatch of the step and its time.
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchTime {
    /// The dispatch's label, e.g. `student layer 0 (shuffle8-r16g2-bk4)` or `kd loss rows`.
    pub label: String,
    /// Seconds per run: the median of three rounds of `repeats` runs in one submit each.
    pub seconds: f64,
}

impl Trainer {
    /// Times each dispatch of a step on batch `batch_index` of the attached data set (cached
    /// teacher logits, no hint or EMA teacher), `repeats` runs per round. Replaying a dispatch
    /// changes the trainer's weights like extra steps would, so profile a trainer made for it.
    pub fn profile_step(
        &mut self,
        ctx: &GpuContext,
        batch_index: usize,
        repeats: usize,
    ) -> Result<Vec<DispatchTime>> {
        if self.hint.is_some() || self.ema.is_some() {
            return Err(Error::InvalidConfig(
                "profile_step times plain steps; this trainer has a hint or an EMA teacher".into(),
            ));
        }
        let gather = self.stage_gather(ctx, batch_index)?;
        self.stage_step(ctx)?;
        let plan = &self.plan;
        let dispatches: Vec<&Dispatch> = std::iter::once(&gather)
            .chain(&plan.forward_steps)
            .chain(plan.loss_step.dispatches())
            .chain(&plan.backward)
            .chain(std::iter::once(&self.optimizer.dispatch))
            .collect();
        let repeats = repeats.max(1);
        let mut out = Vec::with_capacity(dispatches.len());
        for dispatch in dispatches {
            let once = std::iter::once(dispatch);
            ctx.submit("profile warm-up", |encoder| {
                record(encoder, "profile", once)
            })?;
            ctx.wait()?;
            let mut rounds = [0.0; 3];
            for round in &mut rounds {
                let start = Instant::now();
                // One pass, as a step records its dispatches.
                ctx.submit("profile", |encoder| {
                    record(encoder, "profile", std::iter::repeat_n(dispatch, repeats));
                })?;
                ctx.wait()?;
                *round = start.elapsed().as_secs_f64() / repeats as f64;
            }
            rounds.sort_by(f64::total_cmp);
            out.push(DispatchTime {
                label: dispatch.label.clone(),
                seconds: rounds[1],
            });
        }
        Ok(out)
    }
}
