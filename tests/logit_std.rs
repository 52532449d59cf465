//! Logit-standardization KD (Sun et al., CVPR 2024): the f64 reference's gradient against
//! central finite differences (through the standardization of the student's row, and at a row
//! of equal logits); the properties the loss promises (no KD term when the teacher equals the
//! student, invariance to shifting and scaling either row, a gradient orthogonal to both, the
//! high- and low-temperature limits, two classes keeping only the order); the GPU against the
//! reference on the validation suite, with tolerances that catch a wrong temperature, the
//! population standard deviation or a gradient missing the term through σ; typed errors.

mod common;

use common::{assert_all_ok, batch, numeric_grad, random};
use distill_wgpu::ops::kd_loss::check::mixed_rows;
use distill_wgpu::ops::logit_std::check::{
    self as lcheck, compare_logit_std, random_rows, Expected,
};
use distill_wgpu::ops::logit_std::reference::{logit_std_loss, soft_row_std, standardize};
use distill_wgpu::ops::logit_std::{self, LogitStdConfig, PAPER_EPSILON};
use distill_wgpu::validate::summarize;
use distill_wgpu::{cpu, Error, SplitMix64};

fn config(temperature: f32, alpha: f32, epsilon: f32) -> LogitStdConfig {
    LogitStdConfig {
        temperature,
        alpha,
        epsilon,
    }
}

