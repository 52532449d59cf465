//! The benchmarks: workloads that `distill bench` and the criterion benches share (so both
//! measure the same problems), honest GPU timing (submit, wait, elapsed; median of three
//! rounds), and the rows of the `distill-wgpu-bench/1` report.

use std::time::Instant;

use serde::Serialize;

use crate::data::{Dataset, DeviceDataset};
use crate::distill::{KdConfig, TeacherLogits};
use crate::error::Result;
use crate::gpu::{GpuContext, MatmulFamily, PreparedKernel};
use crate::model::{Mlp, MlpSpec};
use crate::ops::accumulate::prepare_accumulate;
use crate::ops::dkd::{prepare_dkd_loss, DkdConfig};
use crate::ops::ema::prepare_ema_update;
use crate::ops::hint::prepare_hint_loss;
use crate::ops::kd_loss::{prepare_kd_loss, KdBatch};
use crate::ops::matmul::{self, prepare_matmul, AdapterShape, MatmulSpec, MatmulVariant};
use crate::ops::optim::Optimizer;
use crate::ops::softmax::prepare_softmax;
use crate::rng::SplitMix64;
use crate::train::{Trainer, TrainerConfig};

pub mod compare;
mod objectives;
pub mod profile;
pub mod scaling;
use objectives::bench_objective_steps;

/// Row-kernel shapes `(rows, classes)`: an MNIST batch and a wide classifier.
pub const ROW_SHAPES: &[(usize, usize)] = &[(128, 10), (1024, 1000)];

/// The three products of a 784-800-800-10 layer at batch 128, named, plus (unless `quick`)
/// both 1024³ forms.
pub fn matmul_workloads(quick: bool) -> Vec<(&'static str, MatmulSpec)> {
    let mut shapes = vec![
        (
            "X·Wᵀ",
            MatmulSpec::forward(128, 784, 800, 0, 800 * 784, true),
        ),
        ("dY·W", MatmulSpec::input_grad(128, 784, 800, 0, true)),
        ("dYᵀ·X", MatmulSpec::weight_grad(128, 784, 800, 0)),
    ];
    if !quick {
        shapes.push(("dYᵀ·X", MatmulSpec::weight_grad(1024, 1024, 1024, 0)));
        shapes.push((
            "X·Wᵀ",
            MatmulSpec::forward(1024, 1024, 1024, 0, 1024 * 1024, false),
        ));
    }
    shapes
}

/// The variants timed for `spec`: `("matmul", the one ctx uses)`, then, where it differs,
/// `("matmul-fallback", the one an adapter without subgroups would use)`, so one run shows both
/// CPU families side by side; on GPUs also every other candidate (`"matmul-candidate"`).
pub fn matmul_bench_variants(
    ctx: &GpuContext,
    spec: &MatmulSpec,
) -> Vec<(&'static str, MatmulVariant)> {
    let chosen = matmul::choose(ctx, spec);
    let fallback_shape = AdapterShape {
        shuffle_lanes: None,
        ..matmul::adapter_shape(ctx)
    };
    let fallback = matmul::choose_variant(&fallback_shape, spec);
    let mut runs = vec![("matmul", chosen)];
    if fallback != chosen {
        runs.push(("matmul-fallback", fallback));
    }
    // On a GPU every candidate (the tiled kernel and the layout tiles) is cheap to time: all of
    // them, so a report shows both GPU families.
    if ctx.matmul_family() == MatmulFamily::Tiled {
        for variant in matmul::candidates(&matmul::adapter_shape(ctx), spec) {
            if runs.iter().all(|&(_, v)| v != variant) {
                runs.push(("matmul-candidate", variant));
            }
        }
    }
    runs
}

/// `variant` computing `spec` over random operands, ready to time.
pub fn prepare_matmul_workload(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    spec: &MatmulSpec,
    variant: MatmulVariant,
) -> Result<PreparedKernel> {
    let a = rng.uniform_vec(spec.a_len(), -1.0, 1.0);
    let b = rng.uniform_vec(spec.b_len(), -1.0, 1.0);
    let aux = rng.uniform_vec(spec.aux_len(), 0.0, 1.0);
    prepare_matmul(ctx, variant, spec, &a, &b, &aux)
}

