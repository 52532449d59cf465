//! The metrics reference.

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

/// Rows of `logits` `[rows, cols]` whose argmax is not the label.
pub fn count_errors(logits: &[f32], labels: &[u32], cols: usize) -> usize {
    logits
        .chunks_exact(cols.max(1))
        .zip(labels)
        .filter(|(row, &label)| argmax(row) != label as usize)
        .count()
}
