//! The GPU layer: context and adapter choice, buffers, recorded dispatches and the one
//! submit path, the pipeline cache, one-shot kernels, and naga portability checks. It knows
//! nothing of the ops built on it.

pub mod buffers;
pub mod context;
pub mod dispatch;
pub mod pipelines;
pub mod portability;
pub mod prepared;
pub mod scope;

pub use context::{
    describe_adapter, list_adapters, parse_backends, ContextOptions, GpuContext, MatmulFamily,
    BACKEND_NAMES,
};
pub use dispatch::ELEMENT_WORKGROUP;
pub use pipelines::ShaderSource;
pub use prepared::PreparedKernel;
