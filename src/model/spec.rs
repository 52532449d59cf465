//! MLP architecture and parameter layout, shared by the GPU model and the CPU reference.

use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// Hidden-layer activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// No nonlinearity (a linear model stack).
    Identity,
}

/// Where one dense layer's parameters sit in the flat parameter vector.
///
/// The weight is `[out, in]` row-major like PyTorch's `nn.Linear`, followed by the bias `[out]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerLayout {
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// Offset of the weight in the flat parameter vector.
    pub weight_offset: usize,
    /// Offset of the bias in the flat parameter vector.
    pub bias_offset: usize,
}

/// An MLP: `sizes = [inputs, hidden…, classes]`, the activation after every hidden layer, none
/// after the last (it outputs logits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlpSpec {
    /// Layer widths from input to logits, at least two entries.
    pub sizes: Vec<usize>,
    /// Activation after each hidden layer.
    pub activation: Activation,
}

impl MlpSpec {
    /// A ReLU MLP with the given widths, checked.
    pub fn relu(sizes: &[usize]) -> Result<Self> {
        let spec = Self {
            sizes: sizes.to_vec(),
            activation: Activation::Relu,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks that there are at least two sizes and none is zero.
    pub fn validate(&self) -> Result<()> {
        if self.sizes.len() < 2 {
            return Err(Error::InvalidConfig(format!(
                "an MLP needs at least input and output sizes, got {:?}",
                self.sizes
            )));
        }
        if let Some(i) = self.sizes.iter().position(|&s| s == 0) {
            return Err(Error::InvalidConfig(format!(
                "layer width {i} is zero in {:?}",
                self.sizes
            )));
        }
        Ok(())
    }

    /// Input features.
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Classes (output logits).
    pub fn classes(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// Layouts of every dense layer, in order.
    pub fn layers(&self) -> Vec<LayerLayout> {
        let mut offset = 0;
        self.sizes
            .windows(2)
            .map(|w| {
                let layout = LayerLayout {
                    inputs: w[0],
                    outputs: w[1],
                    weight_offset: offset,
                    bias_offset: offset + w[0] * w[1],
                };
                offset += w[0] * w[1] + w[1];
                layout
            })
            .collect()
    }

    /// Total number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    /// Activation applied after layer `index`.
    pub fn activation_after(&self, index: usize) -> Activation {
        if index + 1 < self.sizes.len() - 1 {
            self.activation
        } else {
            Activation::Identity
        }
    }

    /// Seeded initial parameters, PyTorch's `nn.Linear` default: weights and biases uniform in
    /// ±1/√inputs.
    pub fn init_parameters(&self, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        let mut params = vec![0.0f32; self.parameter_count()];
        for layer in self.layers() {
            let bound = 1.0 / (layer.inputs as f64).sqrt();
            let end = layer.bias_offset + layer.outputs;
            for p in &mut params[layer.weight_offset..end] {
                *p = (bound * (2.0 * rng.next_f64() - 1.0)) as f32;
            }
        }
        params
    }

    /// Floating-point operations of one forward pass over `rows` samples (2 per multiply-add).
    pub fn forward_flops(&self, rows: usize) -> f64 {
        self.sizes
            .windows(2)
            .map(|w| 2.0 * (rows * w[0] * w[1]) as f64)
            .sum()
    }
}
