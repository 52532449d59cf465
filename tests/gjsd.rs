//! The generalized-JSD loss: the f64 reference against finite differences and trl's plain
//! formula; the properties the divergence promises (zero for teacher = student, trl's ends β = 0
//! and 1 as the mixture's limits, symmetry, the entropy bound, the high-T limit); the GPU suite;
//! grids past 65535 rows; determinism; tolerances that catch a wrong setting; typed errors (the
//! shader's translation and uniform size: `tests/shaders.rs`).

mod common;

use common::{assert_all_ok, batch, numeric_grad, random};
use distill_wgpu::cpu::to_f32;
use distill_wgpu::ops::check::{compare, Tolerance};
use distill_wgpu::ops::gjsd::check::{self as gcheck, GJSD_RTOL};
use distill_wgpu::ops::gjsd::reference::{gjsd_loss, row_jsd};
use distill_wgpu::ops::gjsd::{self, GjsdConfig};
use distill_wgpu::ops::kd_loss::{self, reference as kd_reference, KdBatch};
use distill_wgpu::validate::summarize;
use distill_wgpu::{Error, GpuContext, KdConfig, SplitMix64};

fn config(temperature: f32, alpha: f32, beta: f32) -> GjsdConfig {
    GjsdConfig {
        temperature,
        alpha,
        beta,
    }
}

fn assert_close(what: &str, got: f64, expected: f64, rtol: f64) {
    let close = (got - expected).abs() <= 1e-300 + rtol * expected.abs();
    assert!(close, "{what}: {got:e} vs {expected:e}");
}

/// trl's formula, plainly: log-softmax at T, the mixture's log as a log-sum-exp, `Σ e^{log r}
/// (log r − log m)` per KL; KL(p ‖ q) at β = 0 and KL(q ‖ p) at β = 1.
fn trl_row(z: &[f64], t: &[f64], temperature: f64, beta: f64) -> f64 {
    let log_softmax = |x: &[f64]| -> Vec<f64> {
        let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = x.iter().map(|&v| ((v - max) / temperature).exp()).sum();
        let shift = |&v: &f64| (v - max) / temperature - sum.ln();
        x.iter().map(shift).collect()
    };
    let (lq, lp) = (log_softmax(z), log_softmax(t));
    // torch's kl_div(input, target, log_target=True) summed: KL(target ‖ input).
    let kl = |input: &[f64], target: &[f64]| -> f64 {
        let term = |(&li, &lt): (&f64, &f64)| lt.exp() * (lt - li);
        input.iter().zip(target).map(term).sum()
    };
    if beta == 0.0 {
        return kl(&lq, &lp);
    }
    if beta == 1.0 {
        return kl(&lp, &lq);
    }
    let lm: Vec<f64> = lq
        .iter()
        .zip(&lp)
        .map(|(&q, &p)| {
            let (a, b) = (q + (1.0 - beta).ln(), p + beta.ln());
            let hi = a.max(b);
            hi + ((a - hi).exp() + (b - hi).exp()).ln()
        })
        .collect();
    beta * kl(&lm, &lp) + (1.0 - beta) * kl(&lm, &lq)
}

#[test]
fn reference_gradient_matches_finite_differences() {
    let mut rng = SplitMix64::new(21);
    let (rows, cols) = (3, 5);
    let labels = [0u32, 4, 2];
    let temperatures = [1.0, 4.0, 0.5, 20.0, 2.0, 3.0, 1.0, 1.0];
    let alphas = [0.5, 0.9, 0.3, 1.0, 1.0, 0.7, 1.0, 1.0];
    let betas = [0.5, 0.1, 0.9, 0.5, 1.0, 0.0, 0.02, 0.98];
    let far = |a: f64, n: f64, floor: f64| (a - n).abs() > floor + 1e-5 * n.abs();
    for i in 0..8 {
        let (t, alpha, beta) = (temperatures[i], alphas[i], betas[i]);
        let z = random(&mut rng, rows * cols, 3.0);
        let teacher = random(&mut rng, rows * cols, 3.0);
        let out = gjsd_loss(&z, &teacher, &labels, rows, cols, t, alpha, beta);
        let numeric = numeric_grad(&z, |zz| {
            gjsd_loss(zz, &teacher, &labels, rows, cols, t, alpha, beta).loss
        });
        for (i, (a, n)) in out.grad.iter().zip(&numeric).enumerate() {
            assert!(
                !far(*a, *n, 1e-7),
                "T={t} α={alpha} β={beta} [{i}]: {a:e} vs {n:e}"
            );
        }
    }
    // A sure student (at β in (0, 1) its top class's gradient is minus the others') against a
    // teacher sure of another class.
    let (z, t) = ([9.0, -2.0, 0.5, 1.0], [-1.0, 6.0, 0.0, 2.0]);
    for beta in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let numeric = numeric_grad(&z, |zz| row_jsd(zz, &t, 1.0, beta).0);
        for (a, n) in row_jsd(&z, &t, 1.0, beta).1.iter().zip(&numeric) {
            assert!(!far(*a, *n, 1e-8), "β={beta}: {a:e} vs {n:e}");
        }
    }
}

