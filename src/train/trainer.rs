//! The trainer: a student, its step plan and optimizer state at a fixed batch size. A step is
//! one encoder and one submit: (gather,) (teacher forward,) forward, KD loss, backward, update.

use crate::data::{BatchBuffers, DeviceDataset};
use crate::distill::{KdConfig, TeacherLogits, TeacherSource};
use crate::error::{check_finite, check_labels, check_len, Error, Result};
use crate::eval::check_fits;
use crate::gpu::dispatch::Dispatch;
use crate::gpu::GpuContext;
use crate::model::{ForwardPlan, Mlp};
use crate::ops::dropout::Dropout;
use crate::ops::gather::{GatherBatch, GatherParams};
use crate::ops::multi_kd::WeightMode;
use crate::ops::optim::OptimizerState;
use crate::train::compression::CompressionPlan;
use crate::train::config::{Objective, TrainerConfig};
use crate::train::ema::EmaTeacher;
use crate::train::hint::HintPlan;
use crate::train::plan::{LossStep, PlanObjective, StepPlan};

/// One mini-batch from the host.
#[derive(Debug, Clone, Copy)]
pub struct StepBatch<'a> {
    /// Inputs `[rows, inputs]`.
    pub inputs: &'a [f32],
    /// Hard labels `[rows]`.
    pub labels: &'a [u32],
    /// Teacher logits or teacher model.
    pub teacher: TeacherSource<'a>,
}

/// A device data set bound to a trainer for GPU-side batch gathering.
#[derive(Debug)]
pub(super) struct GatherBinding {
    uniform: wgpu::Buffer,
    dispatch: Dispatch,
    params: GatherParams,
    dataset_id: u64,
    count: usize,
    cached_teacher: bool,
}

/// Trains a student MLP with the KD loss at a fixed batch size. Buffers, bind groups and
/// dispatches are built once here; each step stages the batch and submits one command buffer.
#[derive(Debug)]
pub struct Trainer {
    pub(super) student: Mlp,
    pub(super) config: TrainerConfig,
    pub(super) plan: StepPlan,
    pub(super) optimizer: OptimizerState,
    pub(super) gather: Option<GatherBinding>,
    pub(super) teacher_plan: Option<(wgpu::Buffer, ForwardPlan)>,
    pub(super) ema: Option<EmaTeacher>,
    pub(super) hint: Option<HintPlan>,
    /// Quantization and pruning, when the config asks for them.
    pub(super) compression: Option<CompressionPlan>,
    /// The epoch (from 1) whose schedule is in force ([`Trainer::begin_epoch`]).
    pub(super) epoch: usize,
}

impl Trainer {
    /// A trainer for `student` built as `config` says.
    pub fn new(ctx: &GpuContext, student: Mlp, config: &TrainerConfig) -> Result<Self> {
        let slots = if config.ema.is_some() { 2 } else { 1 };
        Self::build(ctx, student, config, slots)
    }

