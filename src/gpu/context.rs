//! The GPU context: instance, adapter, device, queue, health checks and error scopes.

use std::sync::{Arc, Mutex};

use maybe_async::maybe_async;

use crate::error::{Error, Result};
use crate::gpu::pipelines::{PipelineCache, ShaderSource};
use crate::gpu::scope::{resolve, scoped};
use crate::gpu::tuning::{request_wide_cpu_vectors, MatmulTuning, TuneTable};

/// Which kernel design an adapter gets for its matmuls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulFamily {
    /// CPU adapters (lavapipe, SwiftShader, WARP): generated barrier-free unrolled kernels.
    Unrolled,
    /// GPUs: workgroup-memory tiles.
    Tiled,
}

impl MatmulFamily {
    /// The family for a device type: unrolled for `Cpu`, tiled otherwise.
    pub fn for_device(device_type: wgpu::DeviceType) -> Self {
        match device_type {
            wgpu::DeviceType::Cpu => MatmulFamily::Unrolled,
            _ => MatmulFamily::Tiled,
        }
    }
}

/// How to pick the adapter.
#[derive(Debug, Clone)]
pub struct ContextOptions {
    /// Case-insensitive substring of the adapter name. When `None`, `WGPU_ADAPTER_NAME` is used
    /// if set, else wgpu's default adapter (honouring `WGPU_POWER_PREF`). The backends
    /// searched are limited either way (`backends`, else `WGPU_BACKEND`).
    pub adapter_name: Option<String>,
    /// The backends to search ([`parse_backends`]); when `None`, those `WGPU_BACKEND` names,
    /// else all.
    pub backends: Option<wgpu::Backends>,
    /// Force a matmul family instead of choosing it from the device type (tests use this to run
    /// the GPU variants on CPU adapters and vice versa).
    pub matmul_family: Option<MatmulFamily>,
    /// The limits to ask the device for; when `None`, everything the adapter offers. (A demo
    /// or test asks for less to see how a smaller adapter is refused.)
    pub limits: Option<wgpu::Limits>,
    /// Use subgroups where the adapter offers them with a fixed size (the CPU matmul family
    /// needs them). `false` runs without, as an adapter without subgroups would.
    pub subgroups: bool,
    /// How each product's matmul variant is chosen: the cost model (the default: no files,
    /// no timing) or by measurement, cached on disk ([`MatmulTuning::measured`]).
    pub matmul_tuning: MatmulTuning,
    /// On x86-64 hosts with AVX-512, ask llvmpipe for 512-bit vectors (16 SIMD lanes, which
    /// the subgroup matmul family then uses) by setting `LP_NATIVE_VECTOR_WIDTH=512`, unless
    /// the variable is set already. Llvmpipe reads it once, when it first starts in the
    /// process, so this affects every later llvmpipe device of the process and nothing once
    /// llvmpipe has started; set it from the main thread before other threads run.
    pub wide_cpu_vectors: bool,
}

impl Default for ContextOptions {
    fn default() -> Self {
        Self {
            adapter_name: None,
            backends: None,
            matmul_family: None,
            limits: None,
            subgroups: true,
            matmul_tuning: MatmulTuning::CostModel,
            wide_cpu_vectors: false,
        }
    }
}

