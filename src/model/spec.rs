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

    /// Checks that there are at least two sizes, none is zero, and that the parameter count,
    /// every layer offset and the byte size (count × 4) fit in `usize`/`u64`: widths come from
    /// flags and files, and every later size computation relies on this.
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
        // Offsets are partial sums of the count, so a count that fits bounds them all.
        let bytes = self
            .checked_parameter_count()
            .and_then(|n| u64::try_from(n).ok())
            .and_then(|n| n.checked_mul(4));
        if bytes.is_none() {
            return Err(Error::InvalidConfig(format!(
                "MLP {:?} has too many parameters: the count or its byte size overflows",
                self.sizes
            )));
        }
        Ok(())
    }

    /// The parameter count, or `None` where it overflows `usize`.
    pub fn checked_parameter_count(&self) -> Option<usize> {
        self.sizes.windows(2).try_fold(0usize, |total, w| {
            w[0].checked_mul(w[1])?
                .checked_add(w[1])?
                .checked_add(total)
        })
    }

    /// Input features.
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Classes (output logits).
    pub fn classes(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// Layouts of every dense layer, in order. Meaningful for a spec that passed
    /// [`MlpSpec::validate`]; for one that did not, offsets saturate instead of wrapping.
    pub fn layers(&self) -> Vec<LayerLayout> {
        let mut offset = 0usize;
        self.sizes
            .windows(2)
            .map(|w| {
                let layout = LayerLayout {
                    inputs: w[0],
                    outputs: w[1],
                    weight_offset: offset,
                    bias_offset: offset.saturating_add(w[0].saturating_mul(w[1])),
                };
                offset = layout.bias_offset.saturating_add(w[1]);
                layout
            })
            .collect()
    }

    /// Total number of parameters; `usize::MAX` for a spec whose count overflows (which
    /// [`MlpSpec::validate`] rejects), so it never wraps to a small, plausible number.
    pub fn parameter_count(&self) -> usize {
        self.checked_parameter_count().unwrap_or(usize::MAX)
    }

    /// Bytes of the parameters as f32 (saturating, like [`MlpSpec::parameter_count`]).
    pub fn parameter_bytes(&self) -> u64 {
        (self.parameter_count() as u64).saturating_mul(4)
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
    /// ±1/√inputs. The spec must have passed [`MlpSpec::validate`] (its count sizes a host
    /// vector); [`crate::Mlp::new`] checks that and the adapter's limits first.
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
            .map(|w| 2.0 * rows as f64 * w[0] as f64 * w[1] as f64)
            .sum()
    }
}
