//! Errors per class from logits on the host, optionally after shifting some classes' logits
//! (a bias correction chosen after training).

use crate::classes::ClassSet;
use crate::error::{check_len, Error, Result};
use crate::ops::metrics::reference::argmax;

/// Misclassified and total samples of each class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassErrors {
    /// Misclassified samples whose label is class c, at index c.
    pub errors: Vec<usize>,
    /// Samples whose label is class c, at index c.
    pub samples: Vec<usize>,
}

impl ClassErrors {
    /// Counts errors of `logits` `[labels.len(), classes]` against `labels`, with `shift[c]`
    /// added to every logit of class c before the argmax (`shift` empty: no shift). Errors on
    /// a length mismatch, a label out of range or a non-finite logit.
    pub fn count(logits: &[f32], labels: &[u8], classes: usize, shift: &[f32]) -> Result<Self> {
        check_len("logits", labels.len().saturating_mul(classes), logits.len())?;
        if !shift.is_empty() {
            check_len("class logit shifts", classes, shift.len())?;
        }
        let non_finite = logits
            .chunks(classes.max(1))
            .filter(|row| row.iter().any(|v| !v.is_finite()))
            .count();
        if non_finite > 0 {
            return Err(Error::NonFiniteOutput {
                what: "logits".into(),
                rows: non_finite,
                count: labels.len(),
            });
        }
        let mut errors = vec![0; classes];
        let mut samples = vec![0; classes];
        let mut row = vec![0.0f32; classes];
        for (i, &label) in labels.iter().enumerate() {
            let y = label as usize;
            if y >= classes {
                return Err(Error::InvalidConfig(format!(
                    "label {y} of sample {i} is not below {classes} classes"
                )));
            }
            row.copy_from_slice(&logits[i * classes..(i + 1) * classes]);
            for (v, s) in row.iter_mut().zip(shift) {
                *v += s;
            }
            samples[y] += 1;
            if argmax(&row) != y {
                errors[y] += 1;
            }
        }
        Ok(Self { errors, samples })
    }

    /// All errors.
    pub fn total(&self) -> usize {
        self.errors.iter().sum()
    }

    /// Errors on samples whose label is in `classes`.
    pub fn on(&self, classes: &ClassSet) -> usize {
        classes
            .iter()
            .filter_map(|c| self.errors.get(c))
            .sum::<usize>()
    }
}

/// The confusion matrix `[classes, classes]` of `logits` against `labels`: entry
/// `(true, predicted)` counts the samples of class `true` predicted as `predicted` (argmax, first
/// on ties). Errors as [`ClassErrors::count`].
pub fn confusion_matrix(logits: &[f32], labels: &[u8], classes: usize) -> Result<Vec<usize>> {
    // The checks of `count` (shapes, labels, finite values) guard the loop below.
    ClassErrors::count(logits, labels, classes, &[])?;
    let mut matrix = vec![0; classes * classes];
    for (i, &y) in labels.iter().enumerate() {
        let predicted = argmax(&logits[i * classes..(i + 1) * classes]);
        matrix[y as usize * classes + predicted] += 1;
    }
    Ok(matrix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_counts_true_by_predicted() {
        let logits = [2.0, 1.0, 0.5, 1.0, 3.0, 1.0];
        let m = confusion_matrix(&logits, &[0, 1, 1], 2).unwrap();
        assert_eq!(m, vec![1, 0, 1, 1]);
        assert!(confusion_matrix(&logits, &[0, 1], 2).is_err());
    }

    #[test]
    fn counts_per_class_and_applies_shifts() {
        // Three samples of 2 classes: labels 0, 1, 1; sample 1 is wrong by 0.5.
        let logits = [2.0, 1.0, 1.0, 0.5, 1.0, 3.0];
        let labels = [0, 1, 1];
        let plain = ClassErrors::count(&logits, &labels, 2, &[]).unwrap();
        assert_eq!(plain.errors, vec![0, 1]);
        assert_eq!(plain.samples, vec![1, 2]);
        assert_eq!(plain.total(), 1);
        // +0.6 on class 1 fixes sample 1 (0.5 + 0.6 > 1) and breaks sample 0 (1.6 < 2 stays).
        let shifted = ClassErrors::count(&logits, &labels, 2, &[0.0, 0.6]).unwrap();
        assert_eq!(shifted.errors, vec![0, 0]);
        let broken = ClassErrors::count(&logits, &labels, 2, &[0.0, 1.5]).unwrap();
        assert_eq!(broken.errors, vec![1, 0]);
        assert_eq!(broken.on(&ClassSet::parse("0", 2).unwrap()), 1);
    }

    #[test]
    fn bad_shapes_labels_and_values_are_errors() {
        assert!(ClassErrors::count(&[0.0; 3], &[0, 1], 2, &[]).is_err());
        assert!(ClassErrors::count(&[0.0; 4], &[0, 2], 2, &[]).is_err());
        assert!(ClassErrors::count(&[0.0; 4], &[0, 1], 2, &[1.0]).is_err());
        assert!(matches!(
            ClassErrors::count(&[f32::NAN, 0.0], &[0], 2, &[]),
            Err(Error::NonFiniteOutput { .. })
        ));
    }
}
