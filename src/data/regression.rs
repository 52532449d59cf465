//! Regression data: f32 features and one or more f32 targets per sample, the train/test pair,
//! feature standardization, and the Friedman #1 synthetic set (Friedman 1991, "Multivariate
//! Adaptive Regression Splines"; scikit-learn's `make_friedman1`).

use crate::error::{check_finite, check_len, Error, Result};
use crate::ops::gather::Inputs;
use crate::rng::SplitMix64;

/// A regression data set in memory: features `[len, features]` and targets `[len, outputs]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionDataset {
    /// Feature values, row-major per sample.
    pub inputs: Inputs,
    /// Target values, row-major per sample.
    pub targets: Vec<f32>,
    /// Features per sample.
    pub features: usize,
    /// Targets per sample (the model's outputs).
    pub outputs: usize,
}

impl RegressionDataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.targets.len().checked_div(self.outputs).unwrap_or(0)
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks that there are samples, that the features and targets hold `len × width` values
    /// and that every target is finite.
    pub fn validate(&self) -> Result<()> {
        if self.outputs == 0 || self.features == 0 || self.targets.is_empty() {
            return Err(Error::EmptyBatch);
        }
        if !self.targets.len().is_multiple_of(self.outputs) {
            return Err(Error::InvalidConfig(format!(
                "{} target values are not a whole number of samples of {} outputs",
                self.targets.len(),
                self.outputs
            )));
        }
        let values = self.len().checked_mul(self.features).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "{} samples × {} features overflow",
                self.len(),
                self.features
            ))
        })?;
        check_len("regression features", values, self.inputs.len())?;
        check_finite("regression targets", &self.targets)
    }

    /// The samples at `indices`, in that order (each below [`RegressionDataset::len`]).
    pub fn select(&self, indices: &[usize]) -> Result<Self> {
        self.validate()?;
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::InvalidConfig(format!(
                "sample {bad} is past the data set of {} samples",
                self.len()
            )));
        }
        Ok(Self {
            inputs: self.inputs.select_rows(self.features, indices),
            targets: crate::util::select_rows(&self.targets, self.outputs, indices),
            features: self.features,
            outputs: self.outputs,
        })
    }
}

/// A training and a test regression set of the same widths, with the targets' names.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionSplits {
    /// Training set.
    pub train: RegressionDataset,
    /// Test set.
    pub test: RegressionDataset,
    /// The targets' names (CSV columns, or `y0`, `y1`, … for arrays).
    pub target_names: Vec<String>,
}

impl RegressionSplits {
    /// The pair, after checking both splits and that they have the same widths.
    pub fn new(
        train: RegressionDataset,
        test: RegressionDataset,
        target_names: Vec<String>,
    ) -> Result<Self> {
        train.validate()?;
        test.validate()?;
        if (train.features, train.outputs) != (test.features, test.outputs) {
            return Err(Error::InvalidConfig(format!(
                "the training split has {} features and {} targets, the test split {} and {}",
                train.features, train.outputs, test.features, test.outputs
            )));
        }
        check_len("target names", train.outputs, target_names.len())?;
        Ok(Self {
            train,
            test,
            target_names,
        })
    }

    /// Both splits' features standardized with the training split's per-feature mean and
    /// (population) standard deviation; targets are kept as they are, so errors stay in their
    /// units.
    pub fn standardized(self) -> Result<Self> {
        let (f, train_values) = (self.train.features, self.train.inputs.to_f32());
        let n = self.train.len() as f64;
        let mut mean = vec![0.0f64; f];
        for row in train_values.chunks_exact(f) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64 / n;
            }
        }
        let mut var = vec![0.0f64; f];
        for row in train_values.chunks_exact(f) {
            for ((q, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                *q += (v as f64 - m).powi(2) / n;
            }
        }
        // A constant feature carries nothing; scale 1 keeps it at 0 rather than NaN.
        let std: Vec<f64> = var
            .iter()
            .map(|v| if v.sqrt() > 1e-12 { v.sqrt() } else { 1.0 })
            .collect();
        let apply = |set: RegressionDataset| -> Result<RegressionDataset> {
            let mut values = set.inputs.to_f32();
            for row in values.chunks_exact_mut(f) {
                for ((v, m), s) in row.iter_mut().zip(&mean).zip(&std) {
                    *v = ((*v as f64 - m) / s) as f32;
                }
            }
            check_finite("standardized features", &values)?;
            Ok(RegressionDataset {
                inputs: Inputs::F32(values),
                ..set
            })
        };
        Ok(Self {
            train: apply(self.train)?,
            test: apply(self.test)?,
            target_names: self.target_names,
        })
    }
}

/// The noise standard deviation the regression experiment and `distill make-data friedman1`
/// use: σ = 1, the level the benchmark is commonly run at (scikit-learn's `make_friedman1`
/// takes `noise` as an argument and defaults it to 0, a noiseless target).
pub const FRIEDMAN1_NOISE: f64 = 1.0;

/// Features of Friedman #1: ten, of which the last five do not enter the target.
pub const FRIEDMAN1_FEATURES: usize = 10;

/// `samples` draws of Friedman #1: ten features uniform on [0, 1) and
/// `y = 10·sin(π·x1·x2) + 20·(x3 − 0.5)² + 10·x4 + 5·x5 + noise·ε`, ε standard normal
/// (Box–Muller from the same seeded stream), as scikit-learn's `make_friedman1` draws it.
pub fn friedman1(samples: usize, noise: f64, seed: u64) -> Result<RegressionDataset> {
    if samples == 0 {
        return Err(Error::EmptyBatch);
    }
    if !(noise.is_finite() && noise >= 0.0) {
        return Err(Error::InvalidConfig(format!(
            "Friedman #1 noise must be a finite standard deviation ≥ 0, got {noise}"
        )));
    }
    let values = samples.checked_mul(FRIEDMAN1_FEATURES).ok_or_else(|| {
        Error::InvalidConfig(format!("{samples} samples of Friedman #1 overflow"))
    })?;
    let mut rng = SplitMix64::new(seed);
    let inputs: Vec<f32> = (0..values).map(|_| rng.next_f64() as f32).collect();
    let targets = inputs
        .chunks_exact(FRIEDMAN1_FEATURES)
        .map(|x| {
            let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let clean = 10.0 * (std::f64::consts::PI * x[0] * x[1]).sin()
                + 20.0 * (x[2] - 0.5).powi(2)
                + 10.0 * x[3]
                + 5.0 * x[4];
            (clean + noise * standard_normal(&mut rng)) as f32
        })
        .collect();
    Ok(RegressionDataset {
        inputs: Inputs::F32(inputs),
        targets,
        features: FRIEDMAN1_FEATURES,
        outputs: 1,
    })
}

/// Friedman #1 as a training and a test set drawn from one seeded stream each.
pub fn friedman1_splits(train: usize, test: usize, seed: u64) -> Result<RegressionSplits> {
    RegressionSplits::new(
        friedman1(train, FRIEDMAN1_NOISE, seed)?,
        friedman1(test, FRIEDMAN1_NOISE, seed ^ 0x07e5_75e7)?,
        vec!["y".into()],
    )
}

/// One standard normal draw (Box–Muller).
fn standard_normal(rng: &mut SplitMix64) -> f64 {
    // 1 − u lies in (0, 1], so its log is finite.
    let u = 1.0 - rng.next_f64();
    let v = rng.next_f64();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}
