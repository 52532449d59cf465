//! The IDX reader (the MNIST file format, gzip or raw) and the MNIST folder layout.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::data::dataset::Dataset;
use crate::error::{Error, Result};

/// An IDX array: dimensions and u8 data.
#[derive(Debug, Clone)]
pub struct IdxArray {
    /// Sizes, outermost first.
    pub dims: Vec<usize>,
    /// The bytes.
    pub data: Vec<u8>,
}

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads an IDX file of unsigned bytes (type 0x08), gzip-compressed or raw.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| format_error(path, format!("corrupt or truncated gzip data: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(path, &bytes)
}

/// Parses IDX bytes (`path` only names the source in errors).
pub fn parse_idx(path: &Path, bytes: &[u8]) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(format_error(
            path,
            format!("{} bytes is too short for an IDX header", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format_error(
            path,
            format!(
                "bad IDX magic {:02x}{:02x}{:02x}{:02x}: expected 0000 then type and rank",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format_error(
            path,
            format!(
                "IDX element type 0x{:02x} is not unsigned byte (0x08)",
                bytes[2]
            ),
        ));
    }
    let rank = bytes[3] as usize;
    if rank == 0 || rank > 4 {
        return Err(format_error(path, format!("IDX rank {rank} is not 1 to 4")));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(format_error(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            u32::from_be_bytes([
                bytes[4 + 4 * i],
                bytes[5 + 4 * i],
                bytes[6 + 4 * i],
                bytes[7 + 4 * i],
            ]) as usize
        })
        .collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let body = bytes.len() - header;
    match expected {
        Some(n) if n == body => Ok(IdxArray {
            dims,
            data: bytes[header..].to_vec(),
        }),
        Some(n) => Err(format_error(
            path,
            format!("IDX dimensions {dims:?} need {n} data bytes, file has {body}"),
        )),
        None => Err(format_error(
            path,
            format!("IDX dimensions {dims:?} overflow"),
        )),
    }
}

/// Reads an image file (rank 3: count, rows, cols) and a label file (rank 1) into a data set.
pub fn read_pair(images: &Path, labels: &Path) -> Result<Dataset> {
    let img = read_idx(images)?;
    let lab = read_idx(labels)?;
    if img.dims.len() != 3 {
        return Err(format_error(
            images,
            format!(
                "image file must have rank 3 (count, rows, cols), has dims {:?}",
                img.dims
            ),
        ));
    }
    if lab.dims.len() != 1 {
        return Err(format_error(
            labels,
            format!("label file must have rank 1, has dims {:?}", lab.dims),
        ));
    }
    if img.dims[0] != lab.dims[0] {
        return Err(format_error(
            labels,
            format!(
                "{} labels for {} images in {}",
                lab.dims[0],
                img.dims[0],
                images.display()
            ),
        ));
    }
    if img.dims[0] == 0 {
        return Err(format_error(images, "no samples"));
    }
    Ok(Dataset {
        pixels: img.data,
        labels: lab.data,
        height: img.dims[1],
        width: img.dims[2],
    })
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [stem.to_string(), format!("{stem}.gz")] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::Io {
        path: dir.join(stem),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("neither {stem} nor {stem}.gz exists"),
        ),
    })
}

/// A train/test pair read from a folder laid out like the MNIST distribution.
#[derive(Debug, Clone)]
pub struct TrainTest {
    /// Training set.
    pub train: Dataset,
    /// Test set.
    pub test: Dataset,
    /// Classes across both.
    pub classes: usize,
}

/// Reads `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
/// `t10k-labels-idx1-ubyte` (each optionally `.gz`) from `dir`.
pub fn read_dir(dir: &Path) -> Result<TrainTest> {
    let train = read_pair(
        &find_file(dir, "train-images-idx3-ubyte")?,
        &find_file(dir, "train-labels-idx1-ubyte")?,
    )?;
    let test_images = find_file(dir, "t10k-images-idx3-ubyte")?;
    let test = read_pair(&test_images, &find_file(dir, "t10k-labels-idx1-ubyte")?)?;
    if (train.height, train.width) != (test.height, test.width) {
        return Err(format_error(
            &test_images,
            format!(
                "test images are {}x{}, training images {}x{}",
                test.height, test.width, train.height, train.width
            ),
        ));
    }
    let classes = train.classes().max(test.classes()).max(2);
    Ok(TrainTest {
        train,
        test,
        classes,
    })
}

/// The bundled MNIST-10k subset (8004 train / 1996 test).
pub fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join("mnist10k")
}