fn assert_grads_close(what: &str, analytic: &[f64], numeric: &[f64]) {
    assert_eq!(analytic.len(), numeric.len());
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        let tol = 1e-6 + 1e-5 * n.abs();
        assert!(
            (a - n).abs() <= tol,
            "{what}[{i}]: analytic {a:.9e} vs finite difference {n:.9e}"
        );
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn reference_gradient_matches_finite_differences() {
    let mut rng = SplitMix64::new(1);
    let (rows, cols) = (3, 7);
    let labels = [0u32, 4, 6];
    for &(t, alpha, eps) in &[
        (2.0, 9.0 / 9.1, 1e-7),
        (0.5, 0.5, 1e-7),
        (1.0, 1.0, 1e-7),
        (7.0, 0.3, 1e-7),
        (2.0, 1.0, 0.3),
        (3.0, 0.0, 1e-7),
    ] {
        let z = random(&mut rng, rows * cols, 4.0);
        let teacher = random(&mut rng, rows * cols, 6.0);
        let out = logit_std_loss(&z, &teacher, &labels, rows, cols, t, alpha, eps);
        let numeric = numeric_grad(&z, |zz| {
            logit_std_loss(zz, &teacher, &labels, rows, cols, t, alpha, eps).loss
        });
        assert_grads_close(
            &format!("dL/dz T={t} α={alpha} ε={eps}"),
            &out.grad,
            &numeric,
        );
    }
}

#[test]
fn gradient_at_a_row_of_equal_logits_is_the_limit_of_the_derivative() {
    // σ = 0: Z = 0 and ∂KL/∂z = (g − mean(g))/ε. A finite difference resolves it where ε is
    // far above the step (1e-6).
    let mut rng = SplitMix64::new(2);
    let cols = 6;
    let teacher = random(&mut rng, cols, 3.0);
    for &(level, eps) in &[(0.0, 0.5), (2.5, 0.05), (-7.0, 1.0)] {
        let z = vec![level; cols];
        let out = logit_std_loss(&z, &teacher, &[2], 1, cols, 2.0, 1.0, eps);
        let numeric = numeric_grad(&z, |zz| {
            logit_std_loss(zz, &teacher, &[2], 1, cols, 2.0, 1.0, eps).loss
        });
        assert_grads_close(&format!("level {level} ε={eps}"), &out.grad, &numeric);
        // q is uniform there: KL = log C − H(p).
        let p = cpu::softmax(&standardize(&teacher, eps).z, 1, cols, 2.0).0;
        let entropy: f64 = p.iter().map(|&v| -v * v.ln()).sum();
        assert!(
            (out.kl - ((cols as f64).ln() - entropy)).abs() < 1e-12,
            "{}",
            out.kl
        );
    }
}

#[test]
fn the_standard_deviation_is_the_sample_one_plus_epsilon() {
    let s = standardize(&[1.0, 2.0, 3.0, 4.0], 1e-7);
    let sigma = (5.0f64 / 3.0).sqrt();
    assert!((s.sigma - sigma).abs() < 1e-15);
    assert_eq!(s.scale, sigma + 1e-7);
    assert!((s.z[0] + 1.5 / (sigma + 1e-7)).abs() < 1e-15);
    // Σ Z² / (C − 1) = σ² / (σ + ε)².
    let ratio = dot(&s.z, &s.z) / 3.0;
    assert!((ratio - (sigma / (sigma + 1e-7)).powi(2)).abs() < 1e-15);
    // The defaults are the authors': T = 2, CE 0.1 and KD 9, ε = 1e-7.
    let paper = LogitStdConfig::paper();
    assert_eq!(paper, config(2.0, 9.0 / 9.1, 1e-7));
    assert_eq!(PAPER_EPSILON, 1e-7);
    assert_eq!(LogitStdConfig::from_weights(2.0, 1.0, 9.0).alpha, 0.9);
}

#[test]
fn teacher_equal_to_student_has_zero_kd_term_and_zero_soft_gradient() {
    let mut rng = SplitMix64::new(3);
    for cols in [2, 10, 300] {
        let z = random(&mut rng, 4 * cols, 5.0);
        for t in [0.5, 2.0, 100.0] {
            let out = logit_std_loss(&z, &z, &[0, 1, 0, 1], 4, cols, t, 1.0, 1e-7);
            assert_eq!(out.kl, 0.0);
            assert!(out.grad.iter().all(|&g| g == 0.0), "C={cols} T={t}");
        }
    }
}

#[test]
fn kd_term_is_invariant_to_shifting_and_scaling_either_row() {
    // Z(a·x + b) = Z(x) for a > 0 (to about ε/σ; ε = 1e-12 here): the KL is unchanged and the
    // soft gradient divides by a.
    let mut rng = SplitMix64::new(4);
    let cols = 9;
    for _ in 0..5 {
        let z = random(&mut rng, cols, 4.0);
        let t = random(&mut rng, cols, 4.0);
        let base = soft_row_std(&z, &t, 2.0, 1e-12);
        for &(a, b) in &[(1.0, 37.0), (10.0, -5.0), (0.01, 1e3), (250.0, 0.0)] {
            let moved: Vec<f64> = z.iter().map(|&x| a * x + b).collect();
            let moved_t: Vec<f64> = t.iter().map(|&x| a * x - b).collect();
            let both = soft_row_std(&moved, &moved_t, 2.0, 1e-12);
            assert!((both.kl - base.kl).abs() <= 1e-5 * base.kl, "a={a} b={b}");
            for (g, g0) in both.grad.iter().zip(&base.grad) {
                assert!(
                    (g * a - g0).abs() <= 1e-5 * g0.abs() + 1e-12,
                    "a={a}: {g} vs {g0}"
                );
            }
        }
    }
}

#[test]
fn soft_gradient_sums_to_zero_and_is_orthogonal_to_the_centred_logits() {
    // Shift invariance: Σ ∂KL/∂z = 0; scale invariance: Σ c·∂KL/∂z = 0 (exactly with ε = 0,
    // to about ε/σ with it).
    let mut rng = SplitMix64::new(5);
    for cols in [3, 10, 100] {
        let z = random(&mut rng, cols, 3.0);
        let t = random(&mut rng, cols, 3.0);
        let soft = soft_row_std(&z, &t, 2.0, 1e-7);
        let size: f64 = soft.grad.iter().map(|g| g.abs()).sum();
        assert!(
            soft.grad.iter().sum::<f64>().abs() <= 1e-14 * size,
            "C={cols}"
        );
        let along = dot(&soft.grad, &soft.student.centred);
        let grad_c = soft.grad.iter().zip(&soft.student.centred);
        let size_c: f64 = grad_c.map(|(g, c)| (g * c).abs()).sum();
        assert!(
            along.abs() <= 1e-6 * size_c,
            "C={cols}: {along} of {size_c}"
        );
    }
}

#[test]
fn alpha_zero_is_plain_cross_entropy() {
    let mut rng = SplitMix64::new(6);
    let (rows, cols) = (4, 10);
    let z = random(&mut rng, rows * cols, 5.0);
    let t = random(&mut rng, rows * cols, 5.0);
    let labels = [3u32, 0, 9, 4];
    let out = logit_std_loss(&z, &t, &labels, rows, cols, 2.0, 0.0, 1e-7);
    let ce = cpu::kd_loss(&z, &t, &labels, rows, cols, 2.0, 0.0);
    assert_eq!(out.loss, ce.loss);
    assert_eq!(out.grad, ce.grad);
}

#[test]
fn already_standardized_rows_give_the_plain_kd_term() {
    let mut rng = SplitMix64::new(7);
    let cols = 12;
    for t in [0.5, 2.0, 8.0] {
        let z = standardize(&random(&mut rng, cols, 3.0), 0.0).z;
        let teacher = standardize(&random(&mut rng, cols, 3.0), 0.0).z;
        let ours = logit_std_loss(&z, &teacher, &[1], 1, cols, t, 1.0, 1e-7);
        let kd = cpu::kd_loss(&z, &teacher, &[1], 1, cols, t, 1.0);
        assert!(
            (ours.kl - kd.kl).abs() <= 1e-6 * kd.kl,
            "T={t}: {} vs {}",
            ours.kl,
            kd.kl
        );
    }
}

#[test]
fn two_classes_keep_only_the_order() {
    // C = 2: Z = ±(σ/(σ + ε))/√2, so the KL depends on the order alone, and the gradient of the
    // KD term is what ε leaves: T·∂KL/∂z = (q − p)·ε/(σ + ε)².
    let mut rng = SplitMix64::new(8);
    let half = std::f64::consts::FRAC_1_SQRT_2;
    for _ in 0..6 {
        let z = random(&mut rng, 2, 5.0);
        let t = random(&mut rng, 2, 5.0);
        let sharp = soft_row_std(&z, &t, 2.0, 1e-12);
        assert!(
            (sharp.student.z[0].abs() - half).abs() < 1e-9,
            "{:?}",
            sharp.student
        );
        let stretched = [40.0 * z[0] + 3.0, 40.0 * z[1] + 3.0];
        let far = soft_row_std(&stretched, &t, 2.0, 1e-12);
        assert!(
            (far.kl - sharp.kl).abs() < 1e-9,
            "{} vs {}",
            far.kl,
            sharp.kl
        );
        let soft = soft_row_std(&z, &t, 2.0, 1e-7);
        let s = soft.student.scale;
        for (g, d) in soft.grad.iter().zip(&soft.diff) {
            let left = d * 1e-7 / (s * s);
            assert!((g - left).abs() <= 1e-6 * left.abs(), "{g} vs {left}");
        }
    }
}

#[test]
fn high_temperature_limit_is_one_minus_the_correlation() {
    // T²·KL → (1/2C)·Σ (Z(z) − Z(t))² = (C − 1)/C·(1 − ρ(z, t)), ρ the Pearson correlation.
    let mut rng = SplitMix64::new(9);
    let cols = 20;
    for _ in 0..4 {
        let z = random(&mut rng, cols, 4.0);
        let t = random(&mut rng, cols, 4.0);
        let (u, v) = (standardize(&z, 0.0), standardize(&t, 0.0));
        let rho = dot(&u.centred, &v.centred)
            / (dot(&u.centred, &u.centred) * dot(&v.centred, &v.centred)).sqrt();
        let limit = (cols as f64 - 1.0) / cols as f64 * (1.0 - rho);
        let tt = 1e4;
        let kl = soft_row_std(&z, &t, tt, 1e-7).kl * tt * tt;
        assert!((kl - limit).abs() <= 1e-3 * limit, "{kl} vs {limit}");
    }
}

#[test]
fn low_temperature_limit_is_the_students_shortfall_at_the_teachers_top_class() {
    // T·KL → max Z(z) − Z(z)[argmax t] as T → 0: once T is far below the teacher's top gap,
    // within 2·T·log C (the teacher's entropy and the student's log-sum-exp beyond its top each
    // add at most T·log C).
    let mut rng = SplitMix64::new(10);
    let cols = 8;
    for _ in 0..4 {
        let z = random(&mut rng, cols, 4.0);
        let t = random(&mut rng, cols, 4.0);
        let u = standardize(&z, 1e-7).z;
        let k = (0..cols).fold(0, |b, c| if t[c] > t[b] { c } else { b });
        let top = u.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Below the teacher's top gap, p is one-hot to e^-50.
        let v = standardize(&t, 1e-7).z;
        let gap = (0..cols)
            .filter(|&c| c != k)
            .fold(f64::INFINITY, |m, c| m.min(v[k] - v[c]));
        for temperature in [gap / 50.0, gap / 500.0, gap / 1e5] {
            let kl = soft_row_std(&z, &t, temperature, 1e-7).kl * temperature;
            let bound = 2.0 * temperature * (cols as f64).ln();
            assert!(
                (kl - (top - u[k])).abs() <= bound,
                "T={temperature}: {kl} vs {}",
                top - u[k]
            );
        }
    }
}

#[test]
fn gpu_matches_reference_on_the_suite() {
    with_gpu!(ctx => {
        let results = lcheck::suite(ctx, &mut SplitMix64::new(11)).unwrap();
        let kernels: Vec<String> = summarize(&results).into_iter().map(|k| k.kernel).collect();
        assert_eq!(kernels, ["logit std grad", "logit std row ce", "logit std row kl", "logit std batch loss/ce/kl"]);
        assert_all_ok(&results);
    });
}

#[test]
fn gpu_matches_reference_on_more_seeds_and_many_rows() {
    with_gpu!(ctx => {
        let mut results = Vec::new();
        for seed in 20..24 {
            let mut rng = SplitMix64::new(seed);
            for case in lcheck::edge_cases(&mut rng, 16) {
                results.extend(lcheck::check_edge(ctx, &case).unwrap());
            }
        }
        // More rows than one grid dimension holds: the row index uses workgroup_id.y.
        let mut rng = SplitMix64::new(24);
        let (z, t, labels) = random_rows(&mut rng, 70_000, 3);
        results.extend(lcheck::check_logit_std(ctx, &batch(&z, &t, &labels, 3), LogitStdConfig::paper()).unwrap());
        assert_all_ok(&results);
    });
}

#[test]
fn gpu_gives_exact_zeros_when_the_teacher_equals_the_student() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(12);
        for cols in [2, 10, 1000] {
            let (z, _, labels) = random_rows(&mut rng, 6, cols);
            for t in [0.5f32, 2.0, 100.0] {
                let got = logit_std::logit_std(ctx, &batch(&z, &z, &labels, cols), config(t, 1.0, 1e-7)).unwrap();
                assert!(got.row_kl.iter().all(|&v| v == 0.0), "C={cols} T={t}: {:?}", got.row_kl);
                assert!(got.grad.iter().all(|&v| v == 0.0), "C={cols} T={t}");
                assert_eq!(got.loss, 0.0);
            }
        }
    });
}

