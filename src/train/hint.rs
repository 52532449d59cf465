//! The trainer's FitNets hint: the teacher's forward pass on the batch (its hidden activation
//! is the target; computed in the step rather than cached, so jittered batches get their own
//! and no data-set-sized activation cache is held), a linear regressor from the student's
//! hidden layer to the teacher's width, the MSE loss, the regressor's backward pass and
//! optimizer, and the gradient it adds to the student's hidden layer.

use crate::error::{Error, Result};
use crate::gpu::dispatch::{record, Dispatch};
use crate::gpu::GpuContext;
use crate::model::{Activation, ForwardPlan, Mlp, MlpSpec};
use crate::ops::accumulate::accumulate_dispatch;
use crate::ops::bias_grad::bias_grad_dispatch;
use crate::ops::dropout::Dropout;
use crate::ops::hint::{HintBuffers, HintDispatches};
use crate::ops::matmul::{self, matmul_dispatch, MatmulSpec};
use crate::ops::optim::{Optimizer, OptimizerState};
use crate::ops::reduce::LOSS_SLOTS;
use crate::train::objectives::HintConfig;
use crate::train::plan::StepPlan;
use crate::train::Trainer;

/// Buffers and dispatches of the hint, built once when its teacher is attached.
#[derive(Debug)]
pub(crate) struct HintPlan {
    pub config: HintConfig,
    teacher_forward: ForwardPlan,
    pub regressor: Mlp,
    regressor_forward: ForwardPlan,
    loss: HintDispatches,
    pub loss_buffer: wgpu::Buffer,
    backward: Vec<Dispatch>,
    accumulate: Dispatch,
    pub optimizer: OptimizerState,
    /// The gradient the hint sends to the student's hidden layer (pre-activation).
    hidden_grad: wgpu::Buffer,
    hidden_bytes: u64,
    /// `backward[..split]` completes the student's hidden-layer gradient the hint adds to.
    pub split: usize,
    /// Byte range of the gradients of the student's layers above the hinted one.
    upper_grads: (u64, u64),
    _keep: Vec<wgpu::Buffer>,
}

/// Checks that hidden layer `layer` (from 1) exists in `spec`.
fn check_hidden(what: &str, spec: &MlpSpec, layer: usize) -> Result<()> {
    let hidden = spec.layers().len() - 1;
    if layer == 0 || layer > hidden {
        return Err(Error::InvalidConfig(format!(
            "hint layer {layer} does not exist: the {what} {:?} has hidden layers 1 to {hidden}",
            spec.sizes
        )));
    }
    Ok(())
}

impl HintPlan {
    /// The hint from `teacher`'s hidden layer to the student's, over `plan`'s batch; the
    /// regressor starts from a seeded initialisation and learns with `optimizer`.
    pub fn new(
        ctx: &GpuContext,
        (config, optimizer, dropout): (HintConfig, Optimizer, Dropout),
        teacher: &Mlp,
        student: &MlpSpec,
        plan: &StepPlan,
        (rows, seed): (usize, u64),
    ) -> Result<Self> {
        config.validate()?;
        let ts = teacher.spec();
        if ts.inputs() != student.inputs() {
            return Err(Error::InvalidConfig(format!(
                "hint teacher {:?} does not take the student's {} inputs",
                ts.sizes,
                student.inputs()
            )));
        }
        check_hidden("teacher", ts, config.teacher_layer)?;
        check_hidden("student", student, config.student_layer)?;
        let (t, s) = (config.teacher_layer - 1, config.student_layer - 1);
        let (student_width, teacher_width) = (student.sizes[s + 1], ts.sizes[t + 1]);
        let teacher_forward = ForwardPlan::new(
            ctx,
            ts,
            teacher.params_buffer(),
            &plan.inputs,
            rows,
            "hint teacher",
        )?;
        let regressor_spec = MlpSpec::relu(&[student_width, teacher_width])?;
        let regressor = Mlp::new(ctx, &regressor_spec, seed)?;
        let hidden = &plan.forward.outputs[s];
        let regressor_forward = ForwardPlan::new(
            ctx,
            &regressor_spec,
            regressor.params_buffer(),
            hidden,
            rows,
            "hint regressor",
        )?;
        let output_grad = ctx.storage_buffer("hint output gradient", rows * teacher_width, None)?;
        let row_terms = ctx.storage_buffer("hint row terms", 2 * rows, None)?;
        let loss_buffer = ctx.upload("hint loss", &[0.0f32; LOSS_SLOTS])?;
        let loss = HintDispatches::new(
            ctx,
            rows,
            teacher_width,
            config.weight_at(1),
            &HintBuffers {
                prediction: regressor_forward.logits(),
                target: &teacher_forward.outputs[t],
                grad: &output_grad,
                row_terms: &row_terms,
                loss: &loss_buffer,
            },
        )?;
        let count = regressor_spec.parameter_count();
        let grads = ctx.storage_buffer("hint regressor gradients", count, None)?;
        let layer = regressor_spec.layers()[0];
        let dw = MatmulSpec::weight_grad(rows, layer.inputs, layer.outputs, layer.weight_offset);
        let relu = student.activation_after(s) == Activation::Relu;
        if dropout.p > 0.0 && !relu {
            return Err(Error::InvalidConfig(
                "a hint under dropout needs a ReLU hidden layer".into(),
            ));
        }
        let dx = MatmulSpec {
            mask_scale: if dropout.p > 0.0 {
                dropout.scale()
            } else {
                1.0
            },
            ..MatmulSpec::input_grad(rows, layer.inputs, layer.outputs, 0, relu)
        };
        let hidden_grad = ctx.storage_buffer("hint hidden gradient", rows * student_width, None)?;
        let unused = ctx.storage_buffer("unused aux", 1, None)?;
        let params = regressor.params_buffer();
        let dw_variant = matmul::choose(ctx, &dw);
        let dx_variant = matmul::choose(ctx, &dx);
        let backward = vec![
            matmul_dispatch(
                ctx,
                "hint regressor dW",
                dw_variant,
                &dw,
                &output_grad,
                hidden,
                &unused,
                &grads,
            )?,
            bias_grad_dispatch(
                ctx,
                rows,
                layer.outputs,
                layer.bias_offset,
                &output_grad,
                &grads,
            )?,
            matmul_dispatch(
                ctx,
                "hint regressor dX",
                dx_variant,
                &dx,
                &output_grad,
                params,
                hidden,
                &hidden_grad,
            )?,
        ];
        let (accumulate, accumulate_uniform) = accumulate_dispatch(
            ctx,
            rows * student_width,
            &hidden_grad,
            &plan.layer_grads[s],
        )?;
        let optimizer = OptimizerState::new(ctx, optimizer, count, &grads, params)?;
        let layers = student.layers();
        let upper_start = layers[s + 1].weight_offset as u64 * 4;
        let upper_end = student.parameter_count() as u64 * 4;
        Ok(Self {
            config,
            teacher_forward,
            regressor,
            regressor_forward,
            loss,
            loss_buffer,
            backward,
            accumulate,
            optimizer,
            hidden_bytes: (rows * student_width * 4) as u64,
            hidden_grad,
            split: plan.layer_start[s],
            upper_grads: (upper_start, upper_end - upper_start),
            _keep: vec![output_grad, row_terms, grads, unused, accumulate_uniform],
        })
    }