/// KD loss, DKD loss (T = 4, A = 1, B = 8, w = 1) and softmax over random logits at
/// `rows × cols`: `(name, kernel, bytes moved)`, counting the logits read and the outputs
/// written once each.
pub fn prepare_row_workloads(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    rows: usize,
    cols: usize,
) -> Result<Vec<(&'static str, PreparedKernel, usize)>> {
    let z = rng.uniform_vec(rows * cols, -5.0, 5.0);
    let t = rng.uniform_vec(rows * cols, -5.0, 5.0);
    let labels: Vec<u32> = (0..rows).map(|r| (r % cols) as u32).collect();
    let batch = KdBatch {
        student: &z,
        teacher: &t,
        labels: &labels,
        rows,
        cols,
    };
    let kd = prepare_kd_loss(
        ctx,
        &batch,
        KdConfig {
            temperature: 4.0,
            alpha: 0.9,
        },
    )?;
    let dkd = prepare_dkd_loss(ctx, &batch, DkdConfig::paper())?;
    let softmax = prepare_softmax(ctx, &z, rows, cols, 4.0)?;
    let bytes = 3 * rows * cols * 4;
    Ok(vec![
        ("kd_loss", kd, bytes),
        ("dkd_loss", dkd, bytes),
        ("softmax", softmax, bytes),
    ])
}

/// A memory-bound kernel to time, with the bytes one run moves.
#[derive(Debug)]
pub struct StreamWorkload {
    /// Kernel name in the report.
    pub name: &'static str,
    /// `[rows, width]` of a row kernel, `[count]` of an element-wise one.
    pub shape: Vec<usize>,
    /// How the kernel is laid out over the grid.
    pub variant: &'static str,
    /// The kernel over random inputs.
    pub kernel: PreparedKernel,
    /// Bytes read plus bytes written per run.
    pub bytes: usize,
}

/// The hint loss at 128×800 (a 784-800-800-10 student's hidden layer at batch 128, β = 1; it
/// reads r and h, writes the gradient and the row terms, then the reduction reads those) and
/// the EMA update over a 784-800-800-10 MLP's parameters (d = 0.999; reads θ' and θ, writes
/// θ'), and the accumulation of the hint's gradient into a 128×800 hidden-layer gradient
/// (reads both, writes one).
pub fn prepare_stream_workloads(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
) -> Result<Vec<StreamWorkload>> {
    let (rows, width) = (128, 800);
    let r = rng.uniform_vec(rows * width, -1.0, 1.0);
    let h = rng.uniform_vec(rows * width, -1.0, 1.0);
    let hint = prepare_hint_loss(ctx, &r, &h, rows, width, 1.0)?;
    let count = MlpSpec::relu(&[784, 800, 800, 10])?.parameter_count();
    let shadow = rng.uniform_vec(count, -0.1, 0.1);
    let source = rng.uniform_vec(count, -0.1, 0.1);
    let ema = prepare_ema_update(ctx, &shadow, &source, 0.999)?;
    let accumulate = prepare_accumulate(ctx, &r, &h)?;
    Ok(vec![
        StreamWorkload {
            name: "hint_loss",
            shape: vec![rows, width],
            variant: "workgroup-per-row",
            kernel: hint,
            bytes: (3 * rows * width + 4 * rows) * 4,
        },
        StreamWorkload {
            name: "ema",
            shape: vec![count],
            variant: "element-wise",
            kernel: ema,
            bytes: 3 * count * 4,
        },
        StreamWorkload {
            name: "accumulate",
            shape: vec![rows * width],
            variant: "element-wise",
            kernel: accumulate,
            bytes: 3 * rows * width * 4,
        },
    ])
}

/// The KD-step benchmark: random 28×28 images in 10 classes on the GPU with a
/// 784-1200-1200-10 teacher's logits cached, and 784-800-800-10 students trained with
/// Adam at T = 4, α = 0.9.
#[derive(Debug)]
pub struct KdStepWorkload {
    /// The device data set.
    pub dataset: DeviceDataset,
    /// The teacher's cached logits for it.
    pub teacher_logits: TeacherLogits,
    /// The teacher, for steps that run its forward pass.
    pub teacher: Mlp,
    /// Student architecture.
    pub student_spec: MlpSpec,
}

impl KdStepWorkload {
    /// Uploads `samples` random images and caches the teacher's logits.
    pub fn new(ctx: &GpuContext, rng: &mut SplitMix64, samples: usize) -> Result<Self> {
        let data = Dataset::random(rng, samples, 28, 28, 10);
        let dataset = DeviceDataset::new(ctx, &data, 10)?;
        let teacher = Mlp::new(ctx, &MlpSpec::relu(&[784, 1200, 1200, 10])?, 2)?;
        let teacher_logits = TeacherLogits::compute(ctx, &teacher, &dataset, 256)?;
        Ok(Self {
            dataset,
            teacher_logits,
            teacher,
            student_spec: MlpSpec::relu(&[784, 800, 800, 10])?,
        })
    }