#[test]
fn reference_is_trls_formula() {
    let mut rng = SplitMix64::new(22);
    for &beta in &[0.0, 0.1, 0.5, 0.7, 1.0] {
        for &t in &[0.5, 1.0, 4.0, 20.0] {
            let z = random(&mut rng, 7, 4.0);
            let teacher = random(&mut rng, 7, 4.0);
            let expected = trl_row(&z, &teacher, t, beta);
            let (got, _) = row_jsd(&z, &teacher, t, beta);
            assert_close(&format!("β={beta} T={t}"), got, expected, 1e-10);
        }
    }
}

#[test]
fn teacher_equal_to_student_gives_zero_jsd_and_zero_soft_gradient() {
    let mut rng = SplitMix64::new(23);
    let (z, _, labels) = gcheck::equal_rows(&mut rng, 12, 10);
    let z64: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    for beta in gcheck::EDGE_BETAS {
        for t in [0.5f32, 4.0, 100.0] {
            let soft = gjsd_loss(&z64, &z64, &labels, 12, 10, t as f64, 1.0, beta as f64);
            assert!(soft.row_kl.iter().all(|&v| v == 0.0), "β={beta}");
            assert!(soft.grad.iter().all(|&v| v == 0.0), "β={beta}");
        }
    }
    with_gpu!(ctx => {
        let same = batch(&z, &z, &labels, 10);
        let ce = kd_loss::kd_loss(ctx, &same, KdConfig { temperature: 4.0, alpha: 0.0 }).unwrap();
        for beta in gcheck::EDGE_BETAS {
            for t in [0.5f32, 4.0, 100.0] {
                let got = gjsd::gjsd(ctx, &same, config(t, 1.0, beta)).unwrap();
                assert!(got.row_kl.iter().all(|&v| v == 0.0), "β={beta} T={t}: {:?}", got.row_kl);
                assert!(got.grad.iter().all(|&v| v == 0.0), "β={beta} T={t}");
                let half = gjsd::gjsd(ctx, &same, config(t, 0.5, beta)).unwrap();
                for (g, e) in half.grad.iter().zip(&ce.grad) {
                    assert!((g - 0.5 * e).abs() <= 1e-8, "β={beta} T={t}: {g} vs {e}/2");
                }
            }
        }
    });
}

#[test]
fn beta_zero_is_the_kd_loss_forward_kl() {
    let mut rng = SplitMix64::new(24);
    let (rows, cols) = (6, 9);
    let z = random(&mut rng, rows * cols, 5.0);
    let t = random(&mut rng, rows * cols, 5.0);
    let labels: Vec<u32> = (0..rows).map(|r| (r % cols) as u32).collect();
    for &(temperature, alpha) in &[(1.0, 0.5), (4.0, 0.9), (20.0, 1.0)] {
        let g = gjsd_loss(&z, &t, &labels, rows, cols, temperature, alpha, 0.0);
        let k = kd_reference::kd_loss(&z, &t, &labels, rows, cols, temperature, alpha);
        assert_eq!(g.row_kl, k.row_kl);
        assert_eq!(g.grad, k.grad);
        assert_eq!(g.loss, k.loss);
    }
    with_gpu!(ctx => {
        let (z, t) = (to_f32(&z), to_f32(&t));
        let b = batch(&z, &t, &labels, cols);
        for &(temperature, alpha) in &[(1.0f32, 0.5f32), (4.0, 0.9), (20.0, 1.0)] {
            let g = gjsd::gjsd(ctx, &b, GjsdConfig::forward_kl(temperature, alpha)).unwrap();
            let k = kd_loss::kd_loss(ctx, &b, KdConfig { temperature, alpha }).unwrap();
            let e: Vec<f64> = k.row_kl.iter().map(|&v| v as f64).collect();
            compare("β=0 row jsd vs kd row kl", &g.row_kl, &e, Tolerance::new(0.0, 1e-6)).assert_ok();
            let e: Vec<f64> = k.grad.iter().map(|&v| v as f64).collect();
            compare("β=0 grad vs kd grad", &g.grad, &e, Tolerance::new(1e-9, 1e-6)).assert_ok();
        }
    });
}