/// A device limit the kernels rely on: its wgpu name, the least they need, and how to read it.
pub type KernelLimit = (&'static str, u32, fn(&wgpu::Limits) -> u32);

/// The least of each device limit the crate's kernels rely on (WebGPU's defaults meet all of
/// them): the multi-teacher kernel binds 8 storage buffers, and the row reductions run
/// workgroups of up to 256 invocations.
pub const KERNEL_LIMITS: [KernelLimit; 4] = [
    ("max_storage_buffers_per_shader_stage", 8, |l| {
        l.max_storage_buffers_per_shader_stage
    }),
    ("max_compute_invocations_per_workgroup", 256, |l| {
        l.max_compute_invocations_per_workgroup
    }),
    ("max_compute_workgroup_size_x", 256, |l| {
        l.max_compute_workgroup_size_x
    }),
    ("max_bind_groups", 1, |l| l.max_bind_groups),
];

/// Fails with [`Error::AdapterTooSmall`] naming the first of [`KERNEL_LIMITS`] that `limits`
/// does not meet.
pub fn check_kernel_limits(adapter: &str, limits: &wgpu::Limits) -> Result<()> {
    for (name, needed, read) in KERNEL_LIMITS {
        let has = read(limits);
        if has < needed {
            return Err(Error::AdapterTooSmall {
                adapter: if adapter.is_empty() {
                    "this adapter".to_string()
                } else {
                    format!("adapter {adapter}")
                },
                limit_name: name,
                needed,
                has,
            });
        }
    }
    Ok(())
}

/// Names of all adapters wgpu finds on the backends `WGPU_BACKEND` allows.
#[cfg(not(target_arch = "wasm32"))]
pub fn list_adapters() -> Vec<wgpu::AdapterInfo> {
    adapters_on(backends_from_env())
}

#[maybe_async]
async fn adapters_on(backends: wgpu::Backends) -> Vec<wgpu::AdapterInfo> {
    let instance = new_instance(backends);
    resolve(instance.enumerate_adapters(backends))
        .await
        .iter()
        .map(wgpu::Adapter::get_info)
        .collect()
}

/// The backends searched when none are named: `WGPU_BACKEND`'s, else all natively; in a
/// browser only WebGPU (WebGL has no compute shaders).
fn backends_from_env() -> wgpu::Backends {
    if cfg!(target_arch = "wasm32") {
        return wgpu::Backends::BROWSER_WEBGPU;
    }
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all())
}

/// The backend names [`parse_backends`] accepts.
pub const BACKEND_NAMES: &str = "vulkan, gl, metal, dx12, webgpu";

/// The backends a comma-separated list of names selects (`vulkan`, `gl` (or `gles`,
/// `opengl`), `metal`, `dx12` (or `d3d12`), `webgpu`), case-insensitive; an unknown or empty
/// name is an error listing the valid ones.
pub fn parse_backends(names: &str) -> Result<wgpu::Backends> {
    let mut backends = wgpu::Backends::empty();
    for name in names.split(',').map(str::trim) {
        backends |= match name.to_lowercase().as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "gl" | "gles" | "opengl" => wgpu::Backends::GL,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "webgpu" | "browser" => wgpu::Backends::BROWSER_WEBGPU,
            _ => {
                return Err(Error::InvalidConfig(format!(
                    "unknown backend {name:?}; expected one of {BACKEND_NAMES}"
                )))
            }
        };
    }
    Ok(backends)
}

fn new_instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

/// Owns the wgpu device and the crate's compiled pipelines. Create one and share it.
#[derive(Debug)]
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    family: MatmulFamily,
    subgroups_offered: bool,
    subgroup_lanes: Option<u32>,
    tuning: MatmulTuning,
    pub(crate) tuned: TuneTable,
    pub(crate) pipelines: PipelineCache,
    lost: Arc<Mutex<Option<String>>>,
    uncaptured: Arc<Mutex<Option<String>>>,
}

#[maybe_async]
async fn request_adapter(
    instance: &wgpu::Instance,
    backends: wgpu::Backends,
    requested: Option<String>,
) -> Result<wgpu::Adapter> {
    match requested {
        Some(name) => {
            let adapters = resolve(instance.enumerate_adapters(backends)).await;
            let wanted = name.to_lowercase();
            let available: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
            adapters
                .into_iter()
                .find(|a| a.get_info().name.to_lowercase().contains(&wanted))
                .ok_or(Error::AdapterNotFound {
                    requested: name,
                    available,
                })
        }
        None => resolve(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env().unwrap_or_default(),
            ..Default::default()
        }))
        .await
        .map_err(|_| Error::NoAdapter),
    }
}

