//! The logit-MSE loss (Ba & Caruana 2014): the reference's gradient against finite differences,
//! the properties the loss promises (no squared error when teacher equals student, α = 0 is the
//! cross-entropy, α = 1 the regression alone with PyTorch's per-element mean, invariance to a
//! shift of both rows), the GPU suite and a sweep against the reference, tolerances that catch a
//! wrong weight or normalisation, more rows than one grid dimension holds, determinism, and typed
//! errors for bad settings (the shader's translation: `tests/shaders.rs`).

mod common;

use common::{assert_all_ok, batch, numeric_grad, random};
use distill_wgpu::ops::check::{compare, Tolerance};
use distill_wgpu::ops::kd_loss::{self, KdBatch};
use distill_wgpu::ops::logit_mse::check::{self as mcheck, random_rows, LOGIT_MSE_RTOL};
use distill_wgpu::ops::logit_mse::{self, reference, LogitMseConfig};
use distill_wgpu::validate::summarize;
use distill_wgpu::{cpu, Error, SplitMix64};

fn config(alpha: f32) -> LogitMseConfig {
    LogitMseConfig { alpha }
}

#[test]
fn reference_gradient_matches_finite_differences() {
    let mut rng = SplitMix64::new(1);
    for &(rows, cols) in &[(3, 5), (2, 2), (4, 1), (1, 7)] {
        for &alpha in &[0.0, 0.3, 0.9, 1.0] {
            let z = random(&mut rng, rows * cols, 3.0);
            let t = random(&mut rng, rows * cols, 3.0);
            let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
            let out = reference::logit_mse(&z, &t, &labels, rows, cols, alpha);
            let numeric = numeric_grad(&z, |zz| {
                reference::logit_mse(zz, &t, &labels, rows, cols, alpha).loss
            });
            for (i, (a, n)) in out.grad.iter().zip(&numeric).enumerate() {
                assert!(
                    (a - n).abs() <= 1e-6 + 1e-5 * n.abs(),
                    "{rows}x{cols} α={alpha} [{i}]: analytic {a:.9e} vs finite difference {n:.9e}"
                );
            }
        }
    }
}

#[test]
fn the_squared_error_is_pytorchs_mean_over_all_logits() {
    // mean_b MSE_b = Σ_{b,c} (z − t)² / (B·C) = MSELoss(reduction='mean'); its gradient 2(z − t)/(B·C).
    let mut rng = SplitMix64::new(2);
    let (rows, cols) = (5, 7);
    let z = random(&mut rng, rows * cols, 4.0);
    let t = random(&mut rng, rows * cols, 4.0);
    let labels = [0u32, 6, 3, 3, 1];
    let out = reference::logit_mse(&z, &t, &labels, rows, cols, 1.0);
    let total: f64 = z.iter().zip(&t).map(|(a, b)| (a - b) * (a - b)).sum();
    let n = (rows * cols) as f64;
    assert!((out.kl - total / n).abs() <= 1e-14 * out.kl);
    assert_eq!(out.loss, out.kl);
    for (i, g) in out.grad.iter().enumerate() {
        let e = 2.0 * (z[i] - t[i]) / n;
        assert!(
            (g - e).abs() <= 1e-15 * e.abs().max(1.0),
            "[{i}] {g} vs {e}"
        );
    }
}

#[test]
fn alpha_zero_is_the_cross_entropy() {
    let mut rng = SplitMix64::new(3);
    let (rows, cols) = (6, 10);
    let z = random(&mut rng, rows * cols, 5.0);
    let t = random(&mut rng, rows * cols, 5.0);
    let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
    let ours = reference::logit_mse(&z, &t, &labels, rows, cols, 0.0);
    let ce = cpu::kd_loss(&z, &t, &labels, rows, cols, 1.0, 0.0);
    assert_eq!(ours.loss, ce.loss);
    assert_eq!(ours.row_ce, ce.row_ce);
    assert_eq!(ours.grad, ce.grad);
}

