//! The IDX reader (the MNIST file format, gzip or raw) and the MNIST folder layout.

use std::io::Read;
#[cfg(not(target_arch = "wasm32"))]
use std::io::Seek;
use std::path::Path;
#[cfg(not(target_arch = "wasm32"))]
use std::path::PathBuf;

use crate::data::dataset::Dataset;
use crate::error::{Error, Result};
use crate::ops::gather::Inputs;

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

/// IDX data past this many bytes is refused before reading: a device data set uploads each
/// file into one storage binding, and the gather kernel addresses pixels with 32-bit byte
/// offsets.
pub const MAX_IDX_DATA_BYTES: u64 = u32::MAX as u64;

/// Deflate expands at most about 1032-fold, so a gzip file of `n` bytes never inflates past
/// this factor times `n`; used only to size the first reservation.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// The header of an IDX file: dimensions, header length, data bytes the dimensions need.
struct IdxHeader {
    dims: Vec<usize>,
    len: usize,
    data: usize,
}

#[cfg(not(target_arch = "wasm32"))]
/// Reads an IDX file of unsigned bytes (type 0x08), gzip-compressed or raw.
///
/// Only regular files are opened (a FIFO or device could block or never end). The header is
/// read and checked first (through the decoder for gzip); then at most the data bytes it
/// promises are read, and one more to detect trailing data, so a small file that claims or
/// inflates to gigabytes is refused without reading them. Raw files are checked against
/// their length before the data is read.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    // On the path before opening (opening a FIFO blocks), then on the handle.
    check_regular(path, crate::files::metadata(path)?)?;
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let file_len = check_regular(path, file.metadata().map_err(io_error)?)?;
    let magic = read_up_to(&mut file, 2).map_err(io_error)?;
    file.rewind().map_err(io_error)?;
    if magic == [0x1f, 0x8b] {
        let gzip_error =
            |e: std::io::Error| format_error(path, format!("corrupt or truncated gzip data: {e}"));
        let mut decoder = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
        let header = read_header(path, &mut decoder, gzip_error)?;
        let hint = file_len.saturating_mul(MAX_DEFLATE_RATIO);
        let data = read_data(&mut decoder, &header, hint, gzip_error)?;
        finish(path, header, data, "the decompressed data")
    } else {
        let mut reader = std::io::BufReader::new(file);
        let header = read_header(path, &mut reader, io_error)?;
        let body = file_len.saturating_sub(header.len as u64);
        if body != header.data as u64 {
            return Err(format_error(
                path,
                format!(
                    "IDX dimensions {:?} need {} data bytes, file has {body}",
                    header.dims, header.data
                ),
            ));
        }
        let data = read_data(&mut reader, &header, body, io_error)?;
        finish(path, header, data, "the file")
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn check_regular(path: &Path, meta: std::fs::Metadata) -> Result<u64> {
    crate::files::check_regular(path, &meta, "an IDX file")
}

/// Up to `n` bytes (fewer only at the end of the stream).
fn read_up_to(reader: &mut impl Read, n: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(n).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads and checks the header: 4 bytes, then the 4·rank bytes of dimensions.
fn read_header<R: Read>(
    path: &Path,
    reader: &mut R,
    read_error: impl Fn(std::io::Error) -> Error,
) -> Result<IdxHeader> {
    let mut bytes = read_up_to(reader, 4).map_err(&read_error)?;
    if let [0, 0, _, rank @ 1..=4] = bytes[..] {
        let dims = read_up_to(reader, 4 * u64::from(rank)).map_err(&read_error)?;
        bytes.extend_from_slice(&dims);
    }
    parse_header(path, &bytes)
}

/// Reads at most the data bytes `header` promises, then tries one more byte; returns the
/// data and whether anything followed it. `hint` bounds the first reservation.
fn read_data<R: Read>(
    reader: &mut R,
    header: &IdxHeader,
    hint: u64,
    read_error: impl Fn(std::io::Error) -> Error,
) -> Result<(Vec<u8>, bool)> {
    let mut data = Vec::new();
    let reserve = (header.data as u64).min(hint);
    // Both bounds are at most MAX_IDX_DATA_BYTES, which fits usize on 64-bit targets.
    let _ = data.try_reserve_exact(usize::try_from(reserve).unwrap_or(0));
    reader
        .take(header.data as u64)
        .read_to_end(&mut data)
        .map_err(&read_error)?;
    let trailing = !read_up_to(reader, 1).map_err(&read_error)?.is_empty();
    Ok((data, trailing))
}

/// The array, once the data read matches what the header promised.
fn finish(
    path: &Path,
    header: IdxHeader,
    (data, trailing): (Vec<u8>, bool),
    source: &str,
) -> Result<IdxArray> {
    if data.len() != header.data || trailing {
        let has = if trailing {
            "more".to_string()
        } else {
            data.len().to_string()
        };
        return Err(format_error(
            path,
            format!(
                "IDX dimensions {:?} need {} data bytes, {source} has {has}",
                header.dims, header.data
            ),
        ));
    }
    Ok(IdxArray {
        dims: header.dims,
        data,
    })
}

/// Parses IDX bytes, gzip-compressed or raw (`path` only names the source in errors): what a
/// browser fetched, or a file already in memory. Gzip data is inflated no further than the
/// header promises, as [`read_idx`] does.
pub fn parse_idx(path: &Path, bytes: &[u8]) -> Result<IdxArray> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let gzip_error =
            |e: std::io::Error| format_error(path, format!("corrupt or truncated gzip data: {e}"));
        let mut decoder = flate2::read::MultiGzDecoder::new(bytes);
        let header = read_header(path, &mut decoder, gzip_error)?;
        let hint = (bytes.len() as u64).saturating_mul(MAX_DEFLATE_RATIO);
        let data = read_data(&mut decoder, &header, hint, gzip_error)?;
        return finish(path, header, data, "the decompressed data");
    }
    let header = parse_header(path, bytes)?;
    let body = &bytes[header.len..];
    if body.len() != header.data {
        return Err(format_error(
            path,
            format!(
                "IDX dimensions {:?} need {} data bytes, file has {}",
                header.dims,
                header.data,
                body.len()
            ),
        ));
    }
    Ok(IdxArray {
        dims: header.dims,
        data: body.to_vec(),
    })
}

