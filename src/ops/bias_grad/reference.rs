//! The bias-gradient reference in f64.

/// `db[j] = Σ_rows dY[row, j]` of `dy` `[rows, cols]`.
pub fn bias_grad(dy: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..cols)
        .map(|j| (0..rows).map(|r| dy[r * cols + j]).sum())
        .collect()
}
