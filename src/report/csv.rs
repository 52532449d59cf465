//! `metrics.csv`: one row per training job and epoch (loss terms, test errors when measured,
//! wall time), for spreadsheets and plotting tools.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::train::EpochLog;

/// The columns of `metrics.csv`, in order.
pub const METRICS_COLUMNS: [&str; 7] =
    ["job", "epoch", "loss", "ce", "kl", "test_errors", "seconds"];

/// One epoch of one training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    /// The job, e.g. "student-distilled".
    pub job: String,
    /// Epoch, from 1.
    pub epoch: usize,
    /// Mean total loss over the epoch.
    pub loss: f32,
    /// Mean cross-entropy term.
    pub ce: f32,
    /// Mean distillation (KL) term.
    pub kl: f32,
    /// Test-set errors after the epoch; empty when not measured.
    pub test_errors: Option<usize>,
    /// Wall time of the epoch, seconds.
    pub seconds: f64,
}

impl MetricsRow {
    /// The row of `job`'s epoch `log`, with its test errors if measured.
    pub fn new(job: &str, log: &EpochLog, test_errors: Option<usize>) -> Self {
        Self {
            job: job.to_string(),
            epoch: log.epoch,
            loss: log.loss.total,
            ce: log.loss.ce,
            kl: log.loss.kl,
            test_errors,
            seconds: log.seconds,
        }
    }
}

fn csv_error(e: impl std::fmt::Display) -> Error {
    Error::Report(format!("metrics CSV: {e}"))
}

/// The CSV text of `rows`: a header of [`METRICS_COLUMNS`] (also when there are no rows), then
/// one line per row, quoted where a field needs it.
pub fn metrics_csv(rows: &[MetricsRow]) -> Result<String> {
    let mut writer = ::csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record(METRICS_COLUMNS).map_err(csv_error)?;
    for row in rows {
        writer.serialize(row).map_err(csv_error)?;
    }
    let bytes = writer.into_inner().map_err(csv_error)?;
    String::from_utf8(bytes).map_err(csv_error)
}

/// Parses CSV text written by [`metrics_csv`]; a missing column or a malformed value is an
/// error.
pub fn parse_metrics_csv(text: &str) -> Result<Vec<MetricsRow>> {
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().map_err(csv_error)?;
    if header.iter().ne(METRICS_COLUMNS) {
        return Err(csv_error(format!(
            "columns {:?}, expected {METRICS_COLUMNS:?}",
            header.iter().collect::<Vec<_>>()
        )));
    }
    reader
        .deserialize()
        .collect::<std::result::Result<Vec<MetricsRow>, _>>()
        .map_err(csv_error)
}

/// Writes [`metrics_csv`] of `rows` to `path` atomically.
pub fn write_metrics_csv(path: &Path, rows: &[MetricsRow]) -> Result<()> {
    write_atomic(path, metrics_csv(rows)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_with_quoting_and_empty_cells() {
        let rows = vec![
            MetricsRow {
                job: "student, \"distilled\"".into(),
                epoch: 1,
                loss: 0.5,
                ce: 0.25,
                kl: 0.125,
                test_errors: Some(7),
                seconds: 1.5,
            },
            MetricsRow {
                job: "teacher".into(),
                epoch: 2,
                loss: 0.1,
                ce: 0.1,
                kl: 0.0,
                test_errors: None,
                seconds: 2.0,
            },
        ];
        let text = metrics_csv(&rows).unwrap();
        assert!(
            text.starts_with("job,epoch,loss,ce,kl,test_errors,seconds\n"),
            "{text}"
        );
        assert!(text.contains("teacher,2,0.1,0.1,0.0,,2.0\n"), "{text}");
        assert_eq!(parse_metrics_csv(&text).unwrap(), rows);
        assert_eq!(
            metrics_csv(&[]).unwrap(),
            "job,epoch,loss,ce,kl,test_errors,seconds\n"
        );
        assert!(parse_metrics_csv("job,epoch\nx,1\n").is_err());
        assert!(
            parse_metrics_csv("job,epoch,loss,ce,kl,test_errors,seconds\nx,one,1,1,1,,1\n")
                .is_err()
        );
    }
}