impl GpuContext {
    /// Opens the adapter chosen by `options`. Pipelines are compiled on first use and cached.
    /// (In a browser this is an `async fn`, like every call that reads from the GPU.)
    #[maybe_async]
    pub async fn new(options: &ContextOptions) -> Result<Self> {
        if options.wide_cpu_vectors {
            request_wide_cpu_vectors();
        }
        let backends = options.backends.unwrap_or_else(backends_from_env);
        let instance = new_instance(backends);
        let requested = options
            .adapter_name
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
            .filter(|s| !s.is_empty());
        let adapter = match request_adapter(&instance, backends, requested).await {
            // Backends chosen by name that hold no adapter: say which adapters there are.
            Err(Error::NoAdapter) if options.backends.is_some() => {
                return Err(Error::AdapterNotFound {
                    requested: format!("any adapter on backends {backends:?}"),
                    available: adapters_on(backends_from_env())
                        .await
                        .iter()
                        .map(|info| format!("{} ({:?})", info.name, info.backend))
                        .collect(),
                })
            }
            other => other?,
        };
        let info = adapter.get_info();
        // Ask for everything the adapter offers: MLP activations and data sets pass the
        // conservative defaults quickly.
        let limits = options.limits.clone().unwrap_or_else(|| adapter.limits());
        check_kernel_limits(&info.name, &limits)?;
        // Subgroups serve the CPU matmul family, which needs one fixed subgroup size.
        let subgroups = adapter.features() & wgpu::Features::SUBGROUP;
        let subgroup_lanes = (!subgroups.is_empty()
            && options.subgroups
            && info.subgroup_min_size == info.subgroup_max_size)
            .then_some(info.subgroup_min_size);
        let required_features = if subgroup_lanes.is_some() {
            subgroups
        } else {
            wgpu::Features::empty()
        };
        let (device, queue) = resolve(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("distill-wgpu device"),
            required_features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .await
        .map_err(|e| Error::RequestDevice {
            adapter: info.name.clone(),
            message: e.to_string(),
        })?;

        let lost = Arc::new(Mutex::new(None));
        let lost_slot = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut slot) = lost_slot.lock() {
                *slot = Some(format!("{reason:?}: {message}"));
            }
        });
        // Errors outside any scope must not panic the process; keep the first and report it
        // from the next checked call.
        let uncaptured = Arc::new(Mutex::new(None));
        let uncaptured_slot = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut slot) = uncaptured_slot.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }));

        let family = options
            .matmul_family
            .unwrap_or_else(|| MatmulFamily::for_device(info.device_type));
        let ctx = Self {
            device,
            queue,
            info,
            limits,
            family,
            subgroups_offered: !subgroups.is_empty(),
            subgroup_lanes,
            tuning: options.matmul_tuning.clone(),
            tuned: TuneTable::default(),
            pipelines: PipelineCache::default(),
            lost,
            uncaptured,
        };
        ctx.check_health()?;
        Ok(ctx)
    }

    /// The adapter in use.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The device limits in force.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The matmul family used for this adapter.
    pub fn matmul_family(&self) -> MatmulFamily {
        self.family
    }

    /// Whether the adapter offers `Features::SUBGROUP` (used or not).
    pub fn subgroups_offered(&self) -> bool {
        self.subgroups_offered
    }

    /// The adapter's subgroup size when the device runs with `Features::SUBGROUP` and the size
    /// is fixed (llvmpipe: its SIMD lanes, 8, or 16 with 512-bit vectors); `None` otherwise.
    pub fn subgroup_lanes(&self) -> Option<u32> {
        self.subgroup_lanes
    }

    /// How this context chooses matmul variants.
    pub fn matmul_tuning(&self) -> &MatmulTuning {
        &self.tuning
    }

    /// The matmul choices made so far on this context (product key → variant), sorted.
    pub fn matmul_choices(&self) -> Vec<(String, crate::gpu::TunedChoice)> {
        self.tuned.all()
    }

    /// Workgroups a matmul should at least have to keep the adapter busy.
    pub fn min_matmul_workgroups(&self) -> usize {
        match self.family {
            // llvmpipe runs one workgroup per thread; leave room for uneven tiles.
            MatmulFamily::Unrolled => {
                2 * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
            }
            MatmulFamily::Tiled => 64,
        }
    }

    /// A one-line description: name, backend, device type, driver.
    pub fn describe(&self) -> String {
        describe_adapter(&self.info)
    }

    /// Fails if the device was lost or an error escaped every scope.
    pub(crate) fn check_health(&self) -> Result<()> {
        if let Some(reason) = self.lost.lock().ok().and_then(|s| s.clone()) {
            return Err(Error::DeviceLost(reason));
        }
        if let Some(message) = self.uncaptured.lock().ok().and_then(|mut s| s.take()) {
            return Err(Error::Gpu {
                operation: "an earlier operation".into(),
                message,
            });
        }
        Ok(())
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns what they catch
    /// into an [`Error`] naming `operation`.
    pub(crate) fn scoped<T>(&self, operation: &str, f: impl FnOnce() -> T) -> Result<T> {
        let value = scoped(&self.device, operation, f)?;
        self.check_health()?;
        Ok(value)
    }

    /// The pipeline of a shader file, compiled on first use.
    pub(crate) fn pipeline(&self, shader: &ShaderSource) -> Result<wgpu::ComputePipeline> {
        self.pipeline_with(shader.name, shader.entry_point, &[], || {
            shader.source.to_string()
        })
    }

    /// The pipeline cached under `name`, compiled from `source()` with override `constants`
    /// on first use (generated shaders: the source is only built when needed).
    pub(crate) fn pipeline_with(
        &self,
        name: &str,
        entry_point: &str,
        constants: &[(&str, f64)],
        source: impl FnOnce() -> String,
    ) -> Result<wgpu::ComputePipeline> {
        let pipeline =
            self.pipelines
                .get_or_build(&self.device, name, entry_point, constants, source)?;
        self.check_health()?;
        Ok(pipeline)
    }

    /// Blocks until the queue is idle.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu {
                operation: "waiting for the device".into(),
                message: e.to_string(),
            })?;
        self.check_health()
    }
}

