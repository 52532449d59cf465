//! The regression-distillation loss: the reference's gradient against finite differences for
//! every form, the properties each form promises (PyTorch's mean-reduced MSE and Huber, the
//! bounded term of Chen et al. 2017 switching off once the student beats the teacher by the
//! margin), the GPU suite and a seeded sweep against the reference, tolerances that catch a
//! wrong weight, determinism, and typed errors for bad settings (the shader's translation:
//! `tests/shaders.rs`).

mod common;

use common::{assert_all_ok, numeric_grad, random};
use distill_wgpu::ops::check::{compare_scaled, Tolerance};
use distill_wgpu::ops::regression_loss::check::{self as rcheck, RegressionCase, REGRESSION_RTOL};
use distill_wgpu::ops::regression_loss::{
    self, reference, RegressionBatch, RegressionConfig, RegressionForm,
};
use distill_wgpu::validate::summarize;
use distill_wgpu::{Error, SplitMix64};

fn config(alpha: f32, form: RegressionForm) -> RegressionConfig {
    RegressionConfig { alpha, form }
}

#[test]
fn reference_gradient_matches_finite_differences() {
    let mut rng = SplitMix64::new(1);
    let forms = [
        RegressionForm::Mse,
        RegressionForm::Huber { delta: 0.7 },
        RegressionForm::Huber { delta: 50.0 },
        RegressionForm::Bounded { margin: 0.2 },
        RegressionForm::Bounded { margin: -0.3 },
    ];
    for &(rows, cols) in &[(3, 1), (2, 4), (5, 3), (1, 7)] {
        for form in forms {
            for alpha in [0.0, 0.4, 1.0] {
                let s = random(&mut rng, rows * cols, 2.0);
                let t = random(&mut rng, rows * cols, 2.0);
                let y = random(&mut rng, rows * cols, 2.0);
                let f = |ss: &[f64]| {
                    reference::regression_loss(ss, &t, &y, (rows, cols), alpha, form).loss
                };
                let out = reference::regression_loss(&s, &t, &y, (rows, cols), alpha, form);
                let numeric = numeric_grad(&s, f);
                for (i, (a, n)) in out.grad.iter().zip(&numeric).enumerate() {
                    assert!(
                        (a - n).abs() <= 1e-6 + 1e-5 * n.abs(),
                        "{rows}x{cols} {form:?} α={alpha} [{i}]: analytic {a:.9e} vs finite \
                         difference {n:.9e}"
                    );
                }
            }
        }
    }
}

#[test]
fn mse_and_huber_are_pytorchs_mean_reductions() {
    let mut rng = SplitMix64::new(2);
    let (rows, cols) = (5, 3);
    let s = random(&mut rng, rows * cols, 3.0);
    let t = random(&mut rng, rows * cols, 3.0);
    let y = random(&mut rng, rows * cols, 3.0);
    let n = (rows * cols) as f64;
    let mse = reference::regression_loss(&s, &t, &y, (rows, cols), 0.25, RegressionForm::Mse);
    let hard: f64 = s.iter().zip(&y).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / n;
    let soft: f64 = s.iter().zip(&t).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / n;
    assert!((mse.hard - hard).abs() <= 1e-14 * hard);
    assert!((mse.soft - soft).abs() <= 1e-14 * soft);
    assert!((mse.loss - (0.75 * hard + 0.25 * soft)).abs() <= 1e-14 * mse.loss);
    // torch.nn.HuberLoss(delta=1.0): 0.5·x² below δ, δ·(|x| − δ/2) from δ on.
    assert_eq!(reference::huber(0.5, 1.0), 0.125);
    assert_eq!(reference::huber(-3.0, 1.0), 2.5);
    assert_eq!(reference::huber(1.0, 1.0), 0.5);
    let form = RegressionForm::Huber { delta: 1.0 };
    let huber = reference::regression_loss(&s, &t, &y, (rows, cols), 1.0, form);
    let expected: f64 = s
        .iter()
        .zip(&t)
        .map(|(a, b)| reference::huber(a - b, 1.0))
        .sum::<f64>()
        / n;
    assert!((huber.loss - expected).abs() <= 1e-14 * expected);
    // A δ beyond every difference is half the squared error.
    let wide = reference::regression_loss(
        &s,
        &t,
        &y,
        (rows, cols),
        1.0,
        RegressionForm::Huber { delta: 1e6 },
    );
    assert!((wide.loss - 0.5 * soft).abs() <= 1e-14 * soft);
}

#[test]
fn the_bounded_term_follows_chen_et_al() {
    // One output: e_s = (s − y)², e_t = (t − y)²; L_b = e_s if e_s + m > e_t, else 0.
    let run = |s: f64, t: f64, margin: f32| {
        let form = RegressionForm::Bounded { margin };
        reference::regression_loss(&[s], &[t], &[0.0], (1, 1), 1.0, form)
    };
    // The student worse than the teacher: the term is the student's squared error, pulling it
    // toward the target (not the teacher).
    let worse = run(2.0, 1.0, 0.0);
    assert_eq!(worse.soft, 4.0);
    assert_eq!(worse.grad, vec![4.0]);
    // The student better by more than the margin: no term, no gradient.
    let better = run(1.0, 2.0, 0.5);
    assert_eq!(better.soft, 0.0);
    assert_eq!(better.grad, vec![0.0]);
    // Better, but by less than the margin: the term applies.
    assert_eq!(run(1.0, 1.2, 0.5).soft, 1.0);
    // The inequality is strict: e_s + m = e_t gives 0.
    assert_eq!(run(1.0, -1.0, 0.0).soft, 0.0);
    assert!(reference::bounded_active(1.0, 1.0, 1e-9));
}

