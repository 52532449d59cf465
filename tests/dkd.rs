//! The DKD loss on the GPU: the validation suite (named edge shapes and a seeded sweep) against
//! the f64 reference, identities with the KD loss (two classes, no KD term, teacher = student),
//! tolerances tight enough to catch a wrong weight or temperature, determinism, and typed
//! errors for one class and bad settings.

mod common;

use common::{assert_all_ok, batch};
use distill_wgpu::ops::check::{compare, random_vec, Tolerance};
use distill_wgpu::ops::dkd::check::{self as dcheck, label_gap_rows, DKD_RTOL};
use distill_wgpu::ops::dkd::{self, DkdConfig};
use distill_wgpu::ops::kd_loss::{self, KdBatch};
use distill_wgpu::validate::summarize;
use distill_wgpu::{cpu, Error, GpuContext, KdConfig, SplitMix64};

fn config(temperature: f32, target_weight: f32, non_target_weight: f32, ramp: f32) -> DkdConfig {
    DkdConfig {
        temperature,
        target_weight,
        non_target_weight,
        ramp,
    }
}

/// Random logits in [−8, 8) and labels.
fn random_batch(rng: &mut SplitMix64, rows: usize, cols: usize) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    let z = random_vec(rng, rows * cols, -8.0, 8.0);
    let t = random_vec(rng, rows * cols, -8.0, 8.0);
    let labels = (0..rows).map(|_| rng.below(cols) as u32).collect();
    (z, t, labels)
}

#[test]
fn gpu_matches_reference_on_the_suite() {
    with_gpu!(ctx => {
        let results = dcheck::suite(ctx, &mut SplitMix64::new(6)).unwrap();
        assert!(results.len() >= 4 * 21 + 5 * 34, "{} checks", results.len());
        let kernels: Vec<String> = summarize(&results).into_iter().map(|k| k.kernel).collect();
        assert_eq!(kernels, ["dkd grad", "dkd row ce", "dkd row kd", "dkd batch loss/ce/kd", "dkd grad by row terms"]);
        assert_all_ok(&results);
    });
}

#[test]
fn gpu_matches_reference_on_a_random_sweep() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(7);
        let mut results = Vec::new();
        for &(rows, cols) in &[(1, 2), (13, 2), (32, 10), (70, 10), (5, 1000), (3, 300)] {
            for &setting in &[(1.0f32, 1.0f32, 8.0f32, 1.0f32), (0.5, 1.0, 8.0, 0.5), (4.0, 1.0, 8.0, 0.05), (20.0, 3.0, 0.5, 1.0), (100.0, 1.0, 8.0, 0.7)] {
                let (z, t, labels) = random_batch(&mut rng, rows, cols);
                let (temperature, a, b, w) = setting;
                let cfg = config(temperature, a, b, w);
                results.extend(dcheck::check_dkd_loss(ctx, &batch(&z, &t, &labels, cols), cfg).unwrap());
            }
        }
        assert_all_ok(&results);
    });
}

#[test]
fn extreme_logits_and_certain_teachers_stay_finite() {
    with_gpu!(ctx => {
        let z = [1e4f32, -1e4, 0.0, 5e3, -1e4, 1e4, 1e4, 0.0, 3.0, 2.0, 1e4, -1e4];
        let t = [-1e4f32, 1e4, 3.0, 0.0, 1e4, 1e4, -1e4, 2.0, -1e4, 0.0, 1e4, 9.0];
        let mut rng = SplitMix64::new(8);
        for &temperature in &[0.5f32, 1.0, 4.0, 20.0, 100.0] {
            let cfg = config(temperature, 1.0, 8.0, 1.0);
            for (cols, (z, t, labels)) in [
                (4, (z.to_vec(), t.to_vec(), vec![1, 2, 0])),
                (10, label_gap_rows(&mut rng, 8, 10, 0.0, 1e4)),
                (10, label_gap_rows(&mut rng, 8, 10, -1e4, 1e4)),
                (2, label_gap_rows(&mut rng, 8, 2, 1e4, -1e4)),
            ] {
                let b = batch(&z, &t, &labels, cols);
                let got = dkd::dkd_loss(ctx, &b, cfg).unwrap();
                let finite = got.loss.is_finite() && got.row_kl.iter().chain(&got.row_ce).chain(&got.grad).all(|v| v.is_finite());
                assert!(finite, "T={temperature} C={cols}: {got:?}");
                for c in dcheck::check_dkd_loss(ctx, &b, cfg).unwrap() {
                    c.assert_ok();
                }
            }
        }
    });
}

