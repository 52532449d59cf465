//! Launchers for each kernel: builders of replayable [`Dispatch`]es used by the trainer, and
//! one-shot functions (upload, run, read back) used by tests, `distill validate` and benches.
//! One-shot outputs are pre-filled with NaN so an element a kernel fails to write cannot pass.

use crate::context::{Dispatch, GpuContext};
use crate::error::{check_kd, check_labels, check_len, Error, Result};
use crate::matmul::{MatmulSpec, MatmulVariant};
use crate::mlp::KdConfig;

/// Workgroup size of the row kernels (softmax, KD loss); a power of two ≤ 256.
pub const ROW_WORKGROUP: u32 = 64;
/// Workgroup size of element-wise kernels.
pub const ELEMENT_WORKGROUP: usize = 64;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct SoftmaxParams {
    pub rows: u32,
    pub cols: u32,
    pub inv_temperature: f32,
    pub pad: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct KdParams {
    pub rows: u32,
    pub cols: u32,
    pub temperature: f32,
    pub inv_temperature: f32,
    pub alpha: f32,
    pub inv_batch: f32,
    pub pad: [u32; 2],
}

impl KdParams {
    pub fn new(rows: usize, cols: usize, temperature: f32, alpha: f32) -> Self {
        Self {
            rows: rows as u32,
            cols: cols as u32,
            temperature,
            inv_temperature: 1.0 / temperature,
            alpha,
            inv_batch: 1.0 / rows as f32,
            pad: [0; 2],
        }
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct ReduceParams {
    pub rows: u32,
    pub alpha: f32,
    pub temperature_sq: f32,
    pub inv_batch: f32,
}

impl ReduceParams {
    pub fn new(rows: usize, temperature: f32, alpha: f32) -> Self {
        Self {
            rows: rows as u32,
            alpha,
            temperature_sq: temperature * temperature,
            inv_batch: 1.0 / rows as f32,
        }
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct BiasGradParams {
    pub rows: u32,
    pub cols: u32,
    pub grad_offset: u32,
    pub pad: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct SgdParams {
    pub count: u32,
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct AdamWParams {
    pub count: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub bias_correction1: f32,
    pub bias_correction2: f32,
}

/// Elements of the loss buffer: `[total, ce, kl, _, Σtotal, Σce, Σkl, steps]`.
pub const LOSS_SLOTS: usize = 8;

/// Builds a matmul dispatch over existing buffers.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_dispatch(
    ctx: &GpuContext,
    label: &str,
    variant: MatmulVariant,
    spec: &MatmulSpec,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    aux: &wgpu::Buffer,
    c: &wgpu::Buffer,
) -> Result<Dispatch> {
    let pipeline = ctx.matmul_pipeline(variant)?;
    let (x, y) = variant.workgroups(spec.m, spec.n);
    let groups = ctx.check_grid(label, x, y)?;
    let uniform = ctx.uniform_buffer(label, &spec.params())?;
    let bind_group = ctx.bind_group(label, &pipeline, &[&uniform, a, b, aux, c])?;
    Ok(Dispatch {
        label: label.to_string(),
        pipeline,
        bind_group,
        groups,
    })
}

/// Builds a softmax dispatch.
pub(crate) fn softmax_dispatch(
    ctx: &GpuContext,
    params: SoftmaxParams,
    logits: &wgpu::Buffer,
    probs: &wgpu::Buffer,
    log_probs: &wgpu::Buffer,
) -> Result<Dispatch> {
    let pipeline = ctx.pipelines.softmax.clone();
    let groups = ctx.grid("softmax rows", params.rows as usize)?;
    let uniform = ctx.uniform_buffer("softmax params", &params)?;
    let bind_group = ctx.bind_group("softmax", &pipeline, &[&uniform, logits, probs, log_probs])?;
    Ok(Dispatch {
        label: "softmax".into(),
        pipeline,
        bind_group,
        groups,
    })
}

/// Buffers the KD loss reads and writes.
pub(crate) struct KdBuffers<'a> {
    pub student: &'a wgpu::Buffer,
    pub teacher: &'a wgpu::Buffer,
    pub labels: &'a wgpu::Buffer,
    pub grad: &'a wgpu::Buffer,
    pub row_terms: &'a wgpu::Buffer,
    pub loss: &'a wgpu::Buffer,
}

/// Builds the KD-loss rows dispatch and the batch reduction dispatch; also returns their
/// uniform buffers so a trainer can change T and α without rebuilding.
pub(crate) fn kd_dispatches(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    temperature: f32,
    alpha: f32,
    buffers: &KdBuffers<'_>,
) -> Result<([Dispatch; 2], [wgpu::Buffer; 2])> {
    let kd_pipeline = ctx.pipelines.kd_loss.clone();
    let kd_uniform =
        ctx.uniform_buffer("kd params", &KdParams::new(rows, cols, temperature, alpha))?;
    let kd_bind = ctx.bind_group(
        "kd loss",
        &kd_pipeline,
        &[
            &kd_uniform,
            buffers.student,
            buffers.teacher,
            buffers.labels,
            buffers.grad,
            buffers.row_terms,
        ],
    )?;
    let reduce_pipeline = ctx.pipelines.reduce_loss.clone();
    let reduce_uniform = ctx.uniform_buffer(
        "reduce params",
        &ReduceParams::new(rows, temperature, alpha),
    )?;
    let reduce_bind = ctx.bind_group(
        "reduce loss",
        &reduce_pipeline,
        &[&reduce_uniform, buffers.row_terms, buffers.loss],
    )?;
    Ok((
        [
            Dispatch {
                label: "kd loss".into(),
                pipeline: kd_pipeline,
                bind_group: kd_bind,
                groups: ctx.grid("kd loss rows", rows)?,
            },
            Dispatch {
                label: "reduce loss".into(),
                pipeline: reduce_pipeline,
                bind_group: reduce_bind,
                groups: (1, 1),
            },
        ],
        [kd_uniform, reduce_uniform],
    ))
}

/// Builds a bias-gradient dispatch writing `cols` sums at `grad_offset` of `grads`.
pub(crate) fn bias_grad_dispatch(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    grad_offset: usize,
    dy: &wgpu::Buffer,
    grads: &wgpu::Buffer,
) -> Result<Dispatch> {
    let pipeline = ctx.pipelines.bias_grad.clone();
    let params = BiasGradParams {
        rows: rows as u32,
        cols: cols as u32,
        grad_offset: grad_offset as u32,
        pad: 0,
    };
    let uniform = ctx.uniform_buffer("bias grad params", &params)?;
    let bind_group = ctx.bind_group("bias grad", &pipeline, &[&uniform, dy, grads])?;
    let x = cols.div_ceil(ELEMENT_WORKGROUP);
    Ok(Dispatch {
        label: "bias grad".into(),
        pipeline,
        bind_group,
        groups: ctx.check_grid("bias grad", x, 1)?,
    })
}

/// Grid for an element-wise kernel over `count` elements.
pub(crate) fn element_grid(ctx: &GpuContext, what: &str, count: usize) -> Result<(u32, u32)> {
    ctx.grid(what, count.div_ceil(ELEMENT_WORKGROUP))
}

fn nan_buffer(ctx: &GpuContext, label: &str, len: usize) -> Result<wgpu::Buffer> {
    let nan = vec![f32::NAN; len.max(1)];
    ctx.storage_buffer(label, len, Some(bytemuck::cast_slice(&nan)))
}

fn upload(ctx: &GpuContext, label: &str, data: &[f32]) -> Result<wgpu::Buffer> {
    ctx.storage_buffer(label, data.len(), Some(bytemuck::cast_slice(data)))
}

fn upload_u32(ctx: &GpuContext, label: &str, data: &[u32]) -> Result<wgpu::Buffer> {
    ctx.storage_buffer(label, data.len(), Some(bytemuck::cast_slice(data)))
}

/// A set of dispatches over uploaded inputs, replayable for timing.
#[derive(Debug)]
pub struct PreparedKernel {
    dispatches: Vec<Dispatch>,
    /// `(name, buffer, offset, len)` of each output, in the order [`PreparedKernel::output`]
    /// indexes them.
    outputs: Vec<(&'static str, wgpu::Buffer, usize, usize)>,
    /// The buffers the dispatches bind, kept alive.
    _inputs: Vec<wgpu::Buffer>,
}

impl PreparedKernel {
    /// Records `repeats` copies of the kernel in one encoder, submits once and waits.
    pub fn run(&self, ctx: &GpuContext, repeats: usize) -> Result<()> {
        ctx.scoped("running prepared kernel", || {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("prepared kernel"),
                });
            for _ in 0..repeats {
                crate::context::record(&mut encoder, "prepared kernel", &self.dispatches);
            }
            ctx.queue.submit([encoder.finish()]);
        })?;
        ctx.wait()
    }

    /// Reads output `index` back (0 is the main output).
    pub fn output(&self, ctx: &GpuContext, index: usize) -> Result<Vec<f32>> {
        let (name, buffer, offset, len) = self
            .outputs
            .get(index)
            .ok_or_else(|| Error::InvalidConfig(format!("kernel has no output {index}")))?;
        ctx.read_back(name, buffer, *offset, *len)
    }

    /// Which pipelines run, e.g. for a report.
    pub fn labels(&self) -> Vec<String> {
        self.dispatches.iter().map(|d| d.label.clone()).collect()
    }
}

/// Uploads the operands of a matmul and prepares its dispatch; C is pre-filled with NaN.
pub fn prepare_matmul(
    ctx: &GpuContext,
    variant: MatmulVariant,
    spec: &MatmulSpec,
    a: &[f32],
    b: &[f32],
    aux: &[f32],
) -> Result<PreparedKernel> {
    if spec.m == 0 || spec.n == 0 || spec.k == 0 {
        return Err(Error::InvalidConfig(format!(
            "matmul needs non-zero M, N, K, got {}x{}x{}",
            spec.m, spec.n, spec.k
        )));
    }
    if !variant.supports(spec) {
        return Err(Error::InvalidConfig(format!(
            "matmul variant {} needs vec4-aligned contiguous B rows and N % 4 == 0",
            variant.name()
        )));
    }
    // Operands may be larger than the strided view reads (e.g. a whole parameter buffer).
    let at_least = |what: &str, needed: usize, got: usize| {
        if got < needed {
            Err(Error::ShapeMismatch {
                what: format!("{what} (at least)"),
                expected: needed,
                got,
            })
        } else {
            Ok(())
        }
    };
    at_least("matmul A", spec.a_len(), a.len())?;
    at_least("matmul B", spec.b_len(), b.len())?;
    if spec.epilogue != crate::matmul::Epilogue::Store {
        at_least("matmul aux", spec.aux_len(), aux.len())?;
    }
    let a_buf = upload(ctx, "matmul A", a)?;
    let b_buf = upload(ctx, "matmul B", b)?;
    let aux_buf = if aux.is_empty() {
        upload(ctx, "matmul aux", &[0.0])?
    } else {
        upload(ctx, "matmul aux", aux)?
    };
    let c_buf = nan_buffer(ctx, "matmul C", spec.c_len())?;
    let dispatch = matmul_dispatch(
        ctx,
        &format!("matmul {}", variant.name()),
        variant,
        spec,
        &a_buf,
        &b_buf,
        &aux_buf,
        &c_buf,
    )?;
    Ok(PreparedKernel {
        dispatches: vec![dispatch],
        outputs: vec![("matmul C", c_buf, spec.c_offset, spec.m * spec.n)],
        _inputs: vec![a_buf, b_buf, aux_buf],
    })
}

/// Runs one matmul and returns the `m × n` result.
pub fn matmul(
    ctx: &GpuContext,
    variant: MatmulVariant,
    spec: &MatmulSpec,
    a: &[f32],
    b: &[f32],
    aux: &[f32],
) -> Result<Vec<f32>> {
    let prepared = prepare_matmul(ctx, variant, spec, a, b, aux)?;
    prepared.run(ctx, 1)?;
    prepared.output(ctx, 0)
}

/// Uploads logits and prepares the softmax kernel; outputs: probabilities, log-probabilities.
pub fn prepare_softmax(
    ctx: &GpuContext,
    logits: &[f32],
    rows: usize,
    cols: usize,
    temperature: f32,
) -> Result<PreparedKernel> {
    check_kd(temperature, 0.0)?;
    if rows == 0 || cols == 0 {
        return Err(Error::EmptyBatch);
    }
    check_len("softmax logits", rows * cols, logits.len())?;
    let x = upload(ctx, "softmax logits", logits)?;
    let probs = nan_buffer(ctx, "softmax probs", rows * cols)?;
    let log_probs = nan_buffer(ctx, "softmax log-probs", rows * cols)?;
    let params = SoftmaxParams {
        rows: rows as u32,
        cols: cols as u32,
        inv_temperature: 1.0 / temperature,
        pad: 0,
    };
    let dispatch = softmax_dispatch(ctx, params, &x, &probs, &log_probs)?;
    Ok(PreparedKernel {
        dispatches: vec![dispatch],
        outputs: vec![
            ("softmax probs", probs, 0, rows * cols),
            ("softmax log-probs", log_probs, 0, rows * cols),
        ],
        _inputs: vec![x],
    })
}

/// Row-wise `(softmax(x / T), log_softmax(x / T))` on the GPU.
pub fn softmax(
    ctx: &GpuContext,
    logits: &[f32],
    rows: usize,
    cols: usize,
    temperature: f32,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let prepared = prepare_softmax(ctx, logits, rows, cols, temperature)?;
    prepared.run(ctx, 1)?;
    Ok((prepared.output(ctx, 0)?, prepared.output(ctx, 1)?))
}

/// What the GPU KD loss produces (mirrors [`crate::cpu::KdOutput`]).
#[derive(Debug, Clone)]
pub struct GpuKdOutput {
    /// `(1 − α)·ce + α·T²·kl`.
    pub loss: f32,
    /// Batch-mean cross-entropy.
    pub ce: f32,
    /// Batch-mean KL(p ‖ q).
    pub kl: f32,
    /// Per-row cross-entropy.
    pub row_ce: Vec<f32>,
    /// Per-row KL.
    pub row_kl: Vec<f32>,
    /// `dL/dz`.
    pub grad: Vec<f32>,
}

/// One batch of KD-loss inputs: student and teacher logits `[rows, cols]`, hard labels `[rows]`.
#[derive(Debug, Clone, Copy)]
pub struct KdBatch<'a> {
    /// Student logits z.
    pub student: &'a [f32],
    /// Teacher logits t.
    pub teacher: &'a [f32],
    /// Hard labels y.
    pub labels: &'a [u32],
    /// Rows B.
    pub rows: usize,
    /// Classes C.
    pub cols: usize,
}

impl KdBatch<'_> {
    /// Checks shapes and labels.
    pub fn validate(&self) -> Result<()> {
        if self.rows == 0 {
            return Err(Error::EmptyBatch);
        }
        if self.cols == 0 {
            return Err(Error::InvalidConfig(
                "KD loss needs at least one class".into(),
            ));
        }
        check_len("student logits", self.rows * self.cols, self.student.len())?;
        check_len("teacher logits", self.rows * self.cols, self.teacher.len())?;
        check_len("labels", self.rows, self.labels.len())?;
        check_labels(self.labels, self.cols)
    }
}

/// Uploads the KD-loss inputs and prepares the loss and reduction kernels; outputs: gradient,
/// per-row terms `[ce, kl]` interleaved, loss slots ([`LOSS_SLOTS`]).
pub fn prepare_kd_loss(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    kd: KdConfig,
) -> Result<PreparedKernel> {
    kd.validate()?;
    batch.validate()?;
    let KdBatch {
        student,
        teacher,
        labels,
        rows,
        cols,
    } = *batch;
    let KdConfig { temperature, alpha } = kd;
    let z = upload(ctx, "student logits", student)?;
    let t = upload(ctx, "teacher logits", teacher)?;
    let y = upload_u32(ctx, "labels", labels)?;
    let grad = nan_buffer(ctx, "kd grad", rows * cols)?;
    let row_terms = nan_buffer(ctx, "kd row terms", 2 * rows)?;
    let loss = upload(ctx, "kd loss", &[0.0f32; LOSS_SLOTS])?;
    let (dispatches, uniforms) = kd_dispatches(
        ctx,
        rows,
        cols,
        temperature,
        alpha,
        &KdBuffers {
            student: &z,
            teacher: &t,
            labels: &y,
            grad: &grad,
            row_terms: &row_terms,
            loss: &loss,
        },
    )?;
    let [kd_uniform, reduce_uniform] = uniforms;
    Ok(PreparedKernel {
        dispatches: dispatches.to_vec(),
        outputs: vec![
            ("kd grad", grad, 0, rows * cols),
            ("kd row terms", row_terms, 0, 2 * rows),
            ("kd loss", loss, 0, LOSS_SLOTS),
        ],
        _inputs: vec![z, t, y, kd_uniform, reduce_uniform],
    })
}

/// The fused KD loss and gradient on the GPU, followed by the deterministic reduction.
pub fn kd_loss(ctx: &GpuContext, batch: &KdBatch<'_>, kd: KdConfig) -> Result<GpuKdOutput> {
    let prepared = prepare_kd_loss(ctx, batch, kd)?;
    prepared.run(ctx, 1)?;
    let terms = prepared.output(ctx, 1)?;
    let totals = prepared.output(ctx, 2)?;
    Ok(GpuKdOutput {
        loss: totals[0],
        ce: totals[1],
        kl: totals[2],
        row_ce: terms.iter().step_by(2).copied().collect(),
        row_kl: terms.iter().skip(1).step_by(2).copied().collect(),
        grad: prepared.output(ctx, 0)?,
    })
}

/// Column sums `db[j] = Σ_rows dY[row, j]` on the GPU.
pub fn bias_grad(ctx: &GpuContext, dy: &[f32], rows: usize, cols: usize) -> Result<Vec<f32>> {
    check_len("bias grad dY", rows * cols, dy.len())?;
    let dy_buf = upload(ctx, "bias grad dY", dy)?;
    let out = nan_buffer(ctx, "bias grad", cols)?;
    let dispatch = bias_grad_dispatch(ctx, rows, cols, 0, &dy_buf, &out)?;
    ctx.run("bias grad", &[dispatch])?;
    ctx.read_back("bias grad", &out, 0, cols)
}

/// Optimizer hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// SGD with momentum and L2 weight decay (PyTorch `torch.optim.SGD`).
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum μ (0 disables).
        momentum: f32,
        /// Weight decay added to the gradient.
        weight_decay: f32,
    },
    /// AdamW with bias correction (PyTorch `torch.optim.AdamW`).
    AdamW {
        /// Learning rate.
        lr: f32,
        /// β1.
        beta1: f32,
        /// β2.
        beta2: f32,
        /// ε.
        eps: f32,
        /// Decoupled weight decay.
        weight_decay: f32,
    },
}

