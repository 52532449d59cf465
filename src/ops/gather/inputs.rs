//! The feature values a data set holds and a gather reads: bytes scaled to [0, 1] as they are
//! read (images), or floats used as they are (tabular data, standardized features).

use crate::util::select_rows;

/// Feature values, row-major `[samples, features]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Inputs {
    /// Bytes, read as `byte / 255` (IDX images, uint8 `.npy` arrays); four to a u32 on the GPU.
    U8(Vec<u8>),
    /// Floats read as they are (float `.npy` arrays, CSV columns, standardized features).
    F32(Vec<f32>),
}

impl Inputs {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Inputs::U8(v) => v.len(),
            Inputs::F32(v) => v.len(),
        }
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `index` as the model sees it (`byte / 255`, or the float), or `None` past the end.
    pub fn value(&self, index: usize) -> Option<f32> {
        match self {
            Inputs::U8(v) => v.get(index).map(|&b| b as f32 / 255.0),
            Inputs::F32(v) => v.get(index).copied(),
        }
    }

    /// Values `range` as the model sees them, or `None` when the range reaches past the end.
    pub fn values(&self, range: std::ops::Range<usize>) -> Option<Vec<f32>> {
        match self {
            Inputs::U8(v) => v
                .get(range)
                .map(|s| s.iter().map(|&b| b as f32 / 255.0).collect()),
            Inputs::F32(v) => v.get(range).map(<[f32]>::to_vec),
        }
    }

    /// Every value as the model sees it.
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            Inputs::U8(v) => v.iter().map(|&b| b as f32 / 255.0).collect(),
            Inputs::F32(v) => v.clone(),
        }
    }

    /// Name of the element type, for messages and reports.
    pub fn element_name(&self) -> &'static str {
        match self {
            Inputs::U8(_) => "uint8",
            Inputs::F32(_) => "float32",
        }
    }

    /// Bytes per value on the GPU.
    pub fn bytes_per_value(&self) -> usize {
        match self {
            Inputs::U8(_) => 1,
            Inputs::F32(_) => 4,
        }
    }

    /// The `encoding` the gather kernel reads the words with (0: packed bytes, 1: f32 bits).
    pub(crate) fn encoding(&self) -> u32 {
        match self {
            Inputs::U8(_) => 0,
            Inputs::F32(_) => 1,
        }
    }

    /// The words the kernel reads: bytes packed four to a u32 (little-endian), or f32 bits.
    pub fn to_words(&self) -> Vec<u32> {
        match self {
            Inputs::U8(v) => pack_bytes(v),
            Inputs::F32(v) => v.iter().map(|f| f.to_bits()).collect(),
        }
    }

    /// Rows `rows` (in that order) of a `[_, width]` matrix of these values.
    ///
    /// # Panics
    /// If a row reaches past the values (callers check their indices).
    pub fn select_rows(&self, width: usize, rows: &[usize]) -> Inputs {
        match self {
            Inputs::U8(v) => Inputs::U8(select_rows(v, width, rows)),
            Inputs::F32(v) => Inputs::F32(select_rows(v, width, rows)),
        }
    }

    /// The first `count` values (all of them when fewer).
    pub fn head(&self, count: usize) -> Inputs {
        match self {
            Inputs::U8(v) => Inputs::U8(v[..count.min(v.len())].to_vec()),
            Inputs::F32(v) => Inputs::F32(v[..count.min(v.len())].to_vec()),
        }
    }
}

/// Bytes packed four per u32, little-endian, as the kernel reads them.
pub fn pack_bytes(bytes: &[u8]) -> Vec<u32> {
    let mut packed = vec![0u32; bytes.len().div_ceil(4)];
    for (i, &b) in bytes.iter().enumerate() {
        packed[i / 4] |= (b as u32) << (8 * (i % 4));
    }
    packed
}
