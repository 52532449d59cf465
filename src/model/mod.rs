//! Models: the MLP architecture and parameter layout, the GPU MLP and its forward plan,
//! safetensors I/O in PyTorch's layout, and the MLP reference in f64.

pub mod int8;
pub mod io;
pub mod mlp;
mod names;
pub mod prune;
pub mod reference;
pub mod spec;

pub(crate) use mlp::ForwardPlan;
pub use mlp::Mlp;
pub use spec::{Activation, LayerLayout, MlpSpec};