#[test]
fn teacher_equal_to_student_has_no_squared_error_and_the_cross_entropy_gradient() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(4);
        let (z, _, labels) = random_rows(&mut rng, 12, 10);
        let b = batch(&z, &z, &labels, 10);
        let ce = kd_loss::kd_loss(ctx, &b, distill_wgpu::KdConfig::cross_entropy()).unwrap();
        for alpha in [0.0f32, 0.5, 1.0] {
            let got = logit_mse::logit_mse(ctx, &b, config(alpha)).unwrap();
            assert!(got.row_kl.iter().all(|&v| v == 0.0), "α={alpha}: {:?}", got.row_kl);
            assert_eq!(got.kl, 0.0);
            for (g, e) in got.grad.iter().zip(&ce.grad) {
                let expected = (1.0 - alpha) * e;
                assert!((g - expected).abs() <= 1e-7 * e.abs().max(1e-3), "α={alpha}: {g} vs {expected}");
            }
        }
    });
}

#[test]
fn alpha_one_is_the_regression_alone_on_the_gpu() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(5);
        let (rows, cols) = (9, 10);
        let (z, t, labels) = random_rows(&mut rng, rows, cols);
        let got = logit_mse::logit_mse(ctx, &batch(&z, &t, &labels, cols), config(1.0)).unwrap();
        assert_eq!(got.loss, got.kl);
        let scale = 2.0 / (rows * cols) as f64;
        for (i, g) in got.grad.iter().enumerate() {
            let e = scale * (z[i] as f64 - t[i] as f64);
            assert!((*g as f64 - e).abs() <= 2e-7 * e.abs(), "[{i}] {g} vs {e}");
        }
    });
}

#[test]
fn a_common_shift_of_student_and_teacher_leaves_the_loss_unchanged() {
    // CE is shift-invariant and z − t does not change.
    let mut rng = SplitMix64::new(6);
    let (rows, cols) = (4, 6);
    let z = random(&mut rng, rows * cols, 3.0);
    let t = random(&mut rng, rows * cols, 3.0);
    let labels = [1u32, 0, 5, 2];
    let base = reference::logit_mse(&z, &t, &labels, rows, cols, 0.4);
    let shift = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .enumerate()
            .map(|(i, x)| x + 100.0 * (i / cols) as f64 - 37.5)
            .collect()
    };
    let moved = reference::logit_mse(&shift(&z), &shift(&t), &labels, rows, cols, 0.4);
    assert!((base.loss - moved.loss).abs() <= 1e-12 * base.loss);
    for (a, b) in base.grad.iter().zip(&moved.grad) {
        assert!((a - b).abs() <= 1e-13, "{a} vs {b}");
    }
}

#[test]
fn gpu_matches_reference_on_the_suite() {
    with_gpu!(ctx => {
        let results = mcheck::suite(ctx, &mut SplitMix64::new(7)).unwrap();
        assert_eq!(results.len(), 4 * (6 * 4 + 8 * 4));
        let kernels: Vec<String> = summarize(&results).into_iter().map(|k| k.kernel).collect();
        assert_eq!(kernels, ["logit mse grad by row terms", "logit mse row ce", "logit mse row mse", "logit mse batch loss/ce/mse"]);
        assert_all_ok(&results);
    });
}

#[test]
fn gpu_matches_reference_on_a_random_sweep() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(8);
        let mut results = Vec::new();
        for seed in 0..4u64 {
            let mut rng_case = SplitMix64::new(100 + seed);
            results.extend(mcheck::suite(ctx, &mut rng_case).unwrap());
        }
        for &(rows, cols) in &[(1, 3), (13, 2), (65, 64), (2, 65), (5, 1000), (128, 10)] {
            for alpha in [0.0f32, 0.1, 0.5, 0.99, 1.0] {
                let (z, t, labels) = random_rows(&mut rng, rows, cols);
                results.extend(mcheck::check_logit_mse(ctx, "sweep", &batch(&z, &t, &labels, cols), config(alpha)).unwrap());
            }
        }
        assert_all_ok(&results);
    });
}

#[test]
fn more_rows_than_one_grid_dimension_holds() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(9);
        let rows = 65_600;
        let (z, t, labels) = random_rows(&mut rng, rows, 2);
        let results = mcheck::check_logit_mse(ctx, "65600 rows", &batch(&z, &t, &labels, 2), config(0.5)).unwrap();
        assert_all_ok(&results);
    });
}

