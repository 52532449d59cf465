//! The teacher-free loss with a manually designed teacher (Tf-KD_reg, Yuan et al. 2020): the
//! reference's gradient against finite differences, the reference against a plain transcription
//! of the authors' `loss_kd_regularization`, the properties the loss promises (the virtual
//! teacher softened as `softmax(p_v / T)` and uniform at a = 1/C, no KL when the student is the
//! virtual teacher, α = 0 and m = 0 are the cross-entropy, the teacher buffer is never read), the
//! GPU suite and a sweep against the reference, tolerances that catch a wrong setting, more rows
//! than one grid dimension holds, determinism, and typed errors (the shader's translation:
//! `tests/shaders.rs`).

mod common;

use common::{assert_all_ok, batch, numeric_grad, random};
use distill_wgpu::ops::check::{compare, Tolerance};
use distill_wgpu::ops::kd_loss::KdBatch;
use distill_wgpu::ops::tf_kd::check::{
    self as tcheck, config, random_rows, virtual_teacher_rows, SETTINGS, TF_KD_RTOL,
};
use distill_wgpu::ops::tf_kd::{self, reference, TfKdConfig, VirtualTeacher};
use distill_wgpu::validate::summarize;
use distill_wgpu::{cpu, Error, GpuContext, SplitMix64};

fn reference_at(z: &[f64], labels: &[u32], cols: usize, c: TfKdConfig) -> cpu::KdOutput<f64> {
    reference::tf_kd(
        z,
        labels,
        labels.len(),
        cols,
        c.temperature as f64,
        c.alpha as f64,
        c.correct_prob as f64,
        c.multiplier as f64,
    )
}

#[test]
fn reference_gradient_matches_finite_differences() {
    let mut rng = SplitMix64::new(1);
    for &(rows, cols) in &[(3, 5), (2, 2), (1, 7)] {
        for setting in SETTINGS {
            let c = config(setting);
            let z = random(&mut rng, rows * cols, 3.0);
            let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
            let out = reference_at(&z, &labels, cols, c);
            let numeric = numeric_grad(&z, |zz| reference_at(zz, &labels, cols, c).loss);
            for (i, (a, n)) in out.grad.iter().zip(&numeric).enumerate() {
                assert!(
                    (a - n).abs() <= 1e-6 + 1e-5 * n.abs(),
                    "{rows}x{cols} {c:?} [{i}]: analytic {a:.9e} vs finite difference {n:.9e}"
                );
            }
        }
    }
}

/// The authors' `loss_kd_regularization`, transcribed plainly in f64: `teacher_soft`, then
/// `KLDivLoss()(log_softmax(outputs), softmax(teacher_soft / T))` (mean over all B·C elements)
/// times the multiplier, and `cross_entropy` (mean over rows).
fn their_loss(z: &[f64], labels: &[u32], cols: usize, c: TfKdConfig) -> (f64, f64, f64) {
    let (t, a, m, alpha) = (
        c.temperature as f64,
        c.correct_prob as f64,
        c.multiplier as f64,
        c.alpha as f64,
    );
    let rows = labels.len();
    let log_softmax = |x: &[f64]| -> Vec<f64> {
        let top = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = top + x.iter().map(|v| (v - top).exp()).sum::<f64>().ln();
        x.iter().map(|v| v - lse).collect()
    };
    let (mut ce, mut kl_sum) = (0.0, 0.0);
    for (r, &y) in labels.iter().enumerate() {
        let row = &z[r * cols..(r + 1) * cols];
        let mut teacher_soft = vec![(1.0 - a) / (cols - 1) as f64; cols];
        teacher_soft[y as usize] = a;
        let scaled: Vec<f64> = teacher_soft.iter().map(|p| p / t).collect();
        let log_pi = log_softmax(&scaled);
        let log_s = log_softmax(row);
        ce -= log_s[y as usize];
        for k in 0..cols {
            kl_sum += log_pi[k].exp() * (log_pi[k] - log_s[k]);
        }
    }
    let ce = ce / rows as f64;
    let kl = kl_sum / (rows * cols) as f64;
    ((1.0 - alpha) * ce + alpha * kl * m, ce, kl)
}

