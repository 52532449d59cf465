//! distill-wgpu in the browser: the crate's own WGSL kernels and launchers on the page's
//! WebGPU adapter. The page (`web/www/index.html`) opens a [`Demo`], shows the adapter and its
//! limits, runs the validation suite against the f64 CPU reference compiled to wasm, and
//! trains a scratch and a distilled student live on a slice of the bundled MNIST subset.
//!
//! Every method that waits for the GPU returns a `Promise`; results cross to JavaScript as
//! JSON text. The crate is empty on other targets (natively the library's calls block).
#![cfg(target_arch = "wasm32")]

mod training;

use std::path::Path;
use std::rc::Rc;

use distill_wgpu::data::{pair_dataset, parse_idx};
use distill_wgpu::validate::{run_suite, summarize};
use distill_wgpu::{ContextOptions, Dataset, GpuContext};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

pub use training::{DistillOptions, DistillReport, EpochReport, RunSummary};

/// Turns any displayable error into the `Error` a rejected promise carries.
fn js_error(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// The adapter the page runs on: what the page shows.
#[derive(Debug, Serialize)]
pub struct AdapterReport {
    /// Name, backend, device type and driver on one line.
    pub description: String,
    /// Adapter name.
    pub name: String,
    /// wgpu backend (`BrowserWebGpu` in a browser).
    pub backend: String,
    /// The subgroup sizes the adapter reports, `min..max` (equal when fixed).
    pub subgroup_sizes: String,
    /// Whether the adapter offers subgroups (`Features::SUBGROUP`, WebGPU's `subgroups`).
    pub subgroups_offered: bool,
    /// The subgroup size the subgroup matmul family runs at, if it runs.
    pub subgroup_lanes: Option<u32>,
    /// The device limits the crate relies on or that bound data sizes.
    pub limits: Vec<(String, u64)>,
}

/// What "validate this GPU" returns: one row per kernel and the totals.
#[derive(Debug, Serialize)]
pub struct ValidationReport {
    /// Checks run.
    pub checks: usize,
    /// Checks that failed.
    pub failed: usize,
    /// Whether every check passed.
    pub passed: bool,
    /// Wall time of the suite, seconds.
    pub seconds: f64,
    /// Per-kernel summaries (worst errors, tolerances, failure reports).
    pub kernels: Vec<distill_wgpu::validate::KernelSummary>,
}

/// A GPU context opened on the page's WebGPU adapter.
#[wasm_bindgen]
pub struct Demo {
    ctx: Rc<GpuContext>,
}

#[wasm_bindgen]
impl Demo {
    /// Opens WebGPU. `small_limits` asks the device for wgpu's downlevel limits instead of what
    /// the adapter offers, to show how an adapter too small for the kernels is refused.
    /// Rejects with a message when there is no adapter or its limits are too small.
    pub async fn open(small_limits: bool) -> Result<Demo, JsValue> {
        let options = ContextOptions {
            limits: small_limits.then(wgpu::Limits::downlevel_defaults),
            ..ContextOptions::default()
        };
        let ctx = GpuContext::new(&options).await.map_err(js_error)?;
        Ok(Demo { ctx: Rc::new(ctx) })
    }

    /// The adapter and its limits, as JSON ([`AdapterReport`]).
    pub fn adapter(&self) -> Result<String, JsValue> {
        let info = self.ctx.adapter_info();
        let l = self.ctx.limits();
        let report = AdapterReport {
            description: self.ctx.describe(),
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            subgroup_sizes: format!("{}..{}", info.subgroup_min_size, info.subgroup_max_size),
            subgroups_offered: self.ctx.subgroups_offered(),
            subgroup_lanes: self.ctx.subgroup_lanes(),
            limits: [
                ("max_buffer_size", l.max_buffer_size),
                (
                    "max_storage_buffer_binding_size",
                    l.max_storage_buffer_binding_size,
                ),
                (
                    "max_storage_buffers_per_shader_stage",
                    l.max_storage_buffers_per_shader_stage.into(),
                ),
                (
                    "max_compute_invocations_per_workgroup",
                    l.max_compute_invocations_per_workgroup.into(),
                ),
                (
                    "max_compute_workgroup_storage_size",
                    l.max_compute_workgroup_storage_size.into(),
                ),
                (
                    "max_compute_workgroups_per_dimension",
                    l.max_compute_workgroups_per_dimension.into(),
                ),
            ]
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect(),
        };
        serde_json::to_string(&report).map_err(js_error)
    }

    /// Runs the validation suite (every kernel against the f64 reference; `quick` skips the
    /// larger MLP-shaped matmuls) and resolves to a [`ValidationReport`] as JSON.
    pub fn validate(&self, quick: bool) -> js_sys::Promise {
        let ctx = Rc::clone(&self.ctx);
        future_to_promise(async move {
            let start = web_time::Instant::now();
            let results = run_suite(&ctx, quick).await.map_err(js_error)?;
            let failed = results.iter().filter(|r| !r.passed()).count();
            let report = ValidationReport {
                checks: results.len(),
                failed,
                passed: failed == 0 && !results.is_empty(),
                seconds: start.elapsed().as_secs_f64(),
                kernels: summarize(&results),
            };
            Ok(serde_json::to_string(&report).map_err(js_error)?.into())
        })
    }

    /// Trains a scratch and a distilled student on the given IDX files (gzip or raw) with the
    /// teacher in `teacher` (safetensors), calling `on_progress` with one JSON line per epoch;
    /// resolves to the [`DistillReport`] as JSON. `options` is [`DistillOptions`] as JSON
    /// (missing fields take their defaults).
    #[allow(clippy::too_many_arguments)]
    pub fn distill(
        &self,
        train_images: Vec<u8>,
        train_labels: Vec<u8>,
        test_images: Vec<u8>,
        test_labels: Vec<u8>,
        teacher: Vec<u8>,
        options: String,
        on_progress: js_sys::Function,
    ) -> js_sys::Promise {
        let ctx = Rc::clone(&self.ctx);
        future_to_promise(async move {
            let options: DistillOptions = serde_json::from_str(&options)
                .map_err(|e| js_error(format!("bad options {options:?}: {e}")))?;
            let train = dataset("train", &train_images, &train_labels)?;
            let test = dataset("t10k", &test_images, &test_labels)?;
            let report = |line: String| {
                // A page without a progress display is not an error.
                let _ = on_progress.call1(&JsValue::NULL, &JsValue::from_str(&line));
            };
            let runs =
                training::scratch_and_distilled(&ctx, &train, &test, &teacher, &options, report)
                    .await
                    .map_err(js_error)?;
            Ok(serde_json::to_string(&runs).map_err(js_error)?.into())
        })
    }
}

/// A data set from an images file and a labels file, named after the MNIST files they are.
fn dataset(stem: &str, images: &[u8], labels: &[u8]) -> Result<Dataset, JsValue> {
    let images_name = format!("{stem}-images-idx3-ubyte");
    let labels_name = format!("{stem}-labels-idx1-ubyte");
    let (images_path, labels_path) = (Path::new(&images_name), Path::new(&labels_name));
    let img = parse_idx(images_path, images).map_err(js_error)?;
    let lab = parse_idx(labels_path, labels).map_err(js_error)?;
    pair_dataset(images_path, img, labels_path, lab).map_err(js_error)
}
