//! The GPU context: instance, adapter, device, queue and every compiled pipeline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::matmul::{MatmulFamily, MatmulSpec, MatmulVariant};
use crate::shaders::{self, ShaderSource};

/// How to pick the adapter.
#[derive(Debug, Clone, Default)]
pub struct ContextOptions {
    /// Case-insensitive substring of the adapter name. When `None`, `WGPU_ADAPTER_NAME` is used
    /// if set, else wgpu's default adapter (honouring `WGPU_POWER_PREF`). `WGPU_BACKEND` limits
    /// the backends searched either way.
    pub adapter_name: Option<String>,
    /// Force a matmul family instead of choosing it from the device type (tests use this to run
    /// the GPU variants on CPU adapters and vice versa).
    pub matmul_family: Option<MatmulFamily>,
}

/// Names of all adapters wgpu finds on the backends `WGPU_BACKEND` allows.
pub fn list_adapters() -> Vec<wgpu::AdapterInfo> {
    let instance = new_instance();
    pollster::block_on(instance.enumerate_adapters(backends_from_env()))
        .iter()
        .map(wgpu::Adapter::get_info)
        .collect()
}

fn backends_from_env() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all())
}

fn new_instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends_from_env();
    wgpu::Instance::new(desc)
}

/// Core compiled pipelines, built once per context.
#[derive(Debug)]
pub(crate) struct Pipelines {
    pub softmax: wgpu::ComputePipeline,
    pub kd_loss: wgpu::ComputePipeline,
    pub reduce_loss: wgpu::ComputePipeline,
    pub bias_grad: wgpu::ComputePipeline,
    pub sgd: wgpu::ComputePipeline,
    pub adamw: wgpu::ComputePipeline,
    pub gather: wgpu::ComputePipeline,
    pub dropout: wgpu::ComputePipeline,
    pub count_errors: wgpu::ComputePipeline,
}

/// Owns the wgpu device and the crate's pipelines. Create one and share it.
#[derive(Debug)]
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    family: MatmulFamily,
    pub(crate) pipelines: Pipelines,
    matmul_pipelines: Mutex<HashMap<MatmulVariant, wgpu::ComputePipeline>>,
    lost: Arc<Mutex<Option<String>>>,
    uncaptured: Arc<Mutex<Option<String>>>,
}

