//! Widening and narrowing between the f32 the kernels compute in and the f64 of the reference,
//! and picking rows of a row-major matrix.

/// Widens f32 to f64.
pub fn to_f64(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

/// Narrows f64 to f32.
pub fn to_f32(values: &[f64]) -> Vec<f32> {
    values.iter().map(|&v| v as f32).collect()
}

/// Rows `rows` (in that order) of a row-major matrix of `width` columns, concatenated.
///
/// # Panics
/// If a row reaches past `matrix` (callers check their indices).
pub fn select_rows<T: Copy>(matrix: &[T], width: usize, rows: &[usize]) -> Vec<T> {
    rows.iter()
        .flat_map(|&i| matrix[i * width..(i + 1) * width].iter().copied())
        .collect()
}
