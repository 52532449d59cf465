//! The calibration reference in f64: per-row softmax of `z / T`, NLL, confidence, Brier score,
//! and the reliability sums the kernel writes.

use crate::ops::calibration::Calibration;
use crate::ops::metrics::reference::argmax;

/// `(nll, confidence, brier, correct)` of one row at temperature `t`, in forms without
/// cancellation (as f64 would lose a 1e-13 NLL in `lse − z_y`): with m the max logit (first on
/// ties) and s = Σ_{c≠top} e^{(z_c − m)/t}, NLL = (m − z_y)/t + ln(1 + s), confidence 1/(1 + s),
/// and 1 − p_y = s/(1 + s) for a right row.
pub fn row_stats(row: &[f32], label: usize, t: f64) -> (f64, f64, f64, f64) {
    let top = argmax(row);
    let m = row[top] as f64;
    let e: Vec<f64> = row.iter().map(|&v| ((v as f64 - m) / t).exp()).collect();
    let s: f64 = (0..row.len()).filter(|&c| c != top).map(|c| e[c]).sum();
    let norm = 1.0 + s;
    let miss = if label == top {
        s / norm
    } else {
        1.0 - e[label] / norm
    };
    let others: f64 = (0..row.len())
        .filter(|&c| c != label)
        .map(|c| (e[c] / norm).powi(2))
        .sum();
    (
        (m - row[label] as f64) / t + s.ln_1p(),
        1.0 / norm,
        miss * miss + others,
        f64::from(u8::from(top == label)),
    )
}

/// Mean NLL of `labels` under `softmax(logits / t)`, rows of `cols`.
pub fn mean_nll(logits: &[f32], labels: &[u32], cols: usize, t: f64) -> f64 {
    let total: f64 = labels
        .iter()
        .enumerate()
        .map(|(r, &y)| row_stats(&logits[r * cols..(r + 1) * cols], y as usize, t).0)
        .sum();
    total / labels.len().max(1) as f64
}

/// The reliability sums `(count, Σ conf, Σ correct)` per bin and totals `(Σ nll, Σ brier,
/// Σ correct)`, bins `((b)/bins, (b+1)/bins]`.
pub fn reliability_sums(
    logits: &[f32],
    labels: &[u32],
    cols: usize,
    t: f64,
    bins: usize,
) -> (Vec<[f64; 3]>, [f64; 3]) {
    let mut per_bin = vec![[0.0; 3]; bins];
    let mut totals = [0.0; 3];
    for (r, &y) in labels.iter().enumerate() {
        let (nll, conf, brier, correct) =
            row_stats(&logits[r * cols..(r + 1) * cols], y as usize, t);
        let b = ((conf * bins as f64).ceil() - 1.0).clamp(0.0, bins as f64 - 1.0) as usize;
        per_bin[b][0] += 1.0;
        per_bin[b][1] += conf;
        per_bin[b][2] += correct;
        totals[0] += nll;
        totals[1] += brier;
        totals[2] += correct;
    }
    (per_bin, totals)
}

/// NLL, ECE, Brier score and accuracy at `t` over `bins` bins.
pub fn calibration(
    logits: &[f32],
    labels: &[u32],
    cols: usize,
    t: f64,
    bins: usize,
) -> Calibration {
    let (per_bin, totals) = reliability_sums(logits, labels, cols, t, bins);
    Calibration::from_sums(t, &per_bin, totals, labels.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_rows() {
        // Two equal logits: p = ½ each; NLL ln 2; Brier (½)² + (½)² = ½; the tie goes to class 0.
        let (nll, conf, brier, correct) = row_stats(&[1.0, 1.0], 1, 1.0);
        assert!((nll - 2f64.ln()).abs() < 1e-15);
        assert_eq!((conf, brier, correct), (0.5, 0.5, 0.0));
        // Logits (ln 3, 0) at T = 1: p = (¾, ¼).
        let (nll, conf, brier, correct) = row_stats(&[3f32.ln(), 0.0], 0, 1.0);
        assert!((nll - (4.0f64 / 3.0).ln()).abs() < 1e-7);
        assert!((conf - 0.75).abs() < 1e-7 && (brier - 0.125).abs() < 1e-7);
        assert_eq!(correct, 1.0);
    }

    #[test]
    fn ece_of_hand_made_bins() {
        // Rows with confidence ¾ (bin (0.6, 0.8] of 5): two right, two wrong → |½ − ¾| = ¼.
        let logits = [3f32.ln(), 0.0].repeat(4);
        let labels = [0, 0, 1, 1];
        let c = calibration(&logits, &labels, 2, 1.0, 5);
        assert!((c.ece - 0.25).abs() < 1e-7, "{c:?}");
        assert_eq!(c.bins[3].count, 4);
        assert!((c.accuracy - 0.5).abs() < 1e-12);
        // Perfectly calibrated: ¾ right at confidence ¾.
        let c = calibration(&logits, &[0, 0, 0, 1], 2, 1.0, 5);
        assert!(c.ece < 1e-7, "{c:?}");
    }
}
