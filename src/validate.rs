//! The validation suite `distill validate` runs on a user's hardware: every op's checks
//! against the f64 reference, in one list, and their summary per kernel.

use maybe_async::maybe_async;
use serde::Serialize;

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::Comparison;
use crate::ops::{
    accumulate, bias_grad, calibration, dkd, dropout, ema, fake_quant, gather, gjsd, hint, kd_loss,
    logit_mse, logit_std, matmul, metrics, multi_kd, optim, prune_mask, reduce, regression_loss,
    softmax, tf_kd,
};
use crate::rng::SplitMix64;

pub use crate::ops::check::{compare, random_vec, Tolerance};

/// Every check of every op, in order; `quick` skips the larger MLP-shaped matmuls.
#[maybe_async]
pub async fn run_suite(ctx: &GpuContext, quick: bool) -> Result<Vec<Comparison>> {
    let mut rng = SplitMix64::new(0x5eed);
    let mut out = matmul::check::suite(ctx, &mut rng, quick).await?;
    out.extend(softmax::check::suite(ctx, &mut rng).await?);
    out.extend(kd_loss::check::suite(ctx, &mut rng).await?);
    out.extend(multi_kd::check::suite(ctx, &mut rng).await?);
    out.extend(dkd::check::suite(ctx, &mut rng).await?);
    out.extend(bias_grad::check::suite(ctx, &mut rng).await?);
    out.extend(optim::check::suite(ctx, &mut rng).await?);
    out.extend(reduce::check::suite(ctx, &mut rng).await?);
    out.extend(dropout::check::suite(ctx, &mut rng).await?);
    out.extend(gather::check::suite(ctx, &mut rng).await?);
    out.extend(metrics::check::suite(ctx, &mut rng).await?);
    out.extend(calibration::check::suite(ctx, &mut rng).await?);
    out.extend(hint::check::suite(ctx, &mut rng).await?);
    out.extend(accumulate::check::suite(ctx, &mut rng).await?);
    out.extend(ema::check::suite(ctx, &mut rng).await?);
    out.extend(gjsd::check::suite(ctx, &mut rng).await?);
    out.extend(logit_mse::check::suite(ctx, &mut rng).await?);
    out.extend(logit_std::check::suite(ctx, &mut rng).await?);
    out.extend(tf_kd::check::suite(ctx, &mut rng).await?);
    out.extend(fake_quant::check::suite(ctx, &mut rng).await?);
    out.extend(prune_mask::check::suite(ctx, &mut rng).await?);
    out.extend(regression_loss::check::suite(ctx, &mut rng).await?);
    Ok(out)
}

/// One kernel's checks, summarised: worst errors, largest tolerances, pass/fail and the
/// reports of the failures (a row of `distill validate`, and of its JSON).
#[derive(Debug, Clone, Serialize)]
pub struct KernelSummary {
    /// Kernel name, e.g. `matmul unrolled-32x16`, `softmax`, `kd grad`.
    pub kernel: String,
    /// Checks run.
    pub checks: usize,
    /// Whether all passed.
    pub passed: bool,
    /// Largest absolute error.
    pub max_abs_error: f64,
    /// Largest relative error.
    pub max_rel_error: f64,
    /// Largest absolute tolerance used.
    pub atol_max: f64,
    /// Largest relative tolerance used.
    pub rtol_max: f64,
    /// Reports of the failed checks.
    pub failures: Vec<String>,
}

/// Groups `results` by kernel, in first-seen order.
pub fn summarize(results: &[Comparison]) -> Vec<KernelSummary> {
    let mut kernels: Vec<String> = Vec::new();
    for r in results {
        let k = r.kernel();
        if !kernels.contains(&k) {
            kernels.push(k);
        }
    }
    kernels
        .into_iter()
        .map(|kernel| {
            let group: Vec<&Comparison> = results.iter().filter(|r| r.kernel() == kernel).collect();
            let max =
                |f: &dyn Fn(&Comparison) -> f64| group.iter().map(|r| f(r)).fold(0.0, f64::max);
            KernelSummary {
                checks: group.len(),
                passed: group.iter().all(|r| r.passed()),
                max_abs_error: max(&|r| r.max_abs),
                max_rel_error: max(&|r| r.max_rel),
                atol_max: max(&|r| r.tolerance.atol),
                rtol_max: max(&|r| r.tolerance.rtol),
                failures: group
                    .iter()
                    .filter(|r| !r.passed())
                    .map(|r| r.report())
                    .collect(),
                kernel,
            }
        })
        .collect()
}
