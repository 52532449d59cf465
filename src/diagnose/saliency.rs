//! Does the student look where the teacher looks? Per test sample, Spearman's rank
//! correlation of the two models' input-gradient saliency maps
//! ([`crate::eval::saliency`]), summarised over the test set.

use serde::Serialize;

use crate::error::{check_len, Error, Result};
use crate::eval::saliency::{spearman, SaliencyTarget};

/// Bins of [`SaliencyAgreement::histogram`], of width 0.2 over [−1, 1].
pub const HISTOGRAM_BINS: usize = 10;

/// How one model's saliency maps rank-correlate with the teacher's over a data set.
#[derive(Debug, Clone, Serialize)]
pub struct SaliencyAgreement {
    /// The model compared with the teacher ("student", "baseline").
    pub name: String,
    /// The class each map is taken for.
    pub target: SaliencyTarget,
    /// Samples with a defined correlation.
    pub samples: usize,
    /// Samples where a map is constant (the correlation is undefined), left out.
    pub undefined: usize,
    /// Mean of the per-sample Spearman ρ.
    pub mean: f64,
    /// Their sample standard deviation.
    pub std: f64,
    /// Minimum, lower quartile, median, upper quartile and maximum.
    pub quantiles: [f64; 5],
    /// Counts of ρ in [−1, −0.8), [−0.8, −0.6), …, [0.8, 1].
    pub histogram: Vec<usize>,
}

/// The value at share `q` of sorted `values` (linear interpolation between neighbours).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let at = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}

/// Per-sample Spearman ρ of `teacher`'s and `other`'s maps `[samples, features]` (`None` where
/// undefined) and their summary under `name`.
pub fn saliency_agreement(
    name: &str,
    target: SaliencyTarget,
    teacher: &[f32],
    other: &[f32],
    features: usize,
) -> Result<(SaliencyAgreement, Vec<Option<f64>>)> {
    if features == 0 || teacher.is_empty() || !teacher.len().is_multiple_of(features) {
        return Err(Error::InvalidConfig(format!(
            "saliency maps of {} values are not whole maps of {features} features",
            teacher.len()
        )));
    }
    check_len(
        &format!("{name}'s saliency maps"),
        teacher.len(),
        other.len(),
    )?;
    let per_sample = teacher
        .chunks_exact(features)
        .zip(other.chunks_exact(features))
        .map(|(t, o)| spearman(t, o))
        .collect::<Result<Vec<_>>>()?;
    let mut defined: Vec<f64> = per_sample.iter().flatten().copied().collect();
    defined.sort_by(f64::total_cmp);
    let n = defined.len();
    let mean = defined.iter().sum::<f64>() / n.max(1) as f64;
    let std = if n > 1 {
        (defined.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let quantiles = if n == 0 {
        [f64::NAN; 5]
    } else {
        [0.0, 0.25, 0.5, 0.75, 1.0].map(|q| quantile(&defined, q))
    };
    let mut histogram = vec![0; HISTOGRAM_BINS];
    for rho in &defined {
        let bin = ((rho + 1.0) / 2.0 * HISTOGRAM_BINS as f64).floor() as usize;
        histogram[bin.min(HISTOGRAM_BINS - 1)] += 1;
    }
    let summary = SaliencyAgreement {
        name: name.to_string(),
        target,
        samples: n,
        undefined: per_sample.len() - n,
        mean,
        std,
        quantiles,
        histogram,
    };
    Ok((summary, per_sample))
}

/// The samples with the lowest, the median and the highest defined ρ, as `(what, index)`: the
/// ones worth looking at side by side.
pub fn telling_samples(per_sample: &[Option<f64>]) -> Vec<(&'static str, usize)> {
    let mut defined: Vec<(usize, f64)> = per_sample
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|r| (i, r)))
        .collect();
    if defined.is_empty() {
        return Vec::new();
    }
    defined.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    // The extremes first, so a median that is one of them takes the extreme's name; then in
    // order of ρ.
    let picks = [
        ("lowest ρ", 0),
        ("highest ρ", defined.len() - 1),
        ("median ρ", defined.len() / 2),
    ];
    let mut out: Vec<(&'static str, usize)> = Vec::new();
    for (what, at) in picks {
        if !out.iter().any(|&(_, a)| a == at) {
            out.push((what, at));
        }
    }
    out.sort_by_key(|&(_, at)| at);
    out.into_iter()
        .map(|(what, at)| (what, defined[at].0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_maps() {
        // Sample 0 agrees, sample 1 is reversed, sample 2 has a constant map.
        let teacher = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0];
        let other = [2.0, 4.0, 8.0, 3.0, 2.0, 1.0, 5.0, 5.0, 5.0];
        let (s, per) =
            saliency_agreement("student", SaliencyTarget::Label, &teacher, &other, 3).unwrap();
        assert_eq!(per, vec![Some(1.0), Some(-1.0), None]);
        assert_eq!((s.samples, s.undefined), (2, 1));
        assert_eq!(s.mean, 0.0);
        assert!((s.std - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.quantiles, [-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert_eq!(s.histogram, vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            telling_samples(&per),
            vec![("lowest ρ", 1), ("highest ρ", 0)]
        );
        assert!(saliency_agreement("s", SaliencyTarget::Label, &teacher, &other[..6], 3).is_err());
        assert!(saliency_agreement("s", SaliencyTarget::Label, &teacher, &other, 4).is_err());
        assert!(telling_samples(&[None]).is_empty());
    }
}