/// Whether the GPU's output at `right` fails the check against the reference at `alpha`, with
/// the squared-error sum divided by `per` instead of C.
fn fails_against(
    ctx: &distill_wgpu::GpuContext,
    b: &KdBatch<'_>,
    right: f32,
    alpha: f64,
    per: f64,
) -> bool {
    let got = logit_mse::logit_mse(ctx, b, config(right)).unwrap();
    let (z, t) = (cpu::to_f64(b.student), cpu::to_f64(b.teacher));
    let mut e = reference::logit_mse(&z, &t, b.labels, b.rows, b.cols, alpha);
    let c = b.cols as f64;
    for (i, g) in e.grad.iter_mut().enumerate() {
        // Swap the soft part's 2/C for 2/per.
        *g += alpha * 2.0 * (z[i] - t[i]) * (1.0 / per - 1.0 / c) / b.rows as f64;
    }
    let largest = e.grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let grad_ok = compare(
        "grad",
        &got.grad,
        &e.grad,
        Tolerance::new(LOGIT_MSE_RTOL * largest, 0.0),
    )
    .passed();
    let mse: Vec<f64> = e.row_kl.iter().map(|v| v * c / per).collect();
    let mse_ok = compare(
        "mse",
        &got.row_kl,
        &mse,
        Tolerance::new(0.0, LOGIT_MSE_RTOL),
    )
    .passed();
    !(grad_ok && mse_ok)
}

#[test]
fn the_tolerances_catch_a_wrong_weight_or_normalisation() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(10);
        let (z, t, labels) = random_rows(&mut rng, 16, 10);
        let b = batch(&z, &t, &labels, 10);
        assert!(!fails_against(ctx, &b, 0.5, 0.5, 10.0));
        assert!(fails_against(ctx, &b, 0.5, 0.5005, 10.0));
        // Summed over the classes, or half the sum as the paper writes it, instead of the mean.
        assert!(fails_against(ctx, &b, 0.5, 0.5, 1.0));
        assert!(fails_against(ctx, &b, 0.5, 0.5, 2.0));
        assert!(fails_against(ctx, &b, 0.5, 0.5, 10.01));
    });
}

#[test]
fn runs_are_deterministic() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(11);
        let (z, t, labels) = random_rows(&mut rng, 64, 1000);
        let b = batch(&z, &t, &labels, 1000);
        let one = logit_mse::logit_mse(ctx, &b, config(0.7)).unwrap();
        let two = logit_mse::logit_mse(ctx, &b, config(0.7)).unwrap();
        assert_eq!(one.loss.to_bits(), two.loss.to_bits());
        assert!(one.grad.iter().zip(&two.grad).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(one.row_kl.iter().zip(&two.row_kl).all(|(a, b)| a.to_bits() == b.to_bits()));
    });
}

#[test]
fn configs_are_validated_with_the_value_named() {
    assert!(LogitMseConfig::paper().validate().is_ok());
    assert_eq!(LogitMseConfig::paper(), config(1.0));
    for alpha in [0.0f32, 0.25, 1.0] {
        assert!(config(alpha).validate().is_ok());
    }
    for (alpha, shown) in [
        (-0.1f32, "-0.1"),
        (1.5, "1.5"),
        (f32::NAN, "NaN"),
        (f32::INFINITY, "inf"),
    ] {
        let err = config(alpha).validate().unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{alpha}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("alpha") && text.contains(shown),
            "{alpha}: {text}"
        );
    }
}

#[test]
fn bad_settings_and_batches_are_rejected_on_the_gpu_path() {
    with_gpu!(ctx => {
        let z = [0.5f32, -0.5, 1.0, 2.0];
        let good = batch(&z, &z, &[1, 0], 2);
        let err = logit_mse::logit_mse(ctx, &good, config(2.0)).unwrap_err();
        assert!(matches!(&err, Error::InvalidConfig(m) if m.contains("alpha") && m.contains('2')), "{err}");
        assert!(logit_mse::prepare_logit_mse(ctx, &good, config(f32::NAN)).is_err());
        let err = logit_mse::logit_mse(ctx, &batch(&z, &z, &[1, 2], 2), config(0.5)).unwrap_err();
        assert!(matches!(err, Error::LabelOutOfRange { row: 1, label: 2, classes: 2 }), "{err}");
        let err = logit_mse::logit_mse(ctx, &batch(&z, &z[..3], &[1, 0], 2), config(0.5)).unwrap_err();
        assert!(err.to_string().contains("teacher logits"), "{err}");
        assert!(matches!(logit_mse::logit_mse(ctx, &batch(&[], &[], &[], 2), config(0.5)), Err(Error::EmptyBatch)));
    });
}
