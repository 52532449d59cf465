//! The GPU MLP and the training step: gather → forward → KD loss → backward → optimizer, recorded
//! into one command encoder and submitted once.

use crate::context::{record, Dispatch, GpuContext};
use crate::data::DeviceDataset;
use crate::error::{check_finite, check_kd, check_labels, check_len, Error, Result};
pub use crate::kernels::Optimizer;
use crate::kernels::{self, KdBuffers, OptimizerState, LOSS_SLOTS};
use crate::matmul::MatmulSpec;
use crate::model::{Activation, MlpSpec};

/// An MLP whose parameters live on the GPU in one flat buffer (layout: [`MlpSpec::layers`]).
#[derive(Debug)]
pub struct Mlp {
    spec: MlpSpec,
    params: wgpu::Buffer,
}

impl Mlp {
    /// A new MLP with seeded PyTorch-style initialisation.
    pub fn new(ctx: &GpuContext, spec: &MlpSpec, seed: u64) -> Result<Self> {
        spec.validate()?;
        // Check before allocating the host-side initial values.
        ctx.check_buffer_size("MLP parameters", spec.parameter_count() as u64 * 4)?;
        Self::from_parameters(ctx, spec, &spec.init_parameters(seed))
    }

    /// An MLP with the given flat parameters.
    pub fn from_parameters(ctx: &GpuContext, spec: &MlpSpec, params: &[f32]) -> Result<Self> {
        spec.validate()?;
        check_len("MLP parameters", spec.parameter_count(), params.len())?;
        check_finite("MLP parameters", params)?;
        let buffer = ctx.storage_buffer(
            "mlp parameters",
            params.len(),
            Some(bytemuck::cast_slice(params)),
        )?;
        Ok(Self {
            spec: spec.clone(),
            params: buffer,
        })
    }

    pub(crate) fn params_buffer(&self) -> &wgpu::Buffer {
        &self.params
    }

    /// The architecture.
    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// Reads the flat parameters back.
    pub fn parameters(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        ctx.read_back(
            "MLP parameters",
            &self.params,
            0,
            self.spec.parameter_count(),
        )
    }

    /// Logits `[rows, classes]` for `inputs` `[rows, inputs]`.
    pub fn logits(&self, ctx: &GpuContext, inputs: &[f32], rows: usize) -> Result<Vec<f32>> {
        if rows == 0 {
            return Err(Error::EmptyBatch);
        }
        check_len("MLP inputs", rows * self.spec.inputs(), inputs.len())?;
        check_finite("MLP inputs", inputs)?;
        let input = ctx.storage_buffer(
            "mlp inputs",
            inputs.len(),
            Some(bytemuck::cast_slice(inputs)),
        )?;
        let plan = ForwardPlan::new(ctx, &self.spec, &self.params, &input, rows, "forward")?;
        ctx.run("MLP forward", &plan.dispatches)?;
        ctx.read_back("MLP logits", plan.logits(), 0, rows * self.spec.classes())
    }
}

/// Forward dispatches of an MLP over a fixed input buffer, with one output buffer per layer.
#[derive(Debug)]
pub(crate) struct ForwardPlan {
    pub outputs: Vec<wgpu::Buffer>,
    pub dispatches: Vec<Dispatch>,
}

impl ForwardPlan {
    pub fn new(
        ctx: &GpuContext,
        spec: &MlpSpec,
        params: &wgpu::Buffer,
        input: &wgpu::Buffer,
        rows: usize,
        label: &str,
    ) -> Result<Self> {
        let mut outputs: Vec<wgpu::Buffer> = Vec::new();
        let mut dispatches = Vec::new();
        for (l, layer) in spec.layers().iter().enumerate() {
            let out = ctx.storage_buffer(
                &format!("{label} layer {l} output"),
                rows * layer.outputs,
                None,
            )?;
            let relu = spec.activation_after(l) == Activation::Relu;
            let mm = MatmulSpec::forward(
                rows,
                layer.inputs,
                layer.outputs,
                layer.weight_offset,
                layer.bias_offset,
                relu,
            );
            let variant = ctx.choose_matmul(&mm);
            let x = outputs.last().unwrap_or(input);
            dispatches.push(kernels::matmul_dispatch(
                ctx,
                &format!("{label} layer {l} ({})", variant.name()),
                variant,
                &mm,
                x,
                params,
                params,
                &out,
            )?);
            outputs.push(out);
        }
        Ok(Self {
            outputs,
            dispatches,
        })
    }

    pub fn logits(&self) -> &wgpu::Buffer {
        // A validated spec has at least one layer.
        &self.outputs[self.outputs.len() - 1]
    }
}

