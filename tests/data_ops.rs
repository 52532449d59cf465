//! The ops that move data rather than compute gradients — batch gather, dropout, error
//! counting, the batch-loss reduction — against their references, plus the validation suite
//! covering every op.

mod common;

use distill_wgpu::ops::check::random_vec;
use distill_wgpu::ops::gather::{self, GatherBatch, GatherSource, ImageShape, Inputs};
use distill_wgpu::ops::{dropout, metrics, reduce};
use distill_wgpu::{cpu, validate, Dropout, Error, SplitMix64};

#[test]
fn gather_matches_reference_with_jitter_and_teacher_logits() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(21);
        for &(width, height, classes, count, floats) in &[(1, 1, 2, 3, false), (28, 28, 10, 50, false), (5, 9, 7, 33, false), (28, 28, 10, 50, true), (5, 9, 7, 33, true)] {
            let shape = ImageShape { width, height, classes };
            let len = count * shape.features();
            let inputs = if floats {
                Inputs::F32(random_vec(&mut rng, len, -1e3, 1e3))
            } else {
                Inputs::U8((0..len).map(|_| rng.below(256) as u8).collect())
            };
            let labels: Vec<u32> = (0..count).map(|_| rng.below(classes) as u32).collect();
            let teacher = random_vec(&mut rng, count * classes, -9.0, 9.0);
            let mut order: Vec<u32> = (0..count as u32).collect();
            rng.shuffle(&mut order);
            for jitter in [0, 1, 3] {
                let rows = 1 + rng.below(count);
                let start = rng.below(count - rows + 1);
                let source = GatherSource { inputs: &inputs, labels: &labels, label_width: 1, teacher: Some(&teacher), order: &order, shape };
                let batch = GatherBatch { rows, start, jitter, seed: 5, step: 1 + rng.below(100) as u32, teacher: true };
                for c in gather::check::check_gather(ctx, &source, batch).unwrap() {
                    c.assert_ok();
                }
            }
        }
    });
}

#[test]
fn gather_jitter_shifts_within_bounds_and_blanks_uncovered_pixels() {
    // The reference itself: every shift lies in [−J, J]², and a shifted 3×3 image keeps the
    // pixels that stay inside.
    for row in 0..200 {
        let (dx, dy) = cpu::jitter_shift(2, 7, 3, row);
        assert!(
            dx.abs() <= 2 && dy.abs() <= 2,
            "row {row}: shift ({dx}, {dy})"
        );
    }
    let shape = ImageShape {
        width: 3,
        height: 3,
        classes: 2,
    };
    let pixels: Vec<u8> = (1..=9).collect();
    let inputs = Inputs::U8(pixels.clone());
    let source = GatherSource {
        inputs: &inputs,
        labels: &[1],
        label_width: 1,
        teacher: None,
        order: &[0],
        shape,
    };
    let batch = GatherBatch {
        rows: 1,
        start: 0,
        jitter: 1,
        seed: 0,
        step: 0,
        teacher: false,
    };
    let out = cpu::gather(&source, &batch);
    let (dx, dy) = cpu::jitter_shift(1, 0, 0, 0);
    for f in 0..9 {
        let (x, y) = ((f % 3) as i64 - dx, (f / 3) as i64 - dy);
        let expected = if (0..3).contains(&x) && (0..3).contains(&y) {
            pixels[(y * 3 + x) as usize] as f64 / 255.0
        } else {
            0.0
        };
        assert_eq!(out.inputs[f], expected, "pixel {f} with shift ({dx}, {dy})");
    }
}

#[test]
fn gather_rejects_batches_past_the_data() {
    with_gpu!(ctx => {
        let shape = ImageShape { width: 2, height: 2, classes: 2 };
        let inputs = Inputs::U8(vec![0; 8]);
        let source = GatherSource { inputs: &inputs, labels: &[0, 1], label_width: 1, teacher: None, order: &[0, 1], shape };
        let past = GatherBatch { rows: 2, start: 1, jitter: 0, seed: 0, step: 0, teacher: false };
        assert!(matches!(gather::gather(ctx, &source, past), Err(Error::InvalidConfig(_))));
        let bad_order = GatherSource { order: &[0, 2], ..source };
        let ok = GatherBatch { start: 0, ..past };
        let err = gather::gather(ctx, &bad_order, ok).unwrap_err();
        assert!(err.to_string().contains("sample 2"), "{err}");
    });
}

