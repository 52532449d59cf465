//! The CPU reference checked against central finite differences (f64), and the KD-loss
//! conventions (T², batch mean, α) pinned on it.

mod common;

use common::{numeric_grad, random};
use distill_wgpu::cpu;
use distill_wgpu::{MlpSpec, SplitMix64};

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

#[test]
fn kd_loss_gradient_matches_finite_differences() {
    let mut rng = SplitMix64::new(7);
    let (rows, cols) = (3, 5);
    for &(t, alpha) in &[(1.0, 0.0), (4.0, 0.9), (0.5, 0.3), (20.0, 1.0)] {
        let z = random(&mut rng, rows * cols, 3.0);
        let teacher = random(&mut rng, rows * cols, 3.0);
        let labels = [0u32, 4, 2];
        let out = cpu::kd_loss(&z, &teacher, &labels, rows, cols, t, alpha);
        let numeric = numeric_grad(&z, |zz| {
            cpu::kd_loss(zz, &teacher, &labels, rows, cols, t, alpha).loss
        });
        assert_grads_close(&format!("dL/dz T={t} α={alpha}"), &out.grad, &numeric);
    }
}

#[test]
fn every_layer_of_a_two_hidden_layer_student_matches_finite_differences() {
    let spec = MlpSpec::relu(&[6, 7, 5, 4]).unwrap();
    let mut rng = SplitMix64::new(11);
    let params: Vec<f64> = spec.init_parameters(3).iter().map(|&v| v as f64).collect();
    let rows = 4;
    // Inputs kept away from ReLU kinks so the finite difference is smooth.
    let x = random(&mut rng, rows * spec.inputs(), 1.0);
    let teacher = random(&mut rng, rows * spec.classes(), 2.0);
    let labels = [1u32, 3, 0, 2];
    let (t, alpha) = (3.0, 0.7);
    let (_, grads) = cpu::kd_step_gradients(&spec, &params, &x, &labels, &teacher, rows, t, alpha);
    let numeric = numeric_grad(&params, |p| {
        cpu::kd_step_gradients(&spec, p, &x, &labels, &teacher, rows, t, alpha)
            .0
            .loss
    });
    for (l, layer) in spec.layers().iter().enumerate() {
        let w = layer.weight_offset..layer.bias_offset;
        let b = layer.bias_offset..layer.bias_offset + layer.outputs;
        assert_grads_close(&format!("layer {l} dW"), &grads[w.clone()], &numeric[w]);
        assert_grads_close(&format!("layer {l} db"), &grads[b.clone()], &numeric[b]);
    }
}

#[test]
fn dense_input_gradient_matches_finite_differences() {
    let mut rng = SplitMix64::new(5);
    let (rows, inputs, outputs) = (3, 4, 5);
    let x = random(&mut rng, rows * inputs, 1.0);
    let w = random(&mut rng, outputs * inputs, 1.0);
    let b = random(&mut rng, outputs, 1.0);
    let upstream = random(&mut rng, rows * outputs, 1.0);
    let loss = |xx: &[f64]| -> f64 {
        let y = cpu::dense_forward(
            xx,
            &w,
            &b,
            rows,
            inputs,
            outputs,
            distill_wgpu::Activation::Identity,
        );
        y.iter().zip(&upstream).map(|(a, g)| a * g).sum()
    };
    let g = cpu::dense_backward(&x, &w, &upstream, rows, inputs, outputs);
    assert_grads_close("dX", &g.input, &numeric_grad(&x, loss));
}

#[test]
fn alpha_zero_is_plain_cross_entropy() {
    let z = [2.0, -1.0, 0.5, 0.0, 3.0, -2.0];
    let teacher = [9.0, 9.0, -9.0, 1.0, 2.0, 3.0];
    let out = cpu::kd_loss(&z, &teacher, &[0, 2], 2, 3, 4.0, 0.0);
    let ce0 = -(2.0 - cpu::log_sum_exp(&z[0..3], 1.0));
    let ce1 = -(-2.0 - cpu::log_sum_exp(&z[3..6], 1.0));
    assert!((out.loss - (ce0 + ce1) / 2.0).abs() < 1e-12, "{}", out.loss);
    assert_eq!(out.loss, out.ce);
}

