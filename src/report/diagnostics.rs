//! A model's test-set breakdown for a report: errors per class, the confusion matrix and
//! reliability bins, with the figures that show them.

use crate::data::DeviceDataset;
use crate::error::{Error, Result};
use crate::eval::{confusion_matrix, logits, ClassErrors, Evaluation};
use crate::gpu::GpuContext;
use crate::model::Mlp;
use crate::report::charts::bar_chart;
use crate::report::heat::heat_map;
use crate::report::reliability::{reliability_bins, ReliabilityBin};

/// Reliability bins a report uses unless told otherwise.
pub const DEFAULT_BINS: usize = 10;

/// Samples a model is run on at once when measured.
const BATCH: usize = 512;

/// How a model does on each class of a data set.
#[derive(Debug, Clone, PartialEq)]
pub struct TestDiagnostics {
    /// Number of classes.
    pub classes: usize,
    /// Misclassified and total samples of each class.
    pub class_errors: ClassErrors,
    /// `confusion[true_class * classes + predicted_class]`: sample counts.
    pub confusion: Vec<usize>,
    /// Reliability bins of the top-class probability.
    pub reliability: Vec<ReliabilityBin>,
}

impl TestDiagnostics {
    /// The breakdown of `logits` (`[labels.len(), classes]`, row-major) against `labels`,
    /// with `bins` reliability bins. Errors as [`ClassErrors::count`] and
    /// [`reliability_bins`] do (length, label range, non-finite logits, no bins).
    pub fn from_logits(logits: &[f32], labels: &[u8], classes: usize, bins: usize) -> Result<Self> {
        let reliability = reliability_bins(logits, labels, classes, bins)?;
        let class_errors = ClassErrors::count(logits, labels, classes, &[])?;
        let confusion = confusion_matrix(logits, labels, classes)?;
        Ok(Self {
            classes,
            class_errors,
            confusion,
            reliability,
        })
    }

    /// Runs `model` over `data` (its stored order and labels) and breaks down the result.
    pub fn measure(
        ctx: &GpuContext,
        model: &Mlp,
        data: &DeviceDataset,
        bins: usize,
    ) -> Result<Self> {
        if data.is_empty() {
            return Err(Error::InvalidConfig(
                "test diagnostics need at least one sample".into(),
            ));
        }
        let all = logits(ctx, model, data, BATCH)?;
        // A model with a non-finite logit is named as `eval::evaluate` names it.
        Self::from_logits(&all, data.labels(), data.classes(), bins).map_err(|e| match e {
            Error::NonFiniteOutput { rows, count, .. } => Error::NonFiniteOutput {
                what: format!("model {:?}", model.spec().sizes),
                rows,
                count,
            },
            other => other,
        })
    }

    /// Errors and samples over all classes.
    pub fn evaluation(&self) -> Evaluation {
        Evaluation {
            errors: self.class_errors.total(),
            count: self.class_errors.samples.iter().sum(),
        }
    }

    /// Accuracy on each class; NaN for a class with no samples.
    pub fn class_accuracy(&self) -> Vec<f64> {
        let ClassErrors { errors, samples } = &self.class_errors;
        errors
            .iter()
            .zip(samples)
            .map(|(&e, &n)| {
                if n == 0 {
                    f64::NAN
                } else {
                    1.0 - e as f64 / n as f64
                }
            })
            .collect()
    }

    /// The confusion matrix as a heat map: true classes down, predicted across, counts in the
    /// cells.
    pub fn confusion_heat_map(&self, title: &str) -> Result<String> {
        let names = class_names(self.classes);
        let counts: Vec<f64> = self.confusion.iter().map(|&n| n as f64).collect();
        heat_map(
            title,
            "true class",
            "predicted class",
            &names,
            &names,
            &counts,
            0,
        )
    }
}

/// Class names "0", "1", … for `classes` classes.
pub fn class_names(classes: usize) -> Vec<String> {
    (0..classes).map(|c| c.to_string()).collect()
}

/// A grouped bar chart of each named model's accuracy per class (classes without samples get
/// no bar). Errors when `models` is empty or their class counts differ.
pub fn class_accuracy_chart(title: &str, models: &[(&str, &TestDiagnostics)]) -> Result<String> {
    let Some(classes) = models.first().map(|(_, d)| d.classes) else {
        return Err(Error::Report(format!(
            "plot {title:?}: no models to compare"
        )));
    };
    if let Some((name, d)) = models.iter().find(|(_, d)| d.classes != classes) {
        return Err(Error::Report(format!(
            "plot {title:?}: {name:?} has {} classes, the first model {classes}",
            d.classes
        )));
    }
    let series: Vec<(String, Vec<f64>)> = models
        .iter()
        .map(|(name, d)| (name.to_string(), d.class_accuracy()))
        .collect();
    bar_chart(title, "test accuracy", &class_names(classes), &series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_counts_true_against_predicted() {
        // Labels 0, 1, 1, 2; predictions 0, 1, 0, 2.
        let logits = [3.0, 0.0, 0.0, 0.0, 2.0, 0.0, 1.0, 0.5, 0.0, 0.0, 0.0, 9.0];
        let d = TestDiagnostics::from_logits(&logits, &[0, 1, 1, 2], 3, 5).unwrap();
        assert_eq!(d.confusion, [1, 0, 0, 1, 1, 0, 0, 0, 1]);
        assert_eq!(d.class_errors.errors, [0, 1, 0]);
        assert_eq!(d.class_accuracy(), [1.0, 0.5, 1.0]);
        assert_eq!(d.reliability.iter().map(|b| b.count).sum::<usize>(), 4);
        let svg = d.confusion_heat_map("confusion").unwrap();
        assert!(svg.contains("true class"));
        assert!(class_accuracy_chart("acc", &[("m", &d)]).is_ok());
        assert!(class_accuracy_chart("acc", &[]).is_err());
        let two = TestDiagnostics::from_logits(&[0.0, 1.0], &[1], 2, 2).unwrap();
        assert!(class_accuracy_chart("acc", &[("a", &d), ("b", &two)]).is_err());
        assert!(two.class_accuracy()[0].is_nan());
    }
}