#[test]
fn beta_one_is_the_reverse_kl() {
    // KL(q ‖ p) is the KD reference's KL with teacher and student swapped.
    let mut rng = SplitMix64::new(25);
    for &temperature in &[0.5, 1.0, 4.0, 100.0] {
        let (z, t) = (random(&mut rng, 8, 6.0), random(&mut rng, 8, 6.0));
        let (reverse, grad) = row_jsd(&z, &t, temperature, 1.0);
        let swapped = kd_reference::kd_loss(&t, &z, &[0], 1, 8, temperature, 1.0).row_kl[0];
        assert_close(&format!("T={temperature}"), reverse, swapped, 1e-12);
        // T·∂KL(q ‖ p)/∂z = q ⊙ (log q − log p − KL(q ‖ p)).
        let lsm = |x: &[f64]| -> Vec<f64> {
            let sum: f64 = x.iter().map(|&v| (v / temperature).exp()).sum();
            x.iter().map(|&v| v / temperature - sum.ln()).collect()
        };
        let (lq, lp) = (lsm(&z), lsm(&t));
        for c in 0..8 {
            let e = lq[c].exp() * (lq[c] - lp[c] - reverse);
            assert!((grad[c] - e).abs() <= 1e-12, "T={temperature} [{c}]: {e}");
        }
    }
    assert_eq!(GjsdConfig::reverse_kl(2.0, 0.3), config(2.0, 0.3, 1.0));
    assert_eq!(GjsdConfig::forward_kl(2.0, 0.3), config(2.0, 0.3, 0.0));
}

#[test]
fn the_mixture_over_beta_tends_to_the_forward_kl_and_over_one_minus_beta_to_the_reverse() {
    // trl's ends are these limits: JSD_β/β → KL(p ‖ q) as β → 0 and JSD_β/(1 − β) → KL(q ‖ p)
    // as β → 1, values and gradients; the mixture itself vanishes at both ends.
    let mut rng = SplitMix64::new(26);
    let (z, t) = (random(&mut rng, 6, 3.0), random(&mut rng, 6, 3.0));
    let (forward, forward_grad) = row_jsd(&z, &t, 2.0, 0.0);
    let (reverse, reverse_grad) = row_jsd(&z, &t, 2.0, 1.0);
    let eps = 1e-6;
    let (near_zero, near_zero_grad) = row_jsd(&z, &t, 2.0, eps);
    let (near_one, near_one_grad) = row_jsd(&z, &t, 2.0, 1.0 - eps);
    assert_close("JSD_ε/ε", near_zero / eps, forward, 1e-4);
    assert_close("JSD_(1−ε)/ε", near_one / eps, reverse, 1e-4);
    for (near, end) in [
        (near_zero_grad, forward_grad),
        (near_one_grad, reverse_grad),
    ] {
        for (g, e) in near.iter().zip(&end) {
            assert!(
                (g / eps - e).abs() <= 1e-4 * e.abs().max(1e-3),
                "{g:e}/ε vs {e:e}"
            );
        }
    }
    assert!(near_zero < 2.0 * eps * forward && near_one < 2.0 * eps * reverse);
}