    /// A trainer for a fresh student at `batch`, attached to the data set.
    pub fn trainer(&self, ctx: &GpuContext, batch: usize) -> Result<Trainer> {
        self.trainer_for(ctx, &self.student_spec, batch)
    }

    /// A trainer for a fresh student of architecture `spec` (784 inputs, 10 classes) at
    /// `batch`, attached to the data set.
    pub fn trainer_for(&self, ctx: &GpuContext, spec: &MlpSpec, batch: usize) -> Result<Trainer> {
        let student = Mlp::new(ctx, spec, 1)?;
        let kd = KdConfig {
            temperature: 4.0,
            alpha: 0.9,
        };
        let config = TrainerConfig::new(batch, Optimizer::adam(1e-3)).kd(kd);
        let mut trainer = Trainer::new(ctx, student, &config)?;
        trainer.attach_dataset(ctx, &self.dataset, Some(&self.teacher_logits), 0, 0)?;
        Ok(trainer)
    }

    /// Submits `steps` steps (cycling through the data set's batches), with the teacher's
    /// forward pass inside each step when `with_teacher`; does not wait for the GPU.
    pub fn run_steps(
        &self,
        ctx: &GpuContext,
        trainer: &mut Trainer,
        steps: usize,
        with_teacher: bool,
    ) -> Result<()> {
        let batches = trainer.batches_per_epoch().max(1);
        let teacher = with_teacher.then_some(&self.teacher);
        for s in 0..steps {
            trainer.step_on_dataset(ctx, s % batches, teacher)?;
        }
        Ok(())
    }
}

/// Median of three timings (the machines this runs on share their cores).
pub fn median_of_3(mut time: impl FnMut() -> Result<f64>) -> Result<f64> {
    let mut t = [time()?, time()?, time()?];
    t.sort_by(f64::total_cmp);
    Ok(t[1])
}

/// Seconds per run of a prepared kernel: one warm-up, then the median of three rounds of
/// `repeats` runs recorded into one submit each.
pub fn time_kernel(ctx: &GpuContext, kernel: &PreparedKernel, repeats: usize) -> Result<f64> {
    kernel.run(ctx, 1)?;
    median_of_3(|| {
        let start = Instant::now();
        kernel.run(ctx, repeats)?;
        Ok(start.elapsed().as_secs_f64() / repeats as f64)
    })
}

/// One timed kernel: a matmul (with `product` and `gflops`) or a row kernel (with `gbps`).
#[derive(Debug, Clone, Serialize)]
pub struct KernelBench {
    /// `matmul` (the variant the adapter uses), `matmul-fallback` (the variant an adapter
    /// without subgroups would use, where it differs), `kd_loss`, `dkd_loss`, `softmax`, `hint_loss`, `ema` or `accumulate`.
    pub kernel: String,
    /// Which product a matmul computes, e.g. `X·Wᵀ`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// `[M, N, K]` of a matmul, `[rows, cols]` of a row kernel, `[count]` of an element-wise
    /// one.
    pub shape: Vec<usize>,
    /// The variant that ran.
    pub variant: String,
    /// Seconds per run.
    pub seconds: f64,
    /// Floating-point throughput of a matmul.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gflops: Option<f64>,
    /// Bytes read plus bytes written, per second, of a row or element-wise kernel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gbps: Option<f64>,
    /// A matmul's throughput as a share of the adapter's FP32 peak, when the peak was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_share: Option<f64>,
}

/// Where a timed step's teacher logits came from: `"cached"` or the teacher's sizes.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum StepTeacher {
    /// `"cached"`.
    Cached(&'static str),
    /// The teacher run inside the step.
    Forward(Vec<usize>),
}

/// One timed KD training step.
#[derive(Debug, Clone, Serialize)]
pub struct StepBench {
    /// The objective: `kd`, `dkd`, `kd + hint 2:2`, `kd + ema teacher` or `mutual (2
    /// students)`.
    pub objective: &'static str,
    /// Student sizes.
    pub student: Vec<usize>,
    /// Batch size.
    pub batch: usize,
    /// Teacher source.
    pub teacher: StepTeacher,
    /// Seconds per step.
    pub seconds_per_step: f64,
    /// Samples per second.
    pub samples_per_second: f64,
    /// Kernel launches per step.
    pub dispatches_per_step: usize,
    /// Submits per step (1).
    pub submits_per_step: usize,
}

