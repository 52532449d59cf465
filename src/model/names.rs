//! The names a model file uses, shared by the float ([`crate::model::io`]) and int8
//! ([`crate::model::int8`]) formats: tensors in `nn.Sequential` numbering and the metadata keys
//! of the architecture.

/// Metadata key of the architecture's widths.
pub(crate) const SIZES_KEY: &str = "distill_wgpu.sizes";
/// Metadata key of the hidden activation.
pub(crate) const ACTIVATION_KEY: &str = "distill_wgpu.activation";

/// Tensor name of layer `l`'s weight in `nn.Sequential` numbering (Linear, activation, …).
pub fn weight_name(layer: usize) -> String {
    format!("{}.weight", 2 * layer)
}

/// Tensor name of layer `l`'s bias.
pub fn bias_name(layer: usize) -> String {
    format!("{}.bias", 2 * layer)
}