impl Optimizer {
    /// Adam-style defaults at learning rate `lr` (β = 0.9, 0.999, ε = 1e-8, no decay).
    pub fn adam(lr: f32) -> Self {
        Optimizer::AdamW {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// Checks that the hyper-parameters are finite and in range.
    pub fn validate(&self) -> Result<()> {
        let check = |what: &str, v: f32, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(Error::InvalidConfig(format!(
                    "optimizer {what} = {v} is out of range"
                )))
            }
        };
        let positive = |v: f32| v.is_finite() && v > 0.0;
        let non_negative = |v: f32| v.is_finite() && v >= 0.0;
        let fraction = |v: f32| (0.0..1.0).contains(&v);
        match *self {
            Optimizer::Sgd {
                lr,
                momentum,
                weight_decay,
            } => {
                check("lr", lr, positive(lr))?;
                check("momentum", momentum, fraction(momentum))?;
                check("weight_decay", weight_decay, non_negative(weight_decay))
            }
            Optimizer::AdamW {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                check("lr", lr, positive(lr))?;
                check("beta1", beta1, fraction(beta1))?;
                check("beta2", beta2, fraction(beta2))?;
                check("eps", eps, positive(eps))?;
                check("weight_decay", weight_decay, non_negative(weight_decay))
            }
        }
    }