#[test]
fn jsd_is_symmetric_under_swapping_teacher_and_student_with_beta() {
    // JSD_β(p, q) = JSD_{1−β}(q, p); at β = 1/2 it is symmetric.
    let mut rng = SplitMix64::new(27);
    let (z, t) = (random(&mut rng, 10, 5.0), random(&mut rng, 10, 5.0));
    for beta in [0.5, 0.2, 0.9] {
        let (one, _) = row_jsd(&z, &t, 1.5, beta);
        let (other, _) = row_jsd(&t, &z, 1.5, 1.0 - beta);
        assert_close(&format!("β={beta}"), one, other, 1e-12);
    }
    with_gpu!(ctx => {
        let (z, t) = (to_f32(&z), to_f32(&t));
        let labels = [3u32];
        let one = gjsd::gjsd(ctx, &batch(&z, &t, &labels, 10), config(1.5, 1.0, 0.5)).unwrap();
        let other = gjsd::gjsd(ctx, &batch(&t, &z, &labels, 10), config(1.5, 1.0, 0.5)).unwrap();
        assert!((one.row_kl[0] - other.row_kl[0]).abs() <= 2e-6 * one.row_kl[0]);
        // The gradient (with respect to the student's logits) is another.
        let e = gcheck::reference_at(&batch(&z, &t, &labels, 10), config(1.5, 1.0, 0.5));
        assert!(!grad_close(&other.grad, &e.grad) && grad_close(&one.grad, &e.grad));
    });
}

#[test]
fn jsd_is_bounded_by_the_entropy_of_beta_and_reaches_it_for_disjoint_rows() {
    // 0 ≤ JSD_β ≤ −β log β − (1 − β) log(1 − β), with equality when p and q do not overlap.
    let z = [1e4f32, -1e4, -1e4, 1e4, -1e4, -1e4];
    let t = [-1e4f32, 1e4, -1e4, -1e4, -1e4, 1e4];
    for beta in [0.1f64, 0.5, 0.9] {
        let bound = -beta * beta.ln() - (1.0 - beta) * (1.0 - beta).ln();
        let (jsd, _) = row_jsd(&[1e4, -1e4, -1e4], &[-1e4, 1e4, -1e4], 0.5, beta);
        assert_close(&format!("β={beta}"), jsd, bound, 1e-12);
        let mut rng = SplitMix64::new(28);
        for _ in 0..20 {
            let (a, b) = (random(&mut rng, 5, 8.0), random(&mut rng, 5, 8.0));
            let (v, _) = row_jsd(&a, &b, 1.0, beta);
            assert!((0.0..=bound).contains(&v), "β={beta}: {v}");
        }
    }
    with_gpu!(ctx => {
        for beta in [0.1f32, 0.5, 0.9] {
            let bound = -(beta as f64) * (beta as f64).ln() - (1.0 - beta as f64) * (1.0 - beta as f64).ln();
            for temperature in [0.5f32, 1.0, 100.0] {
                let got = gjsd::gjsd(ctx, &batch(&z, &t, &[0, 2], 3), config(temperature, 1.0, beta)).unwrap();
                for &v in &got.row_kl {
                    assert!((v as f64 - bound).abs() <= 1e-6 * bound, "β={beta} T={temperature}: {v} vs {bound}");
                }
                assert!(got.grad.iter().all(|g| g.is_finite()) && got.loss.is_finite());
            }
        }
    });
}

#[test]
fn alpha_zero_is_cross_entropy_and_the_loss_weighs_jsd_by_alpha_t_squared() {
    let mut rng = SplitMix64::new(29);
    let (rows, cols) = (5, 7);
    let z = random(&mut rng, rows * cols, 4.0);
    let t = random(&mut rng, rows * cols, 4.0);
    let labels = [0u32, 6, 3, 3, 1];
    let ce = kd_reference::kd_loss(&z, &t, &labels, rows, cols, 1.0, 0.0);
    let plain = gjsd_loss(&z, &t, &labels, rows, cols, 3.0, 0.0, 0.5);
    assert_eq!(plain.loss, ce.loss);
    assert_eq!(plain.grad, ce.grad);
    let out = gjsd_loss(&z, &t, &labels, rows, cols, 3.0, 0.4, 0.5);
    assert_close("loss", out.loss, 0.6 * out.ce + 0.4 * 9.0 * out.kl, 1e-14);
    let (w_ce, w_jsd) = config(3.0, 0.4, 0.5).weights();
    assert_eq!((w_ce, w_jsd), (0.6, 0.4 * 9.0));
}

