//! The dropout reference: the same hash and keep decision as `shaders/dropout.wgsl`, in plain
//! Rust.

use crate::ops::dropout::Dropout;
pub use crate::ops::shared::pcg_hash;

/// Whether the kernel keeps element `index` of hidden layer `layer` at optimizer step `step`
/// (counted from 1) with drop probability `p`.
pub fn dropout_keeps(p: f32, seed: u32, step: u32, layer: u32, index: u32) -> bool {
    let threshold = Dropout { p, seed }.drop_threshold();
    let key = pcg_hash(seed ^ pcg_hash(step ^ pcg_hash(layer ^ pcg_hash(index))));
    (key >> 8) >= threshold
}

/// Inverted dropout of `values` in place: kept elements scaled by `1/(1 − p)`, others zeroed.
pub fn apply_dropout(values: &mut [f64], dropout: Dropout, step: u32, layer: u32) {
    let scale = 1.0 / (1.0 - dropout.p as f64);
    for (i, v) in values.iter_mut().enumerate() {
        *v = if dropout_keeps(dropout.p, dropout.seed, step, layer, i as u32) {
            *v * scale
        } else {
            0.0
        };
    }
}
