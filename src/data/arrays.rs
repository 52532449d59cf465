//! NumPy data sets: a `.npz` archive holding `x_train`, `y_train`, `x_test` and `y_test` (the
//! names Keras' `mnist.npz` uses), or a folder of those four `.npy` files. Features are
//! float32 or float64 (used as they are) or uint8 (scaled to [0, 1]), of shape `[N, F]`
//! (tabular), `[N, H, W]` (images) or `[N, …]` (flattened); labels are integers `[N]` or
//! `[N, 1]`. Every read is bounded: a file or archive member larger than
//! [`MAX_ARRAY_BYTES`] is refused before it is read.

use std::io::Read;
use std::path::{Path, PathBuf};

use npyz::TypeChar;

use crate::data::dataset::Dataset;
use crate::data::idx::{TrainTest, MAX_IDX_DATA_BYTES};
use crate::data::npy::{read_prefix, Npy};
use crate::error::{check_finite, Error, Result};
use crate::files::read_regular;
use crate::ops::gather::Inputs;

/// The most bytes one array's file (or archive member) may hold: the IDX reader's bound plus
/// room for an `.npy` header.
pub const MAX_ARRAY_BYTES: u64 = MAX_IDX_DATA_BYTES + (1 << 20);

/// The four arrays, in the order they are read.
pub const ARRAY_NAMES: [&str; 4] = ["x_train", "y_train", "x_test", "y_test"];

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// How far an `.npz` archive may inflate. Each member is read no further than its `.npy`
/// header promises (and never past `member_bytes`), and the four members' promises together
/// may not pass `total_bytes`: both are checked before a member's data is inflated, so a small
/// archive that inflates to gigabytes costs no more than its header admits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// The most bytes one member (header and data) may hold.
    pub member_bytes: u64,
    /// The most bytes the four members may hold together.
    pub total_bytes: u64,
}

/// The most bytes the four members of an `.npz` may inflate to together (4 GiB, the bound of
/// one array, plus room for the headers).
pub const MAX_NPZ_INFLATED_BYTES: u64 = MAX_ARRAY_BYTES + 3 * (1 << 20);

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self {
            member_bytes: MAX_ARRAY_BYTES,
            total_bytes: MAX_NPZ_INFLATED_BYTES,
        }
    }
}

/// Reads the four arrays from the `.npz` archive at `path`, within [`ArchiveLimits::default`].
pub fn read_npz(path: &Path) -> Result<TrainTest> {
    read_npz_within(path, &ArchiveLimits::default())
}

/// Reads the four arrays from the `.npz` archive at `path`, within `limits`.
pub fn read_npz_within(path: &Path, limits: &ArchiveLimits) -> Result<TrainTest> {
    build(read_npz_members(path, limits)?)
}

