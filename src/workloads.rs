//! The benchmark workloads `distill bench` and the criterion benches share, so both measure
//! the same problems.

use crate::context::GpuContext;
use crate::error::Result;
use crate::kernels::{self, KdBatch, PreparedKernel};
use crate::matmul::MatmulSpec;
use crate::mlp::KdConfig;
use crate::model::SplitMix64;
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