/// Whether the GPU at `right` fails the checks against `wrong`, the reference with its gradient
/// (or KL) replaced.
fn fails(got: &distill_wgpu::cpu::KdOutput<f32>, wrong: &Expected, right: LogitStdConfig) -> bool {
    compare_logit_std("wrong", got, wrong, right)
        .iter()
        .any(|c| !c.passed())
}

#[test]
fn the_tolerances_catch_a_wrong_temperature_weight_std_or_gradient() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(13);
        let (rows, cols) = (16, 10);
        let (z, t, labels) = mixed_rows(&mut rng, rows, cols);
        let b = batch(&z, &t, &labels, cols);
        let right = LogitStdConfig::paper();
        let got = logit_std::logit_std(ctx, &b, right).unwrap();
        assert!(!fails(&got, &Expected::new(&b, right), right));
        for wrong in [
            LogitStdConfig { temperature: 2.002, ..right },
            LogitStdConfig { alpha: right.alpha * 0.999, ..right },
            // The population standard deviation scales Z by √(C/(C − 1)): the KL at
            // T·√((C − 1)/C).
            LogitStdConfig { temperature: 2.0 * (0.9f32).sqrt(), ..right },
        ] {
            let mut e = Expected::new(&b, right);
            e.out = Expected::new(&b, wrong).out;
            assert!(fails(&got, &e, right), "{wrong:?}");
        }
        // The gradient without the term through σ.
        let (zf, tf) = (cpu::to_f64(&z), cpu::to_f64(&t));
        let mut e = Expected::new(&b, right);
        let (temperature, alpha) = (2.0f64, right.alpha as f64);
        for r in 0..rows {
            let span = r * cols..(r + 1) * cols;
            let soft = soft_row_std(&zf[span.clone()], &tf[span.clone()], temperature, 1e-7);
            let hard = cpu::kd_loss(&zf[span.clone()], &tf[span.clone()], &labels[r..r + 1], 1, cols, 2.0, 0.0).grad;
            for (c, (h, d)) in hard.iter().zip(&soft.diff).enumerate() {
                let plain = d / soft.student.scale;
                e.out.grad[r * cols + c] = ((1.0 - alpha) * h + alpha * temperature * plain) / rows as f64;
            }
        }
        assert!(fails(&got, &e, right), "a gradient missing the term through σ passed");
    });
}