/// Temperature and mixing weight of the KD loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KdConfig {
    /// Temperature T > 0.
    pub temperature: f32,
    /// Weight α ∈ [0, 1] of the teacher (KL) term; 0 is plain cross-entropy.
    pub alpha: f32,
}

impl KdConfig {
    /// Plain cross-entropy training (α = 0).
    pub fn cross_entropy() -> Self {
        Self {
            temperature: 1.0,
            alpha: 0.0,
        }
    }

    /// Checks T > 0 finite and α ∈ [0, 1].
    pub fn validate(&self) -> Result<()> {
        check_kd(self.temperature, self.alpha)
    }
}

/// Inverted dropout on every hidden layer's output during training (none at evaluation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// Drop probability p ∈ [0, 1).
    pub p: f32,
    /// Seed of the counter-based mask hash.
    pub seed: u32,
}

impl Dropout {
    /// No dropout.
    pub fn none() -> Self {
        Self { p: 0.0, seed: 0 }
    }

    /// Checks p ∈ [0, 1).
    pub fn validate(&self) -> Result<()> {
        if (0.0..1.0).contains(&self.p) {
            Ok(())
        } else {
            Err(Error::InvalidConfig(format!(
                "dropout p = {} must lie in [0, 1)",
                self.p
            )))
        }
    }

