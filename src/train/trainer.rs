//! The trainer: a student, its step plan and optimizer state at a fixed batch size. A step is
//! one encoder and one submit: (gather,) (teacher forward,) forward, KD loss, backward, update.

use crate::data::{BatchBuffers, DeviceDataset};
use crate::distill::{KdConfig, LossReport, TeacherLogits, TeacherSource};
use crate::error::{check_finite, check_labels, check_len, Error, Result};
use crate::eval::check_fits;
use crate::gpu::dispatch::{record, Dispatch};
use crate::gpu::GpuContext;
use crate::model::{ForwardPlan, Mlp};
use crate::ops::dropout::Dropout;
use crate::ops::gather::{GatherBatch, GatherParams};
use crate::ops::optim::OptimizerState;
use crate::ops::reduce::LOSS_SLOTS;
use crate::train::config::TrainerConfig;
use crate::train::plan::{LossStep, StepPlan};

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

/// Mean loss over a window of steps (an epoch), read once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowLoss {
    /// Mean loss over the window.
    pub loss: LossReport,
    /// Steps in the window.
    pub steps: u32,
    /// The first step of the window (from 1) whose loss was NaN or infinite.
    pub first_non_finite_step: Option<u32>,
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
    student: Mlp,
    pub(super) config: TrainerConfig,
    pub(super) plan: StepPlan,
    optimizer: OptimizerState,
    pub(super) gather: Option<GatherBinding>,
    teacher_plan: Option<(wgpu::Buffer, ForwardPlan)>,
}

