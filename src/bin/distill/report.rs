//! The JSON reports, as serde structs: `distill-wgpu-run/1` (report.json),
//! `distill-wgpu-validate/1` and `distill-wgpu-bench/1`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use distill_wgpu::bench::profile::StepShare;
use distill_wgpu::bench::scaling::ScalingPoint;
use distill_wgpu::bench::{KernelBench, StepBench};
use distill_wgpu::files;
use distill_wgpu::report::{MetricsRow, TestDiagnostics};
use distill_wgpu::train::EpochLog;
use distill_wgpu::validate::KernelSummary;
use distill_wgpu::{GpuContext, Result};

/// Today's UTC date as YYYY-MM-DD.
pub fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// The limits that decide which sizes an adapter can train.
#[derive(Debug, Serialize)]
pub struct LimitsReport {
    max_storage_buffer_binding_size: u64,
    max_buffer_size: u64,
    max_compute_workgroups_per_dimension: u32,
    max_compute_invocations_per_workgroup: u32,
    max_compute_workgroup_storage_size: u32,
}

/// The adapter a report was made on.
#[derive(Debug, Serialize)]
pub struct AdapterReport {
    name: String,
    vendor: u32,
    device: u32,
    backend: String,
    device_type: String,
    driver: String,
    driver_info: String,
    matmul_family: String,
    /// The subgroup size the subgroup matmul family runs at (null: that family is off).
    subgroup_lanes: Option<u32>,
    /// Family, lanes and how blocks are chosen, as `distill` prints it.
    matmul_setup: String,
    limits: LimitsReport,
}

impl AdapterReport {
    pub fn new(ctx: &GpuContext) -> Self {
        let info = ctx.adapter_info();
        let limits = ctx.limits();
        Self {
            name: info.name.clone(),
            vendor: info.vendor,
            device: info.device,
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            matmul_family: format!("{:?}", ctx.matmul_family()),
            subgroup_lanes: ctx.subgroup_lanes(),
            matmul_setup: crate::matmul_setup(ctx),
            limits: LimitsReport {
                max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
                max_buffer_size: limits.max_buffer_size,
                max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
                max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
                max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            },
        }
    }
}

/// `distill validate --json`.
#[derive(Debug, Serialize)]
pub struct ValidateReport {
    pub schema: &'static str,
    pub date: String,
    pub crate_version: &'static str,
    pub adapter: AdapterReport,
    pub passed: bool,
    pub checks: usize,
    pub seconds: f64,
    pub kernels: Vec<KernelSummary>,
}

/// `distill bench --json`.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub schema: &'static str,
    pub date: String,
    pub crate_version: &'static str,
    pub adapter: AdapterReport,
    pub kernels: Vec<KernelBench>,
    pub kd_step: Vec<StepBench>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub step_profile: Vec<StepShare>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scaling: Vec<ScalingPoint>,
}

/// One epoch in report.json (`test_errors`: null when not measured).
#[derive(Debug, Serialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub loss: f32,
    pub ce: f32,
    pub kl: f32,
    pub seconds: f64,
    pub test_errors: Option<usize>,
}

impl EpochReport {
    /// The report of epoch `log`, with its test errors if measured.
    pub fn new(log: &EpochLog, test_errors: Option<usize>) -> Self {
        Self {
            epoch: log.epoch,
            loss: log.loss.total,
            ce: log.loss.ce,
            kl: log.loss.kl,
            seconds: log.seconds,
            test_errors,
        }
    }

    /// The epoch as a metrics.csv row of job `job`.
    pub fn metrics_row(&self, job: &str) -> MetricsRow {
        MetricsRow {
            job: job.to_string(),
            epoch: self.epoch,
            loss: self.loss,
            ce: self.ce,
            kl: self.kl,
            test_errors: self.test_errors,
            seconds: self.seconds,
        }
    }
}

/// A trained or loaded model's test result, as printed in the table and kept in report.json.
#[derive(Debug, Serialize)]
pub struct ModelReport {
    #[serde(rename = "model")]
    pub name: String,
    pub sizes: Vec<usize>,
    pub parameters: usize,
    pub test_errors: usize,
    pub test_count: usize,
    pub test_accuracy: f64,
    pub train_seconds: f64,
    pub weights: PathBuf,
    pub epochs: Vec<EpochReport>,
    /// The test result by class, for report.html (not in report.json).
    #[serde(skip)]
    pub diagnostics: Option<TestDiagnostics>,
}

/// Settings of a run, as given or defaulted (fields a command does not use are left out).
#[derive(Debug, Default, Serialize)]
pub struct Settings {
    pub seed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teacher: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teachers: Option<Vec<PathBuf>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teacher_weights: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teacher_calibration: Option<Vec<f32>>,
    /// Per teacher, training samples whose KD term was dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kd_dropped: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teacher_dropout: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teacher_jitter: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// The CSV label column, when named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_column: Option<String>,
    /// Whether the features were standardized (with the training split's statistics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standardize: Option<bool>,
    /// The class count --num-classes stated, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_classes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_samples: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_samples: Option<usize>,
    /// DKD, hint and EMA-teacher settings, or the mutual students' count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objectives: Option<serde_json::Value>,
}

/// report.json.
#[derive(Debug, Serialize)]
pub struct RunReport<'a> {
    schema: &'static str,
    date: String,
    crate_version: &'static str,
    adapter: AdapterReport,
    settings: &'a Settings,
    models: &'a [ModelReport],
}

/// Pretty JSON of a report (serialising these structs cannot fail).
pub fn to_json(report: &impl Serialize) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// Writes report.json into `out` atomically and returns its path.
pub fn write_run_report(
    out: &Path,
    ctx: &GpuContext,
    settings: &Settings,
    models: &[ModelReport],
) -> Result<PathBuf> {
    let report = RunReport {
        schema: "distill-wgpu-run/1",
        date: today(),
        crate_version: env!("CARGO_PKG_VERSION"),
        adapter: AdapterReport::new(ctx),
        settings,
        models,
    };
    let path = out.join("report.json");
    files::write_atomic(&path, to_json(&report).as_bytes())?;
    Ok(path)
}