/// The four arrays' bytes from the `.npz` archive at `path`, within `limits`, each named by
/// `path` joined with its member's name, in [`ARRAY_NAMES`] order.
pub(crate) fn read_npz_members(
    path: &Path,
    limits: &ArchiveLimits,
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    // Stored members are no larger than their contents, deflated ones hardly larger.
    let archive_bytes_max = limits.total_bytes.saturating_add(1 << 20);
    let bytes = read_regular(path, archive_bytes_max, "an .npz archive")?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format_error(path, format!("not a readable .npz (zip) archive: {e}")))?;
    let found = excerpt_list(archive.file_names(), 8);
    let mut members = Vec::with_capacity(ARRAY_NAMES.len());
    let mut promised_total = 0u64;
    for name in ARRAY_NAMES {
        let file_name = format!("{name}.npy");
        let member_path = path.join(&file_name);
        let mut member = match archive.by_name(&file_name) {
            Ok(member) => member,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(format_error(
                    path,
                    format!(
                        "no array {name} (member {file_name}); the archive holds {found}, and \
                         needs x_train, y_train, x_test and y_test"
                    ),
                ));
            }
            Err(e) => return Err(format_error(path, format!("member {file_name}: {e}"))),
        };
        let declared = member.size();
        let (prefix, data_bytes) = read_prefix(&member_path, &mut member)?;
        let promised = data_bytes.saturating_add(prefix.len() as u64);
        if promised > limits.member_bytes {
            return Err(format_error(
                path,
                format!(
                    "member {file_name}'s header promises {promised} bytes, past the {} one \
                     array may hold",
                    limits.member_bytes
                ),
            ));
        }
        if declared != promised {
            return Err(format_error(
                path,
                format!(
                    "member {file_name}: the archive's directory gives {declared} bytes, its \
                     .npy header promises {promised}"
                ),
            ));
        }
        promised_total = promised_total.saturating_add(promised);
        if promised_total > limits.total_bytes {
            return Err(format_error(
                path,
                format!(
                    "members up to {file_name} promise {promised_total} bytes, past the {} an \
                     archive may inflate to",
                    limits.total_bytes
                ),
            ));
        }
        // Bounded by the header's promise: one byte more is enough to tell that it lied.
        let mut data = Vec::new();
        data.try_reserve_exact(usize::try_from(promised).unwrap_or(usize::MAX))
            .map_err(|e| format_error(path, format!("cannot hold {promised} bytes: {e}")))?;
        data.extend_from_slice(&prefix);
        (&mut member)
            .take(data_bytes.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| format_error(path, format!("member {file_name}: corrupt data: {e}")))?;
        if data.len() as u64 != promised {
            let how = if data.len() as u64 > promised {
                "past"
            } else {
                "short of"
            };
            return Err(format_error(
                path,
                format!(
                    "member {file_name} inflates {how} the {promised} bytes its header promises"
                ),
            ));
        }
        drop(member);
        members.push((member_path, data));
    }
    Ok(members)
}

/// Up to `shown` names, quoted, and how many more there are: an error names what it found
/// without printing an archive's every member.
fn excerpt_list<'a>(names: impl Iterator<Item = &'a str>, shown: usize) -> String {
    let names: Vec<&str> = names.collect();
    let listed: Vec<String> = names
        .iter()
        .take(shown)
        .map(|n| format!("{:?}", crate::util::excerpt(n, 80)))
        .collect();
    match names.len().saturating_sub(shown) {
        0 => format!("[{}]", listed.join(", ")),
        more => format!("[{}, and {more} more]", listed.join(", ")),
    }
}

/// Reads `x_train.npy`, `y_train.npy`, `x_test.npy` and `y_test.npy` from `dir`.
pub fn read_npy_dir(dir: &Path) -> Result<TrainTest> {
    build(read_npy_members(dir)?)
}

/// The four arrays' bytes from the `.npy` files in `dir`, in [`ARRAY_NAMES`] order.
pub(crate) fn read_npy_members(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    ARRAY_NAMES
        .iter()
        .map(|name| {
            let path = dir.join(format!("{name}.npy"));
            let bytes = read_regular(&path, MAX_ARRAY_BYTES, "an .npy file")?;
            Ok((path, bytes))
        })
        .collect()
}

/// The train/test pair from the four arrays' bytes, each named by its path.
fn build(members: Vec<(PathBuf, Vec<u8>)>) -> Result<TrainTest> {
    let [x_train, y_train, x_test, y_test]: [(PathBuf, Vec<u8>); 4] = members
        .try_into()
        .map_err(|_| Error::InvalidConfig("a NumPy data set is four arrays".into()))?;
    let train = pair(&x_train, &y_train)?;
    let test = pair(&x_test, &y_test)?;
    TrainTest::new(train, test, &x_test.0)
}