    /// Stages the hint's weight for `epoch`.
    pub fn set_epoch(&self, ctx: &GpuContext, epoch: usize) {
        self.loss.set_weight(ctx, self.config.weight_at(epoch));
    }

    /// Whether the hint takes part in steps of `epoch` (not once its weight is 0 after the
    /// hint-only stage).
    pub fn active(&self, epoch: usize) -> bool {
        self.config.weight_at(epoch) > 0.0
    }

    /// The teacher's forward pass on the batch (after the batch is in place).
    pub fn record_teacher(&self, encoder: &mut wgpu::CommandEncoder) {
        record(encoder, "hint teacher", &self.teacher_forward.dispatches);
    }

    /// Regressor forward, MSE loss and the regressor's backward pass (after the student's
    /// forward pass).
    pub fn record_loss(&self, encoder: &mut wgpu::CommandEncoder) {
        let all = self
            .regressor_forward
            .dispatches
            .iter()
            .chain(&self.loss.dispatches)
            .chain(&self.backward);
        record(encoder, "hint", all);
    }

    /// Adds the hint's gradient into the student's hidden-layer gradient (once
    /// `backward[..split]` has written it).
    pub fn record_accumulate(&self, encoder: &mut wgpu::CommandEncoder) {
        record(encoder, "hint gradient", std::iter::once(&self.accumulate));
    }

    /// In the hint-only stage: the hidden-layer gradient is the hint's alone, and the layers
    /// above get none.
    pub fn record_hint_only_gradients(&self, encoder: &mut wgpu::CommandEncoder, plan: &StepPlan) {
        let s = self.config.student_layer - 1;
        encoder.copy_buffer_to_buffer(
            &self.hidden_grad,
            0,
            &plan.layer_grads[s],
            0,
            self.hidden_bytes,
        );
        let (offset, size) = self.upper_grads;
        encoder.clear_buffer(&plan.grads, offset, Some(size));
    }

    /// The regressor's update.
    pub fn record_update(&self, encoder: &mut wgpu::CommandEncoder) {
        record(
            encoder,
            "hint regressor update",
            std::iter::once(&self.optimizer.dispatch),
        );
    }
}

impl Trainer {
    /// Attaches the teacher model whose hidden layer the hint (built with
    /// [`crate::TrainerConfig::hint`]) matches; the regressor starts from a `seed`ed initialisation.
    /// The teacher's forward pass then runs in every step that uses the hint.
    pub fn attach_hint_teacher(
        &mut self,
        ctx: &GpuContext,
        teacher: &Mlp,
        seed: u64,
    ) -> Result<()> {
        let config = self.config.hint.ok_or_else(|| {
            Error::InvalidConfig("attach_hint_teacher needs a trainer built with a hint".into())
        })?;
        let hint = HintPlan::new(
            ctx,
            (config, self.config.optimizer, self.config.dropout),
            teacher,
            self.student.spec(),
            &self.plan,
            (self.config.batch_size, seed),
        )?;
        hint.set_epoch(ctx, self.epoch);
        self.hint = Some(hint);
        Ok(())
    }

    /// The hint's regressor, when a hint teacher is attached (not part of the student).
    pub fn hint_regressor(&self) -> Option<&Mlp> {
        self.hint.as_ref().map(|h| &h.regressor)
    }
}
