//! Saved `distill bench --json` reports side by side: one row per kernel shape and training
//! step, one column per report, each figure with its ratio to the first report's.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::files::read_regular;
use crate::util::{excerpt, joined};

/// The most bytes a bench report may hold (reports are a few tens of kilobytes).
const MAX_REPORT_BYTES: u64 = 16 << 20;

/// The schema prefix every bench report carries.
const SCHEMA_PREFIX: &str = "distill-wgpu-bench/";

/// The major schema versions this reader understands (a later major may change what a
/// figure means, so it is refused rather than misread).
const KNOWN_MAJOR_VERSIONS: &[u32] = &[1];

#[derive(Deserialize)]
struct FileReport {
    schema: String,
    date: String,
    adapter: FileAdapter,
    kernels: Vec<FileKernel>,
    kd_step: Vec<FileStep>,
}

#[derive(Deserialize)]
struct FileAdapter {
    name: String,
    backend: String,
    driver: String,
    driver_info: String,
}

#[derive(Deserialize)]
struct FileKernel {
    kernel: String,
    #[serde(default)]
    product: Option<String>,
    shape: Vec<usize>,
    seconds: f64,
    #[serde(default)]
    gflops: Option<f64>,
    #[serde(default)]
    gbps: Option<f64>,
}

#[derive(Deserialize)]
struct FileStep {
    #[serde(default)]
    objective: Option<String>,
    student: Vec<usize>,
    batch: usize,
    teacher: serde_json::Value,
    samples_per_second: f64,
}

/// What a row's figures measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Matmul throughput (higher is better).
    Gflops,
    /// Bytes moved per second by a row or element-wise kernel (higher is better).
    Gbps,
    /// Milliseconds per run (lower is better).
    Milliseconds,
    /// Training samples per second of a step (higher is better).
    SamplesPerSecond,
}

impl Unit {
    /// The unit as a column label.
    pub fn label(self) -> &'static str {
        match self {
            Unit::Gflops => "GFLOP/s",
            Unit::Gbps => "GB/s",
            Unit::Milliseconds => "ms (lower is better)",
            Unit::SamplesPerSecond => "samples/s",
        }
    }
}

/// One figure of one report.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// What was timed, e.g. `matmul X·Wᵀ 1024×1024×1024` or `step kd 784-800-10 b128 cached`.
    pub name: String,
    /// What `value` measures.
    pub unit: Unit,
    /// The figure.
    pub value: f64,
}

/// One saved report: where it came from, its adapter, and its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedBench {
    /// The file read.
    pub path: PathBuf,
    /// Adapter name.
    pub adapter: String,
    /// Backend (Vulkan, Gl, Metal, …).
    pub backend: String,
    /// Driver and its version.
    pub driver: String,
    /// The day it was measured.
    pub date: String,
    /// The figures, in the report's order.
    pub rows: Vec<BenchRow>,
}

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn dims(values: &[usize]) -> String {
    joined(values, "×")
}

impl SavedBench {
    /// Reads a `distill bench --json` report.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = read_regular(path, MAX_REPORT_BYTES, "a bench report")?;
        let text = String::from_utf8(bytes)
            .map_err(|e| format_error(path, format!("not a bench report: {e}")))?;
        Self::parse(path, &text)
    }

    /// Parses report text as [`SavedBench::read`] does (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let report: FileReport = serde_json::from_str(text)
            .map_err(|e| format_error(path, format!("not a `distill bench --json` report: {e}")))?;
        if !report.schema.starts_with(SCHEMA_PREFIX) {
            return Err(format_error(
                path,
                format!(
                    "schema {:?} is not a bench report's ({SCHEMA_PREFIX}…)",
                    excerpt(&report.schema, 60)
                ),
            ));
        }
        let version = &report.schema[SCHEMA_PREFIX.len()..];
        let major = version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok());
        if !major.is_some_and(|m| KNOWN_MAJOR_VERSIONS.contains(&m)) {
            return Err(format_error(
                path,
                format!(
                    "bench report schema version {:?}; this version of distill-wgpu reads \
                     version {}",
                    excerpt(version, 40),
                    joined(KNOWN_MAJOR_VERSIONS, ", ")
                ),
            ));
        }
        let mut rows = Vec::with_capacity(report.kernels.len() + report.kd_step.len());
        for k in &report.kernels {
            let product = k
                .product
                .as_deref()
                .map_or(String::new(), |p| format!(" {p}"));
            let (unit, value) = match (k.gflops, k.gbps) {
                (Some(g), _) => (Unit::Gflops, g),
                (None, Some(b)) => (Unit::Gbps, b),
                (None, None) => (Unit::Milliseconds, k.seconds * 1e3),
            };
            rows.push(BenchRow {
                name: format!("{}{product} {}", k.kernel, dims(&k.shape)),
                unit,
                value,
            });
        }
        for s in &report.kd_step {
            let teacher = match &s.teacher {
                serde_json::Value::String(t) => t.clone(),
                serde_json::Value::Array(sizes) => format!("teacher {}", joined(sizes, "-")),
                other => other.to_string(),
            };
            rows.push(BenchRow {
                name: format!(
                    "step {} {} b{} {teacher}",
                    s.objective.as_deref().unwrap_or("kd"),
                    joined(&s.student, "-"),
                    s.batch
                ),
                unit: Unit::SamplesPerSecond,
                value: s.samples_per_second,
            });
        }
        if let Some(row) = rows
            .iter()
            .find(|r| !(r.value.is_finite() && r.value >= 0.0))
        {
            return Err(format_error(
                path,
                format!(
                    "row {:?} has the figure {}: a measured time or throughput is finite and \
                     not negative",
                    excerpt(&row.name, 80),
                    row.value
                ),
            ));
        }
        let driver = format!("{} {}", report.adapter.driver, report.adapter.driver_info)
            .trim()
            .to_string();
        Ok(Self {
            path: path.to_path_buf(),
            adapter: report.adapter.name,
            backend: report.adapter.backend,
            driver,
            date: report.date,
            rows,
        })
    }
}