#[test]
fn alpha_one_gradient_is_t_times_q_minus_p_over_batch() {
    let mut rng = SplitMix64::new(9);
    let (rows, cols, t) = (4, 6, 5.0);
    let z = random(&mut rng, rows * cols, 4.0);
    let teacher = random(&mut rng, rows * cols, 4.0);
    let out = cpu::kd_loss(&z, &teacher, &[0, 1, 2, 3], rows, cols, t, 1.0);
    let (q, _) = cpu::softmax(&z, rows, cols, t);
    let (p, _) = cpu::softmax(&teacher, rows, cols, t);
    for i in 0..rows * cols {
        let expected = t * (q[i] - p[i]) / rows as f64;
        assert!((out.grad[i] - expected).abs() < 1e-14, "grad[{i}]");
    }
}

#[test]
fn teacher_equal_to_student_gives_zero_kl_and_zero_soft_gradient() {
    let z = [1.0, -3.0, 0.25, 7.0, 7.0, -7.0];
    let out = cpu::kd_loss(&z, &z, &[1, 0], 2, 3, 4.0, 1.0);
    assert!(out.kl.abs() < 1e-15, "kl = {}", out.kl);
    assert!(out.grad.iter().all(|g| g.abs() < 1e-15), "{:?}", out.grad);
}

#[test]
fn soft_term_carries_t_squared_and_batch_mean() {
    // Doubling T scales the loss's soft part by T² relative to KL; duplicating the batch leaves
    // the loss unchanged (mean over B, not over B·C and not a sum).
    let z = [0.3, -1.2, 2.0, 0.7];
    let teacher = [1.5, 0.2, -0.4, 0.9];
    for &t in &[2.0, 8.0] {
        let out = cpu::kd_loss(&z, &teacher, &[0], 1, 4, t, 1.0);
        assert!((out.loss - t * t * out.kl).abs() < 1e-14);
        assert!(out.kl > 0.0);
    }
    let one = cpu::kd_loss(&z, &teacher, &[2], 1, 4, 4.0, 0.5);
    let zz: Vec<f64> = z.iter().chain(&z).copied().collect();
    let tt: Vec<f64> = teacher.iter().chain(&teacher).copied().collect();
    let two = cpu::kd_loss(&zz, &tt, &[2, 2], 2, 4, 4.0, 0.5);
    assert!((one.loss - two.loss).abs() < 1e-14);
    // Hand-computed KL for one row at T = 4 pins the divisor to B.
    let (p, lp) = cpu::softmax(&teacher, 1, 4, 4.0);
    let (_, lq) = cpu::softmax(&z, 1, 4, 4.0);
    let kl: f64 = (0..4).map(|c| p[c] * (lp[c] - lq[c])).sum();
    assert!((two.kl - kl).abs() < 1e-15);
}

#[test]
fn softmax_is_stable_at_extreme_logits() {
    let (p, lp) = cpu::softmax(&[1234.0, 0.0, -1e4, 1e4], 2, 2, 1.0);
    assert_eq!(p[0], 1.0);
    assert_eq!(p[1], 0.0);
    assert!((lp[1] + 1234.0).abs() < 1e-9);
    assert_eq!(p[3], 1.0);
    assert!(lp.iter().all(|v| v.is_finite()));
}