/// Checks the header at the start of `bytes` (what follows it is not looked at).
fn parse_header(path: &Path, bytes: &[u8]) -> Result<IdxHeader> {
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
    let len = 4 + 4 * rank;
    if bytes.len() < len {
        return Err(format_error(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = bytes[4..len]
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize)
        .collect();
    let data = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n as u64 <= MAX_IDX_DATA_BYTES)
        .ok_or_else(|| {
            format_error(
                path,
                format!(
                    "IDX dimensions {dims:?} need more than the {MAX_IDX_DATA_BYTES} data bytes \
                     this reader accepts"
                ),
            )
        })?;
    Ok(IdxHeader { dims, len, data })
}

/// Reads an image file (rank 3: count, rows, cols) and a label file (rank 1) into a data set.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_pair(images: &Path, labels: &Path) -> Result<Dataset> {
    pair_dataset(images, read_idx(images)?, labels, read_idx(labels)?)
}

/// A data set from an image array (rank 3: count, rows, cols) and a label array (rank 1),
/// once their shapes agree (`images` and `labels` name them in errors).
pub fn pair_dataset(images: &Path, img: IdxArray, labels: &Path, lab: IdxArray) -> Result<Dataset> {
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
    if img.dims[1] == 0 || img.dims[2] == 0 {
        return Err(format_error(
            images,
            format!("images of {}x{} have no pixels", img.dims[1], img.dims[2]),
        ));
    }
    Ok(Dataset {
        inputs: Inputs::U8(img.data),
        labels: lab.data,
        height: img.dims[1],
        width: img.dims[2],
    })
}

#[cfg(not(target_arch = "wasm32"))]
/// Finds `stem` or `stem.gz` in `dir`; one that exists but is not a regular file (a FIFO, a
/// folder) is named as such rather than reported missing.
fn find_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    let mut not_regular = None;
    for name in [stem.to_string(), format!("{stem}.gz")] {
        let p = dir.join(name);
        match std::fs::metadata(&p) {
            Ok(meta) if meta.is_file() => return Ok(p),
            Ok(meta) => not_regular = not_regular.or(check_regular(&p, meta).err()),
            Err(_) if crate::files::entry_exists(&p) => {
                not_regular = not_regular.or(crate::files::metadata(&p).err());
            }
            Err(_) => {}
        }
    }
    if let Some(e) = not_regular {
        return Err(e);
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

#[cfg(not(target_arch = "wasm32"))]
/// Reads `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
/// `t10k-labels-idx1-ubyte` (each optionally `.gz`) from `dir`.
pub fn read_dir(dir: &Path) -> Result<TrainTest> {
    let train = read_pair(
        &find_file(dir, "train-images-idx3-ubyte")?,
        &find_file(dir, "train-labels-idx1-ubyte")?,
    )?;
    let test_images = find_file(dir, "t10k-images-idx3-ubyte")?;
    let test = read_pair(&test_images, &find_file(dir, "t10k-labels-idx1-ubyte")?)?;
    TrainTest::new(train, test, &test_images)
}

impl TrainTest {
    /// The pair, after checking that both splits have samples of the same shape (`test_file`
    /// names the test features in that error); classes are one more than the largest label
    /// of either split, and at least 2.
    pub fn new(train: Dataset, test: Dataset, test_file: &Path) -> Result<Self> {
        if (train.height, train.width) != (test.height, test.width) {
            return Err(format_error(
                test_file,
                format!(
                    "test samples are {}x{}, training samples {}x{}",
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
}

#[cfg(not(target_arch = "wasm32"))]
/// The bundled MNIST-10k subset (8004 train / 1996 test).
pub fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join("mnist10k")
}