    fn scale(&self) -> f32 {
        1.0 / (1.0 - self.p)
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DropoutParams {
    count: u32,
    drop_threshold: u32,
    scale: f32,
    seed: u32,
    step: u32,
    layer: u32,
    pad: [u32; 2],
}

/// Where a step's teacher logits come from.
#[derive(Debug, Clone, Copy)]
pub enum TeacherSource<'a> {
    /// Precomputed logits `[rows, classes]`.
    Logits(&'a [f32]),
    /// A teacher MLP run forward (no gradient) inside the step.
    Mlp(&'a Mlp),
    /// No teacher: only valid with α = 0.
    None,
}

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

/// A data set bound to a trainer for GPU-side batch gathering.
#[derive(Debug)]
struct GatherBinding {
    uniform: wgpu::Buffer,
    dispatch: Dispatch,
    count: usize,
    jitter: u32,
    seed: u32,
}

/// Loss values of a step (or means over steps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossReport {
    /// `(1 − α)·CE + α·T²·KL`.
    pub total: f32,
    /// Batch-mean cross-entropy with the labels.
    pub ce: f32,
    /// Batch-mean KL(teacher ‖ student) at temperature T.
    pub kl: f32,
}

/// Trains a student MLP with the KD loss at a fixed batch size. Buffers, bind groups and
/// dispatches are built once here; each [`Trainer::step`] stages the batch and submits one
/// command buffer.
#[derive(Debug)]
pub struct Trainer {
    student: Mlp,
    rows: usize,
    kd: KdConfig,
    dropout: Dropout,
    dropout_uniforms: Vec<(wgpu::Buffer, DropoutParams)>,
    forward_steps: Vec<Dispatch>,
    gather: Option<GatherBinding>,
    pub(crate) inputs: wgpu::Buffer,
    pub(crate) labels: wgpu::Buffer,
    pub(crate) teacher_logits: wgpu::Buffer,
    forward: ForwardPlan,
    grads: wgpu::Buffer,
    _layer_grads: Vec<wgpu::Buffer>,
    _row_terms: wgpu::Buffer,
    loss: wgpu::Buffer,
    kd_dispatches: [Dispatch; 2],
    kd_uniforms: [wgpu::Buffer; 2],
    backward: Vec<Dispatch>,
    optimizer: OptimizerState,
    teacher_plan: Option<(wgpu::Buffer, ForwardPlan)>,
    _dummy: wgpu::Buffer,
}

impl Trainer {
    /// A trainer for `student` at batch size `rows`.
    pub fn new(
        ctx: &GpuContext,
        student: Mlp,
        rows: usize,
        optimizer: Optimizer,
        kd: KdConfig,
    ) -> Result<Self> {
        Self::with_dropout(ctx, student, rows, optimizer, kd, Dropout::none())
    }

    /// A trainer that applies inverted dropout to every hidden layer's output.
    pub fn with_dropout(
        ctx: &GpuContext,
        student: Mlp,
        rows: usize,
        optimizer: Optimizer,
        kd: KdConfig,
        dropout: Dropout,
    ) -> Result<Self> {
        dropout.validate()?;
        kd.validate()?;
        optimizer.validate()?;
        if rows == 0 {
            return Err(Error::EmptyBatch);
        }
        let spec = student.spec.clone();
        let classes = spec.classes();
        let inputs = ctx.storage_buffer("batch inputs", rows * spec.inputs(), None)?;
        let labels = ctx.storage_buffer("batch labels", rows, None)?;
        let teacher_logits = ctx.storage_buffer("batch teacher logits", rows * classes, None)?;
        let forward = ForwardPlan::new(ctx, &spec, &student.params, &inputs, rows, "student")?;
        let count = spec.parameter_count();
        let grads = ctx.storage_buffer("parameter gradients", count, None)?;
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
        let loss = ctx.storage_buffer(
            "loss",
            LOSS_SLOTS,
            Some(bytemuck::cast_slice(&[0.0f32; LOSS_SLOTS])),
        )?;
        let last = layers.len() - 1;
        let (kd_dispatches, kd_uniforms) = kernels::kd_dispatches(
            ctx,
            rows,
            classes,
            kd.temperature,
            kd.alpha,
            &KdBuffers {
                student: forward.logits(),
                teacher: &teacher_logits,
                labels: &labels,
                grad: &layer_grads[last],
                row_terms: &row_terms,
                loss: &loss,
            },
        )?;
        let dummy = ctx.storage_buffer("unused aux", 1, None)?;
        let mut forward_steps = Vec::new();
        let mut dropout_uniforms = Vec::new();
        for (l, d) in forward.dispatches.iter().enumerate() {
            forward_steps.push(d.clone());
            if dropout.p > 0.0 && l + 1 < layers.len() {
                let count = rows * layers[l].outputs;
                let params = DropoutParams {
                    count: count as u32,
                    drop_threshold: (dropout.p as f64 * (1u32 << 24) as f64).round() as u32,
                    scale: dropout.scale(),
                    seed: dropout.seed,
                    step: 0,
                    layer: l as u32,
                    pad: [0; 2],
                };
                let uniform = ctx.uniform_buffer("dropout params", &params)?;
                let pipeline = ctx.pipelines.dropout.clone();
                let bind_group =
                    ctx.bind_group("dropout", &pipeline, &[&uniform, &forward.outputs[l]])?;
                forward_steps.push(Dispatch {
                    label: format!("dropout layer {l}"),
                    pipeline,
                    bind_group,
                    groups: kernels::element_grid(ctx, "dropout", count)?,
                });
                dropout_uniforms.push((uniform, params));
            }
        }
        let mut backward = Vec::new();
        for l in (0..layers.len()).rev() {
            let layer = layers[l];
            let x = if l == 0 {
                &inputs
            } else {
                &forward.outputs[l - 1]
            };
            let dw =
                MatmulSpec::weight_grad(rows, layer.inputs, layer.outputs, layer.weight_offset);
            let variant = ctx.choose_matmul(&dw);
            backward.push(kernels::matmul_dispatch(
                ctx,
                &format!("layer {l} dW ({})", variant.name()),
                variant,
                &dw,
                &layer_grads[l],
                x,
                &dummy,
                &grads,
            )?);
            backward.push(kernels::bias_grad_dispatch(
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
                let variant = ctx.choose_matmul(&dx);
                backward.push(kernels::matmul_dispatch(
                    ctx,
                    &format!("layer {l} dX ({})", variant.name()),
                    variant,
                    &dx,
                    &layer_grads[l],
                    &student.params,
                    &forward.outputs[l - 1],
                    &layer_grads[l - 1],
                )?);
            }
        }
        let optimizer = OptimizerState::new(ctx, optimizer, count, &grads, &student.params)?;
        Ok(Self {
            student,
            rows,
            kd,
            dropout,
            dropout_uniforms,
            forward_steps,
            gather: None,
            inputs,
            labels,
            teacher_logits,
            forward,
            grads,
            _layer_grads: layer_grads,
            _row_terms: row_terms,
            loss,
            kd_dispatches,
            kd_uniforms,
            backward,
            optimizer,
            teacher_plan: None,
            _dummy: dummy,
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
        self.rows
    }

    /// Optimizer steps taken.
    pub fn steps_taken(&self) -> u32 {
        self.optimizer.step
    }

    /// The KD settings in force.
    pub fn kd_config(&self) -> KdConfig {
        self.kd
    }

    /// Changes T and α for later steps.
    pub fn set_kd_config(&mut self, ctx: &GpuContext, kd: KdConfig) -> Result<()> {
        kd.validate()?;
        let classes = self.student.spec.classes();
        ctx.write(
            &self.kd_uniforms[0],
            0,
            &[kernels::KdParams::new(
                self.rows,
                classes,
                kd.temperature,
                kd.alpha,
            )],
        );
        ctx.write(
            &self.kd_uniforms[1],
            0,
            &[kernels::ReduceParams::new(
                self.rows,
                kd.temperature,
                kd.alpha,
            )],
        );
        self.kd = kd;
        Ok(())
    }

    /// Number of kernel launches in one step (without a teacher forward).
    pub fn dispatches_per_step(&self) -> usize {
        self.forward_steps.len() + self.kd_dispatches.len() + self.backward.len() + 1
    }

    /// The dropout in force.
    pub fn dropout(&self) -> Dropout {
        self.dropout
    }

    /// Binds a device data set: later [`Trainer::step_on_dataset`] calls gather their batch on
    /// the GPU from it (teacher logits too, when the data set caches them). `jitter` shifts each
    /// training image by up to ±`jitter` pixels in x and y (0 disables).
    pub fn attach_dataset(
        &mut self,
        ctx: &GpuContext,
        data: &DeviceDataset,
        jitter: u32,
        seed: u32,
    ) -> Result<()> {
        let spec = &self.student.spec;
        if spec.inputs() != data.features() || spec.classes() != data.classes() {
            return Err(Error::InvalidConfig(format!(
                "student {:?} does not fit data with {} features and {} classes",
                spec.sizes,
                data.features(),
                data.classes()
            )));
        }
        if data.len() < self.rows {
            return Err(Error::InvalidConfig(format!(
                "batch size {} is larger than the data set ({} samples)",
                self.rows,
                data.len()
            )));
        }
        let params = data.gather_params(self.rows, 0, jitter, seed, 0, data.teacher.is_some());
        let uniform = ctx.uniform_buffer("gather params", &params)?;
        let dispatch = data.gather_dispatch(
            ctx,
            self.rows,
            false,
            &uniform,
            crate::data::BatchBuffers {
                inputs: &self.inputs,
                labels: &self.labels,
                teacher: &self.teacher_logits,
            },
        )?;
        self.gather = Some(GatherBinding {
            uniform,
            dispatch,
            count: data.len(),
            jitter,
            seed,
        });
        Ok(())
    }

    /// One step on batch `batch_index` of the attached data set's current (shuffled) order:
    /// gather, (teacher forward,) forward, loss, backward and update in one submit, no host
    /// data transfer but a 48-byte uniform. Teacher logits come from `teacher` when given,
    /// else from the data set's cache.
    pub fn step_on_dataset(
        &mut self,
        ctx: &GpuContext,
        data: &DeviceDataset,
        batch_index: usize,
        teacher: Option<&Mlp>,
    ) -> Result<()> {
        let binding = self
            .gather
            .as_ref()
            .ok_or_else(|| Error::InvalidConfig("no data set attached to the trainer".into()))?;
        if teacher.is_none() && data.teacher.is_none() && self.kd.alpha > 0.0 {
            return Err(Error::InvalidConfig(format!(
                "alpha = {} needs a teacher model or cached teacher logits on the data set",
                self.kd.alpha
            )));
        }
        let start = batch_index * self.rows;
        if start + self.rows > binding.count || data.len() != binding.count {
            return Err(Error::InvalidConfig(format!(
                "batch {batch_index} of {} rows runs past the {} samples attached",
                self.rows, binding.count
            )));
        }
        let params = data.gather_params(
            self.rows,
            start,
            binding.jitter,
            binding.seed,
            self.optimizer.step + 1,
            data.teacher.is_some(),
        );
        ctx.write(&binding.uniform, 0, &[params]);
        let dispatch = binding.dispatch.clone();
        if let Some(teacher) = teacher {
            self.check_teacher(teacher)?;
            self.prepare_teacher(ctx, teacher)?;
        }
        self.submit_step(ctx, &[dispatch], teacher.is_some())
    }

    /// One training step on a host batch: stages the batch, records forward → KD loss →
    /// backward → optimizer into one encoder and submits it once. Does not wait for the GPU.
    pub fn step(&mut self, ctx: &GpuContext, batch: &StepBatch<'_>) -> Result<()> {
        let spec = &self.student.spec;
        let (rows, classes) = (self.rows, spec.classes());
        check_len("batch inputs", rows * spec.inputs(), batch.inputs.len())?;
        check_len("batch labels", rows, batch.labels.len())?;
        check_finite("batch inputs", batch.inputs)?;
        check_labels(batch.labels, classes)?;
        match batch.teacher {
            TeacherSource::Logits(t) => {
                check_len("teacher logits", rows * classes, t.len())?;
                check_finite("teacher logits", t)?;
                ctx.write(&self.teacher_logits, 0, t);
            }
            TeacherSource::Mlp(teacher) => {
                self.check_teacher(teacher)?;
                self.prepare_teacher(ctx, teacher)?;
            }
            TeacherSource::None => {
                if self.kd.alpha != 0.0 {
                    return Err(Error::InvalidConfig(format!(
                        "alpha = {} needs teacher logits or a teacher model",
                        self.kd.alpha
                    )));
                }
            }
        }
        ctx.write(&self.inputs, 0, batch.inputs);
        ctx.write(&self.labels, 0, batch.labels);
        let teacher_forward = matches!(batch.teacher, TeacherSource::Mlp(_));
        self.submit_step(ctx, &[], teacher_forward)
    }

    /// Records and submits one step; `prelude` runs first (e.g. a GPU-side batch gather).
    pub(crate) fn submit_step(
        &mut self,
        ctx: &GpuContext,
        prelude: &[Dispatch],
        teacher_forward: bool,
    ) -> Result<()> {
        self.optimizer.stage_step(ctx);
        for (uniform, params) in &self.dropout_uniforms {
            ctx.write(
                uniform,
                0,
                &[DropoutParams {
                    step: self.optimizer.step,
                    ..*params
                }],
            );
        }
        let teacher = if teacher_forward {
            self.teacher_plan.as_ref().map(|(_, plan)| plan)
        } else {
            None
        };
        let classes = self.student.spec.classes();
        ctx.scoped("training step", || {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("training step"),
                });
            if !prelude.is_empty() {
                record(&mut encoder, "batch gather", prelude);
            }
            if let Some(plan) = teacher {
                record(&mut encoder, "teacher forward", &plan.dispatches);
                encoder.copy_buffer_to_buffer(
                    plan.logits(),
                    0,
                    &self.teacher_logits,
                    0,
                    (self.rows * classes * 4) as u64,
                );
            }
            let all = self
                .forward_steps
                .iter()
                .chain(&self.kd_dispatches)
                .chain(&self.backward)
                .chain(std::iter::once(&self.optimizer.dispatch));
            record(&mut encoder, "training step", all);
            ctx.queue.submit([encoder.finish()]);
        })
    }

    fn check_teacher(&self, teacher: &Mlp) -> Result<()> {
        let (ts, spec) = (teacher.spec(), &self.student.spec);
        if ts.inputs() != spec.inputs() || ts.classes() != spec.classes() {
            return Err(Error::InvalidConfig(format!(
                "teacher {:?} does not match student {:?} in inputs or classes",
                ts.sizes, spec.sizes
            )));
        }
        Ok(())
    }

    fn prepare_teacher(&mut self, ctx: &GpuContext, teacher: &Mlp) -> Result<()> {
        let cached = matches!(&self.teacher_plan, Some((params, _)) if *params == teacher.params);
        if !cached {
            let plan = ForwardPlan::new(
                ctx,
                &teacher.spec,
                &teacher.params,
                &self.inputs,
                self.rows,
                "teacher",
            )?;
            self.teacher_plan = Some((teacher.params.clone(), plan));
        }
        Ok(())
    }

    /// Reads the last step's loss (waits for the GPU).
    pub fn read_loss(&self, ctx: &GpuContext) -> Result<LossReport> {
        let v: Vec<f32> = ctx.read_back("loss", &self.loss, 0, 3)?;
        Ok(LossReport {
            total: v[0],
            ce: v[1],
            kl: v[2],
        })
    }

    /// Mean loss over the steps since the last call (accumulated on the GPU, read once), and
    /// the number of steps it covers; resets the accumulator.
    pub fn take_mean_loss(&self, ctx: &GpuContext) -> Result<(LossReport, u32)> {
        let v: Vec<f32> = ctx.read_back("loss sums", &self.loss, 4, 4)?;
        ctx.write(&self.loss, 4, &[0.0f32; 4]);
        let steps = v[3].max(1.0);
        Ok((
            LossReport {
                total: v[0] / steps,
                ce: v[1] / steps,
                kl: v[2] / steps,
            },
            v[3] as u32,
        ))
    }

    /// Reads the parameter gradients of the last step (`[layers…]` flat layout).
    pub fn read_gradients(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        ctx.read_back(
            "gradients",
            &self.grads,
            0,
            self.student.spec.parameter_count(),
        )
    }

    /// Reads the student logits of the last step.
    pub fn read_logits(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        ctx.read_back(
            "logits",
            self.forward.logits(),
            0,
            self.rows * self.student.spec.classes(),
        )
    }
}
