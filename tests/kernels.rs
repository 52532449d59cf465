//! Every kernel on the GPU against the CPU reference: named edge shapes and a seeded random
//! sweep, per-element tolerances, outputs pre-filled with NaN (see `kernels`).

mod common;

use distill_wgpu::ops::check::random_vec;
use distill_wgpu::ops::kd_loss::{self, KdBatch};
use distill_wgpu::ops::matmul::check::MATMUL_EDGE_SHAPES;
use distill_wgpu::ops::{bias_grad, matmul, optim, softmax};
use distill_wgpu::Optimizer;
use distill_wgpu::SplitMix64;
use distill_wgpu::{cpu, Error, KdConfig, MatmulVariant};

fn check_all_matmul_cases(
    ctx: &distill_wgpu::GpuContext,
    variant: MatmulVariant,
    rng: &mut SplitMix64,
    label: &str,
    m: usize,
    n: usize,
    k: usize,
) {
    for case in matmul::check::matmul_cases(rng, m, n, k) {
        if variant.supports(&case.spec) {
            case.check(ctx, variant, label).unwrap().assert_ok();
        }
    }
}

#[test]
fn every_variant_is_exercised_by_the_edge_shapes() {
    let mut rng = SplitMix64::new(1);
    for variant in MatmulVariant::all() {
        let supported = MATMUL_EDGE_SHAPES
            .iter()
            .flat_map(|&(_, m, n, k)| matmul::check::matmul_cases(&mut rng, m, n, k))
            .filter(|case| variant.supports(&case.spec))
            .count();
        assert!(
            supported >= 4,
            "{} checked on only {supported} cases",
            variant.name()
        );
    }
}

#[test]
fn matmul_every_variant_on_named_edge_shapes() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(1);
        for variant in MatmulVariant::runnable(ctx.subgroup_lanes()) {
            for &(name, m, n, k) in MATMUL_EDGE_SHAPES {
                check_all_matmul_cases(ctx, variant, &mut rng, name, m, n, k);
            }
        }
    });
}

#[test]
fn matmul_every_variant_on_a_seeded_random_sweep() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(0xC0FFEE);
        for variant in MatmulVariant::runnable(ctx.subgroup_lanes()) {
            for _ in 0..4 {
                let (m, n, k) = (1 + rng.below(90), 1 + rng.below(150), 1 + rng.below(120));
                // Every other shape has N % 4 == 0 so the vec4 variants are swept too.
                let n = if rng.below(2) == 0 { 4 * n.div_ceil(4) } else { n };
                check_all_matmul_cases(ctx, variant, &mut rng, "sweep", m, n, k);
            }
        }
    });
}

#[test]
fn matmul_chosen_variants_at_mlp_shapes() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(3);
        // Student 784-800-800-10 at batch 64: forward, input and weight gradients.
        for &(m, n, k) in &[(64, 800, 784), (64, 10, 800), (64, 784, 800)] {
            for case in matmul::check::matmul_cases(&mut rng, m, n, k) {
                let variant = matmul::choose(ctx, &case.spec);
                case.check(ctx, variant, "mlp").unwrap().assert_ok();
            }
        }
    });
}

#[test]
fn matmul_rejects_short_operands() {
    with_gpu!(ctx => {
        let spec = distill_wgpu::MatmulSpec::forward(4, 3, 2, 0, 6, false);
        let err = matmul::matmul(ctx, matmul::choose(ctx, &spec), &spec, &[0.0; 5], &[0.0; 8], &[0.0; 8]).unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
        let vec4 = MatmulVariant::UnrolledVec4 { rows: 16, cols: 16 };
        assert!(!vec4.supports(&spec), "X·Wᵀ reads B with a column stride");
        let err = matmul::matmul(ctx, vec4, &spec, &[0.0; 12], &[0.0; 14], &[0.0; 14]).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
    });
}

#[test]
fn softmax_matches_reference_on_edge_shapes_and_temperatures() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(4);
        for &(rows, cols) in &[(1, 1), (1, 2), (3, 10), (17, 1000), (5, 63), (2, 65)] {
            for &t in &[0.5f32, 1.0, 4.0, 20.0, 100.0] {
                let x = random_vec(&mut rng, rows * cols, -10.0, 10.0);
                for c in softmax::check::check_softmax(ctx, &x, rows, cols, t).unwrap() {
                    c.assert_ok();
                }
            }
        }
    });
}

#[test]
fn softmax_is_stable_at_extreme_logits() {
    with_gpu!(ctx => {
        let x = [1234.0f32, 0.0, -1e4, 1e4, 1e4, 1e4, -1e4, -1e4];
        let (p, lp) = softmax::softmax(ctx, &x, 4, 2, 1.0).unwrap();
        assert_eq!(&p[..4], &[1.0, 0.0, 0.0, 1.0]);
        assert_eq!(&p[4..], &[0.5, 0.5, 0.5, 0.5]);
        assert!(lp.iter().all(|v| v.is_finite()), "{lp:?}");
        assert!((lp[1] + 1234.0).abs() < 1e-3);
    });
}