#[test]
fn runs_are_deterministic() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(14);
        let (z, t, labels) = random_rows(&mut rng, 64, 1000);
        let b = batch(&z, &t, &labels, 1000);
        let one = logit_std::logit_std(ctx, &b, LogitStdConfig::paper()).unwrap();
        let two = logit_std::logit_std(ctx, &b, LogitStdConfig::paper()).unwrap();
        assert_eq!(one.loss.to_bits(), two.loss.to_bits());
        assert!(one.grad.iter().zip(&two.grad).all(|(a, b)| a.to_bits() == b.to_bits()));
    });
}

#[test]
fn configs_are_validated_with_the_setting_named() {
    assert!(LogitStdConfig::paper().validate().is_ok());
    let cases = [
        (config(f32::NAN, 0.5, 1e-7), "temperature", "NaN"),
        (config(0.0, 0.5, 1e-7), "temperature", "got 0"),
        (config(-2.0, 0.5, 1e-7), "temperature", "got -2"),
        (config(f32::INFINITY, 0.5, 1e-7), "temperature", "inf"),
        (config(1e-20, 0.5, 1e-7), "temperature", "T² and 1/T"),
        (config(2.0, -0.1, 1e-7), "alpha", "got -0.1"),
        (config(2.0, 1.5, 1e-7), "alpha", "got 1.5"),
        (config(2.0, f32::NAN, 1e-7), "alpha", "NaN"),
        (config(2.0, 0.5, 0.0), "epsilon", "got 0"),
        (config(2.0, 0.5, -1e-7), "epsilon", "got -0.0000001"),
        (config(2.0, 0.5, 1e-40), "epsilon", "≥ 1.1754944e-38"),
        (config(2.0, 0.5, f32::NAN), "epsilon", "NaN"),
        (LogitStdConfig::from_weights(2.0, 0.0, 0.0), "alpha", "NaN"),
    ];
    for (cfg, word, value) in cases {
        let err = cfg.validate().unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig(_) | Error::InvalidTemperature(_)),
            "{cfg:?}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.contains(word) && text.contains(value),
            "{cfg:?}: {text}"
        );
    }
    let err = logit_std::check_classes(1).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig(m) if m.contains("at least 2 classes") && m.contains("got 1")),
        "{err}"
    );
    assert!(logit_std::check_classes(2).is_ok());
}

