//! The batch-loss reference in f64.

/// `(loss, ce, kl)` = `((1 − α)·mean(ce) + α·T²·mean(kl), mean(ce), mean(kl))`.
pub fn reduce_loss(row_ce: &[f64], row_kl: &[f64], temperature: f64, alpha: f64) -> [f64; 3] {
    let inv_b = 1.0 / row_ce.len().max(1) as f64;
    let ce = row_ce.iter().sum::<f64>() * inv_b;
    let kl = row_kl.iter().sum::<f64>() * inv_b;
    [
        (1.0 - alpha) * ce + alpha * temperature * temperature * kl,
        ce,
        kl,
    ]
}