impl Trainer {
    /// A trainer for `student` built as `config` says.
    pub fn new(ctx: &GpuContext, student: Mlp, config: &TrainerConfig) -> Result<Self> {
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
        let objective = (config.kd, config.multi_kd);
        let plan = StepPlan::new(ctx, student.spec(), params, rows, objective, config.dropout)?;
        let count = student.spec().parameter_count();
        let optimizer = OptimizerState::new(ctx, config.optimizer, count, &plan.grads, params)?;
        Ok(Self {
            student,
            config: *config,
            plan,
            optimizer,
            gather: None,
            teacher_plan: None,
        })
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

    /// The KD settings in force.
    pub fn kd_config(&self) -> KdConfig {
        self.config.kd
    }

    /// Changes T and α for later steps.
    pub fn set_kd_config(&mut self, ctx: &GpuContext, kd: KdConfig) -> Result<()> {
        kd.validate()?;
        let LossStep::Single(single) = &self.plan.loss_step else {
            return Err(multi_only("set_kd_config"));
        };
        single.set_config(ctx, kd);
        self.config.kd = kd;
        Ok(())
    }

    /// Number of kernel launches in one step (without a gather or teacher forward).
    pub fn dispatches_per_step(&self) -> usize {
        let loss = self.plan.loss_step.dispatches().len();
        self.plan.forward_steps.len() + loss + self.plan.backward.len() + 1
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
        if self.config.multi_kd.is_some() {
            return Err(multi_only("attach_dataset (use attach_teachers)"));
        }
        if let Some(t) = teacher {
            if t.dataset_id != data.id() || t.classes() != data.classes() {
                return Err(Error::InvalidConfig(
                    "the teacher logits were computed for another data set".into(),
                ));
            }
        }
        let teacher = teacher.map(|t| (&t.buffer, t.classes()));
        self.bind_gather(ctx, data, teacher, jitter, seed)
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
        if data.len() < rows {
            return Err(Error::InvalidConfig(format!(
                "batch size {rows} is larger than the data set ({} samples)",
                data.len()
            )));
        }
        let shape = data.shape();
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
        let rows = self.config.batch_size;
        let binding = self
            .gather
            .as_ref()
            .ok_or_else(|| Error::InvalidConfig("no data set attached to the trainer".into()))?;
        if teacher.is_some() && self.config.multi_kd.is_some() {
            return Err(multi_only("a teacher model per step"));
        }
        if teacher.is_none() && !binding.cached_teacher && self.config.kd.alpha > 0.0 {
            return Err(Error::InvalidConfig(format!(
                "alpha = {} needs a teacher model or teacher logits attached with the data set",
                self.config.kd.alpha
            )));
        }
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
        let dispatch = binding.dispatch.clone();
        if let Some(teacher) = teacher {
            self.check_teacher(teacher)?;
            self.prepare_teacher(ctx, teacher)?;
        }
        self.submit_step(ctx, Some(&dispatch), teacher.is_some())
    }

    /// One training step on a host batch: stages the batch, records forward → KD loss →
    /// backward → optimizer into one encoder and submits it once. Does not wait for the GPU.
    pub fn step(&mut self, ctx: &GpuContext, batch: &StepBatch<'_>) -> Result<()> {
        if self.config.multi_kd.is_some() {
            return Err(multi_only("host batches"));
        }
        let spec = self.student.spec();
        let (rows, classes) = (self.config.batch_size, spec.classes());
        check_len("batch inputs", rows * spec.inputs(), batch.inputs.len())?;
        check_len("batch labels", rows, batch.labels.len())?;
        check_finite("batch inputs", batch.inputs)?;
        check_labels(batch.labels, classes)?;
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
                if self.config.kd.alpha != 0.0 {
                    return Err(Error::InvalidConfig(format!(
                        "alpha = {} needs teacher logits or a teacher model",
                        self.config.kd.alpha
                    )));
                }
            }
        }
        ctx.write(&self.plan.inputs, 0, batch.inputs);
        ctx.write(&self.plan.labels, 0, batch.labels);
        let teacher_forward = matches!(batch.teacher, TeacherSource::Mlp(_));
        self.submit_step(ctx, None, teacher_forward)
    }

    /// Records and submits one step; `gather` runs first when the batch is gathered on the GPU.
    fn submit_step(
        &mut self,
        ctx: &GpuContext,
        gather: Option<&Dispatch>,
        teacher_forward: bool,
    ) -> Result<()> {
        self.optimizer.stage_step(ctx)?;
        self.plan.stage_dropout(ctx, self.optimizer.step);
        let teacher = if teacher_forward {
            self.teacher_plan.as_ref().map(|(_, plan)| plan)
        } else {
            None
        };
        let plan = &self.plan;
        let teacher_bytes = (self.config.batch_size * self.student.spec().classes() * 4) as u64;
        let optimizer = &self.optimizer.dispatch;
        ctx.submit("training step", |encoder| {
            if let Some(gather) = gather {
                record(encoder, "batch gather", std::iter::once(gather));
            }
            if let Some(teacher) = teacher {
                record(encoder, "teacher forward", &teacher.dispatches);
                encoder.copy_buffer_to_buffer(
                    teacher.logits(),
                    0,
                    &plan.teacher_logits,
                    0,
                    teacher_bytes,
                );
            }
            let all = plan
                .forward_steps
                .iter()
                .chain(plan.loss_step.dispatches())
                .chain(&plan.backward)
                .chain(std::iter::once(optimizer));
            record(encoder, "training step", all);
        })
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

    /// Reads the last step's loss (waits for the GPU).
    pub fn read_loss(&self, ctx: &GpuContext) -> Result<LossReport> {
        let v: Vec<f32> = ctx.read_back("loss", &self.plan.loss, 0, 3)?;
        Ok(LossReport {
            total: v[0],
            ce: v[1],
            kl: v[2],
        })
    }

    /// Mean loss over the steps since the last call (accumulated on the GPU, read once), and
    /// the number of steps it covers; resets the accumulator.
    pub fn take_mean_loss(&self, ctx: &GpuContext) -> Result<(LossReport, u32)> {
        let mean = self.take_window_loss(ctx)?;
        Ok((mean.loss, mean.steps))
    }

    /// Like [`Trainer::take_mean_loss`], and also which step of the window first had a
    /// non-finite loss (recorded on the GPU, so finding it costs no per-step read).
    pub fn take_window_loss(&self, ctx: &GpuContext) -> Result<WindowLoss> {
        let v: Vec<f32> = ctx.read_back("loss sums", &self.plan.loss, 3, 5)?;
        ctx.write(&self.plan.loss, 3, &[0.0f32; 5]);
        let steps = v[4].max(1.0);
        Ok(WindowLoss {
            loss: LossReport {
                total: v[1] / steps,
                ce: v[2] / steps,
                kl: v[3] / steps,
            },
            steps: v[4] as u32,
            first_non_finite_step: (v[0] > 0.0).then_some(v[0] as u32),
        })
    }

    /// A snapshot of everything a step changes: parameters, optimizer state and step, and the
    /// loss slots (so an interrupted epoch's mean resumes too).
    pub fn state(&self, ctx: &GpuContext) -> Result<TrainerState> {
        Ok(TrainerState {
            parameters: self.student.parameters(ctx)?,
            optimizer: self.optimizer.read_state(ctx)?,
            step: self.optimizer.step,
            loss_slots: ctx.read_back("loss slots", &self.plan.loss, 0, LOSS_SLOTS)?,
        })
    }

    /// Restores a [`Trainer::state`] snapshot taken from a trainer built the same way; later
    /// steps then give the same bits as the trainer it was taken from would have.
    pub fn restore(&mut self, ctx: &GpuContext, state: &TrainerState) -> Result<()> {
        let count = self.student.spec().parameter_count();
        check_len("checkpoint parameters", count, state.parameters.len())?;
        check_finite("checkpoint parameters", &state.parameters)?;
        check_len("checkpoint loss slots", LOSS_SLOTS, state.loss_slots.len())?;
        self.optimizer.restore(ctx, state.step, &state.optimizer)?;
        ctx.write(self.student.params_buffer(), 0, &state.parameters);
        ctx.write(&self.plan.loss, 0, &state.loss_slots);
        Ok(())
    }

    /// Reads the parameter gradients of the last step (`[layers…]` flat layout).
    pub fn read_gradients(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        let count = self.student.spec().parameter_count();
        ctx.read_back("gradients", &self.plan.grads, 0, count)
    }

    /// Reads the student logits of the last step.
    pub fn read_logits(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        let len = self.config.batch_size * self.student.spec().classes();
        ctx.read_back("logits", self.plan.forward.logits(), 0, len)
    }
}

/// The error for a single-teacher path taken by a trainer with the multi-teacher objective.
fn multi_only(what: &str) -> Error {
    Error::InvalidConfig(format!(
        "{what}: not available with the multi-teacher objective, whose teachers are attached \
         with the data set"
    ))
}
