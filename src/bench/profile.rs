//! The KD step's time per kernel: each dispatch of a 784-800-800-10 step at batch 128 (cached
//! teacher logits) timed on its own, with its share of their sum.

use serde::Serialize;

use crate::bench::KdStepWorkload;
use crate::error::Result;
use crate::gpu::GpuContext;

/// One dispatch of the profiled step.
#[derive(Debug, Clone, Serialize)]
pub struct StepShare {
    /// The dispatch's label.
    pub dispatch: String,
    /// Seconds per run.
    pub seconds: f64,
    /// Its share of the summed dispatch times.
    pub share: f64,
}

/// Profiles the batch-`batch` KD step of `workload`'s student (`say` gets a line per dispatch
/// and one for the sum).
pub fn profile_kd_step(
    ctx: &GpuContext,
    workload: &KdStepWorkload,
    batch: usize,
    repeats: usize,
    mut say: impl FnMut(String),
) -> Result<Vec<StepShare>> {
    let mut trainer = workload.trainer(ctx, batch)?;
    let times = trainer.profile_step(ctx, 0, repeats)?;
    let total: f64 = times.iter().map(|t| t.seconds).sum();
    let shares: Vec<StepShare> = times
        .into_iter()
        .map(|t| StepShare {
            share: t.seconds / total.max(f64::MIN_POSITIVE),
            dispatch: t.label,
            seconds: t.seconds,
        })
        .collect();
    say(format!(
        "kd step 784-800-800-10 batch {batch}, per dispatch (each timed alone):"
    ));
    for s in &shares {
        say(format!(
            "  {:<44} {:>8.3} ms {:>5.1} %",
            s.dispatch,
            s.seconds * 1e3,
            100.0 * s.share
        ));
    }
    say(format!("  {:<44} {:>8.3} ms", "sum", total * 1e3));
    Ok(shares)
}