#[test]
fn the_reference_is_the_authors_loss() {
    let mut rng = SplitMix64::new(2);
    for &(rows, cols) in &[(4, 10), (3, 2), (2, 100)] {
        for setting in SETTINGS {
            let c = config(setting);
            let z = random(&mut rng, rows * cols, 4.0);
            let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
            let ours = reference_at(&z, &labels, cols, c);
            let (loss, ce, kl) = their_loss(&z, &labels, cols, c);
            for (what, a, b) in [
                ("loss", ours.loss, loss),
                ("ce", ours.ce, ce),
                ("kl", ours.kl, kl),
            ] {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs() + 1e-15,
                    "{rows}x{cols} {c:?} {what}: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn the_virtual_teacher_is_softened_as_their_code_does() {
    // softmax(p_v / T): at their ResNet18 defaults and 100 classes, nearly uniform.
    let c = TfKdConfig::paper();
    let v = VirtualTeacher::new(&c, 100);
    let (a, t) = (c.correct_prob as f64, c.temperature as f64);
    let u = (1.0 - a) / 99.0;
    let norm = (a / t).exp() + 99.0 * (u / t).exp();
    assert!((v.p_label - (a / t).exp() / norm).abs() <= 1e-16);
    assert!((v.p_other - (u / t).exp() / norm).abs() <= 1e-16);
    assert!(
        (v.p_label - 0.0105).abs() < 1e-4 && (v.p_other - 0.0100).abs() < 1e-4,
        "{v:?}"
    );
    assert!((v.p_label + 99.0 * v.p_other - 1.0).abs() <= 1e-15);
    assert_eq!(v.gap, (a - u) / t);
    let row = reference::softened_teacher_row(100, 7, t, a);
    assert!((row[7] - v.p_label).abs() <= 1e-17 && (row[0] - v.p_other).abs() <= 1e-17);
    // A low T sharpens it towards onehot(y); a < 1/C puts the label below the rest.
    let sharp = VirtualTeacher::new(&config((0.01, 0.5, 0.99, 1.0)), 10);
    assert!(
        sharp.p_label >= 1.0 - 1e-30 && sharp.log_p_other < -97.0,
        "{sharp:?}"
    );
    let low = VirtualTeacher::new(&config((1.0, 0.5, 0.05, 1.0)), 10);
    assert!(low.gap < 0.0 && low.p_label < low.p_other, "{low:?}");
    assert!((low.p_label + 9.0 * low.p_other - 1.0).abs() <= 1e-15);
}

#[test]
fn a_of_one_over_c_makes_the_virtual_teacher_exactly_uniform() {
    for cols in [2usize, 4, 8, 16, 1024] {
        let c = config((20.0, 0.5, 1.0 / cols as f32, 1.0));
        let v = VirtualTeacher::new(&c, cols);
        assert_eq!(v.gap, 0.0, "C={cols}");
        assert_eq!(v.p_label, v.p_other, "C={cols}");
        assert!(
            (v.p_label * cols as f64 - 1.0).abs() <= 4.0 * f64::EPSILON,
            "C={cols}: {v:?}"
        );
        let row = reference::softened_teacher_row(cols, 1, 20.0, 1.0 / cols as f64);
        assert!(row.iter().all(|&p| p == row[0]), "C={cols}");
    }
    // Then the KL is to the uniform distribution: −log C − mean_c log s_c.
    let mut rng = SplitMix64::new(3);
    for cols in [4usize, 10] {
        let z = random(&mut rng, 3 * cols, 5.0);
        let labels = [0u32, 3, 2];
        let c = config((4.0, 0.5, 1.0 / cols as f32, 1.0));
        let out = reference_at(&z, &labels, cols, c);
        for r in 0..3 {
            let row = &z[r * cols..(r + 1) * cols];
            let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
            let mean_log_s = row.iter().map(|v| v - lse).sum::<f64>() / cols as f64;
            let uniform_kl = -(cols as f64).ln() - mean_log_s;
            // 1/C rounded to f32 for C = 10 moves π by about 1e-8.
            assert!(
                (out.row_kl[r] * cols as f64 - uniform_kl).abs() <= 1e-7 * uniform_kl,
                "C={cols} row {r}"
            );
        }
    }
}

#[test]
fn a_student_equal_to_its_virtual_teacher_has_no_kl_and_alpha_or_m_zero_is_the_cross_entropy() {
    let mut rng = SplitMix64::new(4);
    let (rows, cols) = (5, 10);
    let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
    let c = config((20.0, 1.0, 0.99, 100.0));
    let mut z = Vec::new();
    for &y in &labels {
        let shift = 3.0 * rng.next_f64();
        z.extend(
            reference::virtual_teacher_row(cols, y as usize, c.correct_prob as f64)
                .iter()
                .map(|p| p / 20.0 + shift),
        );
    }
    let out = reference_at(&z, &labels, cols, c);
    assert!(
        out.row_kl.iter().all(|&v| v.abs() <= 1e-16),
        "{:?}",
        out.row_kl
    );
    assert!(out.grad.iter().all(|&g| g.abs() <= 1e-15), "{:?}", out.grad);
    let z = random(&mut rng, rows * cols, 5.0);
    let ce = cpu::kd_loss(&z, &z, &labels, rows, cols, 1.0, 0.0);
    for c in [
        config((20.0, 0.0, 0.99, 100.0)),
        config((20.0, 0.6, 0.99, 0.0)),
    ] {
        let out = reference_at(&z, &labels, cols, c);
        let w = 1.0 - c.alpha as f64;
        assert!((out.loss - w * ce.loss).abs() <= 1e-15 * ce.loss, "{c:?}");
        for (g, e) in out.grad.iter().zip(&ce.grad) {
            assert!(
                (g - w * e).abs() <= 1e-15 * e.abs(),
                "{c:?}: {g} vs {}",
                w * e
            );
        }
    }
}

#[test]
fn the_teacher_buffer_is_never_read() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(5);
        let (rows, cols) = (33, 100);
        let (z, labels) = random_rows(&mut rng, rows, cols);
        let teachers = [
            random_rows(&mut rng, rows, cols).0,
            vec![0.0; rows * cols],
            vec![f32::NAN; rows * cols],
            vec![f32::INFINITY; rows * cols],
        ];
        let runs: Vec<_> = teachers
            .iter()
            .map(|t| tf_kd::tf_kd(ctx, &batch(&z, t, &labels, cols), TfKdConfig::paper()).unwrap())
            .collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for run in &runs[1..] {
            assert_eq!(bits(&run.grad), bits(&runs[0].grad));
            assert_eq!(bits(&run.row_ce), bits(&runs[0].row_ce));
            assert_eq!(bits(&run.row_kl), bits(&runs[0].row_kl));
            assert_eq!(bits(&[run.loss, run.ce, run.kl]), bits(&[runs[0].loss, runs[0].ce, runs[0].kl]));
        }
        assert!(runs[0].loss.is_finite() && runs[0].grad.iter().all(|g| g.is_finite()));
    });
}

