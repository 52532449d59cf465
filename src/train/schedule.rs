//! What changes with the epoch: DKD's warm-up weight, the hint's stage, whether the EMA
//! teacher teaches yet (and so the teachers' weights beside a fixed teacher).

use crate::distill::KdConfig;
use crate::gpu::GpuContext;
use crate::train::plan::LossStep;
use crate::train::Objective;
use crate::train::Trainer;

impl Trainer {
    /// Puts the schedules of `epoch` (from 1) in force for later steps: DKD's warm-up weight,
    /// the hint's stage, whether the EMA teacher teaches yet. [`crate::train::fit()`] calls it at
    /// the start of every epoch.
    pub fn begin_epoch(&mut self, ctx: &GpuContext, epoch: usize) {
        self.epoch = epoch;
        let ema_teaches = self.ema.as_ref().is_none_or(|e| e.config.teaches(epoch));
        match &self.plan.loss_step {
            LossStep::Logit(loss) => {
                if let Objective::Dkd(schedule) = self.config.objective {
                    let mut dkd = schedule.at_epoch(epoch);
                    if !ema_teaches {
                        dkd.ramp = 0.0;
                    }
                    loss.set(ctx, &dkd);
                } else if let (Some(_), Objective::Kd(kd)) = (&self.ema, self.config.objective) {
                    let alpha = if ema_teaches { kd.alpha } else { 0.0 };
                    loss.set(ctx, &KdConfig { alpha, ..kd });
                }
            }
            LossStep::Multi { .. } if self.ema.is_some() => {
                let base = if ema_teaches { [0.5, 0.5] } else { [1.0, 0.0] };
                self.plan.set_base_weights(ctx, &base);
            }
            LossStep::Multi { .. } => {}
        }
        if let Some(hint) = &self.hint {
            hint.set_epoch(ctx, epoch);
        }
    }
}