#[test]
fn dropout_matches_reference_and_keeps_about_one_minus_p() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(22);
        for &(p, count) in &[(0.1f32, 5000), (0.5, 4096), (0.9, 3000)] {
            let config = Dropout { p, seed: 3 };
            for step in [1, 2, 1000] {
                dropout::check::check_dropout(ctx, &mut rng, count, config, step, 1).unwrap().assert_ok();
            }
            let kept = (0..count as u32).filter(|&i| cpu::dropout_keeps(p, 3, 1, 1, i)).count();
            let fraction = kept as f64 / count as f64;
            assert!((fraction - (1.0 - p as f64)).abs() < 0.03, "p {p}: kept {fraction}");
        }
        // The mask changes with the step and the layer.
        let a: Vec<bool> = (0..64).map(|i| cpu::dropout_keeps(0.5, 1, 1, 0, i)).collect();
        let b: Vec<bool> = (0..64).map(|i| cpu::dropout_keeps(0.5, 1, 2, 0, i)).collect();
        let c: Vec<bool> = (0..64).map(|i| cpu::dropout_keeps(0.5, 1, 1, 1, i)).collect();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(dropout::dropout(ctx, &[1.0], Dropout { p: 1.0, seed: 0 }, 1, 0).is_err());
    });
}

#[test]
fn error_count_matches_reference_including_ties() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(23);
        for c in metrics::check::suite(ctx, &mut rng).unwrap() {
            c.assert_ok();
        }
        // All-equal rows predict class 0.
        assert_eq!(metrics::count_errors(ctx, &[2.0; 6], &[0, 1], 2, 3).unwrap().errors, 1);
        let err = metrics::count_errors(ctx, &[0.0; 4], &[0, 2], 2, 2).unwrap_err();
        assert!(matches!(err, Error::LabelOutOfRange { row: 1, .. }), "{err}");
    });
}

#[test]
fn loss_reduction_matches_reference_and_accumulates_steps() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(24);
        for &(rows, repeats) in &[(1, 1), (255, 2), (256, 1), (257, 4), (4096, 3)] {
            for c in reduce::check::check_reduce(ctx, &mut rng, rows, 4.0, 0.7, repeats).unwrap() {
                c.assert_ok();
            }
        }
        assert!(reduce::prepare_reduce_loss(ctx, &[1.0, 2.0, 3.0], 1.0, 0.5).is_err());
        // A NaN term is recorded as the first non-finite step (counted from 1), once.
        let prepared = reduce::prepare_reduce_loss(ctx, &[1.0, 0.5, f32::NAN, 0.1], 2.0, 0.5).unwrap();
        prepared.run(ctx, 3).unwrap();
        let slots: Vec<f32> = prepared.output(ctx, 0).unwrap();
        assert_eq!(slots[3], 1.0, "first non-finite step: {slots:?}");
        assert_eq!(slots[7], 3.0);
    });
}

#[test]
fn validation_suite_covers_every_op_and_passes() {
    with_gpu!(ctx => {
        let results = validate::run_suite(ctx, true).unwrap();
        let kernels: Vec<String> = validate::summarize(&results).into_iter().map(|k| {
            assert!(k.passed, "{}: {:?}", k.kernel, k.failures);
            k.kernel
        }).collect();
        for needed in ["matmul tiled-16x16", "matmul unrolled-dot4-32x16", "softmax", "log-softmax", "kd grad", "kd row ce", "kd row kl", "reduce loss/ce/kl", "bias grad", "sgd params", "adamw params", "dropout", "gather inputs", "gather labels", "gather teacher logits", "count errors", "multi kd grad", "multi kd row kl", "multi kd weights", "dkd grad", "dkd row kd", "dkd grad by row terms", "hint grad", "hint row mse", "accumulate", "ema"] {
            assert!(kernels.iter().any(|k| k == needed), "validate lacks {needed}: {kernels:?}");
        }
    });
}
