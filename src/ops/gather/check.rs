//! Validation of the batch gather against the reference: shuffled order, batches at the start,
//! middle and end, jitter 0 to 2, with and without teacher logits.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::gather::{gather, reference, GatherBatch, GatherSource, ImageShape};
use crate::rng::SplitMix64;

/// Gathers `batch` on the GPU and the CPU and compares inputs, labels and teacher logits.
pub fn check_gather(
    ctx: &GpuContext,
    source: &GatherSource<'_>,
    batch: GatherBatch,
) -> Result<Vec<Comparison>> {
    let got = gather(ctx, source, batch)?;
    let expected = reference::gather(source, &batch);
    let label = format!(
        "{}x{} images, rows {}..{}, jitter {}, step {}",
        source.shape.width,
        source.shape.height,
        batch.start,
        batch.start + batch.rows,
        batch.jitter,
        batch.step
    );
    let as_f32 = |v: &[u32]| v.iter().map(|&l| l as f32).collect::<Vec<_>>();
    let as_f64 = |v: &[u32]| v.iter().map(|&l| l as f64).collect::<Vec<_>>();
    let mut out = vec![
        compare(
            &format!("gather inputs {label}"),
            &got.inputs,
            &expected.inputs,
            Tolerance::new(0.0, 3e-7),
        ),
        compare(
            &format!("gather labels {label}"),
            &as_f32(&got.labels),
            &as_f64(&expected.labels),
            Tolerance::new(0.0, 0.0),
        ),
    ];
    if source.teacher.is_some() {
        out.push(compare(
            &format!("gather teacher logits {label}"),
            &got.teacher,
            &expected.teacher,
            Tolerance::new(0.0, 0.0),
        ));
    }
    Ok(out)
}

/// Random 7×5 images in 3 classes, gathered in a shuffled order.
pub fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let shape = ImageShape {
        width: 7,
        height: 5,
        classes: 3,
    };
    let count = 40;
    let pixels: Vec<u8> = (0..count * shape.features())
        .map(|_| rng.below(256) as u8)
        .collect();
    let labels: Vec<u32> = (0..count)
        .map(|_| rng.below(shape.classes) as u32)
        .collect();
    let teacher = random_vec(rng, count * shape.classes, -5.0, 5.0);
    let mut order: Vec<u32> = (0..count as u32).collect();
    rng.shuffle(&mut order);
    let mut out = Vec::new();
    for &(rows, start, jitter, step, with_teacher) in &[
        (1, 0, 0, 1, false),
        (16, 0, 0, 1, true),
        (16, 24, 1, 2, true),
        (40, 0, 2, 9, false),
    ] {
        let source = GatherSource {
            pixels: &pixels,
            labels: &labels,
            teacher: with_teacher.then_some(teacher.as_slice()),
            order: &order,
            shape,
        };
        let batch = GatherBatch {
            rows,
            start,
            jitter,
            seed: 11,
            step,
            teacher: with_teacher,
        };
        out.extend(check_gather(ctx, &source, batch)?);
    }
    Ok(out)
}