impl GpuContext {
    /// Opens the adapter chosen by `options` and compiles the core pipelines.
    pub fn new(options: &ContextOptions) -> Result<Self> {
        let instance = new_instance();
        let requested = options
            .adapter_name
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
            .filter(|s| !s.is_empty());
        let adapter = match requested {
            Some(name) => {
                let adapters = pollster::block_on(instance.enumerate_adapters(backends_from_env()));
                let wanted = name.to_lowercase();
                let available: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
                adapters
                    .into_iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&wanted))
                    .ok_or(Error::AdapterNotFound {
                        requested: name,
                        available,
                    })?
            }
            None => pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::from_env().unwrap_or_default(),
                ..Default::default()
            }))
            .map_err(|_| Error::NoAdapter)?,
        };
        let info = adapter.get_info();
        // Ask for everything the adapter offers: MLP activations and data sets pass the
        // conservative defaults quickly.
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("distill-wgpu device"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
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
        let build =
            |s: &ShaderSource| build_pipeline(&device, s.name, s.source, s.entry_point, &[]);
        let find = |name: &str| {
            shaders::SHADERS
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| Error::InvalidConfig(format!("unknown shader {name}")))
        };
        let pipelines = Pipelines {
            softmax: build(find("softmax")?)?,
            kd_loss: build(find("kd_loss")?)?,
            reduce_loss: build(find("reduce_loss")?)?,
            bias_grad: build(find("bias_grad")?)?,
            sgd: build(find("sgd")?)?,
            adamw: build(find("adamw")?)?,
            gather: build(find("gather")?)?,
            dropout: build(find("dropout")?)?,
            count_errors: build(find("count_errors")?)?,
        };
        let ctx = Self {
            device,
            queue,
            info,
            limits,
            family,
            pipelines,
            matmul_pipelines: Mutex::new(HashMap::new()),
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

    /// The variant this context uses for `spec`.
    pub fn choose_matmul(&self, spec: &MatmulSpec) -> MatmulVariant {
        self.family.choose(spec, self.min_matmul_workgroups())
    }

    /// A one-line description: name, backend, device type, driver.
    pub fn describe(&self) -> String {
        describe_adapter(&self.info)
    }

    /// The pipeline of a matmul variant, compiled on first use and cached.
    pub(crate) fn matmul_pipeline(&self, variant: MatmulVariant) -> Result<wgpu::ComputePipeline> {
        if let MatmulVariant::Tiled { wg_x, wg_y } = variant {
            if wg_x == 0 || wg_y == 0 || wg_x > 16 || wg_y > 16 {
                return Err(Error::InvalidConfig(format!(
                    "tiled matmul workgroup {wg_x}x{wg_y}: each side must be in 1..=16"
                )));
            }
        }
        let mut cache = self
            .matmul_pipelines
            .lock()
            .map_err(|_| Error::InvalidConfig("matmul pipeline cache poisoned".into()))?;
        if let Some(p) = cache.get(&variant) {
            return Ok(p.clone());
        }
        let (source, constants) = variant.source();
        let name = format!("matmul {}", variant.name());
        let pipeline = build_pipeline(&self.device, &name, &source, "matmul", &constants)?;
        cache.insert(variant, pipeline.clone());
        Ok(pipeline)
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

    /// Checks a buffer size against the adapter's limits.
    pub(crate) fn check_buffer_size(&self, what: &str, bytes: u64) -> Result<()> {
        if bytes > self.limits.max_buffer_size {
            return Err(Error::ExceedsLimit {
                what: what.to_string(),
                needed: bytes,
                limit_name: "max_buffer_size",
                limit: self.limits.max_buffer_size,
            });
        }
        let binding = self.limits.max_storage_buffer_binding_size;
        if bytes > binding {
            return Err(Error::ExceedsLimit {
                what: what.to_string(),
                needed: bytes,
                limit_name: "max_storage_buffer_binding_size",
                limit: binding,
            });
        }
        Ok(())
    }

    /// A storage buffer of `len` f32/u32 elements (at least one), optionally initialised.
    pub(crate) fn storage_buffer(
        &self,
        label: &str,
        len: usize,
        contents: Option<&[u8]>,
    ) -> Result<wgpu::Buffer> {
        let bytes = (len.max(1) * 4) as u64;
        self.check_buffer_size(label, bytes)?;
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        self.scoped(&format!("creating buffer {label}"), || match contents {
            Some(data) if !data.is_empty() => {
                self.device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some(label),
                        contents: data,
                        usage,
                    })
            }
            _ => self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage,
                mapped_at_creation: false,
            }),
        })
    }

    /// A uniform buffer holding `value`.
    pub(crate) fn uniform_buffer<T: bytemuck::Pod>(
        &self,
        label: &str,
        value: &T,
    ) -> Result<wgpu::Buffer> {
        self.scoped(&format!("creating uniform {label}"), || {
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytemuck::bytes_of(value),
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                })
        })
    }

    /// Binds `buffers` to bindings 0.. of group 0 of `pipeline`.
    pub(crate) fn bind_group(
        &self,
        label: &str,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
    ) -> Result<wgpu::BindGroup> {
        self.scoped(&format!("binding {label}"), || {
            let layout = pipeline.get_bind_group_layout(0);
            let entries: Vec<wgpu::BindGroupEntry> = buffers
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect();
            self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout: &layout,
                entries: &entries,
            })
        })
    }

    /// Submits `dispatches` in one compute pass of one encoder.
    pub(crate) fn run(&self, label: &str, dispatches: &[Dispatch]) -> Result<()> {
        self.scoped(label, || {
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
            record(&mut encoder, label, dispatches);
            self.queue.submit([encoder.finish()]);
        })
    }

    /// Copies `len` 32-bit elements at element `offset` of `buffer` back to the host.
    pub(crate) fn read_back<T: bytemuck::Pod>(
        &self,
        what: &str,
        buffer: &wgpu::Buffer,
        offset: usize,
        len: usize,
    ) -> Result<Vec<T>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let bytes = (len * 4) as u64;
        let staging = self.scoped(&format!("reading back {what}"), || {
            let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback staging"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("readback"),
                });
            encoder.copy_buffer_to_buffer(buffer, (offset * 4) as u64, &staging, 0, bytes);
            self.queue.submit([encoder.finish()]);
            staging
        })?;
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        let readback_error = |message: String| Error::Readback {
            what: what.to_string(),
            message,
        };
        rx.recv()
            .map_err(|e| readback_error(e.to_string()))?
            .map_err(|e| readback_error(e.to_string()))?;
        let data = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| readback_error(e.to_string()))?;
            bytemuck::cast_slice::<u8, T>(&view).to_vec()
        };
        staging.unmap();
        Ok(data)
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

    /// Writes `data` into `buffer` at element `offset` (staged; runs before the next submit).
    pub(crate) fn write<T: bytemuck::Pod>(&self, buffer: &wgpu::Buffer, offset: usize, data: &[T]) {
        if !data.is_empty() {
            self.queue
                .write_buffer(buffer, (offset * 4) as u64, bytemuck::cast_slice(data));
        }
    }

    /// Splits `count` workgroups over x and y so neither passes the per-dimension limit.
    pub(crate) fn grid(&self, what: &str, count: usize) -> Result<(u32, u32)> {
        let max = self.limits.max_compute_workgroups_per_dimension as usize;
        let count = count.max(1);
        let x = count.min(max);
        let y = count.div_ceil(x);
        if y > max {
            return Err(Error::ExceedsLimit {
                what: what.to_string(),
                needed: count as u64,
                limit_name: "max_compute_workgroups_per_dimension²",
                limit: (max * max) as u64,
            });
        }
        Ok((x as u32, y as u32))
    }

    /// Checks a 2-D workgroup grid against the per-dimension limit.
    pub(crate) fn check_grid(&self, what: &str, x: usize, y: usize) -> Result<(u32, u32)> {
        let max = self.limits.max_compute_workgroups_per_dimension as usize;
        for (dim, n) in [("x", x), ("y", y)] {
            if n > max {
                return Err(Error::ExceedsLimit {
                    what: format!("{what} ({dim} workgroups)"),
                    needed: n as u64,
                    limit_name: "max_compute_workgroups_per_dimension",
                    limit: max as u64,
                });
            }
        }
        Ok((x.max(1) as u32, y.max(1) as u32))
    }
}

