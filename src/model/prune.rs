//! Magnitude pruning (Han et al. 2015) with one global threshold over every weight matrix, and
//! the sizes a pruned or quantized model takes.
//!
//! Global, not per layer: one threshold lets the layers with the most redundant weights (a
//! 784-input first layer holds ~88 % of a 784-300-300-10 MLP's weights) give up the most, while
//! the small output layer keeps the few weights every class depends on; a per-layer sparsity
//! would prune the 3,000-weight output layer as hard as the first. Blalock et al. 2020 ("What
//! is the state of neural network pruning?") found global magnitude pruning ahead of layer-wise
//! at the same sparsity. Biases are never pruned.

use serde::{Deserialize, Serialize};

use crate::error::{check_len, Error, Result};
use crate::model::MlpSpec;
use crate::ops::fake_quant::DenseLayer;

/// A target share of an MLP's weights set to zero, in [0, 1).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Sparsity(f64);

impl Sparsity {
    /// `fraction` of the weights pruned: finite and in [0, 1) (1 would remove every weight).
    pub fn new(fraction: f64) -> Result<Self> {
        if fraction.is_finite() && (0.0..1.0).contains(&fraction) {
            Ok(Self(fraction))
        } else {
            Err(Error::InvalidConfig(format!(
                "sparsity must be a fraction in [0, 1) (0.8 prunes 80 % of the weights), got \
                 {fraction}"
            )))
        }
    }

    /// The fraction.
    pub fn fraction(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Sparsity {
    type Error = Error;
    fn try_from(fraction: f64) -> Result<Self> {
        Self::new(fraction)
    }
}

impl From<Sparsity> for f64 {
    fn from(sparsity: Sparsity) -> f64 {
        sparsity.0
    }
}

/// The layers of `spec` as the compression kernels see them.
pub fn dense_layers(spec: &MlpSpec) -> Vec<DenseLayer> {
    spec.layers()
        .iter()
        .map(|l| DenseLayer {
            inputs: l.inputs,
            outputs: l.outputs,
            weight_offset: l.weight_offset,
            bias_offset: l.bias_offset,
        })
        .collect()
}

/// Each layer's weight range `(offset, count)` in the flat parameters.
pub fn weight_ranges(spec: &MlpSpec) -> Vec<(usize, usize)> {
    spec.layers()
        .iter()
        .map(|l| (l.weight_offset, l.inputs * l.outputs))
        .collect()
}

/// A pruned model's parameters and what was pruned.
#[derive(Debug, Clone)]
pub struct Pruned {
    /// The parameters with the pruned weights set to zero (biases untouched).
    pub params: Vec<f32>,
    /// Weights that are zero now (including any that were zero before).
    pub zeros: usize,
    /// Weights in all layers.
    pub weights: usize,
    /// The largest magnitude pruned (0 when nothing was).
    pub threshold: f32,
}

/// Sets the `round(sparsity × weights)` weights of smallest magnitude over all layers to zero;
/// ties at the threshold are broken by position (earlier first), so the count is exact and the
/// result deterministic.
pub fn prune_magnitude(spec: &MlpSpec, params: &[f32], sparsity: Sparsity) -> Result<Pruned> {
    spec.validate()?;
    check_len("MLP parameters", spec.parameter_count(), params.len())?;
    crate::error::check_finite("MLP parameters", params)?;
    let mut order: Vec<(f32, usize)> = weight_ranges(spec)
        .into_iter()
        .flat_map(|(offset, count)| (offset..offset + count).map(|i| (params[i].abs(), i)))
        .collect();
    let weights = order.len();
    let cut = ((sparsity.fraction() * weights as f64).round() as usize).min(weights);
    let mut out = params.to_vec();
    let mut threshold = 0.0f32;
    if cut > 0 {
        let by_magnitude =
            |a: &(f32, usize), b: &(f32, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        order.select_nth_unstable_by(cut - 1, by_magnitude);
        for &(magnitude, i) in &order[..cut] {
            out[i] = 0.0;
            threshold = threshold.max(magnitude);
        }
    }
    let zeros = zero_weights(spec, &out);
    Ok(Pruned {
        params: out,
        zeros,
        weights,
        threshold,
    })
}

/// Weights (not biases) that are exactly zero.
pub fn zero_weights(spec: &MlpSpec, params: &[f32]) -> usize {
    weight_ranges(spec)
        .into_iter()
        .map(|(offset, count)| {
            params[offset..offset + count]
                .iter()
                .filter(|w| **w == 0.0)
                .count()
        })
        .sum()
}

/// The share of weights that are exactly zero.
pub fn weight_sparsity(spec: &MlpSpec, params: &[f32]) -> f64 {
    let weights: usize = weight_ranges(spec).iter().map(|r| r.1).sum();
    zero_weights(spec, params) as f64 / weights.max(1) as f64
}

/// Bytes of the parameters stored densely as f32.
pub fn dense_bytes(spec: &MlpSpec) -> u64 {
    spec.parameter_bytes()
}

/// Bytes of the tensors of an int8 file ([`crate::model::int8`]): a byte per weight, an f32
/// scale per output row, f32 biases (the header not counted).
pub fn int8_bytes(spec: &MlpSpec) -> u64 {
    spec.layers()
        .iter()
        .map(|l| (l.inputs * l.outputs) as u64 + 8 * l.outputs as u64)
        .sum()
}

/// Bytes of the parameters in compressed sparse rows, an estimate of what a sparse format
/// needs: per nonzero weight an f32 value and its column index (u16 where a layer has at most
/// 65,536 inputs, else u32), per layer `outputs + 1` u32 row starts, and the f32 biases.
pub fn sparse_bytes(spec: &MlpSpec, params: &[f32]) -> u64 {
    spec.layers()
        .iter()
        .map(|l| {
            let weights = &params[l.weight_offset..l.bias_offset];
            let nonzero = weights.iter().filter(|w| **w != 0.0).count() as u64;
            let index = if l.inputs <= 1 << 16 { 2 } else { 4 };
            nonzero * (4 + index) + 4 * (l.outputs as u64 + 1) + 4 * l.outputs as u64
        })
        .sum()
}