    /// Optimizer state tensors per parameter (SGD: velocity; AdamW: two moments).
    pub(crate) fn state_tensors(&self) -> usize {
        match self {
            Optimizer::Sgd { .. } => 1,
            Optimizer::AdamW { .. } => 2,
        }
    }
}

/// Optimizer state on the GPU plus its dispatch.
#[derive(Debug)]
pub(crate) struct OptimizerState {
    pub optimizer: Optimizer,
    pub step: u32,
    pub uniform: wgpu::Buffer,
    pub state: Vec<wgpu::Buffer>,
    pub dispatch: Dispatch,
    count: usize,
}

impl OptimizerState {
    /// Zeroed state for `count` parameters in `weights`, updated from `grads`.
    pub fn new(
        ctx: &GpuContext,
        optimizer: Optimizer,
        count: usize,
        grads: &wgpu::Buffer,
        weights: &wgpu::Buffer,
    ) -> Result<Self> {
        optimizer.validate()?;
        let zeros = vec![0.0f32; count];
        let state: Vec<wgpu::Buffer> = (0..optimizer.state_tensors())
            .map(|i| {
                ctx.storage_buffer(
                    &format!("optimizer state {i}"),
                    count,
                    Some(bytemuck::cast_slice(&zeros)),
                )
            })
            .collect::<Result<_>>()?;
        let (pipeline, uniform) = match optimizer {
            Optimizer::Sgd { .. } => (
                ctx.pipelines.sgd.clone(),
                ctx.uniform_buffer("sgd params", &SgdParams::zeroed())?,
            ),
            Optimizer::AdamW { .. } => (
                ctx.pipelines.adamw.clone(),
                ctx.uniform_buffer("adamw params", &AdamWParams::zeroed())?,
            ),
        };
        let mut bound: Vec<&wgpu::Buffer> = vec![&uniform, grads, weights];
        bound.extend(state.iter());
        let bind_group = ctx.bind_group("optimizer", &pipeline, &bound)?;
        let dispatch = Dispatch {
            label: "optimizer".into(),
            pipeline,
            bind_group,
            groups: element_grid(ctx, "optimizer", count)?,
        };
        Ok(Self {
            optimizer,
            step: 0,
            uniform,
            state,
            dispatch,
            count,
        })
    }