#[test]
fn a_uniform_virtual_teacher_on_the_gpu() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(6);
        for cols in [2usize, 4, 16] {
            let (z, labels) = random_rows(&mut rng, 12, cols);
            let c = config((4.0, 1.0, 1.0 / cols as f32, 1.0));
            let got = tf_kd::tf_kd(ctx, &batch(&z, &z, &labels, cols), c).unwrap();
            let expected: Vec<f64> = (0..12)
                .map(|r| {
                    let row: Vec<f64> = z[r * cols..(r + 1) * cols].iter().map(|&v| v as f64).collect();
                    let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let lse = top + row.iter().map(|v| (v - top).exp()).sum::<f64>().ln();
                    let mean_log_s = row.iter().map(|v| v - lse).sum::<f64>() / cols as f64;
                    (-(cols as f64).ln() - mean_log_s) / cols as f64
                })
                .collect();
            compare("uniform row kl", &got.row_kl, &expected, Tolerance::new(0.0, TF_KD_RTOL)).assert_ok();
        }
    });
}

#[test]
fn gpu_matches_reference_on_the_suite() {
    with_gpu!(ctx => {
        let results = tcheck::suite(ctx, &mut SplitMix64::new(7)).unwrap();
        assert_eq!(results.len(), 4 * (5 * 6 + 3 * 12 + 2 + 4));
        let kernels: Vec<String> = summarize(&results).into_iter().map(|k| k.kernel).collect();
        assert_eq!(kernels, ["tf-kd grad by row terms", "tf-kd row ce", "tf-kd row kl", "tf-kd batch loss/ce/kl"]);
        assert_all_ok(&results);
    });
}

