//! The hint loss, gradient accumulation and the EMA teacher update: each op's suite on the GPU
//! against the f64 reference, a seeded sweep, exact zeros where the math gives them, the
//! tolerances shown to catch a small error, determinism, typed errors for bad input, the
//! mean-teacher ramp, and the shaders' registration.

mod common;

use common::assert_all_ok;
use common::portability::uniform_block_size;
use distill_wgpu::ops::accumulate::{self, check::MLP_PARAMETERS};
use distill_wgpu::ops::check::{compare_scaled, random_vec, Comparison};
use distill_wgpu::ops::ema::{self, check::ema_tolerance, check_decay, ramped_decay};
use distill_wgpu::ops::hint::{self, check::compare_hint, check_hint_weight};
use distill_wgpu::ops::SHADERS;
use distill_wgpu::validate::summarize;
use distill_wgpu::{cpu, Error, MlpSpec, SplitMix64};

fn kernels(results: &[Comparison]) -> Vec<String> {
    summarize(results).into_iter().map(|k| k.kernel).collect()
}

#[test]
fn hint_suite_matches_the_reference() {
    with_gpu!(ctx => {
        let results = hint::check::suite(ctx, &mut SplitMix64::new(21)).unwrap();
        assert_eq!(
            kernels(&results),
            ["hint grad", "hint row mse", "hint loss/mse", "hint accumulated loss/steps"]
        );
        assert!(results.iter().any(|c| c.what == "hint grad 128x800 β=0.5"));
        assert_all_ok(&results);
    });
}

#[test]
fn accumulate_suite_is_exact() {
    with_gpu!(ctx => {
        let results = accumulate::check::suite(ctx, &mut SplitMix64::new(22)).unwrap();
        assert_eq!(kernels(&results), ["accumulate"]);
        assert!(results.iter().all(|c| c.tolerance.atol == 0.0 && c.tolerance.rtol == 0.0));
        assert_all_ok(&results);
    });
}

#[test]
fn ema_suite_matches_the_reference() {
    with_gpu!(ctx => {
        let results = ema::check::suite(ctx, &mut SplitMix64::new(23)).unwrap();
        assert_eq!(kernels(&results), ["ema"]);
        assert_all_ok(&results);
    });
}

#[test]
fn hint_matches_the_reference_on_a_random_sweep() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(24);
        let mut results = Vec::new();
        for _ in 0..30 {
            let shape = (1 + rng.below(300), 1 + rng.below(1500));
            let weight = [0.0f32, 1e-3, 0.5, 1.0, 10.0][rng.below(5)];
            let scale = [1e-2f32, 1.0, 1e3, 1e4][rng.below(4)];
            results.extend(hint::check::check_random_hint(ctx, &mut rng, shape, weight, scale).unwrap());
        }
        assert_all_ok(&results);
    });
}

#[test]
fn identical_inputs_give_exactly_zero_and_beta_zero_a_zero_gradient() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(25);
        let x = random_vec(&mut rng, 9 * 77, -1e4, 1e4);
        let same = hint::hint_loss(ctx, &x, &x, 9, 77, 1.5).unwrap();
        assert_eq!((same.loss, same.mse), (0.0, 0.0));
        assert!(same.row_mse.iter().all(|&m| m == 0.0), "{:?}", same.row_mse);
        assert!(same.grad.iter().all(|&g| g == 0.0));
        let y = random_vec(&mut rng, 9 * 77, -1.0, 1.0);
        let off = hint::hint_loss(ctx, &x, &y, 9, 77, 0.0).unwrap();
        assert_eq!(off.loss, 0.0);
        assert!(off.mse > 0.0);
        assert!(off.grad.iter().all(|&g| g == 0.0));
        // Runs are bit-for-bit repeatable.
        let again = hint::hint_loss(ctx, &x, &y, 9, 77, 0.0).unwrap();
        assert_eq!(off.mse.to_bits(), again.mse.to_bits());
        assert_eq!(off.row_mse, again.row_mse);
    });
}

#[test]
fn the_tolerances_catch_a_small_error() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(26);
        let (rows, width) = (32, 300);
        let r = random_vec(&mut rng, rows * width, -1.0, 1.0);
        let h = random_vec(&mut rng, rows * width, -1.0, 1.0);
        let got = hint::hint_loss(ctx, &r, &h, rows, width, 1.0).unwrap();
        let (wr, wh) = (cpu::to_f64(&r), cpu::to_f64(&h));
        let right = cpu::hint_loss(&wr, &wh, rows, width, 1.0);
        for c in compare_hint(&got, &right, rows, width, "right") {
            c.assert_ok();
        }
        // β off by 1e-5 fails the gradient and the loss; the MSE of one more column fails the
        // row terms.
        let scaled = cpu::hint_loss(&wr, &wh, rows, width, 1.00001);
        let wrong = compare_hint(&got, &scaled, rows, width, "β off");
        assert!(!wrong[0].passed() && !wrong[2].passed());
        let mut row_mse = right.row_mse.clone();
        row_mse.iter_mut().for_each(|m| *m *= width as f64 / (width as f64 - 1.0));
        let wide = cpu::HintOutput { row_mse, ..right.clone() };
        assert!(!compare_hint(&got, &wide, rows, width, "W − 1")[1].passed());

        let shadow = random_vec(&mut rng, 4000, -1.0, 1.0);
        let source = random_vec(&mut rng, 4000, -1.0, 1.0);
        let got = ema::ema_update(ctx, &shadow, &source, 0.9).unwrap();
        let scale = |i: usize| shadow[i].abs().max(source[i].abs()) as f64;
        let (ws, wt) = (cpu::to_f64(&shadow), cpu::to_f64(&source));
        let check = |d: f64| compare_scaled("ema", &got, &cpu::ema_update(&ws, &wt, d), scale, ema_tolerance(1));
        check(0.9f32 as f64).assert_ok();
        assert!(!check(0.9f32 as f64 + 1e-5).passed());
    });
}