/// Reports aligned row by row: every row name any report has, in first-seen order.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The reports, in the order given (ratios are to the first).
    pub reports: Vec<SavedBench>,
    /// Row name, unit, and each report's figure (`None` where it lacks the row).
    pub rows: Vec<(String, Unit, Vec<Option<f64>>)>,
}

impl Comparison {
    /// Aligns `reports` (at least one) by row name.
    pub fn new(reports: Vec<SavedBench>) -> Result<Self> {
        if reports.is_empty() {
            return Err(Error::InvalidConfig(
                "a comparison needs at least one bench report".into(),
            ));
        }
        let mut rows: Vec<(String, Unit, Vec<Option<f64>>)> = Vec::new();
        for (column, report) in reports.iter().enumerate() {
            for row in &report.rows {
                let index = match rows
                    .iter()
                    .position(|(n, u, _)| *n == row.name && *u == row.unit)
                {
                    Some(i) => i,
                    None => {
                        rows.push((row.name.clone(), row.unit, vec![None; reports.len()]));
                        rows.len() - 1
                    }
                };
                rows[index].2[column] = Some(row.value);
            }
        }
        Ok(Self { reports, rows })
    }

    /// A cell: the figure and its ratio to the first report's (when both exist).
    fn cell(values: &[Option<f64>], column: usize) -> String {
        match (values[column], values[0]) {
            (None, _) => "—".into(),
            (Some(v), Some(first)) if first > 0.0 => format!("{} ({:.2}×)", figure(v), v / first),
            (Some(v), _) => figure(v),
        }
    }

    /// The header and body rows as text cells: row, unit, then one cell per report.
    fn cells(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let mut header = vec!["".to_string(), "unit".to_string()];
        header.extend(
            self.reports
                .iter()
                .enumerate()
                .map(|(i, r)| format!("#{} {} ({}, {})", i + 1, r.adapter, r.backend, r.date)),
        );
        let body = self
            .rows
            .iter()
            .map(|(name, unit, values)| {
                let mut line = vec![name.clone(), unit.label().to_string()];
                line.extend((0..values.len()).map(|c| Self::cell(values, c)));
                line
            })
            .collect();
        (header, body)
    }

    /// Legend lines: each column's file and driver.
    fn legend(&self) -> Vec<String> {
        self.reports
            .iter()
            .enumerate()
            .map(|(i, r)| format!("#{} {}: driver {}", i + 1, r.path.display(), r.driver))
            .collect()
    }