#[test]
fn gpu_matches_reference_on_a_random_sweep() {
    with_gpu!(ctx => {
        let mut results = Vec::new();
        for seed in 0..3u64 {
            results.extend(tcheck::suite(ctx, &mut SplitMix64::new(100 + seed)).unwrap());
        }
        let mut rng = SplitMix64::new(8);
        for &(rows, cols) in &[(1, 3), (13, 2), (65, 64), (2, 65), (5, 1000), (128, 10)] {
            for setting in [(20.0f32, 0.1f32, 0.99f32, 100.0f32), (0.7, 0.4, 0.6, 3.0), (3.0, 0.9, 0.01, 20.0)] {
                let c = config(setting);
                let (z, labels) = random_rows(&mut rng, rows, cols);
                let t = vec![f32::NAN; rows * cols];
                results.extend(tcheck::check_tf_kd(ctx, "sweep", &batch(&z, &t, &labels, cols), c).unwrap());
                let (z, labels) = virtual_teacher_rows(&mut rng, rows, cols, c, 1e-2);
                results.extend(tcheck::check_tf_kd(ctx, "near virtual teacher", &batch(&z, &t, &labels, cols), c).unwrap());
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
        let (z, labels) = random_rows(&mut rng, rows, 2);
        let t = vec![0.0; rows * 2];
        let results = tcheck::check_tf_kd(ctx, "65600 rows", &batch(&z, &t, &labels, 2), TfKdConfig::paper()).unwrap();
        assert_all_ok(&results);
    });
}

/// Whether the GPU's output at `right` fails the check against the reference at `wrong`.
fn fails_against(ctx: &GpuContext, b: &KdBatch<'_>, right: TfKdConfig, wrong: TfKdConfig) -> bool {
    let got = tf_kd::tf_kd(ctx, b, right).unwrap();
    let e = reference_at(&cpu::to_f64(b.student), b.labels, b.cols, wrong);
    let largest = e.grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let grad_ok = compare(
        "grad",
        &got.grad,
        &e.grad,
        Tolerance::new(TF_KD_RTOL * largest, 0.0),
    )
    .passed();
    let loss_ok = compare(
        "loss",
        &[got.loss],
        &[e.loss],
        Tolerance::new(0.0, TF_KD_RTOL),
    )
    .passed();
    !(grad_ok && loss_ok)
}

#[test]
fn the_tolerances_catch_a_wrong_setting() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(10);
        let (z, labels) = random_rows(&mut rng, 16, 10);
        let t = vec![0.0; z.len()];
        let b = batch(&z, &t, &labels, 10);
        let right = config((1.0, 0.5, 0.9, 10.0));
        assert!(!fails_against(ctx, &b, right, right));
        assert!(fails_against(ctx, &b, right, TfKdConfig { temperature: 1.001, ..right }));
        assert!(fails_against(ctx, &b, right, TfKdConfig { alpha: 0.5005, ..right }));
        assert!(fails_against(ctx, &b, right, TfKdConfig { correct_prob: 0.9009, ..right }));
        assert!(fails_against(ctx, &b, right, TfKdConfig { multiplier: 10.01, ..right }));
        // The student softened at T (the paper's equation, not their code) is another loss.
        let got = tf_kd::tf_kd(ctx, &b, config((4.0, 1.0, 0.9, 1.0))).unwrap();
        let zt: Vec<f32> = z.iter().map(|v| v / 4.0).collect();
        let e = reference_at(&cpu::to_f64(&zt), &labels, 10, config((4.0, 1.0, 0.9, 1.0)));
        assert!(!compare("kl", &got.row_kl, &e.row_kl, Tolerance::new(0.0, 1e-3)).passed());
    });
}

