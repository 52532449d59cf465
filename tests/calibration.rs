//! Temperature calibration on the GPU: the fit recovers the temperature that generated the
//! labels, ECE and NLL match hand-checked values and the f64 reference, scaling changes no
//! prediction, and bad input gets typed errors.

mod common;

use distill_wgpu::ops::calibration::{reference, Calibrator, ECE_BINS, MAX_CANDIDATES};
use distill_wgpu::{Error, SplitMix64};

/// `rows` random logit rows of `cols` and labels drawn from `softmax(z / t0)`.
fn synthetic(rows: usize, cols: usize, t0: f64, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = SplitMix64::new(seed);
    let logits: Vec<f32> = (0..rows * cols)
        .map(|_| (rng.below(1 << 20) as f32 / (1 << 20) as f32 - 0.5) * 12.0)
        .collect();
    let labels = logits
        .chunks_exact(cols)
        .map(|row| {
            let e: Vec<f64> = row.iter().map(|&v| (v as f64 / t0).exp()).collect();
            let total: f64 = e.iter().sum();
            let mut u = rng.below(1 << 30) as f64 / (1u64 << 30) as f64 * total;
            let mut pick = cols - 1;
            for (c, &ec) in e.iter().enumerate() {
                if u < ec {
                    pick = c;
                    break;
                }
                u -= ec;
            }
            pick as u32
        })
        .collect();
    (logits, labels)
}

#[test]
fn the_fit_recovers_the_temperature_that_drew_the_labels() {
    with_gpu!(ctx => {
        for (t0, seed) in [(2.5, 1), (0.5, 2), (1.0, 3)] {
            let (logits, labels) = synthetic(20_000, 10, t0, seed);
            let c = Calibrator::new(ctx, &logits, &labels, 10).unwrap();
            let t = c.fit_temperature(ctx).unwrap() as f64;
            eprintln!("T0 = {t0}: fitted {t:.4}");
            assert!((t / t0 - 1.0).abs() < 0.04, "T0 = {t0}, fitted {t}");
            // The fit is the minimum of the reference NLL too, up to the grid's resolution.
            let at = |x: f64| reference::mean_nll(&logits, &labels, 10, x);
            assert!(at(t) <= at(t * 1.01) + 1e-9 && at(t) <= at(t / 1.01) + 1e-9);
        }
    });
}

#[test]
fn ece_nll_and_brier_match_hand_checked_values() {
    with_gpu!(ctx => {
        // Four rows at confidence ¾ (logits ln 3, 0): two right → ECE |½ − ¾| = ¼.
        let logits = [3f32.ln(), 0.0].repeat(4);
        let c = Calibrator::new(ctx, &logits, &[0, 0, 1, 1], 2).unwrap();
        let m = c.calibration(ctx, 1.0, ECE_BINS).unwrap();
        assert!((m.ece - 0.25).abs() < 1e-6, "{m:?}");
        assert!((m.accuracy - 0.5).abs() < 1e-7);
        // NLL: two rows −ln ¾, two −ln ¼; Brier: 2·(¼)² each right row, 2·(¾)² each wrong.
        let nll = -(0.5 * 0.75f64.ln() + 0.5 * 0.25f64.ln());
        assert!((m.nll - nll).abs() < 1e-6, "{} vs {nll}", m.nll);
        assert!((m.brier - (0.125 + 1.125) / 2.0).abs() < 1e-6, "{}", m.brier);
        let bin = m.bins.iter().find(|b| b.count > 0).unwrap();
        assert_eq!((bin.count, bin.lower, bin.upper), (4, 11.0 / 15.0, 12.0 / 15.0));
        // Perfectly calibrated at ¾.
        let c = Calibrator::new(ctx, &logits, &[0, 0, 0, 1], 2).unwrap();
        assert!(c.calibration(ctx, 1.0, ECE_BINS).unwrap().ece < 1e-6);
        // Against the reference on random rows, at several temperatures.
        let (logits, labels) = synthetic(3000, 7, 1.7, 9);
        let c = Calibrator::new(ctx, &logits, &labels, 7).unwrap();
        for t in [0.3f32, 1.0, 4.0] {
            let got = c.calibration(ctx, t, ECE_BINS).unwrap();
            let want = reference::calibration(&logits, &labels, 7, t as f64, ECE_BINS);
            for (g, w) in [(got.nll, want.nll), (got.ece, want.ece), (got.brier, want.brier), (got.accuracy, want.accuracy)] {
                assert!((g - w).abs() <= 1e-5 * w.abs().max(1e-3), "T = {t}: {g} vs {w}");
            }
        }
    });
}

#[test]
fn scaling_changes_confidence_never_predictions() {
    with_gpu!(ctx => {
        let (logits, labels) = synthetic(2000, 10, 1.0, 4);
        let c = Calibrator::new(ctx, &logits, &labels, 10).unwrap();
        let base = c.calibration(ctx, 1.0, ECE_BINS).unwrap();
        let mut last_conf = 0.0;
        for t in [8.0f32, 2.0, 1.0, 0.25] {
            let m = c.calibration(ctx, t, ECE_BINS).unwrap();
            assert_eq!(m.accuracy, base.accuracy);
            let conf: f64 = m.bins.iter().map(|b| b.confidence * b.count as f64).sum::<f64>() / 2000.0;
            assert!(conf > last_conf, "lower T, higher confidence: {conf} after {last_conf}");
            last_conf = conf;
        }
    });
}

#[test]
fn bad_input_is_a_typed_error() {
    with_gpu!(ctx => {
        assert!(matches!(Calibrator::new(ctx, &[], &[], 3), Err(Error::EmptyBatch)));
        assert!(matches!(Calibrator::new(ctx, &[0.0; 4], &[0, 2], 2), Err(Error::LabelOutOfRange { .. })));
        assert!(matches!(Calibrator::new(ctx, &[0.0, f32::NAN], &[0], 2), Err(Error::NonFinite { .. })));
        assert!(matches!(Calibrator::new(ctx, &[0.0; 3], &[0, 1], 2), Err(Error::ShapeMismatch { .. })));
        let c = Calibrator::new(ctx, &[1.0, 0.0], &[0], 2).unwrap();
        assert!(matches!(c.nll(ctx, &[0.0]), Err(Error::InvalidTemperature(_))));
        assert!(matches!(c.nll(ctx, &[f32::INFINITY]), Err(Error::InvalidTemperature(_))));
        assert!(c.nll(ctx, &[]).is_err());
        assert!(c.nll(ctx, &vec![1.0; MAX_CANDIDATES + 1]).is_err());
        assert!(c.calibration(ctx, 1.0, 0).is_err());
    });
}