#[test]
fn gpu_matches_reference_on_the_suite() {
    with_gpu!(ctx => {
        let results = gcheck::suite(ctx, &mut SplitMix64::new(30)).unwrap();
        let kernels: Vec<String> = summarize(&results).into_iter().map(|k| k.kernel).collect();
        assert_eq!(
            kernels,
            ["gjsd grad", "gjsd grad by row terms", "gjsd row ce", "gjsd row jsd", "gjsd batch loss/ce/jsd"]
        );
        assert!(results.len() >= 5 * (40 + 40 + 150), "{} checks", results.len());
        assert_all_ok(&results);
    });
}

#[test]
fn high_temperature_limit_is_beta_one_minus_beta_halves_of_the_centred_logit_mse() {
    // T²·JSD_β → β(1 − β)/(2C)·Σ (δ_c − δ̄)², δ = z − t, and T²·∂JSD/∂z → β(1 − β)/C·(δ − δ̄):
    // Hinton's high-temperature KD limit scaled by the mixture.
    let mut rng = SplitMix64::new(32);
    let (z, t) = (random(&mut rng, 6, 3.0), random(&mut rng, 6, 3.0));
    let delta: Vec<f64> = z.iter().zip(&t).map(|(a, b)| a - b).collect();
    let mean = delta.iter().sum::<f64>() / 6.0;
    let temperature = 1e3;
    for beta in [0.2, 0.5, 0.8] {
        let scale = beta * (1.0 - beta);
        let limit = scale / 12.0 * delta.iter().map(|d| (d - mean).powi(2)).sum::<f64>();
        let (jsd, grad) = row_jsd(&z, &t, temperature, beta);
        let t2 = temperature * temperature;
        assert_close(&format!("β={beta}"), t2 * jsd, limit, 1e-2);
        for (g, d) in grad.iter().zip(&delta) {
            let e = scale / 6.0 * (d - mean);
            assert!(
                (temperature * g - e).abs() <= 1e-2 * scale,
                "β={beta}: {g} vs {e}"
            );
        }
    }
}

#[test]
fn rows_beyond_one_grid_dimension_are_all_computed() {
    with_gpu!(ctx => {
        let rows = 65_537;
        let (z, t, labels) = gcheck::random_rows(&mut SplitMix64::new(33), rows, 2);
        let b = batch(&z, &t, &labels, 2);
        let results = gcheck::check_gjsd(ctx, "past 65535 rows", &b, config(2.0, 0.5, 0.5)).unwrap();
        assert_all_ok(&results);
    });
}

