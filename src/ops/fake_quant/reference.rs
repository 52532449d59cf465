//! The int8 fake quantization in f64 arithmetic with the op's f32 roundings made explicit: the
//! scale, the quotient and the dequantized weight are each rounded to f32 once, as the kernel
//! computes them (f64 holds every exact product here, and rounding an f64 quotient to f32
//! equals rounding the exact quotient, 53 ≥ 2·24 + 2 bits). The host's int8 export quantizes
//! with these functions, so a file and the model trained with the kernel agree.
//!
//! The straight-through estimator (Bengio et al. 2013) has no finite-difference meaning: the
//! quantizer is a step function whose derivative is zero almost everywhere, and the training
//! step deliberately applies the gradient taken at `W_q` to the master `W` as if the quantizer
//! were the identity. So this op has no gradient reference; tests check the wiring instead (a
//! quantized step equals the reference's forward and backward at `W_q` and its update of `W`).

use crate::ops::fake_quant::DenseLayer;

/// The largest level magnitude: levels are in −127..=127 (−128 unused, so the range is
/// symmetric and `−q` is always a level).
pub const LEVELS: f64 = 127.0;

/// 127 · 2⁻¹²⁶: a row whose largest magnitude is below this would get a subnormal scale, which
/// many GPUs flush to zero; such rows (zero rows among them) get scale 1, and all their levels
/// are 0.
pub const MIN_ROW_MAX: f32 = 127.0 * f32::MIN_POSITIVE;

/// The scale of a row whose largest magnitude is `max_abs`: `fl32(max_abs / 127)`, or 1 for a
/// zero (or subnormal-scale) row.
pub fn row_scale(max_abs: f32) -> f32 {
    if max_abs >= MIN_ROW_MAX {
        (max_abs as f64 / LEVELS) as f32
    } else {
        1.0
    }
}

/// The level of `w` at `scale`: `clamp(round_half_even(fl32(w / scale)), −127, 127)`.
pub fn level(w: f32, scale: f32) -> i8 {
    let quotient = (w as f64 / scale as f64) as f32;
    quotient.round_ties_even().clamp(-127.0, 127.0) as i8
}

/// The weight a level stands for: `fl32(level · scale)`. Only a row whose largest magnitude
/// is within a rounding of `f32::MAX` can give ±∞ here (level 127 times a scale rounded up);
/// the int8 writer refuses such a model.
pub fn dequantize(level: i8, scale: f32) -> f32 {
    (level as f64 * scale as f64) as f32
}

/// One row's scale and levels.
pub fn quantize_row(row: &[f32]) -> (f32, Vec<i8>) {
    let max_abs = row.iter().fold(0.0f32, |m, w| m.max(w.abs()));
    let scale = row_scale(max_abs);
    (scale, row.iter().map(|&w| level(w, scale)).collect())
}

/// Fake-quantized weights `W_q` `[outputs, inputs]` of a row-major `weights` and the scale of
/// each row.
pub fn fake_quant_layer(weights: &[f32], inputs: usize) -> (Vec<f32>, Vec<f32>) {
    let mut out = Vec::with_capacity(weights.len());
    let mut scales = Vec::with_capacity(weights.len() / inputs.max(1));
    for row in weights.chunks(inputs.max(1)) {
        let (scale, levels) = quantize_row(row);
        out.extend(levels.iter().map(|&q| dequantize(q, scale)));
        scales.push(scale);
    }
    (out, scales)
}

/// The effective parameters of an MLP's flat `params` (every layer's weights fake-quantized,
/// biases and anything else as they are) and every layer's row scales, layer after layer.
pub fn fake_quant_params(layers: &[DenseLayer], params: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut effective = params.to_vec();
    let mut scales = Vec::new();
    for layer in layers {
        let range = layer.weight_offset..layer.weight_offset + layer.inputs * layer.outputs;
        let (quantized, layer_scales) = fake_quant_layer(&params[range.clone()], layer.inputs);
        effective[range].copy_from_slice(&quantized);
        scales.extend(layer_scales);
    }
    (effective, scales)
}
