//! NumPy `.npy` matrices of float32 (via the `npyz` crate): how teachers of any architecture or
//! framework hand their logits over. Every read is bounded by the shape the caller expects.

use std::path::Path;

use npyz::{NpyFile, Order};

use crate::error::{check_finite, Error, Result};

/// Header bytes allowed beyond the data (npy headers are a few hundred bytes).
const MAX_HEADER: u64 = 1 << 20;

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads a C-order float32 `.npy` array of shape `[rows, cols]` with finite values.
pub fn read_f32_matrix(path: &Path, rows: usize, cols: usize) -> Result<Vec<f32>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let data_bytes = rows
        .checked_mul(cols)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| format_error(path, format!("a {rows}x{cols} array overflows")))?
        as u64;
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(format_error(path, "not a regular file"));
    }
    if meta.len() > data_bytes.saturating_add(MAX_HEADER) {
        return Err(format_error(
            path,
            format!(
                "{} bytes is more than a float32 [{rows}, {cols}] array needs",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    parse_f32_matrix(path, &bytes, rows, cols)
}

/// Parses `.npy` bytes as [`read_f32_matrix`] does (`path` names the source in errors).
pub fn parse_f32_matrix(path: &Path, bytes: &[u8], rows: usize, cols: usize) -> Result<Vec<f32>> {
    let file = NpyFile::new(bytes)
        .map_err(|e| format_error(path, format!("not a readable .npy file: {e}")))?;
    let header = file.header().clone();
    if header.order() != Order::C {
        return Err(format_error(
            path,
            "Fortran-order array; save it with np.ascontiguousarray",
        ));
    }
    let expected = [rows as u64, cols as u64];
    if header.shape() != expected {
        return Err(format_error(
            path,
            format!(
                "array shape {:?}, expected [{rows}, {cols}] (training samples, classes)",
                header.shape()
            ),
        ));
    }
    let body: &[u8] = file.into_inner();
    if body.len() as u64 != rows as u64 * cols as u64 * 4 {
        return Err(format_error(
            path,
            format!(
                "{} data bytes for a [{rows}, {cols}] float32 array ({} expected)",
                body.len(),
                rows * cols * 4
            ),
        ));
    }
    let values: Vec<f32> = NpyFile::with_header(header.clone(), body)
        .data::<f32>()
        .map_err(|e| {
            format_error(
                path,
                format!(
                    "dtype {}, expected float32 ('<f4'): {e}",
                    header.dtype().descr()
                ),
            )
        })?
        .collect::<std::io::Result<_>>()
        .map_err(|e| format_error(path, format!("truncated .npy data: {e}")))?;
    check_finite(&format!("logits in {}", path.display()), &values)?;
    Ok(values)
}
