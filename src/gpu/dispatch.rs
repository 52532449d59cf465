//! Recorded kernel launches and the one place that encodes and submits them.

use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;

/// Workgroup size of the element-wise kernels (one invocation per element or row).
pub const ELEMENT_WORKGROUP: usize = 64;

/// One recorded kernel launch: pipeline, bind group and grid, built once and replayed.
#[derive(Debug, Clone)]
pub(crate) struct Dispatch {
    pub label: String,
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group: wgpu::BindGroup,
    pub groups: (u32, u32),
}

impl Dispatch {
    /// Binds `buffers` to `pipeline` and records the grid.
    pub fn new(
        ctx: &GpuContext,
        label: &str,
        pipeline: wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
        groups: (u32, u32),
    ) -> Result<Self> {
        let bind_group = ctx.bind_group(label, &pipeline, buffers)?;
        Ok(Self {
            label: label.to_string(),
            pipeline,
            bind_group,
            groups,
        })
    }
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

impl GpuContext {
    /// Creates one encoder, lets `encode` fill it, and submits it once, inside error scopes
    /// naming `label`. Does not wait for the GPU.
    pub(crate) fn submit(
        &self,
        label: &str,
        encode: impl FnOnce(&mut wgpu::CommandEncoder),
    ) -> Result<()> {
        self.scoped(label, || {
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
            encode(&mut encoder);
            self.queue.submit([encoder.finish()]);
        })
    }

    /// Submits `dispatches` in one compute pass of one encoder.
    pub(crate) fn run(&self, label: &str, dispatches: &[Dispatch]) -> Result<()> {
        self.submit(label, |encoder| record(encoder, label, dispatches))
    }

    /// Splits `count` workgroups over x and y so neither passes the per-dimension limit.
    pub(crate) fn grid(&self, what: &str, count: usize) -> Result<(u32, u32)> {
        let max = self.limits().max_compute_workgroups_per_dimension as usize;
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

    /// Grid for an element-wise kernel over `count` elements.
    pub(crate) fn element_grid(&self, what: &str, count: usize) -> Result<(u32, u32)> {
        self.grid(what, count.div_ceil(ELEMENT_WORKGROUP))
    }

    /// Checks a 2-D workgroup grid against the per-dimension limit.
    pub(crate) fn check_grid(&self, what: &str, x: usize, y: usize) -> Result<(u32, u32)> {
        let max = self.limits().max_compute_workgroups_per_dimension as usize;
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
