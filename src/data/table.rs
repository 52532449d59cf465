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
use crate::util::excerpt;

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
    if let Some(difference) = header_difference(&train_header, &test_header) {
        return Err(format_error(
            &test_path,
            format!("{difference}; train.csv and test.csv need the same columns in the same order"),
        ));
    }
    TrainTest::new(train, test, &test_path)
}

/// The most characters of one column name or field an error quotes.
const NAME_CHARS: usize = 60;

/// The first few column names, each cut short: enough to recognise a header without printing
/// all of a wide one.
fn first_names(header: &[String]) -> String {
    let shown: Vec<String> = header
        .iter()
        .take(5)
        .map(|n| format!("{:?}", excerpt(n, NAME_CHARS)))
        .collect();
    let more = header.len().saturating_sub(shown.len());
    if more == 0 {
        shown.join(", ")
    } else {
        format!("{}, …", shown.join(", "))
    }
}

/// Where two files' feature columns first differ, with both counts; `None` when they agree.
fn header_difference(train: &[String], test: &[String]) -> Option<String> {
    if train == test {
        return None;
    }
    let counts = format!(
        "test.csv has {} feature columns, train.csv {}",
        test.len(),
        train.len()
    );
    let column = train.iter().zip(test).position(|(a, b)| a != b);
    Some(match column {
        Some(i) => format!(
            "feature column {} is {:?} in test.csv and {:?} in train.csv ({counts})",
            i + 1,
            excerpt(&test[i], NAME_CHARS),
            excerpt(&train[i], NAME_CHARS)
        ),
        None => counts,
    })
}

/// One CSV file: its header and its samples.
pub fn read_csv(path: &Path, label_column: &str) -> Result<(Vec<String>, Dataset)> {
    let bytes = read_regular(path, MAX_CSV_BYTES, "a CSV file")?;
    parse_csv(path, &bytes, label_column)
}

/// A reader over CSV bytes (fields trimmed) and its header row's names; `path` names the source
/// in errors.
pub(crate) fn csv_with_header<'a>(
    path: &Path,
    bytes: &'a [u8],
) -> Result<(csv::Reader<&'a [u8]>, Vec<String>)> {
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
    Ok((reader, header))
}

/// Parses CSV bytes as [`read_csv`] does (`path` names the source in errors).
pub fn parse_csv(path: &Path, bytes: &[u8], label_column: &str) -> Result<(Vec<String>, Dataset)> {
    let (mut reader, header) = csv_with_header(path, bytes)?;
    let label_at = header
        .iter()
        .position(|name| name == label_column)
        .ok_or_else(|| {
            format_error(
                path,
                format!(
                    "no column named {:?} among the header's {} columns (the first: {}); name \
                     the label column (DataOptions::label_column)",
                    excerpt(label_column, NAME_CHARS),
                    header.len(),
                    first_names(&header)
                ),
            )
        })?;
    let width = header.len() - 1;
    if width == 0 {
        return Err(format_error(
            path,
            format!(
                "only the label column {:?}: no feature columns",
                excerpt(label_column, NAME_CHARS)
            ),
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
                            "line {line}, column {:?}: {:?} is not an integer class index",
                            excerpt(label_column, NAME_CHARS),
                            excerpt(field, NAME_CHARS)
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
                        "line {line}, column {:?}: {:?} is not a number",
                        excerpt(&header[column], NAME_CHARS),
                        excerpt(field, NAME_CHARS)
                    ),
                )
            })?;
            if !value.is_finite() {
                return Err(format_error(
                    path,
                    format!(
                        "line {line}, column {:?}: {:?} is not a finite float32",
                        excerpt(&header[column], NAME_CHARS),
                        excerpt(field, NAME_CHARS)
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
