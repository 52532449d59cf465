//! Shader descriptions and the pipeline cache: every pipeline is compiled on first use and
//! looked up afterwards by its shader's (unique, tested) name.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::gpu::scope::scoped;

/// A WGSL compute shader: a name used in labels and as its cache key, the entry point, the
/// source (shared snippets first, then the op's own file), the files that source is made of,
/// and the byte size of the Rust struct its uniform block mirrors (checked against naga's
/// layout in the tests). The ops build theirs with `shader_source!`, which reads `source` from
/// exactly the `files` it records.
#[derive(Debug, Clone, Copy)]
pub struct ShaderSource {
    /// Unique name, used in labels and error messages.
    pub name: &'static str,
    /// The compute entry point.
    pub entry_point: &'static str,
    /// WGSL text: the contents of `files`, concatenated in order.
    pub source: &'static str,
    /// Repository-relative paths (`shaders/...`) of the WGSL files `source` is made of.
    pub files: &'static [&'static str],
    /// `size_of` of the Rust uniform struct bound at group 0, binding 0 (0 when none).
    pub uniform_size: usize,
}

/// Compiled pipelines by name.
#[derive(Debug, Default)]
pub(crate) struct PipelineCache {
    pipelines: Mutex<HashMap<String, wgpu::ComputePipeline>>,
}

impl PipelineCache {
    /// The pipeline cached under `name`, or one compiled now from `source()`.
    pub fn get_or_build(
        &self,
        device: &wgpu::Device,
        name: &str,
        entry_point: &str,
        constants: &[(&str, f64)],
        source: impl FnOnce() -> String,
    ) -> Result<wgpu::ComputePipeline> {
        let mut cache = self
            .pipelines
            .lock()
            .map_err(|_| Error::InvalidConfig("pipeline cache poisoned".into()))?;
        if let Some(p) = cache.get(name) {
            return Ok(p.clone());
        }
        let source = source();
        let pipeline = scoped(device, &format!("compiling shader {name}"), || {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.as_str().into()),
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
        })?;
        cache.insert(name.to_string(), pipeline.clone());
        Ok(pipeline)
    }
}