#[test]
fn an_ema_update_of_a_copy_changes_nothing_and_accumulating_zero_is_the_identity() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(27);
        let theta = random_vec(&mut rng, 100_003, -1e4, 1e4);
        for d in [1e-3f32, 0.5, 0.999] {
            assert_eq!(ema::ema_update(ctx, &theta, &theta, d).unwrap(), theta);
        }
        let zeros = vec![0.0f32; theta.len()];
        assert_eq!(accumulate::accumulate(ctx, &theta, &zeros).unwrap(), theta);
        assert_eq!(accumulate::accumulate(ctx, &zeros, &theta).unwrap(), theta);
    });
}

#[test]
fn the_mean_teacher_ramp_follows_the_student_early() {
    assert_eq!(ramped_decay(0.999, 0), 0.0);
    assert_eq!(ramped_decay(0.999, 1), 0.5);
    assert_eq!(ramped_decay(0.999, 3), 0.75);
    assert_eq!(ramped_decay(0.999, 9), 0.9);
    assert_eq!(ramped_decay(0.99, 99), 0.99);
    assert_eq!(ramped_decay(0.99, 1000), 0.99);
    assert_eq!(ramped_decay(0.999, 10_000), 0.999);
    assert_eq!(ramped_decay(0.999, u32::MAX), 0.999);
    // Never above the configured decay, never decreasing.
    let mut last = 0.0;
    for step in 0..5000 {
        let d = ramped_decay(0.999, step);
        assert!(d <= 0.999 && d >= last, "step {step}: {d}");
        last = d;
    }
}

#[test]
fn bad_weights_and_decays_are_rejected_with_their_value() {
    check_hint_weight(0.0).unwrap();
    check_hint_weight(2.5).unwrap();
    for beta in [-1.0f32, -1e-30, f32::NAN, f32::INFINITY] {
        let err = check_hint_weight(beta).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig(m) if m.contains("hint weight β must be finite and ≥ 0") && m.contains(&beta.to_string())),
            "{err}"
        );
    }
    for d in [1e-6f32, 0.5, 0.999, 0.9999] {
        check_decay(d).unwrap();
    }
    for d in [0.0f32, 1.0, 1.5, -0.1, f32::NAN, f32::INFINITY] {
        let err = check_decay(d).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig(m) if m == &format!("EMA decay must be in (0, 1), got {d}")),
            "{err}"
        );
    }
}

#[test]
fn bad_inputs_are_rejected_before_any_gpu_work() {
    with_gpu!(ctx => {
        let x = vec![0.5f32; 12];
        let short = vec![0.5f32; 11];
        let shape = |err: Error, what: &str| {
            assert!(
                matches!(&err, Error::ShapeMismatch { what: w, expected: 12, got: 11 } if w == what),
                "{what}: {err}"
            );
        };
        shape(hint::hint_loss(ctx, &short, &x, 3, 4, 1.0).unwrap_err(), "hint prediction");
        shape(hint::hint_loss(ctx, &x, &short, 3, 4, 1.0).unwrap_err(), "hint target");
        shape(ema::ema_update(ctx, &x, &short, 0.9).unwrap_err(), "EMA source parameters");
        shape(accumulate::accumulate(ctx, &x, &short).unwrap_err(), "accumulate source");
        for beta in [-0.5f32, f32::NAN] {
            let err = hint::hint_loss(ctx, &x, &x, 3, 4, beta).unwrap_err();
            assert!(matches!(&err, Error::InvalidConfig(m) if m.contains("hint weight β")), "{err}");
        }
        for d in [0.0f32, 1.0, 1.5, f32::NAN] {
            let err = ema::ema_update(ctx, &x, &x, d).unwrap_err();
            assert!(matches!(&err, Error::InvalidConfig(m) if m.contains("EMA decay must be in (0, 1)")), "{err}");
        }
        assert!(matches!(hint::hint_loss(ctx, &[], &[], 0, 4, 1.0), Err(Error::EmptyBatch)));
        let err = hint::hint_loss(ctx, &[], &[], 3, 0, 1.0).unwrap_err();
        assert!(matches!(&err, Error::InvalidConfig(m) if m.contains("width")), "{err}");
        let mut bad = x.clone();
        bad[7] = f32::NAN;
        let err = hint::hint_loss(ctx, &x, &bad, 3, 4, 1.0).unwrap_err();
        assert!(matches!(&err, Error::NonFinite { what, index: 7, .. } if what == "hint target"), "{err}");
        let err = hint::hint_loss(ctx, &bad, &x, 3, 4, 1.0).unwrap_err();
        assert!(matches!(&err, Error::NonFinite { what, index: 7, .. } if what == "hint prediction"), "{err}");
    });
}

#[test]
fn shaders_are_registered_with_matching_uniforms() {
    for shader in [&hint::SHADER, &accumulate::SHADER, &ema::SHADER] {
        assert!(
            SHADERS.iter().any(|s| s.name == shader.name),
            "{} missing from ops::SHADERS",
            shader.name
        );
        let size = uniform_block_size(shader.name, shader.source).unwrap();
        assert_eq!(size, Some(16), "{}", shader.name);
        assert_eq!(shader.uniform_size, 16, "{}", shader.name);
    }
}

#[test]
fn the_named_mlp_parameter_count_is_the_models() {
    let spec = MlpSpec::relu(&[784, 800, 800, 10]).unwrap();
    assert_eq!(spec.parameter_count(), MLP_PARAMETERS);
}
