//! The GPU layer: context and adapter choice, buffers, recorded dispatches and the one
//! submit path, the pipeline cache and one-shot kernels. It knows
//! nothing of the ops built on it.

pub mod buffers;
pub mod context;
pub mod dispatch;
pub mod pipelines;
pub mod prepared;
pub mod scope;
pub mod tuning;

#[cfg(not(target_arch = "wasm32"))]
pub use context::list_adapters;
pub use context::{
    check_kernel_limits, describe_adapter, parse_backends, ContextOptions, GpuContext, KernelLimit,
    MatmulFamily, BACKEND_NAMES, KERNEL_LIMITS,
};
pub use dispatch::ELEMENT_WORKGROUP;
pub use pipelines::ShaderSource;
pub use prepared::PreparedKernel;
pub use tuning::{default_cache_dir, request_wide_cpu_vectors, MatmulTuning, TunedChoice};
