//! Shared GPU test setup: one context per test binary, printed once; with no adapter the tests
//! fail with instructions unless `DISTILL_WGPU_SKIP_GPU_TESTS=1` opts out.

#![allow(dead_code)]

pub mod cli;
pub mod formats;
pub mod portability;

use std::sync::OnceLock;

use distill_wgpu::ops::check::Comparison;
use distill_wgpu::ops::kd_loss::KdBatch;
use distill_wgpu::validate::summarize;
use distill_wgpu::{ContextOptions, Error, GpuContext, MatmulFamily, SplitMix64};

/// Environment variable that skips GPU tests explicitly.
pub const SKIP_ENV: &str = "DISTILL_WGPU_SKIP_GPU_TESTS";

/// Opens a context with `options`; `None` when the user opted out of GPU tests.
pub fn open(options: ContextOptions) -> Option<GpuContext> {
    match GpuContext::new(&options) {
        Ok(ctx) => {
            eprintln!(
                "GPU tests run on: {} (matmul family {:?})",
                ctx.describe(),
                ctx.matmul_family()
            );
            Some(ctx)
        }
        Err(e @ (Error::NoAdapter | Error::AdapterNotFound { .. })) => {
            if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
                eprintln!("SKIPPED GPU test: {e} ({SKIP_ENV}=1)");
                None
            } else {
                panic!(
                    "GPU tests need a wgpu adapter and none could be opened: {e}\n\
                     On a machine without a GPU install Mesa's lavapipe (software Vulkan):\n\
                     \x20   apt-get install -y mesa-vulkan-drivers libvulkan1\n\
                     or skip GPU tests explicitly with {SKIP_ENV}=1."
                )
            }
        }
        Err(e) => panic!("opening the GPU context failed: {e}"),
    }
}

/// The context for this test binary with the adapter's own matmul family, or `None` when the
/// user opted out of GPU tests.
pub fn gpu() -> Option<&'static GpuContext> {
    static CTX: OnceLock<Option<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| open(ContextOptions::default())).as_ref()
}

/// A second context on the same adapter forced to the other matmul family, so both designs
/// run (and are checked) on whatever adapter the tests have.
pub fn gpu_other_family() -> Option<&'static GpuContext> {
    static CTX: OnceLock<Option<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| {
        let own = gpu()?.matmul_family();
        let other = match own {
            MatmulFamily::Tiled => MatmulFamily::Unrolled,
            MatmulFamily::Unrolled => MatmulFamily::Tiled,
        };
        open(ContextOptions {
            matmul_family: Some(other),
            ..ContextOptions::default()
        })
    })
    .as_ref()
}

/// Runs `body` with the GPU context, or prints the skip.
#[macro_export]
macro_rules! with_gpu {
    ($ctx:ident => $body:block) => {
        match common::gpu() {
            Some($ctx) => $body,
            None => eprintln!("skipped: no GPU ({})", common::SKIP_ENV),
        }
    };
}

/// Central difference of `f` along every coordinate of `x`.
pub fn numeric_grad(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-6;
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = xp[i];
            xp[i] = orig + h;
            let up = f(&xp);
            xp[i] = orig - h;
            let down = f(&xp);
            xp[i] = orig;
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// Prints each kernel's checks, largest errors, largest tolerances and worst error as a
/// fraction of its tolerance, then fails on an empty list or any check out of tolerance.
pub fn assert_all_ok(results: &[Comparison]) {
    assert!(!results.is_empty());
    for s in summarize(results) {
        let worst = results
            .iter()
            .filter(|c| c.kernel() == s.kernel)
            .map(|c| {
                if c.tolerance.rtol == 0.0 {
                    c.max_abs / c.tolerance.atol
                } else {
                    c.max_rel / c.tolerance.rtol
                }
            })
            .fold(0.0, f64::max);
        eprintln!(
            "{:<36} {:>4} checks  max abs {:.2e}  max rel {:.2e}  (atol ≤ {:.1e}, rtol ≤ {:.1e})  worst {:.3} of tolerance",
            s.kernel, s.checks, s.max_abs_error, s.max_rel_error, s.atol_max, s.rtol_max, worst
        );
    }
    for c in results {
        c.assert_ok();
    }
}

/// `n` values uniform in `[−scale, scale)`.
pub fn random(rng: &mut SplitMix64, n: usize, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|_| scale * (2.0 * rng.next_f64() - 1.0))
        .collect()
}

/// A logit-loss batch over `labels.len()` rows of `cols` logits.
pub fn batch<'a>(z: &'a [f32], t: &'a [f32], labels: &'a [u32], cols: usize) -> KdBatch<'a> {
    KdBatch {
        student: z,
        teacher: t,
        labels,
        rows: labels.len(),
        cols,
    }
}