#[test]
fn runs_are_deterministic() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(11);
        let (z, labels) = random_rows(&mut rng, 64, 1000);
        let t = vec![0.0; z.len()];
        let b = batch(&z, &t, &labels, 1000);
        let one = tf_kd::tf_kd(ctx, &b, TfKdConfig::paper()).unwrap();
        let two = tf_kd::tf_kd(ctx, &b, TfKdConfig::paper()).unwrap();
        assert_eq!(one.loss.to_bits(), two.loss.to_bits());
        assert!(one.grad.iter().zip(&two.grad).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(one.row_kl.iter().zip(&two.row_kl).all(|(a, b)| a.to_bits() == b.to_bits()));
    });
}

#[test]
fn configs_are_validated_with_the_setting_named() {
    let paper = TfKdConfig::paper();
    assert!(paper.validate().is_ok());
    assert_eq!(paper, config((20.0, 0.1, 0.99, 100.0)));
    assert_eq!(paper.kl_weight(), 10.0);
    let cases = [
        (config((0.0, 0.1, 0.99, 1.0)), "temperature", "got 0"),
        (config((-2.0, 0.1, 0.99, 1.0)), "temperature", "got -2"),
        (config((f32::NAN, 0.1, 0.99, 1.0)), "temperature", "got NaN"),
        (
            config((f32::INFINITY, 0.1, 0.99, 1.0)),
            "temperature",
            "got inf",
        ),
        (config((1e-40, 0.1, 0.99, 1.0)), "temperature", "got 0.0000"),
        (config((4.0, 1.5, 0.99, 1.0)), "alpha", "got 1.5"),
        (config((4.0, -0.1, 0.99, 1.0)), "alpha", "got -0.1"),
        (config((4.0, f32::NAN, 0.99, 1.0)), "alpha", "got NaN"),
        (config((4.0, 0.5, 1.0, 1.0)), "correct_prob", "got 1"),
        (config((4.0, 0.5, 0.0, 1.0)), "correct_prob", "got 0"),
        (config((4.0, 0.5, f32::NAN, 1.0)), "correct_prob", "got NaN"),
        (config((4.0, 0.5, 0.99, -1.0)), "multiplier", "got -1"),
        (
            config((4.0, 0.5, 0.99, f32::INFINITY)),
            "multiplier",
            "got inf",
        ),
    ];
    for (c, word, value) in cases {
        let err = c.validate().unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig(_) | Error::InvalidTemperature(_)),
            "{c:?}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains(word) && text.contains(value), "{c:?}: {text}");
    }
}

#[test]
fn one_class_and_bad_settings_are_rejected_on_the_gpu_path() {
    with_gpu!(ctx => {
        let z = [0.5f32, -0.5];
        let one_class = batch(&z, &z, &[0, 0], 1);
        let err = tf_kd::tf_kd(ctx, &one_class, TfKdConfig::paper()).unwrap_err();
        assert!(matches!(&err, Error::InvalidConfig(m) if m.contains("at least 2 classes") && m.ends_with("got 1")), "{err}");
        assert!(tf_kd::prepare_tf_kd(ctx, &one_class, TfKdConfig::paper()).is_err());
        let two = batch(&z, &z, &[1], 2);
        let err = tf_kd::tf_kd(ctx, &two, config((4.0, 0.5, 1.5, 1.0))).unwrap_err();
        assert!(err.to_string().contains("correct_prob"), "{err}");
        let err = tf_kd::tf_kd(ctx, &batch(&z, &z, &[2], 2), TfKdConfig::paper()).unwrap_err();
        assert!(matches!(err, Error::LabelOutOfRange { row: 0, label: 2, classes: 2 }), "{err}");
    });
}