#[test]
fn one_class_and_bad_settings_are_rejected_on_the_gpu_path() {
    with_gpu!(ctx => {
        let z = [0.5f32, -0.5];
        let one_class = batch(&z, &z, &[0, 0], 1);
        let err = logit_std::logit_std(ctx, &one_class, LogitStdConfig::paper()).unwrap_err();
        assert!(matches!(&err, Error::InvalidConfig(m) if m.contains("at least 2 classes")), "{err}");
        assert!(logit_std::prepare_logit_std(ctx, &one_class, LogitStdConfig::paper()).is_err());
        let two = batch(&z, &z, &[1], 2);
        for (cfg, word) in [
            (config(2.0, 0.5, 0.0), "epsilon"),
            (config(f32::NAN, 0.5, 1e-7), "temperature"),
            (config(2.0, 2.0, 1e-7), "alpha"),
        ] {
            let err = logit_std::logit_std(ctx, &two, cfg).unwrap_err();
            assert!(err.to_string().contains(word), "{cfg:?}: {err}");
        }
        let err = logit_std::logit_std(ctx, &batch(&z, &z, &[2], 2), LogitStdConfig::paper()).unwrap_err();
        assert!(matches!(err, Error::LabelOutOfRange { row: 0, label: 2, classes: 2 }), "{err}");
    });
}