/// Runs `f` inside validation and out-of-memory error scopes of `device`.
fn scoped<T>(device: &wgpu::Device, operation: &str, f: impl FnOnce() -> T) -> Result<T> {
    let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let value = f();
    let validation_error = pollster::block_on(validation.pop());
    let oom_error = pollster::block_on(oom.pop());
    if let Some(e) = validation_error {
        return Err(Error::Gpu {
            operation: operation.to_string(),
            message: e.to_string(),
        });
    }
    if oom_error.is_some() {
        return Err(Error::OutOfMemory {
            operation: operation.to_string(),
        });
    }
    Ok(value)
}

fn build_pipeline(
    device: &wgpu::Device,
    name: &str,
    source: &str,
    entry_point: &str,
    constants: &[(&str, f64)],
) -> Result<wgpu::ComputePipeline> {
    scoped(device, &format!("compiling shader {name}"), || {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(name),
            layout: None,
            module: &module,
            entry_point: Some(entry_point),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        })
    })
}

/// One recorded kernel launch: pipeline, bind group and grid, built once and replayed.
#[derive(Debug, Clone)]
pub(crate) struct Dispatch {
    pub label: String,
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group: wgpu::BindGroup,
    pub groups: (u32, u32),
}

/// Records `dispatches` into one compute pass (wgpu orders them and inserts the barriers).
pub(crate) fn record<'a>(
    encoder: &mut wgpu::CommandEncoder,
    label: &str,
    dispatches: impl IntoIterator<Item = &'a Dispatch>,
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some(label),
        timestamp_writes: None,
    });
    for d in dispatches {
        pass.set_pipeline(&d.pipeline);
        pass.set_bind_group(0, &d.bind_group, &[]);
        pass.dispatch_workgroups(d.groups.0, d.groups.1, 1);
    }
}

/// Name, backend, device type and driver of an adapter, on one line.
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} ({:?}, {:?}, driver {} {})",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    )
}
