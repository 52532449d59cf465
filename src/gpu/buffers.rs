//! Buffers: creation checked against the adapter's limits, uploads, staged writes, bind groups
//! and read-back.

use maybe_async::maybe_async;
use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::scope::resolve;

impl GpuContext {
    /// Checks a buffer size against the adapter's limits.
    pub(crate) fn check_buffer_size(&self, what: &str, bytes: u64) -> Result<()> {
        let limits = self.limits();
        for (limit_name, limit) in [
            ("max_buffer_size", limits.max_buffer_size),
            (
                "max_storage_buffer_binding_size",
                limits.max_storage_buffer_binding_size,
            ),
        ] {
            if bytes > limit {
                return Err(Error::ExceedsLimit {
                    what: what.to_string(),
                    needed: bytes,
                    limit_name,
                    limit,
                });
            }
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
        let bytes = (len.max(1) as u64).saturating_mul(4);
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

    /// A storage buffer holding `data` (f32 or u32 elements).
    pub(crate) fn upload<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<wgpu::Buffer> {
        self.storage_buffer(label, data.len(), Some(bytemuck::cast_slice(data)))
    }

    /// A storage buffer of `len` f32 pre-filled with NaN, so an element a kernel fails to
    /// write cannot pass a comparison.
    pub(crate) fn nan_buffer(&self, label: &str, len: usize) -> Result<wgpu::Buffer> {
        // Check before the host copy is allocated.
        let bytes = (len.max(1) as u64).saturating_mul(4);
        self.check_buffer_size(label, bytes)?;
        self.upload(label, &vec![f32::NAN; len.max(1)])
    }

    /// A uniform buffer holding `value`.
    pub(crate) fn uniform_buffer<T: bytemuck::Pod>(
        &self,
        label: &str,
        value: &T,
    ) -> Result<wgpu::Buffer> {
        self.uniform_bytes(label, bytemuck::bytes_of(value))
    }

    /// A uniform buffer holding `bytes` (a uniform block laid out by the caller), writable
    /// later.
    pub(crate) fn uniform_bytes(&self, label: &str, bytes: &[u8]) -> Result<wgpu::Buffer> {
        self.scoped(&format!("creating uniform {label}"), || {
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytes,
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

    /// Writes `data` into `buffer` at element `offset` (staged; runs before the next submit).
    pub(crate) fn write<T: bytemuck::Pod>(&self, buffer: &wgpu::Buffer, offset: usize, data: &[T]) {
        if !data.is_empty() {
            self.queue
                .write_buffer(buffer, (offset * 4) as u64, bytemuck::cast_slice(data));
        }
    }

    /// Copies `len` 32-bit elements at element `offset` of `buffer` back to the host (waits
    /// for the GPU natively; awaits the mapping in a browser).
    #[maybe_async]
    pub(crate) async fn read_back<T: bytemuck::Pod>(
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
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback staging"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        self.submit(&format!("reading back {what}"), |encoder| {
            encoder.copy_buffer_to_buffer(buffer, (offset * 4) as u64, &staging, 0, bytes);
        })?;
        let slice = staging.slice(..);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        // Natively this polls until the mapping callback has run; in a browser it returns at
        // once and the mapping is awaited below.
        self.wait()?;
        let readback_error = |message: String| Error::Readback {
            what: what.to_string(),
            message,
        };
        resolve(rx)
            .await
            .map_err(|e| readback_error(e.to_string()))?
            .map_err(|e| readback_error(e.to_string()))?;
        let data = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| readback_error(e.to_string()))?;
            bytemuck::cast_slice::<u8, T>(&view).to_vec()
        };
        staging.unmap();
        // In a browser an earlier call's error arrives through the uncaptured-error handler
        // by the time the mapping resolves.
        self.check_health()?;
        Ok(data)
    }
}