#[test]
fn gpu_matches_reference_on_the_suite() {
    with_gpu!(ctx => {
        let results = rcheck::suite(ctx, &mut SplitMix64::new(7)).unwrap();
        let edges = rcheck::edge_cases(&mut SplitMix64::new(7), 32).len();
        assert_eq!(results.len(), 4 * (5 * 3 * 3 + edges));
        let kernels: Vec<String> = summarize(&results).into_iter().map(|k| k.kernel).collect();
        assert_eq!(kernels, ["regression grad by scale", "regression row hard", "regression row soft", "regression batch loss/hard/soft"]);
        assert_all_ok(&results);
    });
}

#[test]
fn gpu_matches_reference_on_a_seeded_sweep() {
    with_gpu!(ctx => {
        let mut results = Vec::new();
        for seed in 0..4u64 {
            results.extend(rcheck::suite(ctx, &mut SplitMix64::new(100 + seed)).unwrap());
        }
        let mut rng = SplitMix64::new(8);
        let forms = [
            RegressionForm::Mse,
            RegressionForm::Huber { delta: 0.05 },
            RegressionForm::Huber { delta: 3.0 },
            RegressionForm::Bounded { margin: 0.0 },
            RegressionForm::Bounded { margin: 2.0 },
        ];
        for &shape in &[(1, 3), (13, 1), (65, 64), (2, 65), (5, 1000), (128, 10)] {
            for form in forms {
                for alpha in [0.0f32, 0.1, 0.5, 0.99, 1.0] {
                    let case = RegressionCase::random(&mut rng, "sweep", shape, 5.0, config(alpha, form));
                    results.extend(rcheck::check_regression_loss(ctx, "sweep", &case.batch(), case.config).unwrap());
                }
            }
        }
        assert_all_ok(&results);
    });
}

#[test]
fn the_tolerances_catch_a_wrong_weight() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(10);
        let (rows, cols) = (16, 3);
        for form in rcheck::forms() {
            let case = RegressionCase::random(&mut rng, "weights", (rows, cols), 3.0, config(0.5, form));
            let got = regression_loss::regression_loss(ctx, &case.batch(), case.config).unwrap();
            let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
            let (s, t, y) = (f64s(&case.student), f64s(&case.teacher), f64s(&case.targets));
            let passes = |alpha: f64| {
                let e = reference::regression_loss(&s, &t, &y, (rows, cols), alpha, form);
                let largest = e.grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                compare_scaled("grad", &got.grad, &e.grad, |_| largest, Tolerance::new(0.0, REGRESSION_RTOL)).passed()
            };
            assert!(passes(0.5), "{form:?}");
            assert!(!passes(0.5005), "{form:?}");
        }
    });
}

#[test]
fn more_rows_than_one_grid_dimension_holds() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(9);
        let case = RegressionCase::random(&mut rng, "65600 rows", (65_600, 1), 2.0, config(0.5, RegressionForm::Mse));
        assert_all_ok(&rcheck::check_regression_loss(ctx, &case.name, &case.batch(), case.config).unwrap());
    });
}

#[test]
fn runs_are_deterministic() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(11);
        let case = RegressionCase::random(&mut rng, "det", (64, 300), 3.0, config(0.7, RegressionForm::Huber { delta: 0.5 }));
        let one = regression_loss::regression_loss(ctx, &case.batch(), case.config).unwrap();
        let two = regression_loss::regression_loss(ctx, &case.batch(), case.config).unwrap();
        assert_eq!(one.loss.to_bits(), two.loss.to_bits());
        assert!(one.grad.iter().zip(&two.grad).all(|(a, b)| a.to_bits() == b.to_bits()));
    });
}

#[test]
fn configs_are_validated_with_the_value_named() {
    assert!(RegressionConfig::scratch().validate().is_ok());
    for (bad, shown) in [
        (config(1.5, RegressionForm::Mse), "1.5"),
        (config(f32::NAN, RegressionForm::Mse), "NaN"),
        (config(0.5, RegressionForm::Huber { delta: 0.0 }), "delta"),
        (config(0.5, RegressionForm::Huber { delta: -1.0 }), "-1"),
        (
            config(
                0.5,
                RegressionForm::Huber {
                    delta: f32::INFINITY,
                },
            ),
            "inf",
        ),
        (
            config(0.5, RegressionForm::Bounded { margin: f32::NAN }),
            "margin",
        ),
    ] {
        let err = bad.validate().unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{bad:?}: {err}");
        assert!(err.to_string().contains(shown), "{bad:?}: {err}");
    }
}

#[test]
fn bad_batches_are_rejected_on_the_gpu_path() {
    with_gpu!(ctx => {
        let v = [0.5f32, -0.5, 1.0, 2.0];
        let batch = |s: &'static [f32], rows, outputs| RegressionBatch { student: s, teacher: &v[..], targets: &v[..], rows, outputs };
        let good = config(0.5, RegressionForm::Mse);
        assert!(regression_loss::regression_loss(ctx, &batch(&[0.5, -0.5, 1.0, 2.0], 2, 2), good).is_ok());
        let err = regression_loss::regression_loss(ctx, &batch(&[0.5, -0.5, 1.0], 2, 2), good).unwrap_err();
        assert!(err.to_string().contains("student outputs"), "{err}");
        assert!(matches!(regression_loss::regression_loss(ctx, &batch(&[], 0, 2), good), Err(Error::EmptyBatch)));
        let err = regression_loss::regression_loss(ctx, &batch(&[0.5], 1, 1), config(2.0, RegressionForm::Mse)).unwrap_err();
        assert!(err.to_string().contains("alpha"), "{err}");
    });
}