    /// [`Trainer::new`] with room for `teacher_slots` batches of teacher logits per step.
    pub(super) fn build(
        ctx: &GpuContext,
        student: Mlp,
        config: &TrainerConfig,
        teacher_slots: usize,
    ) -> Result<Self> {
        config.validate()?;
        let rows = config.batch_size;
        // Every per-step buffer is rows × (a layer width); check the widest before any is sized.
        let widest = student.spec().sizes.iter().copied().max().unwrap_or(1);
        let bytes = rows
            .checked_mul(widest)
            .and_then(|n| n.checked_mul(4))
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "batch size {rows} × layer width {widest} overflows a buffer size"
                ))
            })?;
        ctx.check_buffer_size("batch activations", bytes as u64)?;
        let params = student.params_buffer();
        config.objective.check_classes(student.spec().classes())?;
        let objective = match (config.objective, config.objective.row_loss_at(1)) {
            (Objective::MultiKd(multi), _) => PlanObjective::Multi(multi),
            (_, Some(row_loss)) => PlanObjective::Logit(row_loss),
            (other, None) => {
                return Err(Error::InvalidConfig(format!(
                    "the {} objective has no loss on the logits",
                    other.name()
                )))
            }
        };
        let compression = CompressionPlan::new(ctx, config.compression, student.spec(), params)?;
        // Quantization-aware training: forward and backward read the fake-quantized weights.
        let forward_params = CompressionPlan::forward_params(compression.as_ref(), params);
        let plan = StepPlan::new(
            ctx,
            student.spec(),
            forward_params,
            rows,
            (objective, teacher_slots),
            config.dropout,
        )?;
        let count = student.spec().parameter_count();
        let optimizer = OptimizerState::new(ctx, config.optimizer, count, &plan.grads, params)?;
        let ema = match config.ema {
            Some(ema) => Some(EmaTeacher::new(ctx, ema, &student, &plan, rows)?),
            None => None,
        };
        let mut trainer = Self {
            student,
            config: *config,
            plan,
            optimizer,
            gather: None,
            teacher_plan: None,
            ema,
            hint: None,
            compression,
            epoch: 1,
        };
        trainer.begin_epoch(ctx, 1);
        Ok(trainer)
    }

    /// The student being trained.
    pub fn student(&self) -> &Mlp {
        &self.student
    }

    /// Ends training and returns the student.
    pub fn into_student(self) -> Mlp {
        self.student
    }

    /// Batch size.
    pub fn batch_size(&self) -> usize {
        self.config.batch_size
    }

    /// Optimizer steps taken.
    pub fn steps_taken(&self) -> u32 {
        self.optimizer.step
    }

    /// The KD settings in force (`None` when the objective is not KD).
    pub fn kd_config(&self) -> Option<KdConfig> {
        self.config.kd_settings()
    }

    /// The objective in force.
    pub fn objective(&self) -> Objective {
        self.config.objective
    }

    /// Changes T and α for later steps.
    pub fn set_kd_config(&mut self, ctx: &GpuContext, kd: KdConfig) -> Result<()> {
        kd.validate()?;
        let LossStep::Logit(single) = &self.plan.loss_step else {
            return Err(multi_only("set_kd_config"));
        };
        if !matches!(self.config.objective, Objective::Kd(_)) {
            return Err(Error::InvalidConfig(format!(
                "set_kd_config changes the KD loss; this trainer's objective is {}",
                self.config.objective.name()
            )));
        }
        single.set(ctx, &kd);
        self.config.objective = Objective::Kd(kd);
        self.begin_epoch(ctx, self.epoch);
        Ok(())
    }

    /// Number of kernel launches in one step (without a gather or teacher forward).
    pub fn dispatches_per_step(&self) -> usize {
        let loss = self.plan.loss_step.dispatches().len();
        let compression = self.compression.as_ref().map_or(0, |c| c.dispatch_count());
        self.plan.forward_steps.len() + loss + self.plan.backward.len() + 1 + compression
    }

    /// The dropout in force.
    pub fn dropout(&self) -> Dropout {
        self.config.dropout
    }

    /// Binds a device data set: later [`Trainer::step_on_dataset`] calls gather their batch on
    /// the GPU from it, with teacher logits from `teacher` (which must have been computed for
    /// this data set). `jitter` shifts each training image by up to ±`jitter` pixels in x and y
    /// (0 disables).
    pub fn attach_dataset(
        &mut self,
        ctx: &GpuContext,
        data: &DeviceDataset,
        teacher: Option<&TeacherLogits>,
        jitter: u32,
        seed: u32,
    ) -> Result<()> {
        if let Objective::MultiKd(_) = self.config.objective {
            return Err(multi_only("attach_dataset (use attach_teachers)"));
        }
        if let Some(t) = teacher {
            if t.dataset_id != data.id() || t.classes() != data.classes() {
                return Err(Error::InvalidConfig(
                    "the teacher logits were computed for another data set".into(),
                ));
            }
        }
        if let Some(ema) = &mut self.ema {
            if teacher.is_some() {
                // A fixed teacher beside the EMA one: both teach, half and half, through the
                // multi-teacher loss over [fixed; EMA] batches of logits.
                let Objective::Kd(kd) = self.config.objective else {
                    return Err(Error::InvalidConfig(format!(
                        "a fixed teacher beside the EMA teacher needs the KD objective; {} \
                         takes one teacher: a fixed teacher or the EMA teacher, not both",
                        self.config.objective.name()
                    )));
                };
                let shape = (self.config.batch_size, data.classes(), 2);
                let base = [0.5, 0.5];
                self.plan
                    .bind_teacher_major(ctx, shape, WeightMode::Fixed, &base, kd)?;
                ema.slot = 1;
            } else if ema.slot == 1 {
                return Err(Error::InvalidConfig(
                    "this trainer's EMA teacher was paired with a fixed teacher; build a new \
                     trainer to train without one"
                        .into(),
                ));
            }
        }
        let teacher = teacher.map(|t| (&t.buffer, t.classes()));
        self.bind_gather(ctx, data, teacher, jitter, seed)?;
        self.begin_epoch(ctx, self.epoch);
        Ok(())
    }

    /// Checks that `data` fits the student, batch and jitter, and binds its gather with
    /// per-sample teacher logits `teacher` (buffer and floats per sample) when given.
    pub(super) fn bind_gather(
        &mut self,
        ctx: &GpuContext,
        data: &DeviceDataset,
        teacher: Option<(&wgpu::Buffer, usize)>,
        jitter: u32,
        seed: u32,
    ) -> Result<()> {
        let rows = self.config.batch_size;
        check_fits("student", &self.student, data)?;
        let regression = self.config.objective.is_regression();
        if data.is_regression() != regression {
            return Err(Error::InvalidConfig(if regression {
                "the regression objective trains on a regression data set (targets, not class \
                 labels): DeviceDataset::regression"
                    .into()
            } else {
                format!(
                    "a regression data set needs the regression objective; this trainer's is {}",
                    self.config.objective.name()
                )
            }));
        }
        if data.len() < rows {
            return Err(Error::InvalidConfig(format!(
                "batch size {rows} is larger than the data set ({} samples)",
                data.len()
            )));
        }
        let shape = data.shape();
        if jitter > 0 && shape.height == 1 {
            return Err(Error::InvalidConfig(format!(
                "jitter shifts images, and these samples are one row of {} features (tabular \
                 data); train without jitter",
                shape.width
            )));
        }
        if jitter as usize >= shape.width.min(shape.height) {
            return Err(Error::InvalidConfig(format!(
                "jitter {jitter} px would shift {}x{} images off themselves; it must be below the \
                 smaller side",
                shape.width, shape.height
            )));
        }
        let width = teacher.map_or(data.classes(), |(_, w)| w);
        let params = data.gather_params(GatherBatch {
            rows,
            start: 0,
            jitter,
            seed,
            step: 0,
            teacher: teacher.is_some(),
        });
        let params = params.with_teacher_width(width);
        let uniform = ctx.uniform_buffer("gather params", &params)?;
        let dispatch = data.gather_dispatch(
            ctx,
            rows,
            false,
            &uniform,
            teacher,
            BatchBuffers {
                inputs: &self.plan.inputs,
                labels: &self.plan.labels,
                teacher: &self.plan.teacher_logits,
            },
        )?;
        self.gather = Some(GatherBinding {
            uniform,
            dispatch,
            params,
            dataset_id: data.id(),
            count: data.len(),
            cached_teacher: teacher.is_some(),
        });
        Ok(())
    }

    /// Whether `data` is the data set attached with [`Trainer::attach_dataset`].
    pub fn is_attached_to(&self, data: &DeviceDataset) -> bool {
        self.gather
            .as_ref()
            .is_some_and(|g| g.dataset_id == data.id())
    }

    /// Batches per epoch of the attached data set (the last partial batch is dropped).
    pub fn batches_per_epoch(&self) -> usize {
        self.gather
            .as_ref()
            .map_or(0, |g| g.count / self.config.batch_size)
    }

    /// One step on batch `batch_index` of the attached data set's current (shuffled) order:
    /// gather, (teacher forward,) forward, loss, backward and update in one submit, no host
    /// data transfer but a 48-byte uniform. Teacher logits come from `teacher` when given,
    /// else from the logits attached with the data set.
    pub fn step_on_dataset(
        &mut self,
        ctx: &GpuContext,
        batch_index: usize,
        teacher: Option<&Mlp>,
    ) -> Result<()> {
        let binding = self
            .gather
            .as_ref()
            .ok_or_else(|| Error::InvalidConfig("no data set attached to the trainer".into()))?;
        if teacher.is_some() && matches!(self.config.objective, Objective::MultiKd(_)) {
            return Err(multi_only("a teacher model per step"));
        }
        let needs_teacher = self.config.objective.needs_teacher();
        if teacher.is_none() && !binding.cached_teacher && self.ema.is_none() && needs_teacher {
            return Err(Error::InvalidConfig(
                "this objective needs a teacher model, teacher logits attached with the data set \
                 or an EMA teacher"
                    .into(),
            ));
        }
        let dispatch = self.stage_gather(ctx, batch_index)?;
        if let Some(teacher) = teacher {
            self.check_teacher(teacher)?;
            self.prepare_teacher(ctx, teacher)?;
        }
        self.submit_step(ctx, Some(&dispatch), teacher.is_some())
    }

    /// Stages the gather of batch `batch_index` of the attached data set for the next step and
    /// returns its dispatch.
    pub(super) fn stage_gather(&self, ctx: &GpuContext, batch_index: usize) -> Result<Dispatch> {
        let rows = self.config.batch_size;
        let binding = self
            .gather
            .as_ref()
            .ok_or_else(|| Error::InvalidConfig("no data set attached to the trainer".into()))?;
        let start = batch_index
            .checked_mul(rows)
            .filter(|s| s + rows <= binding.count)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "batch {batch_index} of {rows} rows runs past the {} samples attached",
                    binding.count
                ))
            })?;
        let params = GatherParams {
            start: start as u32,
            step: self.optimizer.step + 1,
            ..binding.params
        };
        ctx.write(&binding.uniform, 0, &[params]);
        Ok(binding.dispatch.clone())
    }

    /// One training step on a host batch: stages the batch, records forward → KD loss →
    /// backward → optimizer into one encoder and submits it once. Does not wait for the GPU.
    pub fn step(&mut self, ctx: &GpuContext, batch: &StepBatch<'_>) -> Result<()> {
        if let Objective::MultiKd(_) = self.config.objective {
            return Err(multi_only("host batches"));
        }
        if self.config.objective.is_regression() {
            return Err(Error::InvalidConfig(
                "a regression trainer takes its batches from a device data set \
                 (attach_dataset), not host batches of labels"
                    .into(),
            ));
        }
        let spec = self.student.spec();
        let (rows, classes) = (self.config.batch_size, spec.classes());
        check_len("batch inputs", rows * spec.inputs(), batch.inputs.len())?;
        check_len("batch labels", rows, batch.labels.len())?;
        check_finite("batch inputs", batch.inputs)?;
        check_labels(batch.labels, classes)?;
        if self.ema.is_some() && !matches!(batch.teacher, TeacherSource::None) {
            return Err(Error::InvalidConfig(
                "a host batch of a trainer with an EMA teacher takes no other teacher; attach a \
                 data set with teacher logits to use both"
                    .into(),
            ));
        }
        match batch.teacher {
            TeacherSource::Logits(t) => {
                check_len("teacher logits", rows * classes, t.len())?;
                check_finite("teacher logits", t)?;
                ctx.write(&self.plan.teacher_logits, 0, t);
            }
            TeacherSource::Mlp(teacher) => {
                self.check_teacher(teacher)?;
                self.prepare_teacher(ctx, teacher)?;
            }
            TeacherSource::None => {
                let needs_teacher = self.config.objective.needs_teacher();
                if needs_teacher && self.ema.is_none() {
                    return Err(Error::InvalidConfig(
                        "this objective needs teacher logits, a teacher model or an EMA teacher"
                            .into(),
                    ));
                }
            }
        }
        ctx.write(&self.plan.inputs, 0, batch.inputs);
        ctx.write(&self.plan.labels, 0, batch.labels);
        let teacher_forward = matches!(batch.teacher, TeacherSource::Mlp(_));
        self.submit_step(ctx, None, teacher_forward)
    }

    fn check_teacher(&self, teacher: &Mlp) -> Result<()> {
        let (ts, spec) = (teacher.spec(), self.student.spec());
        if ts.inputs() != spec.inputs() || ts.classes() != spec.classes() {
            return Err(Error::InvalidConfig(format!(
                "teacher {:?} does not match student {:?} in inputs or classes",
                ts.sizes, spec.sizes
            )));
        }
        Ok(())
    }

    fn prepare_teacher(&mut self, ctx: &GpuContext, teacher: &Mlp) -> Result<()> {
        let params = teacher.params_buffer();
        let cached = matches!(&self.teacher_plan, Some((p, _)) if p == params);
        if !cached {
            let plan = ForwardPlan::new(
                ctx,
                teacher.spec(),
                params,
                &self.plan.inputs,
                self.config.batch_size,
                "teacher",
            )?;
            self.teacher_plan = Some((params.clone(), plan));
        }
        Ok(())
    }
}

/// The error for a single-teacher path taken by a trainer with the multi-teacher objective.
fn multi_only(what: &str) -> Error {
    Error::InvalidConfig(format!(
        "{what}: not available with the multi-teacher objective, whose teachers are attached \
         with the data set"
    ))
}
