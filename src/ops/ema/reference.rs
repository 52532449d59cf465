//! The EMA-teacher reference in f64.

/// `d·θ' + (1 − d)·θ` element-wise: the teacher's parameters `shadow` (θ') after one update
/// toward the student's `source` (θ).
pub fn ema_update(shadow: &[f64], source: &[f64], decay: f64) -> Vec<f64> {
    shadow
        .iter()
        .zip(source)
        .map(|(&kept, &student)| decay * kept + (1.0 - decay) * student)
        .collect()
}
