//! Widening and narrowing between the f32 the kernels compute in and the f64 of the reference,
//! picking rows of a row-major matrix, and lists as text.

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

/// `values` as text joined by `separator`, e.g. layer sizes `784-800-10` or a shape
/// `128×800×784`.
pub fn joined<T: std::fmt::Display>(values: &[T], separator: &str) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

/// `text` cut to at most `max_chars` characters, with how many were left out: error messages
/// quote what a user's file holds without printing megabytes of it.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let total = text.chars().count();
    if total <= max_chars {
        return text.to_string();
    }
    let kept: String = text.chars().take(max_chars).collect();
    format!("{kept}… ({} more characters)", total - max_chars)
}