#[test]
fn optimizers_follow_their_definitions() {
    let mut p = vec![1.0, -2.0];
    let mut v = vec![0.5, 0.0];
    cpu::sgd_step(&mut p, &[0.1, 0.2], &mut v, 0.1, 0.9, 0.01);
    // g = 0.1 + 0.01·1 = 0.11; v = 0.45 + 0.11 = 0.56; p = 1 − 0.056
    assert!((v[0] - 0.56).abs() < 1e-15 && (p[0] - 0.944).abs() < 1e-15);
    let mut p = vec![1.0];
    let (mut m, mut s) = (vec![0.0], vec![0.0]);
    cpu::adamw_step(
        &mut p,
        &[0.5],
        &mut m,
        &mut s,
        1,
        0.1,
        0.9,
        0.999,
        1e-8,
        0.0,
    );
    // First bias-corrected Adam step moves by lr·sign(g).
    assert!((p[0] - 0.9).abs() < 1e-7, "{}", p[0]);
}

#[test]
fn hint_loss_gradient_matches_finite_differences() {
    let mut rng = SplitMix64::new(11);
    for &(rows, width, beta) in &[(1, 1, 1.0), (3, 5, 0.5), (4, 7, 2.0), (2, 3, 0.0)] {
        let r = random(&mut rng, rows * width, 3.0);
        let h = random(&mut rng, rows * width, 3.0);
        let out = cpu::hint_loss(&r, &h, rows, width, beta);
        let numeric = numeric_grad(&r, |rr| cpu::hint_loss(rr, &h, rows, width, beta).loss);
        assert_grads_close(
            &format!("dL/dr {rows}x{width} β={beta}"),
            &out.grad,
            &numeric,
        );
        // The MSE is the plain mean of squares, the loss β times it, the rows' terms average
        // to it.
        let squares: f64 = r.iter().zip(&h).map(|(a, b)| (a - b).powi(2)).sum();
        let mse = squares / (rows * width) as f64;
        assert!((out.mse - mse).abs() <= 1e-12 * mse, "{} vs {mse}", out.mse);
        assert!((out.loss - beta * mse).abs() <= 1e-12 * mse);
        let row_mean = out.row_mse.iter().sum::<f64>() / rows as f64;
        assert!((row_mean - mse).abs() <= 1e-12 * mse);
    }
    let same = cpu::hint_loss(&[1.5, -2.0], &[1.5, -2.0], 1, 2, 3.0);
    assert_eq!((same.loss, same.mse), (0.0, 0.0));
    assert!(same.grad.iter().all(|&g| g == 0.0));
}

#[test]
fn ema_toward_a_constant_student_closes_the_gap_by_d_per_update() {
    let mut rng = SplitMix64::new(12);
    let theta = random(&mut rng, 6, 2.0);
    let start = random(&mut rng, 6, 2.0);
    for &d in &[0.5, 0.9, 0.99, 0.999] {
        let mut shadow = start.clone();
        for n in 1..=50 {
            shadow = cpu::ema_update(&shadow, &theta, d);
            for i in 0..theta.len() {
                // θ'ₙ = θ + dⁿ·(θ'₀ − θ)
                let expected = theta[i] + d.powi(n) * (start[i] - theta[i]);
                assert!(
                    (shadow[i] - expected).abs() <= 1e-13,
                    "d={d} n={n} [{i}]: {} vs {expected}",
                    shadow[i]
                );
            }
        }
    }
}

/// The DKD reference at `(T, A, B, w)`.
fn dkd(
    z: &[f64],
    t: &[f64],
    labels: &[u32],
    (rows, cols): (usize, usize),
    (temperature, a, b, ramp): (f64, f64, f64, f64),
) -> cpu::KdOutput<f64> {
    cpu::dkd_loss(z, t, labels, rows, cols, temperature, a, b, ramp)
}