#[test]
fn two_classes_give_the_kd_loss() {
    // C = 2: NCKD = 0, TCKD = KL(p ‖ q); at A = 1, w = 1 the loss and gradient are the KD loss
    // at α = 1 plus the cross-entropy.
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(9);
        let (z, t, labels) = random_batch(&mut rng, 16, 2);
        let b = batch(&z, &t, &labels, 2);
        for &temperature in &[0.5f32, 4.0, 100.0] {
            let got = dkd::dkd_loss(ctx, &b, config(temperature, 1.0, 8.0, 1.0)).unwrap();
            let kd = kd_loss::kd_loss(ctx, &b, KdConfig { temperature, alpha: 1.0 }).unwrap();
            let ce = kd_loss::kd_loss(ctx, &b, KdConfig { temperature, alpha: 0.0 }).unwrap();
            let e: Vec<f64> = kd.row_kl.iter().map(|&v| v as f64).collect();
            compare("C=2 row kd vs kd row kl", &got.row_kl, &e, Tolerance::new(1e-30, 2e-5)).assert_ok();
            let sum: Vec<f64> = kd.grad.iter().zip(&ce.grad).map(|(&a, &b)| a as f64 + b as f64).collect();
            let largest = sum.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            compare("C=2 grad vs kd grad + ce grad", &got.grad, &sum, Tolerance::new(2e-5 * largest, 0.0)).assert_ok();
        }
    });
}

#[test]
fn no_kd_term_is_plain_cross_entropy_and_teacher_equal_to_student_has_none() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(10);
        let (z, t, labels) = random_batch(&mut rng, 12, 10);
        let b = batch(&z, &t, &labels, 10);
        let ce = kd_loss::kd_loss(ctx, &b, KdConfig { temperature: 4.0, alpha: 0.0 }).unwrap();
        for cfg in [config(4.0, 1.0, 8.0, 0.0), config(4.0, 0.0, 0.0, 1.0)] {
            let got = dkd::dkd_loss(ctx, &b, cfg).unwrap();
            assert_eq!(got.loss, got.ce, "{cfg:?}");
            assert!((got.ce - ce.ce).abs() <= 1e-6 * ce.ce, "{cfg:?}: {} vs {}", got.ce, ce.ce);
            for (g, e) in got.grad.iter().zip(&ce.grad) {
                assert!((g - e).abs() <= 1e-7, "{cfg:?}: {g} vs {e}");
            }
        }
        let same = batch(&z, &z, &labels, 10);
        let ce = kd_loss::kd_loss(ctx, &same, KdConfig { temperature: 4.0, alpha: 0.0 }).unwrap();
        for &temperature in &[0.5f32, 4.0, 100.0] {
            let got = dkd::dkd_loss(ctx, &same, config(temperature, 1.0, 8.0, 1.0)).unwrap();
            assert!(got.row_kl.iter().all(|&v| v == 0.0), "T={temperature}: {:?}", got.row_kl);
            for (g, e) in got.grad.iter().zip(&ce.grad) {
                assert!((g - e).abs() <= 1e-7, "T={temperature}: {g} vs {e}");
            }
        }
    });
}

/// Whether the GPU's gradient at `right` fails the check against the reference at `wrong`.
fn grad_fails(ctx: &GpuContext, b: &KdBatch<'_>, right: DkdConfig, wrong: DkdConfig) -> bool {
    let got = dkd::dkd_loss(ctx, b, right).unwrap();
    let e = cpu::dkd_loss(
        &cpu::to_f64(b.student),
        &cpu::to_f64(b.teacher),
        b.labels,
        b.rows,
        b.cols,
        wrong.temperature as f64,
        wrong.target_weight as f64,
        wrong.non_target_weight as f64,
        wrong.ramp as f64,
    );
    let largest = e.grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    !compare(
        "grad",
        &got.grad,
        &e.grad,
        Tolerance::new(DKD_RTOL * largest, 0.0),
    )
    .passed()
}

