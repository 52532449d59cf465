//! Regression data on disk (`--task regression`): a folder of `train.csv` and `test.csv` whose
//! target columns are named (several columns, several outputs; `target` when none is named)
//! and every other column a feature; or a NumPy `.npz` archive / `.npy` folder of `x_train`,
//! `y_train`, `x_test`, `y_test` with float targets `[N]` or `[N, K]`. Every target must be a
//! finite number; an error names the file, the column or output, and the row.

use std::io::Write;
use std::path::{Path, PathBuf};

use npyz::TypeChar;

use crate::data::arrays::{parse_features, read_npy_members, read_npz_members, ArchiveLimits};
use crate::data::npy::Npy;
use crate::data::regression::{RegressionDataset, RegressionSplits};
use crate::data::source::DataFormat;
use crate::data::table::{csv_with_header, MAX_CSV_BYTES};
use crate::error::{Error, Result};
use crate::files::read_regular;
use crate::ops::gather::Inputs;
use crate::util::excerpt;

/// The target column's name when none is given.
pub const DEFAULT_TARGET_COLUMN: &str = "target";

/// The most characters of a column name or field an error quotes.
const NAME_CHARS: usize = 60;

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// How a regression data set is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegressionOptions {
    /// The CSV target columns, in output order (default: one, [`DEFAULT_TARGET_COLUMN`]).
    pub target_columns: Vec<String>,
    /// Standardize the features with the training split's statistics (targets are kept).
    pub standardize: bool,
}

/// Reads the regression data set at `path` in whichever format it is: CSV or NumPy (IDX
/// folders hold class labels and are refused).
pub fn read_regression(path: &Path, options: &RegressionOptions) -> Result<RegressionSplits> {
    let format = DataFormat::detect(path)?;
    if !options.target_columns.is_empty() && format != DataFormat::Csv {
        return Err(Error::InvalidConfig(format!(
            "target columns name CSV columns, and {} holds {} data (its targets are y_train and \
             y_test)",
            path.display(),
            format.name()
        )));
    }
    let splits = match format {
        DataFormat::Csv => read_regression_csv_dir(path, &options.target_columns)?,
        DataFormat::Npz => arrays(read_npz_members(path, &ArchiveLimits::default())?)?,
        DataFormat::NpyDir => arrays(read_npy_members(path)?)?,
        DataFormat::Idx => {
            return Err(Error::InvalidConfig(format!(
                "{} is an IDX folder, which holds class labels; regression reads CSV or NumPy \
                 data with float targets",
                path.display()
            )))
        }
    };
    if options.standardize {
        splits.standardized()
    } else {
        Ok(splits)
    }
}

/// Reads `train.csv` and `test.csv` from `dir` with targets in `target_columns` (default one
/// column, [`DEFAULT_TARGET_COLUMN`]).
pub fn read_regression_csv_dir(dir: &Path, target_columns: &[String]) -> Result<RegressionSplits> {
    let default = [DEFAULT_TARGET_COLUMN.to_string()];
    let columns = if target_columns.is_empty() {
        &default[..]
    } else {
        target_columns
    };
    let (train_features, train) = read_regression_csv(&dir.join("train.csv"), columns)?;
    let test_path = dir.join("test.csv");
    let (test_features, test) = read_regression_csv(&test_path, columns)?;
    if train_features != test_features {
        return Err(format_error(
            &test_path,
            format!(
                "feature columns differ from train.csv's ({} against {}); both files need the \
                 same columns in the same order",
                test_features.len(),
                train_features.len()
            ),
        ));
    }
    RegressionSplits::new(train, test, columns.to_vec())
}

/// One CSV file of regression samples: its feature column names and its samples.
pub fn read_regression_csv(
    path: &Path,
    target_columns: &[String],
) -> Result<(Vec<String>, RegressionDataset)> {
    let bytes = read_regular(path, MAX_CSV_BYTES, "a CSV file")?;
    parse_regression_csv(path, &bytes, target_columns)
}

