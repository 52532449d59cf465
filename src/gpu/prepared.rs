//! One-shot kernels over uploaded inputs: what tests, `distill validate` and the benches run.
//! Outputs are pre-filled with NaN by the builders, so an element a kernel fails to write
//! cannot pass.

use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::dispatch::{record, Dispatch};
use maybe_async::maybe_async;

/// An output of a [`PreparedKernel`]: `len` elements at element `offset` of `buffer`.
#[derive(Debug)]
pub(crate) struct Output {
    pub name: &'static str,
    pub buffer: wgpu::Buffer,
    pub offset: usize,
    pub len: usize,
}

impl Output {
    /// The whole of `buffer`'s first `len` elements.
    pub fn new(name: &'static str, buffer: wgpu::Buffer, len: usize) -> Self {
        Self {
            name,
            buffer,
            offset: 0,
            len,
        }
    }
}

/// A set of dispatches over uploaded inputs, replayable for timing.
#[derive(Debug)]
pub struct PreparedKernel {
    dispatches: Vec<Dispatch>,
    outputs: Vec<Output>,
    /// Buffers the dispatches bind, kept alive.
    _inputs: Vec<wgpu::Buffer>,
}

impl PreparedKernel {
    /// Bundles dispatches, their outputs (read by index) and the input buffers they bind.
    pub(crate) fn new(
        dispatches: Vec<Dispatch>,
        outputs: Vec<Output>,
        inputs: Vec<wgpu::Buffer>,
    ) -> Self {
        Self {
            dispatches,
            outputs,
            _inputs: inputs,
        }
    }

    /// Records `repeats` copies of the kernel in one encoder, submits once and waits.
    pub fn run(&self, ctx: &GpuContext, repeats: usize) -> Result<()> {
        ctx.submit("prepared kernel", |encoder| {
            for _ in 0..repeats {
                record(encoder, "prepared kernel", &self.dispatches);
            }
        })?;
        ctx.wait()
    }

    /// Reads output `index` back (0 is the main output).
    #[maybe_async]
    pub async fn output<T: bytemuck::Pod>(&self, ctx: &GpuContext, index: usize) -> Result<Vec<T>> {
        let out = self
            .outputs
            .get(index)
            .ok_or_else(|| Error::InvalidConfig(format!("kernel has no output {index}")))?;
        ctx.read_back(out.name, &out.buffer, out.offset, out.len)
            .await
    }

    /// Runs once and reads output `index` back.
    #[maybe_async]
    pub async fn run_once<T: bytemuck::Pod>(
        &self,
        ctx: &GpuContext,
        index: usize,
    ) -> Result<Vec<T>> {
        self.run(ctx, 1)?;
        self.output(ctx, index).await
    }

    /// Which pipelines run, e.g. for a report.
    pub fn labels(&self) -> Vec<String> {
        self.dispatches.iter().map(|d| d.label.clone()).collect()
    }
}
