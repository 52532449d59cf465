//! The softmax reference in f64: max-subtracted, log-probabilities never from log(softmax).

/// Row-wise `(softmax(x / T), log_softmax(x / T))`, max-subtracted.
pub fn softmax(x: &[f64], rows: usize, cols: usize, temperature: f64) -> (Vec<f64>, Vec<f64>) {
    let mut probs = vec![0.0; rows * cols];
    let mut log_probs = vec![0.0; rows * cols];
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let lse = log_sum_exp(row, temperature);
        for (c, &v) in row.iter().enumerate() {
            let lp = v / temperature - lse;
            log_probs[r * cols + c] = lp;
            probs[r * cols + c] = lp.exp();
        }
    }
    (probs, log_probs)
}

/// `log Σ exp(x / T)` of one row, stable.
pub fn log_sum_exp(row: &[f64], temperature: f64) -> f64 {
    let m = row
        .iter()
        .map(|&v| v / temperature)
        .fold(f64::NEG_INFINITY, f64::max);
    m + row
        .iter()
        .map(|&v| (v / temperature - m).exp())
        .sum::<f64>()
        .ln()
}
