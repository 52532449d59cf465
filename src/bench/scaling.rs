//! How the KD step's cost grows with the batch and with the student's width, so a user sees
//! where an adapter saturates: samples/s and the matmul GFLOP/s of whole training steps.

use serde::Serialize;

use crate::bench::{median_of_3, KdStepWorkload};
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::model::MlpSpec;
use crate::util::joined;

/// Batch sizes of the batch sweep (student 784-800-800-10).
pub const SCALING_BATCHES: &[usize] = &[32, 64, 128, 256, 512, 1024];

/// Hidden widths of the width sweep (student 784-W-W-10, batch 128).
pub const SCALING_WIDTHS: &[usize] = &[100, 300, 800, 1200, 2000];

/// Matmul work of one step timed per round, about: enough to dwarf the submit and wait.
const FLOPS_PER_ROUND: f64 = 2e9;

/// One point of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingPoint {
    /// `batch` or `width`: which sweep this point belongs to.
    pub sweep: &'static str,
    /// Student sizes.
    pub student: Vec<usize>,
    /// Batch size.
    pub batch: usize,
    /// Seconds per step (median of three rounds).
    pub seconds_per_step: f64,
    /// Samples per second.
    pub samples_per_second: f64,
    /// Matmul FLOPs of one step (forward, input and weight gradients).
    pub flops_per_step: f64,
    /// Those FLOPs per second, in units of 10⁹.
    pub gflops: f64,
}

/// Matmul FLOPs of one training step of `spec` at `batch`: the forward products, the
/// weight gradient of every layer, and the input gradient of every layer but the first.
pub fn step_flops(spec: &MlpSpec, batch: usize) -> f64 {
    let first_layer = spec
        .sizes
        .windows(2)
        .next()
        .map_or(0.0, |w| 2.0 * batch as f64 * w[0] as f64 * w[1] as f64);
    3.0 * spec.forward_flops(batch) - first_layer
}

/// The sweeps' points in order: `(sweep, student sizes, batch)`.
pub fn scaling_points() -> Vec<(&'static str, Vec<usize>, usize)> {
    let batches = SCALING_BATCHES
        .iter()
        .map(|&b| ("batch", vec![784, 800, 800, 10], b));
    let widths = SCALING_WIDTHS
        .iter()
        .map(|&w| ("width", vec![784, w, w, 10], 128));
    batches.chain(widths).collect()
}

/// Times the KD step (cached teacher logits, Adam, T = 4, α = 0.9) at each of `points`
/// ([`scaling_points`] for both sweeps); `say` gets a line per point.
pub fn bench_scaling(
    ctx: &GpuContext,
    workload: &KdStepWorkload,
    points: &[(&'static str, Vec<usize>, usize)],
    mut say: impl FnMut(String),
) -> Result<Vec<ScalingPoint>> {
    let mut out = Vec::new();
    for (sweep, sizes, batch) in points.iter().cloned() {
        let spec = MlpSpec::relu(&sizes)?;
        let mut trainer = workload.trainer_for(ctx, &spec, batch)?;
        let flops = step_flops(&spec, batch);
        let steps = (FLOPS_PER_ROUND / flops).round().clamp(2.0, 16.0) as usize;
        workload.run_steps(ctx, &mut trainer, 1, false)?;
        ctx.wait()?;
        let seconds = median_of_3(|| {
            let start = web_time::Instant::now();
            workload.run_steps(ctx, &mut trainer, steps, false)?;
            ctx.wait()?;
            Ok(start.elapsed().as_secs_f64() / steps as f64)
        })?;
        let point = ScalingPoint {
            sweep,
            student: sizes,
            batch,
            seconds_per_step: seconds,
            samples_per_second: batch as f64 / seconds,
            flops_per_step: flops,
            gflops: flops / seconds / 1e9,
        };
        say(format!(
            "scaling {:<5} {:<22} batch {:>4} {:>9.1} ms/step {:>9.0} samples/s {:>7.2} GFLOP/s",
            point.sweep,
            joined(&point.student, "-"),
            point.batch,
            point.seconds_per_step * 1e3,
            point.samples_per_second,
            point.gflops
        ));
        out.push(point);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_flops_count_forward_both_gradients_and_skip_the_first_input_gradient() {
        let spec = MlpSpec::relu(&[4, 3, 2]).unwrap();
        // forward 2·5·(4·3 + 3·2) = 180; weight grads the same; input grad of layer 2 only:
        // 2·5·3·2 = 60.
        assert_eq!(step_flops(&spec, 5), 180.0 + 180.0 + 60.0);
    }

    #[test]
    fn the_sweeps_cover_batch_32_to_1024_and_width_100_to_2000() {
        let points = scaling_points();
        let batches: Vec<usize> = points
            .iter()
            .filter(|p| p.0 == "batch")
            .map(|p| p.2)
            .collect();
        let widths: Vec<usize> = points
            .iter()
            .filter(|p| p.0 == "width")
            .map(|p| p.1[1])
            .collect();
        assert_eq!(batches.first(), Some(&32));
        assert_eq!(batches.last(), Some(&1024));
        assert_eq!(widths.first(), Some(&100));
        assert_eq!(widths.last(), Some(&2000));
        assert!(points.iter().all(|p| p.1[0] == 784 && p.1[3] == 10));
    }
}