    /// The table as aligned plain text (ratios are to column #1).
    pub fn to_text(&self) -> String {
        let (header, body) = self.cells();
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                std::iter::once(&header)
                    .chain(&body)
                    .map(|line| line[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let render = |line: &[String]| {
            line.iter()
                .zip(&widths)
                .map(|(cell, &w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let mut out = vec![render(&header)];
        out.extend(body.iter().map(|line| render(line)));
        out.push(String::new());
        out.extend(self.legend());
        out.push("ratios are to column #1".into());
        out.join("\n") + "\n"
    }

    /// The table as Markdown.
    pub fn to_markdown(&self) -> String {
        let (header, body) = self.cells();
        let row = |line: &[String]| format!("| {} |", line.join(" | "));
        let mut out = vec![row(&header), format!("|{}", "---|".repeat(header.len()))];
        out.extend(body.iter().map(|line| row(line)));
        out.push(String::new());
        out.extend(self.legend().iter().map(|l| format!("- {l}")));
        out.push("- ratios are to column #1".into());
        out.join("\n") + "\n"
    }
}

/// A figure with three significant digits or so.
fn figure(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else if value >= 0.1 || value == 0.0 {
        format!("{value:.2}")
    } else {
        // Small rates (tiny kernels' GB/s) keep three significant digits.
        format!("{value:.2e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str, gflops: f64, samples: f64, extra: bool) -> String {
        let extra = if extra {
            r#",{"kernel":"softmax","shape":[1024,10],"variant":"row","seconds":0.002,"gbps":4.0}"#
        } else {
            ""
        };
        format!(
            r#"{{"schema":"distill-wgpu-bench/1","date":"2026-11-28","crate_version":"0.1.0",
            "adapter":{{"name":"{name}","vendor":0,"device":0,"backend":"Vulkan","device_type":"Cpu",
            "driver":"drv","driver_info":"1.0","matmul_family":"Unrolled","limits":{{}}}},
            "kernels":[{{"kernel":"matmul","product":"X·Wᵀ","shape":[8,8,8],"variant":"v",
            "seconds":0.001,"gflops":{gflops}}}{extra}],
            "kd_step":[{{"objective":"kd","student":[784,30,10],"batch":128,"teacher":"cached",
            "seconds_per_step":0.1,"samples_per_second":{samples},"dispatches_per_step":9,
            "submits_per_step":1}}]}}"#
        )
    }

    #[test]
    fn unknown_major_versions_and_impossible_figures_are_refused() {
        let parse = |text: String| {
            SavedBench::parse(Path::new("r.json"), &text)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let good = report("g", 10.0, 800.0, true);
        assert_eq!(parse(good.clone()), Ok(()));
        assert_eq!(
            parse(good.replace("distill-wgpu-bench/1", "distill-wgpu-bench/1.3")),
            Ok(())
        );
        for version in ["99", "2", "x", ""] {
            let err = parse(good.replace("bench/1", &format!("bench/{version}"))).unwrap_err();
            assert!(
                err.contains("schema version") && err.contains("reads version 1"),
                "{version}: {err}"
            );
        }
        let err = parse(report("g", -3.0, 800.0, false)).unwrap_err();
        assert!(err.contains("matmul") && err.contains("-3"), "{err}");
        let err = parse(report("g", 1.0, -800.0, false)).unwrap_err();
        assert!(err.contains("step kd") && err.contains("-800"), "{err}");
        let overflowing =
            report("g", 1.0, 1.0, false).replace(r#""gflops":1"#, r#""gflops":1e999"#);
        assert!(overflowing.contains("1e999"));
        assert!(parse(overflowing).is_err());
    }

    #[test]
    fn rows_align_by_name_with_ratios_to_the_first_report() {
        let a =
            SavedBench::parse(Path::new("a.json"), &report("gpu-a", 10.0, 800.0, true)).unwrap();
        let b =
            SavedBench::parse(Path::new("b.json"), &report("gpu-b", 5.0, 2000.0, false)).unwrap();
        let table = Comparison::new(vec![a, b]).unwrap();
        assert_eq!(table.rows.len(), 3);
        assert_eq!(table.rows[0].0, "matmul X·Wᵀ 8×8×8");
        assert_eq!(table.rows[0].2, vec![Some(10.0), Some(5.0)]);
        assert_eq!(
            table.rows[1].2,
            vec![Some(4.0), None],
            "b has no softmax row"
        );
        assert_eq!(table.rows[2].0, "step kd 784-30-10 b128 cached");
        let text = table.to_text();
        for needle in [
            "gpu-a (Vulkan",
            "gpu-b",
            "5.00 (0.50×)",
            "2000 (2.50×)",
            "—",
            "driver drv 1.0",
        ] {
            assert!(text.contains(needle), "{needle:?} not in\n{text}");
        }
        let md = table.to_markdown();
        assert!(
            md.starts_with("| ") && md.contains("|---|---|---|---|"),
            "{md}"
        );
        assert!(
            md.contains(
                "| step kd 784-30-10 b128 cached | samples/s | 800 (1.00×) | 2000 (2.50×) |"
            ),
            "{md}"
        );
    }

    #[test]
    fn files_that_are_not_bench_reports_are_named() {
        let err = SavedBench::parse(Path::new("x.json"), "{}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.json") && err.contains("not a `distill bench --json` report"),
            "{err}"
        );
        let other =
            report("g", 1.0, 1.0, false).replace("distill-wgpu-bench/1", "distill-wgpu-run/1");
        let err = SavedBench::parse(Path::new("r.json"), &other)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a bench report's"), "{err}");
        assert!(Comparison::new(Vec::new()).is_err());
    }
}