#[test]
fn dkd_gradient_matches_finite_differences() {
    let mut rng = SplitMix64::new(17);
    let settings = [
        (4.0, 1.0, 8.0, 1.0),
        (1.0, 1.0, 8.0, 0.5),
        (0.5, 2.0, 1.0, 1.0),
        (20.0, 1.0, 8.0, 0.3),
        (4.0, 0.0, 8.0, 1.0),
        (4.0, 1.0, 0.0, 1.0),
        (2.0, 1.0, 8.0, 0.0),
    ];
    for &(rows, cols) in &[(3, 5), (4, 2)] {
        for &setting in &settings {
            let z = random(&mut rng, rows * cols, 3.0);
            let t = random(&mut rng, rows * cols, 3.0);
            let labels: Vec<u32> = (0..rows).map(|r| (r % cols) as u32).collect();
            let out = dkd(&z, &t, &labels, (rows, cols), setting);
            let numeric = numeric_grad(&z, |zz| dkd(zz, &t, &labels, (rows, cols), setting).loss);
            let what = format!("DKD dL/dz {rows}x{cols} (T, A, B, w) = {setting:?}");
            assert_grads_close(&what, &out.grad, &numeric);
        }
    }
}

#[test]
fn dkd_terms_follow_their_definitions() {
    // TCKD and NCKD written out plainly on moderate logits, and the batch loss assembled.
    let z = [0.3, -1.2, 2.0, 0.7, 1.1];
    let t = [1.5, 0.2, -0.4, 0.9, -2.0];
    let (y, temp) = (2usize, 3.0);
    let (q, _) = cpu::softmax(&z, 1, 5, temp);
    let (p, _) = cpu::softmax(&t, 1, 5, temp);
    let tckd = p[y] * (p[y] / q[y]).ln() + (1.0 - p[y]) * ((1.0 - p[y]) / (1.0 - q[y])).ln();
    let rest = |v: &[f64]| -> Vec<f64> {
        let total: f64 = (0..5).filter(|&c| c != y).map(|c| v[c]).sum();
        (0..5).filter(|&c| c != y).map(|c| v[c] / total).collect()
    };
    let (qh, ph) = (rest(&q), rest(&p));
    let nckd: f64 = (0..4).map(|i| ph[i] * (ph[i] / qh[i]).ln()).sum();
    assert!((cpu::tckd(&z, &t, y, temp) - tckd).abs() < 1e-14);
    assert!((cpu::nckd(&z, &t, y, temp) - nckd).abs() < 1e-14);
    let out = dkd(&z, &t, &[y as u32], (1, 5), (temp, 1.5, 8.0, 0.25));
    let ce = cpu::log_sum_exp(&z, 1.0) - z[y];
    assert!((out.kl - (1.5 * tckd + 8.0 * nckd)).abs() < 1e-13);
    assert!((out.loss - (ce + 0.25 * temp * temp * out.kl)).abs() < 1e-12);
}

#[test]
fn dkd_with_two_classes_is_plain_kd() {
    let mut rng = SplitMix64::new(19);
    let (rows, cols) = (6, 2);
    for &temp in &[0.5, 1.0, 4.0, 100.0] {
        let z = random(&mut rng, rows * cols, 6.0);
        let t = random(&mut rng, rows * cols, 6.0);
        let labels = [0u32, 1, 1, 0, 1, 0];
        let kd = cpu::kd_loss(&z, &t, &labels, rows, cols, temp, 1.0);
        let parts = cpu::dkd_parts(&z, &t, &labels, rows, cols, temp);
        assert!(parts.row_nckd.iter().all(|&v| v == 0.0), "{parts:?}");
        assert!(parts.non_target.iter().all(|&v| v == 0.0), "{parts:?}");
        for r in 0..rows {
            let (got, want) = (parts.row_tckd[r], kd.row_kl[r]);
            let close = (got - want).abs() <= 1e-12 * want.abs();
            assert!(close, "T={temp} row {r}: {got} vs {want}");
        }
        // A = 1, w = 1: the soft gradient is KD's T·(q − p)/B, whatever B.
        let out = dkd(&z, &t, &labels, (rows, cols), (temp, 1.0, 8.0, 1.0));
        let ce = cpu::kd_loss(&z, &t, &labels, rows, cols, temp, 0.0);
        for i in 0..rows * cols {
            let want = ce.grad[i] + kd.grad[i];
            let close = (out.grad[i] - want).abs() <= 1e-14 * (1.0 + want.abs());
            assert!(close, "T={temp} grad[{i}]: {} vs {want}", out.grad[i]);
        }
    }
}

