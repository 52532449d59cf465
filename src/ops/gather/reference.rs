//! The gather reference: the same rows, jitter shifts and feature reading as
//! `shaders/gather.wgsl`.

use crate::ops::gather::{GatherBatch, GatherSource, Gathered, Inputs};
use crate::ops::shared::pcg_hash;

/// The shift `(dx, dy)` in `[−J, J]²` the kernel draws for `row` of a batch.
pub fn jitter_shift(jitter: u32, seed: u32, step: u32, row: u32) -> (i64, i64) {
    let h = pcg_hash(seed ^ pcg_hash(step ^ pcg_hash(row.wrapping_add(0x9e37_79b9))));
    let span = 2 * jitter + 1;
    let dx = (h % span) as i64 - jitter as i64;
    let dy = ((h / span) % span) as i64 - jitter as i64;
    (dx, dy)
}

/// Gathers `batch` from `source` (lengths as [`GatherSource::validate`] checks them).
pub fn gather(source: &GatherSource<'_>, batch: &GatherBatch) -> Gathered<f64> {
    let shape = source.shape;
    let (width, height, features) = (shape.width, shape.height, shape.features());
    let mut out = Gathered {
        inputs: Vec::with_capacity(batch.rows * features),
        labels: Vec::with_capacity(batch.rows * source.label_width),
        teacher: Vec::new(),
    };
    for row in 0..batch.rows {
        let sample = source.order[batch.start + row] as usize;
        let pixel = |index: usize| match source.inputs {
            Inputs::U8(bytes) => bytes[sample * features + index] as f64 / 255.0,
            Inputs::F32(values) => values[sample * features + index] as f64,
        };
        let shift = (batch.jitter > 0)
            .then(|| jitter_shift(batch.jitter, batch.seed, batch.step, row as u32));
        for f in 0..features {
            let value = match shift {
                None => pixel(f),
                Some((dx, dy)) => {
                    let x = (f % width) as i64 - dx;
                    let y = (f / width) as i64 - dy;
                    if x >= 0 && y >= 0 && x < width as i64 && y < height as i64 {
                        pixel(y as usize * width + x as usize)
                    } else {
                        0.0
                    }
                }
            };
            out.inputs.push(value);
        }
        let w = source.label_width;
        out.labels
            .extend_from_slice(&source.labels[sample * w..(sample + 1) * w]);
        if let Some(teacher) = source.teacher {
            let logits = &teacher[sample * shape.classes..(sample + 1) * shape.classes];
            out.teacher.extend(logits.iter().map(|&v| v as f64));
        }
    }
    out
}