#[test]
fn the_tolerances_catch_a_wrong_weight_or_temperature() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(11);
        let (z, t, labels) = random_batch(&mut rng, 16, 10);
        let b = batch(&z, &t, &labels, 10);
        let right = DkdConfig::paper().with_ramp(0.5);
        assert!(!grad_fails(ctx, &b, right, right));
        assert!(grad_fails(ctx, &b, right, DkdConfig { temperature: 4.004, ..right }));
        assert!(grad_fails(ctx, &b, right, DkdConfig { target_weight: 1.001, ..right }));
        assert!(grad_fails(ctx, &b, right, DkdConfig { non_target_weight: 8.008, ..right }));
        assert!(grad_fails(ctx, &b, right, right.with_ramp(0.5005)));
        // The label's column must drop out of the non-target distributions.
        let shifted: Vec<u32> = labels.iter().map(|&y| (y + 1) % 10).collect();
        let got = dkd::dkd_loss(ctx, &b, right).unwrap();
        let e = cpu::dkd_loss(&cpu::to_f64(&z), &cpu::to_f64(&t), &shifted, 16, 10, 4.0, 1.0, 8.0, 0.5);
        assert!(!compare("grad", &got.grad, &e.grad, Tolerance::new(1e-3, 0.0)).passed());
    });
}

#[test]
fn runs_are_deterministic() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(12);
        let (z, t, labels) = random_batch(&mut rng, 64, 1000);
        let b = batch(&z, &t, &labels, 1000);
        let one = dkd::dkd_loss(ctx, &b, DkdConfig::paper()).unwrap();
        let two = dkd::dkd_loss(ctx, &b, DkdConfig::paper()).unwrap();
        assert_eq!(one.loss.to_bits(), two.loss.to_bits());
        assert!(one.grad.iter().zip(&two.grad).all(|(a, b)| a.to_bits() == b.to_bits()));
    });
}

#[test]
fn configs_are_validated_with_the_setting_named() {
    assert!(DkdConfig::paper().validate().is_ok());
    assert_eq!(DkdConfig::paper(), config(4.0, 1.0, 8.0, 1.0));
    assert_eq!(DkdConfig::paper().with_ramp(0.25).kd_weight(), 4.0);
    let cases = [
        (config(f32::NAN, 1.0, 8.0, 1.0), "temperature"),
        (config(0.0, 1.0, 8.0, 1.0), "temperature"),
        (config(-4.0, 1.0, 8.0, 1.0), "temperature"),
        (config(f32::INFINITY, 1.0, 8.0, 1.0), "temperature"),
        (config(4.0, -1.0, 8.0, 1.0), "alpha"),
        (config(4.0, f32::NAN, 8.0, 1.0), "alpha"),
        (config(4.0, 1.0, -1.0, 1.0), "beta"),
        (config(4.0, 1.0, f32::INFINITY, 1.0), "beta"),
        (config(4.0, 1.0, 8.0, 1.5), "ramp"),
        (config(4.0, 1.0, 8.0, -0.1), "ramp"),
        (config(4.0, 1.0, 8.0, f32::NAN), "ramp"),
    ];
    for (cfg, word) in cases {
        let err = cfg.validate().unwrap_err();
        // T's check is the one every softened loss shares; the others are DKD's own.
        let typed = if word == "temperature" {
            matches!(err, Error::InvalidTemperature(_))
        } else {
            matches!(err, Error::InvalidConfig(_))
        };
        assert!(typed, "{cfg:?}: {err}");
        assert!(err.to_string().contains(word), "{cfg:?}: {err}");
    }
    let err = config(4.0, 1.0, -1.0, 1.0)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("DKD beta must be finite and ≥ 0, got -1"),
        "{err}"
    );
}

#[test]
fn one_class_and_bad_settings_are_rejected_on_the_gpu_path() {
    with_gpu!(ctx => {
        let z = [0.5f32, -0.5];
        let one_class = batch(&z, &z, &[0, 0], 1);
        let err = dkd::dkd_loss(ctx, &one_class, DkdConfig::paper()).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
        assert!(err.to_string().contains("at least 2 classes"), "{err}");
        assert!(dkd::prepare_dkd_loss(ctx, &one_class, DkdConfig::paper()).is_err());
        let two = batch(&z, &z, &[1], 2);
        for (cfg, word) in [
            (config(4.0, 1.0, -1.0, 1.0), "beta"),
            (config(f32::NAN, 1.0, 8.0, 1.0), "temperature"),
            (config(4.0, 1.0, 8.0, 1.5), "ramp"),
        ] {
            let err = dkd::dkd_loss(ctx, &two, cfg).unwrap_err();
            assert!(err.to_string().contains(word), "{cfg:?}: {err}");
        }
        let err = dkd::dkd_loss(ctx, &batch(&z, &z, &[2], 2), DkdConfig::paper()).unwrap_err();
        assert!(matches!(err, Error::LabelOutOfRange { row: 0, label: 2, classes: 2 }), "{err}");
    });
}