/// Times every matmul workload, row kernel and stream workload (`say` gets a line per
/// result).
pub fn bench_kernels(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    quick: bool,
    mut say: impl FnMut(String),
) -> Result<Vec<KernelBench>> {
    let repeats = if quick { 2 } else { 5 };
    let mut rows_out = Vec::new();
    for (product, spec) in matmul_workloads(quick) {
        for (kernel, variant) in matmul_bench_variants(ctx, &spec) {
            let prepared = prepare_matmul_workload(ctx, rng, &spec, variant)?;
            let secs = time_kernel(ctx, &prepared, repeats)?;
            let gflops = spec.flops() / secs / 1e9;
            say(format!(
                "{kernel:<15} {product:<6} {:>4}x{:<4}x{:<4} {:<22} {:>9.3} ms {:>8.2} GFLOP/s",
                spec.m,
                spec.n,
                spec.k,
                variant.name(),
                secs * 1e3,
                gflops
            ));
            rows_out.push(KernelBench {
                kernel: kernel.into(),
                product: Some(product.into()),
                shape: vec![spec.m, spec.n, spec.k],
                variant: variant.name(),
                seconds: secs,
                gflops: Some(gflops),
                gbps: None,
                peak_share: None,
            });
        }
    }
    for &(rows, cols) in ROW_SHAPES {
        for (name, prepared, bytes) in &prepare_row_workloads(ctx, rng, rows, cols)? {
            let secs = time_kernel(ctx, prepared, repeats)?;
            let gbps = *bytes as f64 / secs / 1e9;
            say(format!(
                "{name:<8} {rows:>4}x{cols:<5} workgroup-per-row {:>9.3} ms {:>8.3} GB/s",
                secs * 1e3,
                gbps
            ));
            rows_out.push(KernelBench {
                kernel: (*name).into(),
                product: None,
                shape: vec![rows, cols],
                variant: "workgroup-per-row".into(),
                seconds: secs,
                gflops: None,
                gbps: Some(gbps),
                peak_share: None,
            });
        }
    }
    for w in prepare_stream_workloads(ctx, rng)? {
        let secs = time_kernel(ctx, &w.kernel, repeats)?;
        let gbps = w.bytes as f64 / secs / 1e9;
        let shape: Vec<String> = w.shape.iter().map(usize::to_string).collect();
        say(format!(
            "{:<9} {:>10} {:<17} {:>9.3} ms {:>8.3} GB/s",
            w.name,
            shape.join("x"),
            w.variant,
            secs * 1e3,
            gbps
        ));
        rows_out.push(KernelBench {
            kernel: w.name.into(),
            product: None,
            shape: w.shape,
            variant: w.variant.into(),
            seconds: secs,
            gflops: None,
            gbps: Some(gbps),
            peak_share: None,
        });
    }
    Ok(rows_out)
}

/// Times the whole KD step of a 784-800-800-10 student at batch 128 (and 1024 unless
/// `quick`), with cached teacher logits and with the teacher's forward pass in the step; then,
/// at batch 128, the steps of the objectives beyond the logits' KL.
pub fn bench_kd_step(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    quick: bool,
    mut say: impl FnMut(String),
) -> Result<Vec<StepBench>> {
    let batches: &[usize] = if quick { &[128] } else { &[128, 1024] };
    let workload = KdStepWorkload::new(ctx, rng, 2048)?;
    let mut out = Vec::new();
    for &batch in batches {
        for with_teacher in [false, true] {
            let mut trainer = workload.trainer(ctx, batch)?;
            let steps = (2048 / batch).clamp(2, if quick { 3 } else { 8 });
            workload.run_steps(ctx, &mut trainer, 1, with_teacher)?;
            ctx.wait()?;
            let secs = median_of_3(|| {
                let start = Instant::now();
                workload.run_steps(ctx, &mut trainer, steps, with_teacher)?;
                ctx.wait()?;
                Ok(start.elapsed().as_secs_f64() / steps as f64)
            })?;
            let sps = batch as f64 / secs;
            let source = if with_teacher {
                "teacher 784-1200-1200-10 forward in step"
            } else {
                "cached teacher logits"
            };
            say(format!(
                "kd step 784-800-800-10 batch {batch:>4}, {source:<40} {:>9.1} ms/step {:>9.0} samples/s",
                secs * 1e3,
                sps
            ));
            out.push(StepBench {
                objective: "kd",
                student: workload.student_spec.sizes.clone(),
                batch,
                teacher: if with_teacher {
                    StepTeacher::Forward(workload.teacher.spec().sizes.clone())
                } else {
                    StepTeacher::Cached("cached")
                },
                seconds_per_step: secs,
                samples_per_second: sps,
                dispatches_per_step: trainer.dispatches_per_step(),
                submits_per_step: 1,
            });
        }
    }
    out.extend(bench_objective_steps(ctx, &workload, quick, &mut say)?);
    Ok(out)
}