/// One split: features and labels of the same number of samples.
fn pair(features: &(PathBuf, Vec<u8>), labels: &(PathBuf, Vec<u8>)) -> Result<Dataset> {
    let (inputs, shape) = parse_features(&features.0, &features.1)?;
    let labels_read = parse_labels(&labels.0, &labels.1)?;
    if labels_read.len() as u64 != shape[0] {
        return Err(format_error(
            &labels.0,
            format!(
                "{} labels for {} samples in {}",
                labels_read.len(),
                shape[0],
                features.0.display()
            ),
        ));
    }
    // [N, H, W] are images; anything else is one row of features per sample.
    let (height, width) = match shape[1..] {
        [h, w] => (h as usize, w as usize),
        _ => (1, inputs.len() / labels_read.len()),
    };
    Ok(Dataset {
        inputs,
        labels: labels_read,
        height,
        width,
    })
}

/// Features: float32/float64 as they are (finite), uint8 as bytes; shape `[N, …]`.
pub(crate) fn parse_features(path: &Path, bytes: &[u8]) -> Result<(Inputs, Vec<u64>)> {
    let npy = Npy::parse(path, bytes)?;
    let (shape, type_str) = (npy.shape(), npy.type_str.clone());
    if shape.len() < 2 {
        return Err(format_error(
            path,
            format!("features of shape {shape:?}: expected [samples, features] or [samples, height, width]"),
        ));
    }
    let inputs = match (type_str.type_char(), type_str.size_field()) {
        (TypeChar::Uint, 1) => Inputs::U8(npy.elements::<u8>(path)?),
        (TypeChar::Float, 4) => Inputs::F32(npy.elements::<f32>(path)?),
        (TypeChar::Float, 8) => Inputs::F32(
            npy.elements::<f64>(path)?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        ),
        _ => {
            return Err(format_error(
                path,
                format!(
                    "features of dtype {type_str}: expected float32, float64 or uint8 \
                     (x.astype(np.float32))"
                ),
            ))
        }
    };
    if let Inputs::F32(values) = &inputs {
        check_finite(&format!("features in {}", path.display()), values)?;
    }
    Ok((inputs, shape))
}

/// Labels: integers of any width, shape `[N]` or `[N, 1]`, each a class index 0 to 255.
fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let npy = Npy::parse(path, bytes)?;
    let (shape, type_str) = (npy.shape(), npy.type_str.clone());
    if !matches!(shape[..], [_] | [_, 1]) {
        return Err(format_error(
            path,
            format!("labels of shape {shape:?}: expected [samples] or [samples, 1]"),
        ));
    }
    let wide: Vec<i128> = match (type_str.type_char(), type_str.size_field()) {
        (TypeChar::Uint, 1) => widen(npy.elements::<u8>(path)?),
        (TypeChar::Uint, 2) => widen(npy.elements::<u16>(path)?),
        (TypeChar::Uint, 4) => widen(npy.elements::<u32>(path)?),
        (TypeChar::Uint, 8) => widen(npy.elements::<u64>(path)?),
        (TypeChar::Int, 1) => widen(npy.elements::<i8>(path)?),
        (TypeChar::Int, 2) => widen(npy.elements::<i16>(path)?),
        (TypeChar::Int, 4) => widen(npy.elements::<i32>(path)?),
        (TypeChar::Int, 8) => widen(npy.elements::<i64>(path)?),
        _ => {
            return Err(format_error(
                path,
                format!("labels of dtype {type_str}: expected integer class indices"),
            ))
        }
    };
    class_indices(path, &wide)
}

fn widen<T: Into<i128>>(values: Vec<T>) -> Vec<i128> {
    values.into_iter().map(Into::into).collect()
}

/// Labels as u8 class indices, or an error naming the first one outside 0 to 255.
pub(crate) fn class_indices(path: &Path, labels: &[i128]) -> Result<Vec<u8>> {
    labels
        .iter()
        .enumerate()
        .map(|(row, &label)| {
            u8::try_from(label).map_err(|_| {
                format_error(
                    path,
                    format!(
                        "label {label} of sample {row}: labels are class indices 0 to 255 \
                         (at most 256 classes)"
                    ),
                )
            })
        })
        .collect()
}
