//! NumPy `.npy` arrays (via the `npyz` crate): the checked parse every reader shares, and
//! float32 matrices, how teachers of any architecture or framework hand their logits over.
//! Every read is bounded by the shape the caller expects.

use std::io::Read;
use std::path::Path;

use npyz::{DType, Deserialize, NpyFile, NpyHeader, Order, TypeChar};

use crate::error::{check_finite, Error, Result};

/// Header bytes allowed beyond the data (npy headers are a few hundred bytes).
pub(crate) const MAX_HEADER: u64 = 1 << 20;

/// The `.npy` magic string.
const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads an `.npy` stream up to its data — magic, version, header length and header, every
/// length bounded before anything is read — and returns those bytes with the number of data
/// bytes the header promises. A streamed reader (an archive member) is then read no further
/// than that, so a member that inflates past its own header is never inflated past it.
pub(crate) fn read_prefix(path: &Path, reader: &mut impl Read) -> Result<(Vec<u8>, u64)> {
    let short = |e: std::io::Error| format_error(path, format!("not a readable .npy header: {e}"));
    let mut prefix = vec![0u8; 10];
    reader.read_exact(&mut prefix).map_err(short)?;
    if &prefix[..MAGIC.len()] != MAGIC {
        return Err(format_error(
            path,
            "not an .npy array (no \\x93NUMPY magic)",
        ));
    }
    let header_len = match prefix[6] {
        1 => u64::from(u16::from_le_bytes([prefix[8], prefix[9]])),
        2 | 3 => {
            let mut rest = [0u8; 2];
            reader.read_exact(&mut rest).map_err(short)?;
            prefix.extend_from_slice(&rest);
            u64::from(u32::from_le_bytes([prefix[8], prefix[9], rest[0], rest[1]]))
        }
        version => {
            return Err(format_error(
                path,
                format!(".npy format version {version}; versions 1 to 3 are read"),
            ))
        }
    };
    if header_len > MAX_HEADER {
        return Err(format_error(
            path,
            format!("an .npy header of {header_len} bytes, past the {MAX_HEADER} accepted"),
        ));
    }
    let start = prefix.len();
    reader
        .take(header_len)
        .read_to_end(&mut prefix)
        .map_err(short)?;
    if (prefix.len() - start) as u64 != header_len {
        return Err(format_error(
            path,
            format!(
                "the .npy header ends after {} of its {header_len} bytes",
                prefix.len() - start
            ),
        ));
    }
    let header = NpyHeader::from_reader(&prefix[..]).map_err(short)?;
    let DType::Plain(type_str) = header.dtype() else {
        return Err(format_error(
            path,
            format!(
                "structured dtype {}; save a plain numeric array",
                header.dtype().descr()
            ),
        ));
    };
    let data = header
        .shape()
        .iter()
        .try_fold(type_str.size_field(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            format_error(
                path,
                format!(
                    "array shape {:?} of dtype {type_str} overflows 2^64 bytes",
                    header.shape()
                ),
            )
        })?;
    Ok((prefix, data))
}

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
    let npy = Npy::parse(path, bytes)?;
    let expected = [rows as u64, cols as u64];
    if npy.shape() != expected {
        return Err(format_error(
            path,
            format!(
                "array shape {:?}, expected [{rows}, {cols}] (training samples, classes)",
                npy.shape()
            ),
        ));
    }
    if (npy.type_str.type_char(), npy.type_str.size_field()) != (TypeChar::Float, 4) {
        return Err(format_error(
            path,
            format!("dtype {}, expected float32 ('<f4')", npy.type_str),
        ));
    }
    let values = npy.elements::<f32>(path)?;
    check_finite(&format!("logits in {}", path.display()), &values)?;
    Ok(values)
}

/// A parsed `.npy` file: its header, plain element type and data bytes (exactly the bytes its
/// shape and element type need).
pub(crate) struct Npy<'a> {
    header: npyz::NpyHeader,
    pub(crate) type_str: npyz::TypeStr,
    body: &'a [u8],
}

impl<'a> Npy<'a> {
    /// Parses and checks the header of C-order `.npy` bytes of a plain dtype, and that the
    /// data that follows is what the shape needs, no more and no less.
    pub(crate) fn parse(path: &Path, bytes: &'a [u8]) -> Result<Self> {
        let file = NpyFile::new(bytes)
            .map_err(|e| format_error(path, format!("not a readable .npy file: {e}")))?;
        let header = file.header().clone();
        if header.order() != Order::C {
            return Err(format_error(
                path,
                "Fortran-order array; save it with np.ascontiguousarray",
            ));
        }
        let DType::Plain(type_str) = header.dtype() else {
            return Err(format_error(
                path,
                format!(
                    "structured dtype {}; save a plain numeric array",
                    header.dtype().descr()
                ),
            ));
        };
        let body: &[u8] = file.into_inner();
        let shape = header.shape();
        if shape.is_empty() || shape.contains(&0) {
            return Err(format_error(
                path,
                format!("array shape {shape:?} has no samples or no values per sample"),
            ));
        }
        let needed = shape
            .iter()
            .try_fold(type_str.size_field(), |acc, &d| acc.checked_mul(d));
        if needed != Some(body.len() as u64) {
            let needed = needed.map_or("over 2^64".to_string(), |n| n.to_string());
            return Err(format_error(
                path,
                format!(
                    "array shape {shape:?} of dtype {type_str} needs {needed} data bytes, the \
                     file holds {}",
                    body.len()
                ),
            ));
        }
        Ok(Self {
            header,
            type_str,
            body,
        })
    }

    pub(crate) fn shape(&self) -> Vec<u64> {
        self.header.shape().to_vec()
    }

    /// The elements as `T` (the caller matched the dtype).
    pub(crate) fn elements<T: Deserialize>(&self, path: &Path) -> Result<Vec<T>> {
        NpyFile::with_header(self.header.clone(), self.body)
            .data::<T>()
            .map_err(|e| format_error(path, format!("unsupported dtype: {e}")))?
            .collect::<std::io::Result<Vec<T>>>()
            .map_err(|e| format_error(path, format!("unreadable data: {e}")))
    }
}