#[test]
fn dkd_without_a_kd_term_is_plain_cross_entropy() {
    let mut rng = SplitMix64::new(23);
    let (rows, cols) = (5, 7);
    let z = random(&mut rng, rows * cols, 4.0);
    let t = random(&mut rng, rows * cols, 4.0);
    let labels = [0u32, 6, 3, 3, 1];
    let ce = cpu::kd_loss(&z, &t, &labels, rows, cols, 4.0, 0.0);
    for setting in [
        (4.0, 0.0, 0.0, 1.0),
        (4.0, 1.0, 8.0, 0.0),
        (0.5, 0.0, 0.0, 0.7),
    ] {
        let out = dkd(&z, &t, &labels, (rows, cols), setting);
        assert!((out.loss - ce.loss).abs() < 1e-14, "{setting:?}");
        assert_eq!(out.ce, ce.ce);
        assert_eq!(out.grad, ce.grad, "{setting:?}");
    }
}

#[test]
fn dkd_teacher_equal_to_student_has_no_kd_term() {
    let mut rng = SplitMix64::new(29);
    let (rows, cols) = (4, 10);
    let z = random(&mut rng, rows * cols, 6.0);
    let labels = [0u32, 9, 4, 2];
    let ce = cpu::kd_loss(&z, &z, &labels, rows, cols, 4.0, 0.0);
    for &temp in &[0.5, 4.0, 100.0] {
        let out = dkd(&z, &z, &labels, (rows, cols), (temp, 1.0, 8.0, 1.0));
        assert!(
            out.row_kl.iter().all(|&v| v.abs() < 1e-15),
            "T={temp}: {:?}",
            out.row_kl
        );
        for i in 0..rows * cols {
            assert!(
                (out.grad[i] - ce.grad[i]).abs() < 1e-16,
                "T={temp} grad[{i}]"
            );
        }
    }
}

#[test]
fn dkd_is_finite_when_the_teacher_is_certain() {
    // Teacher gaps of ±1e4 put p_y at exactly 1 or 0; TCKD is then −log q_y or −log(1 − q_y).
    let z = [0.5, -1.0, 2.0, 1e4, -1e4, 0.0];
    for &temp in &[0.5, 4.0, 100.0] {
        for &(gap, y) in &[(1e4, 0usize), (-1e4, 1)] {
            let mut t = vec![0.1, 0.2, -0.3];
            t[y] += gap;
            let tz = &z[0..3];
            let tckd = cpu::tckd(tz, &t, y, temp);
            let (q, lq) = cpu::softmax(tz, 1, 3, temp);
            let want = if gap > 0.0 {
                -lq[y]
            } else {
                -(1.0 - q[y]).ln()
            };
            // The binary logits differ by up to 4e4 here, so f64 keeps about 1e-12 of TCKD.
            assert!(
                (tckd - want).abs() < 1e-10 * want.abs(),
                "T={temp}: {tckd} vs {want}"
            );
            let out = dkd(tz, &t, &[y as u32], (1, 3), (temp, 1.0, 8.0, 1.0));
            assert!(out.loss.is_finite() && out.grad.iter().all(|g| g.is_finite()));
        }
        let out = dkd(
            &z[3..6],
            &[-1e4, 1e4, 0.0],
            &[0],
            (1, 3),
            (temp, 1.0, 8.0, 1.0),
        );
        assert!(
            out.loss.is_finite() && out.grad.iter().all(|g| g.is_finite()),
            "{out:?}"
        );
    }
}
