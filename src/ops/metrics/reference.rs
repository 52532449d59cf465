//! The metrics reference.

use crate::ops::metrics::ErrorCount;

/// Index of the largest value (first on ties; NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Rows of `logits` `[rows, cols]` whose argmax is not the label, and rows holding a
/// non-finite logit.
pub fn count_errors(logits: &[f32], labels: &[u32], cols: usize) -> ErrorCount {
    let rows = || logits.chunks_exact(cols.max(1)).zip(labels);
    let count = |n: usize| n as u32;
    ErrorCount {
        errors: count(
            rows()
                .filter(|(row, &label)| argmax(row) != label as usize)
                .count(),
        ),
        non_finite_rows: count(
            rows()
                .filter(|(row, _)| row.iter().any(|v| !v.is_finite()))
                .count(),
        ),
    }
}