/// Name, backend, device type and driver of an adapter, on one line.
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} ({:?}, {:?}, driver {} {})",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needed(name: &str) -> u32 {
        KERNEL_LIMITS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|&(_, v, _)| v)
            .unwrap_or_else(|| panic!("{name} is not in KERNEL_LIMITS"))
    }

    #[test]
    fn webgpu_defaults_meet_the_kernel_limits_and_downlevel_ones_are_refused_by_name() {
        check_kernel_limits("any", &wgpu::Limits::default()).expect("WebGPU defaults suffice");
        let err = check_kernel_limits("", &wgpu::Limits::downlevel_defaults()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("this adapter offers max_storage_buffers_per_shader_stage = 4;")
                && text.ends_with("need at least 8"),
            "{text}"
        );
        let small = wgpu::Limits {
            max_compute_invocations_per_workgroup: 128,
            ..wgpu::Limits::default()
        };
        let text = check_kernel_limits("tiny", &small).unwrap_err().to_string();
        assert!(
            text.contains("adapter tiny offers max_compute_invocations_per_workgroup = 128"),
            "{text}"
        );
    }

    /// The storage-buffer need in KERNEL_LIMITS is the most any shader file binds (the
    /// generated matmuls bind four at most).
    #[test]
    fn kernel_limits_cover_every_shader_file() {
        let shaders = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
        let mut most = 0;
        let mut files = 0;
        let mut dirs = vec![shaders.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "wgsl") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    most = most.max(text.matches("var<storage").count() as u32);
                    files += 1;
                }
            }
        }
        assert!(
            files > 10,
            "found only {files} shader files under {shaders:?}"
        );
        assert_eq!(most, needed("max_storage_buffers_per_shader_stage"));
    }
}
