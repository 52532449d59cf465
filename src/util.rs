//! Widening and narrowing between the f32 the kernels compute in and the f64 of the reference.

/// Widens f32 to f64.
pub fn to_f64(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

/// Narrows f64 to f32.
pub fn to_f32(values: &[f64]) -> Vec<f32> {
    values.iter().map(|&v| v as f32).collect()
}
