//! Reports of runs and experiments: SVG plots, a self-contained HTML page that holds them, and
//! the per-epoch metrics as CSV.
//!
//! - [`line_chart`], [`bar_chart`], [`heat_map`], [`pixel_maps`], [`reliability_diagram`] (and
//!   [`reliability_diagrams`] side by side) return SVG documents. NaN and infinite values are
//!   left out of a plot; a plot with nothing left to show is an [`Error::Report`], never a
//!   blank image.
//! - [`HtmlReport`] builds one HTML file with inline CSS and the SVGs inline: no scripts, no
//!   external URLs.
//! - [`metrics_csv`] writes one row per training job and epoch.
//! - [`TestDiagnostics`] breaks a model's test result down by class (per-class accuracy, the
//!   confusion matrix, reliability bins) for those figures.
//!
//! [`Error::Report`]: crate::Error::Report

mod axes;
mod charts;
pub mod csv;
mod diagnostics;
mod heat;
mod html;
mod reliability;

pub use self::csv::{
    metrics_csv, parse_metrics_csv, write_metrics_csv, MetricsRow, METRICS_COLUMNS,
};
pub use charts::{bar_chart, line_chart, Series};
pub use diagnostics::{class_accuracy_chart, class_names, TestDiagnostics, DEFAULT_BINS};
pub use heat::{heat_map, pixel_maps};
pub use html::{escape_html, HtmlReport};
pub use reliability::{
    expected_calibration_error, reliability_bins, reliability_diagram, reliability_diagrams,
    ReliabilityBin,
};