/// Parses CSV bytes as [`read_regression_csv`] does (`path` names the source in errors).
pub fn parse_regression_csv(
    path: &Path,
    bytes: &[u8],
    target_columns: &[String],
) -> Result<(Vec<String>, RegressionDataset)> {
    let (mut reader, header) = csv_with_header(path, bytes)?;
    // Where each header column goes: Some(k) the k-th target, None a feature.
    let mut target_of = vec![None; header.len()];
    for (k, name) in target_columns.iter().enumerate() {
        let at = header.iter().position(|h| h == name).ok_or_else(|| {
            format_error(
                path,
                format!(
                    "no target column named {:?} among the header's {} columns; name the target \
                     columns with --target-column (once per target)",
                    excerpt(name, NAME_CHARS),
                    header.len()
                ),
            )
        })?;
        if target_of[at].is_some() {
            return Err(format_error(
                path,
                format!(
                    "target column {:?} is named twice",
                    excerpt(name, NAME_CHARS)
                ),
            ));
        }
        target_of[at] = Some(k);
    }
    let features: Vec<String> = header
        .iter()
        .zip(&target_of)
        .filter(|(_, t)| t.is_none())
        .map(|(h, _)| h.clone())
        .collect();
    if features.is_empty() {
        return Err(format_error(
            path,
            "only target columns: no feature columns",
        ));
    }
    let outputs = target_columns.len();
    let (mut values, mut targets) = (Vec::new(), Vec::new());
    let mut row_targets = vec![0.0f32; outputs];
    for (index, record) in reader.records().enumerate() {
        // Lines are counted from 1 with the header as line 1, as an editor shows them.
        let line = index + 2;
        let record = record.map_err(|e| format_error(path, format!("line {line}: {e}")))?;
        for (column, field) in record.iter().enumerate() {
            let what = if target_of[column].is_some() {
                "target"
            } else {
                "feature"
            };
            let value: f32 = field
                .parse()
                .ok()
                .filter(|v: &f32| v.is_finite())
                .ok_or_else(|| {
                    format_error(
                        path,
                        format!(
                            "line {line}, {what} column {:?}: {:?} is not a finite number",
                            excerpt(&header[column], NAME_CHARS),
                            excerpt(field, NAME_CHARS)
                        ),
                    )
                })?;
            match target_of[column] {
                Some(k) => row_targets[k] = value,
                None => values.push(value),
            }
        }
        targets.extend_from_slice(&row_targets);
    }
    if targets.is_empty() {
        return Err(format_error(path, "no samples after the header row"));
    }
    Ok((
        features.clone(),
        RegressionDataset {
            inputs: Inputs::F32(values),
            targets,
            features: features.len(),
            outputs,
        },
    ))
}

/// The train/test pair from the four arrays' bytes (features as the classifier's reader takes
/// them, targets float `[N]` or `[N, K]`).
fn arrays(members: Vec<(PathBuf, Vec<u8>)>) -> Result<RegressionSplits> {
    let [x_train, y_train, x_test, y_test]: [(PathBuf, Vec<u8>); 4] = members
        .try_into()
        .map_err(|_| Error::InvalidConfig("a NumPy data set is four arrays".into()))?;
    let train = pair(&x_train, &y_train)?;
    let test = pair(&x_test, &y_test)?;
    let names = (0..train.outputs).map(|k| format!("y{k}")).collect();
    RegressionSplits::new(train, test, names)
        .map_err(|e| format_error(&x_test.0, format!("against the training split: {e}")))
}

fn pair(features: &(PathBuf, Vec<u8>), targets: &(PathBuf, Vec<u8>)) -> Result<RegressionDataset> {
    let (inputs, shape) = parse_features(&features.0, &features.1)?;
    let (values, outputs) = parse_targets(&targets.0, &targets.1)?;
    let samples = values.len() / outputs;
    if samples as u64 != shape[0] {
        return Err(format_error(
            &targets.0,
            format!(
                "targets for {samples} samples, and {} holds {}",
                features.0.display(),
                shape[0]
            ),
        ));
    }
    Ok(RegressionDataset {
        features: inputs.len() / samples,
        inputs,
        targets: values,
        outputs,
    })
}

/// Targets: float32 or float64, shape `[N]` or `[N, K]`, every value finite; the values and K.
fn parse_targets(path: &Path, bytes: &[u8]) -> Result<(Vec<f32>, usize)> {
    let npy = Npy::parse(path, bytes)?;
    let shape = npy.shape();
    let outputs = match shape[..] {
        [_] => 1,
        [_, k] => usize::try_from(k).map_err(|_| format_error(path, "too many targets"))?,
        _ => {
            return Err(format_error(
                path,
                format!("targets of shape {shape:?}: expected [samples] or [samples, targets]"),
            ))
        }
    };
    let values: Vec<f32> = match (npy.type_str.type_char(), npy.type_str.size_field()) {
        (TypeChar::Float, 4) => npy.elements::<f32>(path)?,
        (TypeChar::Float, 8) => npy
            .elements::<f64>(path)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        _ => {
            return Err(format_error(
                path,
                format!(
                    "targets of dtype {}: expected float32 or float64 (y.astype(np.float32))",
                    npy.type_str
                ),
            ))
        }
    };
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(format_error(
            path,
            format!(
                "target {} of sample {} is {} (in float32); targets must be finite",
                i % outputs,
                i / outputs,
                values[i]
            ),
        ));
    }
    Ok((values, outputs))
}

/// Writes `splits` as `train.csv` and `test.csv` in `dir` (created if missing): feature columns
/// `x0`, `x1`, … then the target columns by name, each value in the shortest form that reads
/// back as the same f32.
pub fn write_regression_csv_dir(dir: &Path, splits: &RegressionSplits) -> Result<()> {
    let io = |path: &Path, source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    for (name, set) in [("train.csv", &splits.train), ("test.csv", &splits.test)] {
        let path = dir.join(name);
        let mut text = String::new();
        let mut header: Vec<String> = (0..set.features).map(|f| format!("x{f}")).collect();
        header.extend(splits.target_names.iter().cloned());
        text.push_str(&header.join(","));
        text.push('\n');
        let values = set.inputs.to_f32();
        for (x, y) in values
            .chunks_exact(set.features)
            .zip(set.targets.chunks_exact(set.outputs))
        {
            let row: Vec<String> = x.iter().chain(y).map(|v| v.to_string()).collect();
            text.push_str(&row.join(","));
            text.push('\n');
        }
        let mut file = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
        file.write_all(text.as_bytes()).map_err(|e| io(&path, e))?;
    }
    Ok(())
}
