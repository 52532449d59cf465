//! The benchmark workloads `distill bench` and the criterion benches share, so both measure
//! the same problems.

use crate::context::GpuContext;
use crate::data::{Dataset, DeviceDataset};
use crate::error::Result;
use crate::kernels::{self, KdBatch, Optimizer, PreparedKernel};
use crate::matmul::MatmulSpec;
use crate::mlp::{KdConfig, Mlp, Trainer};
use crate::model::{MlpSpec, SplitMix64};
use crate::validate::random_vec;

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

/// A matmul with random operands, ready to time, and the variant the context chose.
pub fn prepare_matmul_workload(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    spec: &MatmulSpec,
) -> Result<(crate::matmul::MatmulVariant, PreparedKernel)> {
    let variant = ctx.choose_matmul(spec);
    let a = random_vec(rng, spec.a_len(), -1.0, 1.0);
    let b = random_vec(rng, spec.b_len(), -1.0, 1.0);
    let aux = random_vec(rng, spec.aux_len(), 0.0, 1.0);
    Ok((
        variant,
        kernels::prepare_matmul(ctx, variant, spec, &a, &b, &aux)?,
    ))
}

/// KD loss and softmax over random logits at `rows × cols`: `(name, kernel, bytes moved)`,
/// counting the logits read and the outputs written once each.
pub fn prepare_row_workloads(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    rows: usize,
    cols: usize,
) -> Result<Vec<(&'static str, PreparedKernel, usize)>> {
    let z = random_vec(rng, rows * cols, -5.0, 5.0);
    let t = random_vec(rng, rows * cols, -5.0, 5.0);
    let labels: Vec<u32> = (0..rows).map(|r| (r % cols) as u32).collect();
    let batch = KdBatch {
        student: &z,
        teacher: &t,
        labels: &labels,
        rows,
        cols,
    };
    let kd = kernels::prepare_kd_loss(
        ctx,
        &batch,
        KdConfig {
            temperature: 4.0,
            alpha: 0.9,
        },
    )?;
    let softmax = kernels::prepare_softmax(ctx, &z, rows, cols, 4.0)?;
    let bytes = 3 * rows * cols * 4;
    Ok(vec![("kd_loss", kd, bytes), ("softmax", softmax, bytes)])
}

/// The KD-step benchmark: random 28×28 images in 10 classes on the GPU with a
/// 784-1200-1200-10 teacher's logits cached, and 784-800-800-10 students trained with
/// Adam at T = 4, α = 0.9.
#[derive(Debug)]
pub struct KdStepWorkload {
    /// The device data set (teacher logits cached).
    pub dataset: DeviceDataset,
    /// The teacher, for steps that run its forward pass.
    pub teacher: Mlp,
    /// Student architecture.
    pub student_spec: MlpSpec,
}

impl KdStepWorkload {
    /// Uploads `samples` random images and caches the teacher's logits.
    pub fn new(ctx: &GpuContext, rng: &mut SplitMix64, samples: usize) -> Result<Self> {
        let data = Dataset::random(rng, samples, 28, 28, 10);
        let mut dataset = DeviceDataset::new(ctx, &data, 10)?;
        let teacher = Mlp::new(ctx, &MlpSpec::relu(&[784, 1200, 1200, 10])?, 2)?;
        dataset.cache_teacher_logits(ctx, &teacher, 256)?;
        Ok(Self {
            dataset,
            teacher,
            student_spec: MlpSpec::relu(&[784, 800, 800, 10])?,
        })
    }

    /// A trainer for a fresh student at `batch`, attached to the data set.
    pub fn trainer(&self, ctx: &GpuContext, batch: usize) -> Result<Trainer> {
        let student = Mlp::new(ctx, &self.student_spec, 1)?;
        let kd = KdConfig {
            temperature: 4.0,
            alpha: 0.9,
        };
        let mut trainer = Trainer::new(ctx, student, batch, Optimizer::adam(1e-3), kd)?;
        trainer.attach_dataset(ctx, &self.dataset, 0, 0)?;
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
        let batches = (self.dataset.len() / trainer.batch_size()).max(1);
        let teacher = with_teacher.then_some(&self.teacher);
        for s in 0..steps {
            trainer.step_on_dataset(ctx, &self.dataset, s % batches, teacher)?;
        }
        Ok(())
    }
}