#[test]
fn kd_loss_matches_reference_on_class_counts_and_settings() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(5);
        for &(rows, cols) in &[(1, 2), (1, 10), (13, 2), (32, 10), (5, 1000), (70, 10)] {
            for &(t, alpha) in &[(1.0f32, 0.0f32), (0.5, 0.5), (4.0, 0.9), (20.0, 1.0), (100.0, 0.7)] {
                let z = random_vec(&mut rng, rows * cols, -8.0, 8.0);
                let teacher = random_vec(&mut rng, rows * cols, -8.0, 8.0);
                let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
                for c in kd_loss::check::check_kd_loss(ctx, &KdBatch { student: &z, teacher: &teacher, labels: &labels, rows, cols }, KdConfig { temperature: t, alpha }).unwrap() {
                    c.assert_ok();
                }
            }
        }
    });
}

#[test]
fn kd_loss_is_finite_and_correct_at_extreme_logits() {
    with_gpu!(ctx => {
        // ±1e4 logits and spreads of 1e4 within a row.
        let z = [1e4f32, -1e4, 0.0, 5e3, -1e4, 1e4, 1e4, 0.0, 3.0, 2.0, 1e4, -1e4];
        let teacher = [-1e4f32, 1e4, 3.0, 0.0, 1e4, 1e4, -1e4, 2.0, -1e4, 0.0, 1e4, 9.0];
        for &t in &[0.5f32, 1.0, 4.0, 20.0, 100.0] {
            let got = kd_loss::kd_loss(ctx, &KdBatch { student: &z, teacher: &teacher, labels: &[1, 2, 0], rows: 3, cols: 4 }, KdConfig { temperature: t, alpha: 0.5 }).unwrap();
            assert!(got.loss.is_finite() && got.grad.iter().all(|g| g.is_finite()), "T={t}: {got:?}");
            for c in kd_loss::check::check_kd_loss(ctx, &KdBatch { student: &z, teacher: &teacher, labels: &[1, 2, 0], rows: 3, cols: 4 }, KdConfig { temperature: t, alpha: 0.5 }).unwrap() {
                c.assert_ok();
            }
        }
    });
}

#[test]
fn kd_loss_alpha_zero_equals_plain_cross_entropy() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(6);
        let (rows, cols) = (8, 10);
        let z = random_vec(&mut rng, rows * cols, -5.0, 5.0);
        let teacher = random_vec(&mut rng, rows * cols, -5.0, 5.0);
        let labels: Vec<u32> = (0..rows as u32).collect();
        let got = kd_loss::kd_loss(ctx, &KdBatch { student: &z, teacher: &teacher, labels: &labels, rows, cols }, KdConfig { temperature: 4.0, alpha: 0.0 }).unwrap();
        let ce: f64 = (0..rows)
            .map(|r| {
                let row = cpu::to_f64(&z[r * cols..(r + 1) * cols]);
                cpu::log_sum_exp(&row, 1.0) - row[labels[r] as usize]
            })
            .sum::<f64>()
            / rows as f64;
        assert!((got.loss as f64 - ce).abs() < 1e-5, "{} vs {ce}", got.loss);
        assert_eq!(got.loss, got.ce);
        let (s, _) = cpu::softmax(&cpu::to_f64(&z), rows, cols, 1.0);
        for i in 0..rows * cols {
            let onehot = if i % cols == labels[i / cols] as usize { 1.0 } else { 0.0 };
            let expected = (s[i] - onehot) / rows as f64;
            assert!((got.grad[i] as f64 - expected).abs() < 1e-6, "grad[{i}]");
        }
    });
}

#[test]
fn kd_loss_alpha_one_gradient_is_t_times_q_minus_p_over_batch() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(7);
        let (rows, cols, t) = (6, 10, 4.0f32);
        let z = random_vec(&mut rng, rows * cols, -5.0, 5.0);
        let teacher = random_vec(&mut rng, rows * cols, -5.0, 5.0);
        let got = kd_loss::kd_loss(ctx, &KdBatch { student: &z, teacher: &teacher, labels: &[0; 6], rows, cols }, KdConfig { temperature: t, alpha: 1.0 }).unwrap();
        let (q, _) = cpu::softmax(&cpu::to_f64(&z), rows, cols, t as f64);
        let (p, _) = cpu::softmax(&cpu::to_f64(&teacher), rows, cols, t as f64);
        for i in 0..rows * cols {
            let expected = t as f64 * (q[i] - p[i]) / rows as f64;
            assert!((got.grad[i] as f64 - expected).abs() < 1e-6, "grad[{i}] {} vs {expected}", got.grad[i]);
        }
    });
}

#[test]
fn kd_loss_teacher_equal_to_student_has_zero_kl_and_soft_gradient() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(8);
        let z = random_vec(&mut rng, 40, -6.0, 6.0);
        let got = kd_loss::kd_loss(ctx, &KdBatch { student: &z, teacher: &z, labels: &[0, 1, 2, 3], rows: 4, cols: 10 }, KdConfig { temperature: 3.0, alpha: 1.0 }).unwrap();
        assert!(got.kl.abs() < 1e-6, "kl = {}", got.kl);
        assert!(got.grad.iter().all(|g| g.abs() < 1e-7), "{:?}", got.grad);
    });
}

