//! CSV data sets: a folder holding `train.csv` and `test.csv`, each with a header row, one
//! sample per row, an integer label column (`label`, or the name given) and numeric feature
//! columns, in the same order in both files. Features are used as they are (float32).

use std::path::Path;

use crate::data::arrays::{class_indices, MAX_ARRAY_BYTES};
use crate::data::dataset::Dataset;
use crate::data::idx::TrainTest;
use crate::error::{Error, Result};
use crate::files::read_regular;
use crate::ops::gather::Inputs;

/// The label column's name when none is given.
pub const DEFAULT_LABEL_COLUMN: &str = "label";

/// The most bytes a CSV file may hold (the array readers' bound).
pub const MAX_CSV_BYTES: u64 = MAX_ARRAY_BYTES;

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads `train.csv` and `test.csv` from `dir`, the label in column `label_column`
/// (default [`DEFAULT_LABEL_COLUMN`]).
pub fn read_csv_dir(dir: &Path, label_column: Option<&str>) -> Result<TrainTest> {
    let label_column = label_column.unwrap_or(DEFAULT_LABEL_COLUMN);
    let train_path = dir.join("train.csv");
    let test_path = dir.join("test.csv");
    let (train_header, train) = read_csv(&train_path, label_column)?;
    let (test_header, test) = read_csv(&test_path, label_column)?;
    if train_header != test_header {
        return Err(format_error(
            &test_path,
            format!(
                "columns {test_header:?} differ from train.csv's {train_header:?}; both files \
                 need the same columns in the same order"
            ),
        ));
    }
    TrainTest::new(train, test, &test_path)
}

/// One CSV file: its header and its samples.
pub fn read_csv(path: &Path, label_column: &str) -> Result<(Vec<String>, Dataset)> {
    let bytes = read_regular(path, MAX_CSV_BYTES, "a CSV file")?;
    parse_csv(path, &bytes, label_column)
}

/// Parses CSV bytes as [`read_csv`] does (`path` names the source in errors).
pub fn parse_csv(path: &Path, bytes: &[u8], label_column: &str) -> Result<(Vec<String>, Dataset)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format_error(path, format!("unreadable header row: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let label_at = header
        .iter()
        .position(|name| name == label_column)
        .ok_or_else(|| {
            format_error(
                path,
                format!(
                    "no column named {label_column:?} in the header {header:?}; name the label \
                     column with --label-column"
                ),
            )
        })?;
    let width = header.len() - 1;
    if width == 0 {
        return Err(format_error(
            path,
            format!("only the label column {label_column:?}: no feature columns"),
        ));
    }
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for (index, record) in reader.records().enumerate() {
        // Rows are counted from 1 after the header row, as a spreadsheet shows them (+1).
        let line = index + 2;
        let record = record.map_err(|e| format_error(path, format!("line {line}: {e}")))?;
        for (column, field) in record.iter().enumerate() {
            if column == label_at {
                let label: i128 = field.parse().map_err(|_| {
                    format_error(
                        path,
                        format!(
                            "line {line}, column {label_column:?}: {field:?} is not an integer \
                             class index"
                        ),
                    )
                })?;
                labels.push(label);
                continue;
            }
            let value: f32 = field.parse().map_err(|_| {
                format_error(
                    path,
                    format!(
                        "line {line}, column {:?}: {field:?} is not a number",
                        header[column]
                    ),
                )
            })?;
            if !value.is_finite() {
                return Err(format_error(
                    path,
                    format!(
                        "line {line}, column {:?}: {field:?} is not a finite float32",
                        header[column]
                    ),
                ));
            }
            values.push(value);
        }
    }
    if labels.is_empty() {
        return Err(format_error(path, "no samples after the header row"));
    }
    let labels = class_indices(path, &labels)?;
    let header = header.into_iter().filter(|n| n != label_column).collect();
    Ok((
        header,
        Dataset {
            inputs: Inputs::F32(values),
            labels,
            height: 1,
            width,
        },
    ))
}