#[test]
fn runs_are_deterministic() {
    with_gpu!(ctx => {
        let (z, t, labels) = gcheck::random_rows(&mut SplitMix64::new(34), 64, 1000);
        let b = batch(&z, &t, &labels, 1000);
        for beta in [0.0f32, 0.5, 1.0] {
            let one = gjsd::gjsd(ctx, &b, config(4.0, 0.7, beta)).unwrap();
            let two = gjsd::gjsd(ctx, &b, config(4.0, 0.7, beta)).unwrap();
            assert_eq!(one.loss.to_bits(), two.loss.to_bits());
            assert!(one.grad.iter().zip(&two.grad).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert!(one.row_kl.iter().zip(&two.row_kl).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    });
}

/// Whether `got` is within [`GJSD_RTOL`] of `expected`'s largest entry everywhere.
fn grad_close(got: &[f32], expected: &[f64]) -> bool {
    let largest = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    compare(
        "grad",
        got,
        expected,
        Tolerance::new(GJSD_RTOL * largest, 0.0),
    )
    .passed()
}

/// Whether the GPU's gradient or per-row JSD at `right` fails the check against the reference
/// at `wrong`.
fn fails_against(ctx: &GpuContext, b: &KdBatch<'_>, right: GjsdConfig, wrong: GjsdConfig) -> bool {
    let got = gjsd::gjsd(ctx, b, right).unwrap();
    let e = gcheck::reference_at(b, wrong);
    let rows = compare(
        "jsd",
        &got.row_kl,
        &e.row_kl,
        Tolerance::new(0.0, GJSD_RTOL),
    );
    !(grad_close(&got.grad, &e.grad) && rows.passed())
}

#[test]
fn the_tolerances_catch_a_wrong_setting() {
    with_gpu!(ctx => {
        let (z, t, labels) = gcheck::random_rows(&mut SplitMix64::new(36), 16, 10);
        let b = batch(&z, &t, &labels, 10);
        for right in [config(4.0, 0.5, 0.5), config(2.0, 0.9, 0.1), config(1.0, 0.3, 0.9), config(4.0, 0.5, 1.0)] {
            assert!(!fails_against(ctx, &b, right, right), "{right:?}");
            let wrong = [
                GjsdConfig { temperature: right.temperature * 1.001, ..right },
                GjsdConfig { alpha: right.alpha + 0.001, ..right },
                GjsdConfig { beta: right.beta * 0.999, ..right },
                GjsdConfig { beta: 1.0 - right.beta, ..right },
            ];
            for w in wrong.into_iter().filter(|&w| w != right) {
                assert!(fails_against(ctx, &b, right, w), "{right:?} passed as {w:?}");
            }
        }
    });
}

#[test]
fn configs_are_validated_with_the_setting_named() {
    let default = GjsdConfig::default();
    assert_eq!(default, config(20.0, 0.9, 0.5));
    let reverse = GjsdConfig::reverse_kl(4.0, 0.5);
    for ok in [
        default,
        config(0.5, 0.0, 0.0),
        config(100.0, 1.0, 1.0),
        reverse,
    ] {
        assert!(ok.validate().is_ok(), "{ok:?}");
    }
    let nan = f32::NAN;
    let cases = [
        (nan, 0.5, 0.5, "temperature must be > 0"),
        (
            0.0,
            0.5,
            0.5,
            "temperature must be > 0 with T² and 1/T finite in f32 (about 1e-19 to 1e19), got 0",
        ),
        (-4.0, 0.5, 0.5, "got -4"),
        (f32::INFINITY, 0.5, 0.5, "got inf"),
        (1e-20, 0.5, 0.5, "got 0.00000000000000000001"),
        (4.0, -0.1, 0.5, "GJSD alpha must be in [0, 1], got -0.1"),
        (4.0, 1.5, 0.5, "alpha must be in [0, 1], got 1.5"),
        (4.0, nan, 0.5, "alpha must be in [0, 1], got NaN"),
        (4.0, 0.5, -0.5, "GJSD beta must be in [0, 1], got -0.5"),
        (4.0, 0.5, 1.01, "beta must be in [0, 1], got 1.01"),
        (4.0, 0.5, nan, "beta must be in [0, 1], got NaN"),
    ];
    for (t, alpha, beta, words) in cases {
        let cfg = config(t, alpha, beta);
        let err = cfg.validate().unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig(_) | Error::InvalidTemperature(_)),
            "{cfg:?}: {err}"
        );
        assert!(err.to_string().contains(words), "{cfg:?}: {err}");
    }
}

#[test]
fn bad_settings_and_inputs_are_rejected_on_the_gpu_path() {
    with_gpu!(ctx => {
        let z = [0.5f32, -0.5];
        let ok = batch(&z, &z, &[1], 2);
        for (cfg, word) in [(config(4.0, 0.5, 2.0), "beta"), (config(0.0, 0.5, 0.5), "temperature"), (config(4.0, -1.0, 0.5), "alpha")] {
            let err = gjsd::gjsd(ctx, &ok, cfg).unwrap_err();
            assert!(matches!(err, Error::InvalidConfig(_) | Error::InvalidTemperature(_)) && err.to_string().contains(word), "{cfg:?}: {err}");
            assert!(gjsd::prepare_gjsd(ctx, &ok, cfg).is_err());
        }
        let err = gjsd::gjsd(ctx, &batch(&z, &z, &[2], 2), GjsdConfig::default()).unwrap_err();
        assert!(matches!(err, Error::LabelOutOfRange { row: 0, label: 2, classes: 2 }), "{err}");
        let empty = KdBatch { student: &[], teacher: &[], labels: &[], rows: 0, cols: 2 };
        assert!(matches!(gjsd::gjsd(ctx, &empty, GjsdConfig::default()), Err(Error::EmptyBatch)));
        let short = KdBatch { student: &z, teacher: &z[..1], labels: &[0], rows: 1, cols: 2 };
        assert!(matches!(gjsd::gjsd(ctx, &short, GjsdConfig::default()), Err(Error::ShapeMismatch { .. })));
    });
}