#[test]
fn kd_loss_pins_t_squared_and_batch_mean() {
    with_gpu!(ctx => {
        let z = [0.3f32, -1.2, 2.0, 0.7];
        let teacher = [1.5f32, 0.2, -0.4, 0.9];
        for &t in &[2.0f32, 8.0] {
            let one = kd_loss::kd_loss(ctx, &KdBatch { student: &z, teacher: &teacher, labels: &[0], rows: 1, cols: 4 }, KdConfig { temperature: t, alpha: 1.0 }).unwrap();
            let e = cpu::kd_loss(&cpu::to_f64(&z), &cpu::to_f64(&teacher), &[0], 1, 4, t as f64, 1.0);
            // The loss is T²·KL: dropping T² or using T would miss by ×4 or ×64.
            assert!((one.loss as f64 - (t * t) as f64 * e.kl).abs() < 1e-5 * (t * t) as f64, "T={t}: {} vs {}", one.loss, e.loss);
        }
        // Two identical rows: batch mean leaves the loss unchanged (÷B, not ÷(B·C), not Σ).
        let one = kd_loss::kd_loss(ctx, &KdBatch { student: &z, teacher: &teacher, labels: &[2], rows: 1, cols: 4 }, KdConfig { temperature: 4.0, alpha: 0.5 }).unwrap();
        let zz: Vec<f32> = z.iter().chain(&z).copied().collect();
        let tt: Vec<f32> = teacher.iter().chain(&teacher).copied().collect();
        let two = kd_loss::kd_loss(ctx, &KdBatch { student: &zz, teacher: &tt, labels: &[2, 2], rows: 2, cols: 4 }, KdConfig { temperature: 4.0, alpha: 0.5 }).unwrap();
        assert!((one.loss - two.loss).abs() < 1e-6, "{} vs {}", one.loss, two.loss);
        assert!((one.grad[0] - 2.0 * two.grad[0]).abs() < 1e-7);
    });
}

#[test]
fn kd_loss_rejects_bad_settings() {
    with_gpu!(ctx => {
        let z = [0.0f32; 4];
        let check = |t: f32, a: f32, labels: &[u32]| kd_loss::kd_loss(ctx, &KdBatch { student: &z, teacher: &z, labels, rows: 2, cols: 2 }, KdConfig { temperature: t, alpha: a }).unwrap_err();
        assert!(matches!(check(0.0, 0.5, &[0, 1]), Error::InvalidTemperature(_)));
        assert!(matches!(check(-1.0, 0.5, &[0, 1]), Error::InvalidTemperature(_)));
        assert!(matches!(check(f32::NAN, 0.5, &[0, 1]), Error::InvalidTemperature(_)));
        assert!(matches!(check(1.0, 1.5, &[0, 1]), Error::InvalidAlpha(_)));
        assert!(matches!(check(1.0, -0.1, &[0, 1]), Error::InvalidAlpha(_)));
        let err = check(1.0, 0.5, &[0, 2]);
        assert!(matches!(err, Error::LabelOutOfRange { row: 1, label: 2, classes: 2 }), "{err}");
        assert!(err.to_string().contains("label 2"));
    });
}

#[test]
fn bias_grad_matches_reference() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(9);
        for &(rows, cols) in &[(1, 1), (1, 10), (128, 800), (33, 65), (1024, 10)] {
            let dy = random_vec(&mut rng, rows * cols, -1.0, 1.0);
            bias_grad::check::check_bias_grad(ctx, &dy, rows, cols).unwrap().assert_ok();
        }
    });
}

#[test]
fn optimizers_match_reference_over_several_steps() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(10);
        for &n in &[1usize, 63, 1000, 70_000] {
            let params = random_vec(&mut rng, n, -1.0, 1.0);
            let grads = random_vec(&mut rng, n, -1.0, 1.0);
            let sgd = Optimizer::Sgd { lr: 0.1, momentum: 0.9, weight_decay: 5e-4 };
            let velocity = random_vec(&mut rng, n, -0.5, 0.5);
            for c in optim::check::check_optimizer(ctx, sgd, 1, &params, &grads, &[velocity]).unwrap() {
                c.assert_ok();
            }
            let adamw = Optimizer::AdamW { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 };
            for step in [1, 2, 100] {
                let m = random_vec(&mut rng, n, -0.1, 0.1);
                let v = random_vec(&mut rng, n, 0.0, 0.01);
                for c in optim::check::check_optimizer(ctx, adamw, step, &params, &grads, &[m, v]).unwrap() {
                    c.assert_ok();
                }
            }
        }
    });
}

#[test]
fn optimizer_rejects_bad_hyperparameters() {
    let bad = Optimizer::Sgd {
        lr: -1.0,
        momentum: 0.9,
        weight_decay: 0.0,
    };
    assert!(matches!(bad.validate(), Err(Error::InvalidConfig(_))));
    let bad = Optimizer::AdamW {
        lr: 1e-3,
        beta1: 1.0,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    assert!(bad.validate().unwrap_err().to_string().contains("beta1"));
}
