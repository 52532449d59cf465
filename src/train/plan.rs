//! The dispatches of one training step, built once per trainer: (dropout-interleaved) forward,
//! loss (single- or multi-teacher) and reduction, backward (weight, bias and masked input gradients per layer).

use crate::error::{Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::GpuContext;
use crate::model::{Activation, ForwardPlan, MlpSpec};
use crate::ops::bias_grad::bias_grad_dispatch;
use crate::ops::dropout::{dropout_dispatch, Dropout, DropoutParams};
use crate::ops::kd_loss::KdConfig;
use crate::ops::logit_loss::{LogitBuffers, LossDispatches, RowLoss};
use crate::ops::matmul::{self, matmul_dispatch, MatmulSpec};
use crate::ops::multi_kd::{
    Combine, MultiKdBuffers, MultiKdConfig, MultiKdRows, TeacherLayout, WeightMode, MAX_TEACHERS,
};
use crate::ops::reduce::LOSS_SLOTS;

/// The loss a step plan is built for.
pub(crate) enum PlanObjective {
    /// A loss on the logits against one teacher (or none).
    Logit(Box<dyn RowLoss>),
    /// Several teachers gathered with the batch; dispatches built when they are attached.
    Multi(MultiKdConfig),
}

/// Buffers and dispatches of a step over a student's parameters at a fixed batch size.
#[derive(Debug)]
pub(crate) struct StepPlan {
    pub inputs: wgpu::Buffer,
    pub labels: wgpu::Buffer,
    pub teacher_logits: wgpu::Buffer,
    pub grads: wgpu::Buffer,
    pub loss: wgpu::Buffer,
    pub forward: ForwardPlan,
    /// Forward dispatches with dropout after each hidden layer when enabled.
    pub forward_steps: Vec<Dispatch>,
    /// Uniform and parameters of each dropout dispatch (the step is rewritten per step).
    pub dropout_uniforms: Vec<(wgpu::Buffer, DropoutParams)>,
    pub loss_step: LossStep,
    pub backward: Vec<Dispatch>,
    /// Index in `backward` of each layer's first dispatch (its weight gradient): layer `l`'s
    /// output gradient is complete once `backward[..layer_start[l]]` has run.
    pub layer_start: Vec<usize>,
    pub layer_grads: Vec<wgpu::Buffer>,
    row_terms: wgpu::Buffer,
    _dummy: wgpu::Buffer,
}

/// The loss dispatches of the step, by objective.
#[derive(Debug)]
pub(crate) enum LossStep {
    /// A loss on the logits against one teacher (or none): KD (plain cross-entropy at α = 0),
    /// DKD, or any other [`crate::train::Objective`] with a [`RowLoss`]; the objective's
    /// schedule restages it ([`LossDispatches::set`]).
    Logit(LossDispatches),
    /// Several teachers: the batch teacher buffer holds up to [`MAX_TEACHERS`] per row; the
    /// dispatches are built when the teachers (their count, masks, weights) are attached.
    Multi {
        config: MultiKdConfig,
        known: wgpu::Buffer,
        base_weights: wgpu::Buffer,
        weights: wgpu::Buffer,
        dispatches: Option<BoundTeachers>,
    },
}

/// A multi-teacher loss's dispatches once teachers are attached, with the loss they were
/// built for (a settings change restages it with the same teachers and layout).
#[derive(Debug)]
pub(crate) struct BoundTeachers {
    pub loss: MultiKdRows,
    pub dispatches: LossDispatches,
}

impl LossStep {
    /// The dispatches recorded per step (none while a multi-teacher loss has no teachers).
    pub fn dispatches(&self) -> &[Dispatch] {
        match self {
            LossStep::Logit(loss) => &loss.dispatches,
            LossStep::Multi { dispatches, .. } => dispatches
                .as_ref()
                .map_or(&[], |d| &d.dispatches.dispatches),
        }
    }
}

impl StepPlan {
    pub fn new(
        ctx: &GpuContext,
        spec: &MlpSpec,
        params: &wgpu::Buffer,
        rows: usize,
        (objective, teacher_slots): (PlanObjective, usize),
        dropout: Dropout,
    ) -> Result<Self> {
        let classes = spec.classes();
        let inputs = ctx.storage_buffer("batch inputs", rows * spec.inputs(), None)?;
        let truth_width = match &objective {
            PlanObjective::Logit(row_loss) => row_loss.truth_width(classes),
            PlanObjective::Multi(_) => 1,
        };
        let labels = ctx.storage_buffer("batch labels", rows * truth_width, None)?;
        // Multi: up to MAX_TEACHERS rows of logits per sample, and as many gates; otherwise
        // `teacher_slots` batches of logits (a fixed teacher, an EMA teacher, peers).
        let per_row = match objective {
            PlanObjective::Multi(_) => MAX_TEACHERS * (classes + 1),
            _ => teacher_slots.clamp(1, MAX_TEACHERS) * classes,
        };
        let teacher_logits = ctx.storage_buffer("batch teacher logits", rows * per_row, None)?;
        let forward = ForwardPlan::new(ctx, spec, params, &inputs, rows, "student")?;
        let grads = ctx.storage_buffer("parameter gradients", spec.parameter_count(), None)?;
        let layers = spec.layers();
        let layer_grads: Vec<wgpu::Buffer> = layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                ctx.storage_buffer(
                    &format!("layer {l} output gradient"),
                    rows * layer.outputs,
                    None,
                )
            })
            .collect::<Result<_>>()?;
        let row_terms = ctx.storage_buffer("kd row terms", 2 * rows, None)?;
        let loss = ctx.upload("loss", &[0.0f32; LOSS_SLOTS])?;
        let last = layers.len() - 1;
        let buffers = LogitBuffers {
            student: forward.logits(),
            teacher: &teacher_logits,
            labels: &labels,
            grad: &layer_grads[last],
            row_terms: &row_terms,
            loss: &loss,
        };
        let loss_step = match objective {
            PlanObjective::Logit(row_loss) => {
                LossStep::Logit(buffers.dispatches(ctx, (rows, classes), row_loss.as_ref())?)
            }
            PlanObjective::Multi(config) => LossStep::Multi {
                config,
                known: ctx.storage_buffer("teacher known classes", MAX_TEACHERS * classes, None)?,
                base_weights: ctx.storage_buffer("teacher base weights", MAX_TEACHERS, None)?,
                weights: ctx.storage_buffer("teacher weights", rows * MAX_TEACHERS, None)?,
                dispatches: None,
            },
        };
        let dummy = ctx.storage_buffer("unused aux", 1, None)?;
        let mut forward_steps = Vec::new();
        let mut dropout_uniforms = Vec::new();
        for (l, d) in forward.dispatches.iter().enumerate() {
            forward_steps.push(d.clone());
            if dropout.p > 0.0 && l + 1 < layers.len() {
                let params = DropoutParams::new(dropout, rows * layers[l].outputs, 0, l);
                let (dispatch, uniform) = dropout_dispatch(ctx, params, &forward.outputs[l])?;
                forward_steps.push(dispatch);
                dropout_uniforms.push((uniform, params));
            }
        }
        let mut backward = Vec::new();
        let mut layer_start = vec![0; layers.len()];
        for l in (0..layers.len()).rev() {
            layer_start[l] = backward.len();
            let layer = layers[l];
            let x = if l == 0 {
                &inputs
            } else {
                &forward.outputs[l - 1]
            };
            let dw =
                MatmulSpec::weight_grad(rows, layer.inputs, layer.outputs, layer.weight_offset);
            let variant = matmul::choose(ctx, &dw);
            backward.push(matmul_dispatch(
                ctx,
                &format!("layer {l} dW ({})", variant.name()),
                variant,
                &dw,
                &layer_grads[l],
                x,
                &dummy,
                &grads,
            )?);
            backward.push(bias_grad_dispatch(
                ctx,
                rows,
                layer.outputs,
                layer.bias_offset,
                &layer_grads[l],
                &grads,
            )?);
            if l > 0 {
                let relu = spec.activation_after(l - 1) == Activation::Relu;
                if dropout.p > 0.0 && !relu {
                    return Err(Error::InvalidConfig(
                        "dropout needs ReLU hidden layers (backward reads its mask from the zeros of the output)".into(),
                    ));
                }
                let dx = MatmulSpec {
                    mask_scale: if dropout.p > 0.0 {
                        dropout.scale()
                    } else {
                        1.0
                    },
                    ..MatmulSpec::input_grad(
                        rows,
                        layer.inputs,
                        layer.outputs,
                        layer.weight_offset,
                        relu,
                    )
                };
                let variant = matmul::choose(ctx, &dx);
                backward.push(matmul_dispatch(
                    ctx,
                    &format!("layer {l} dX ({})", variant.name()),
                    variant,
                    &dx,
                    &layer_grads[l],
                    params,
                    &forward.outputs[l - 1],
                    &layer_grads[l - 1],
                )?);
            }
        }
        Ok(Self {
            inputs,
            labels,
            teacher_logits,
            grads,
            loss,
            forward,
            forward_steps,
            dropout_uniforms,
            loss_step,
            backward,
            layer_start,
            layer_grads,
            row_terms,
            _dummy: dummy,
        })
    }

    /// Binds (for a batch of `rows`) `teachers` teachers with known-class masks `known` `[teachers, classes]` and
    /// `base_weights` to a multi-teacher loss (validated by the caller), writing into the same
    /// gradient, row-term and loss buffers as the single-teacher loss.
    pub fn bind_teachers(
        &mut self,
        ctx: &GpuContext,
        (rows, teachers): (usize, usize),
        layout: TeacherLayout,
        known: &[u32],
        base: &[f32],
    ) -> Result<()> {
        let classes = known.len() / teachers.max(1);
        let LossStep::Multi {
            config,
            known: known_buffer,
            base_weights,
            weights,
            dispatches,
        } = &mut self.loss_step
        else {
            return Err(Error::InvalidConfig(
                "teachers with class sets need the multi-teacher objective".into(),
            ));
        };
        ctx.write(known_buffer, 0, known);
        ctx.write(base_weights, 0, base);
        let loss_rows = MultiKdRows {
            config: *config,
            rows,
            cols: classes,
            teachers,
            layout,
        };
        *dispatches = Some(BoundTeachers {
            loss: loss_rows,
            dispatches: MultiKdBuffers {
                student: self.forward.logits(),
                teachers: &self.teacher_logits,
                known: known_buffer,
                base_weights,
                labels: &self.labels,
                grad: &self.layer_grads[self.layer_grads.len() - 1],
                row_terms: &self.row_terms,
                weights,
                loss: &self.loss,
            }
            .dispatches(ctx, &loss_rows)?,
        });
        Ok(())
    }

    /// Replaces the loss with the multi-teacher one over `teachers` whole batches of logits
    /// laid out teacher-major in the batch teacher buffer (slot 0 may be gathered with the
    /// batch, the others are copied in by the step), every teacher knowing every class,
    /// weighed by `mode` over `base`, at `kd`'s T and α.
    pub fn bind_teacher_major(
        &mut self,
        ctx: &GpuContext,
        (rows, classes, teachers): (usize, usize, usize),
        mode: WeightMode,
        base: &[f32],
        kd: KdConfig,
    ) -> Result<()> {
        let config = MultiKdConfig {
            temperature: kd.temperature,
            alpha: kd.alpha,
            weights: mode,
            combine: Combine::Mixture,
        };
        self.loss_step = LossStep::Multi {
            config,
            known: ctx.storage_buffer("teacher known classes", MAX_TEACHERS * classes, None)?,
            base_weights: ctx.storage_buffer("teacher base weights", MAX_TEACHERS, None)?,
            weights: ctx.storage_buffer("teacher weights", rows * MAX_TEACHERS, None)?,
            dispatches: None,
        };
        let known = vec![1u32; teachers * classes];
        self.bind_teachers(
            ctx,
            (rows, teachers),
            TeacherLayout::TeacherMajor,
            &known,
            base,
        )
    }

    /// Rewrites a multi-teacher loss's base weights for later steps.
    pub fn set_base_weights(&self, ctx: &GpuContext, base: &[f32]) {
        if let LossStep::Multi { base_weights, .. } = &self.loss_step {
            ctx.write(base_weights, 0, base);
        }
    }

    /// Stages the per-step part of the dropout uniforms (the hash key includes the step).
    pub fn stage_dropout(&self, ctx: &GpuContext, step: u32) {
        for (uniform, params) in &self.dropout_uniforms {
            ctx.write(uniform, 0, &[DropoutParams { step, ..*params }]);
        }
    }
}