    /// Advances the step counter and stages this step's uniform (bias corrections).
    pub fn stage_step(&mut self, ctx: &GpuContext) {
        self.step += 1;
        let count = self.count as u32;
        match self.optimizer {
            Optimizer::Sgd {
                lr,
                momentum,
                weight_decay,
            } => ctx.write(
                &self.uniform,
                0,
                &[SgdParams {
                    count,
                    lr,
                    momentum,
                    weight_decay,
                }],
            ),
            Optimizer::AdamW {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                let t = self.step as i32;
                ctx.write(
                    &self.uniform,
                    0,
                    &[AdamWParams {
                        count,
                        lr,
                        beta1,
                        beta2,
                        eps,
                        weight_decay,
                        bias_correction1: 1.0 - (beta1 as f64).powi(t) as f32,
                        bias_correction2: 1.0 - (beta2 as f64).powi(t) as f32,
                    }],
                )
            }
        }
    }
}

use bytemuck::Zeroable as _;

/// One optimizer step on the GPU over host tensors: returns the new parameters and state.
/// `state` holds one tensor for SGD (velocity) and two for AdamW (moments); `step` counts
/// from 1.
pub fn optimizer_step(
    ctx: &GpuContext,
    optimizer: Optimizer,
    step: u32,
    params: &[f32],
    grads: &[f32],
    state: &[Vec<f32>],
) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
    let n = params.len();
    check_len("optimizer grads", n, grads.len())?;
    check_len(
        "optimizer state tensors",
        optimizer.state_tensors(),
        state.len(),
    )?;
    for s in state {
        check_len("optimizer state", n, s.len())?;
    }
    if step == 0 {
        return Err(Error::InvalidConfig("optimizer steps count from 1".into()));
    }
    let weights = upload(ctx, "optimizer weights", params)?;
    let grads_buf = upload(ctx, "optimizer grads", grads)?;
    let mut opt = OptimizerState::new(ctx, optimizer, n, &grads_buf, &weights)?;
    for (buf, host) in opt.state.iter().zip(state) {
        ctx.write(buf, 0, host);
    }
    opt.step = step - 1;
    opt.stage_step(ctx);
    ctx.run("optimizer step", std::slice::from_ref(&opt.dispatch))?;
    let new_params = ctx.read_back("optimizer weights", &weights, 0, n)?;
    let new_state = opt
        .state
        .iter()
        .map(|b| ctx.read_back("optimizer state", b, 0, n))
        .collect::<Result<_>>()?;
    Ok((new_params, new_state))
}
