//! The trainer's multi-teacher objective: attaching a data set with several teachers' stacked
//! logits, their known classes and base weights, and changing its settings between steps.

use crate::data::DeviceDataset;
use crate::distill::{MultiKdConfig, Teachers};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::ops::multi_kd::TeacherLayout;
use crate::train::plan::LossStep;
use crate::train::{Objective, Trainer};

impl Trainer {
    /// Binds a device data set for a trainer built with [`crate::TrainerConfig::multi_kd`]:
    /// later [`Trainer::step_on_dataset`] calls gather each sample's K teachers' logits (one
    /// row of K·C floats) with its pixels and label, and the multi-teacher loss weighs them by
    /// the known classes and base weights of `teachers`. `jitter` and `seed` are as in
    /// [`Trainer::attach_dataset`]. Attaching again replaces data set and teachers.
    pub fn attach_teachers(
        &mut self,
        ctx: &GpuContext,
        data: &DeviceDataset,
        teachers: &Teachers<'_>,
        jitter: u32,
        seed: u32,
    ) -> Result<()> {
        let config = self.multi_kd_config().ok_or_else(|| {
            Error::InvalidConfig(
                "attach_teachers needs a trainer built with the multi-teacher objective".into(),
            )
        })?;
        let logits = teachers.logits;
        if logits.dataset_id != data.id() || logits.classes() != data.classes() {
            return Err(Error::InvalidConfig(
                "the stacked teacher logits were computed for another data set".into(),
            ));
        }
        let known = teachers.validate(&config)?;
        let k = logits.teachers();
        let width = logits.row_width();
        self.bind_gather(ctx, data, Some((&logits.buffer, width)), jitter, seed)?;
        let rows = self.config.batch_size;
        let layout = TeacherLayout::SampleMajor {
            gated: logits.is_gated(),
        };
        self.plan
            .bind_teachers(ctx, (rows, k), layout, &known, teachers.base_weights)
    }

    /// The multi-teacher settings in force (`None` with the single-teacher objective).
    pub fn multi_kd_config(&self) -> Option<MultiKdConfig> {
        match self.config.objective {
            Objective::MultiKd(multi) => Some(multi),
            _ => None,
        }
    }

    /// Changes the multi-teacher settings for later steps. Switching to [`crate::Combine::Logits`]
    /// needs teachers attached with equal class sets, so re-attach for that instead.
    pub fn set_multi_kd_config(&mut self, ctx: &GpuContext, multi: MultiKdConfig) -> Result<()> {
        multi.validate()?;
        let LossStep::Multi {
            config, dispatches, ..
        } = &mut self.plan.loss_step
        else {
            return Err(Error::InvalidConfig(
                "set_multi_kd_config needs a trainer built with the multi-teacher objective".into(),
            ));
        };
        if multi.combine != config.combine {
            return Err(Error::InvalidConfig(
                "changing how teachers combine needs the teachers attached again".into(),
            ));
        }
        if let Some(bound) = dispatches {
            bound.loss.config = multi;
            bound.dispatches.set(ctx, &bound.loss);
        }
        *config = multi;
        self.config.objective = Objective::MultiKd(multi);
        Ok(())
    }
}
