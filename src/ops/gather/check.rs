//! Validation of the batch gather against the reference: shuffled order, batches at the start,
//! middle and end, jitter 0 to 2, with and without teacher logits, byte and float features
//! (images and one-row tabular samples).

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::gather::{gather, reference, GatherBatch, GatherSource, ImageShape, Inputs};
use crate::rng::SplitMix64;
use maybe_async::maybe_async;

/// Gathers `batch` on the GPU and the CPU and compares inputs, labels and teacher logits.
#[maybe_async]
pub async fn check_gather(
    ctx: &GpuContext,
    source: &GatherSource<'_>,
    batch: GatherBatch,
) -> Result<Vec<Comparison>> {
    let got = gather(ctx, source, batch).await?;
    let expected = reference::gather(source, &batch);
    let label = format!(
        "{}x{} {} features, {} label words, rows {}..{}, jitter {}, step {}",
        source.shape.width,
        source.shape.height,
        source.inputs.element_name(),
        source.label_width,
        batch.start,
        batch.start + batch.rows,
        batch.jitter,
        batch.step
    );
    // Each label word as its two 16-bit halves, exact in f32 (a target's bits span all 32).
    let halves =
        |v: &[u32]| -> Vec<u32> { v.iter().flat_map(|&w| [w >> 16, w & 0xffff]).collect() };
    let as_f32 = |v: &[u32]| halves(v).iter().map(|&h| h as f32).collect::<Vec<_>>();
    let as_f64 = |v: &[u32]| halves(v).iter().map(|&h| h as f64).collect::<Vec<_>>();
    let mut out = vec![
        compare(
            &format!("gather inputs {label}"),
            &got.inputs,
            &expected.inputs,
            // Bytes are divided by 255 in f32; floats pass through exactly.
            match source.inputs {
                Inputs::U8(_) => Tolerance::new(0.0, 3e-7),
                Inputs::F32(_) => Tolerance::new(0.0, 0.0),
            },
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

/// Random 7×5 images in 3 classes (bytes, then floats of every magnitude), and one-row
/// tabular samples of 13 floats, gathered in a shuffled order; then tabular samples with 3
/// words of truth each (regression targets' bits).
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let image = ImageShape {
        width: 7,
        height: 5,
        classes: 3,
    };
    let tabular = ImageShape {
        width: 13,
        height: 1,
        classes: 3,
    };
    let count = 40;
    let bytes = Inputs::U8(
        (0..count * image.features())
            .map(|_| rng.below(256) as u8)
            .collect(),
    );
    // Floats the kernel must pass through bit for bit: signs, tiny and huge magnitudes.
    let floats = |rng: &mut SplitMix64, len: usize| {
        let values = random_vec(rng, len, -1.0, 1.0);
        let scales = [1.0, 1e-30, 1e30, 255.0];
        Inputs::F32(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| v * scales[i % scales.len()])
                .collect(),
        )
    };
    let image_floats = floats(rng, count * image.features());
    let tabular_floats = floats(rng, count * tabular.features());
    let labels: Vec<u32> = (0..count)
        .map(|_| rng.below(image.classes) as u32)
        .collect();
    let teacher = random_vec(rng, count * image.classes, -5.0, 5.0);
    let mut order: Vec<u32> = (0..count as u32).collect();
    rng.shuffle(&mut order);
    let mut out = Vec::new();
    for (inputs, shape) in [
        (&bytes, image),
        (&image_floats, image),
        (&tabular_floats, tabular),
    ] {
        for &(rows, start, jitter, step, with_teacher) in &[
            (1, 0, 0, 1, false),
            (16, 0, 0, 1, true),
            (16, 24, 1, 2, true),
            (40, 0, 2, 9, false),
        ] {
            // Jitter shifts images; tabular rows are gathered as they are.
            if shape.height == 1 && jitter > 0 {
                continue;
            }
            let source = GatherSource {
                inputs,
                labels: &labels,
                label_width: 1,
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
            out.extend(check_gather(ctx, &source, batch).await?);
        }
    }
    // Regression targets: K = 3 f32 words a sample, passed through bit for bit.
    let targets: Vec<u32> = random_vec(rng, count * 3, -1e3, 1e3)
        .iter()
        .map(|v| v.to_bits())
        .collect();
    for &(rows, start) in &[(1, 39), (16, 8), (40, 0)] {
        let source = GatherSource {
            inputs: &tabular_floats,
            labels: &targets,
            label_width: 3,
            teacher: None,
            order: &order,
            shape: tabular,
        };
        let batch = GatherBatch {
            rows,
            start,
            jitter: 0,
            seed: 11,
            step: 1,
            teacher: false,
        };
        out.extend(check_gather(ctx, &source, batch).await?);
    }
    Ok(out)
}
