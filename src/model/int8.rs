//! Int8 model files: each layer's weight as I8 levels with one F32 scale per output row, F32
//! biases, in the layer numbering of [`crate::model::io`]:
//!
//! - `{2l}.weight_int8` I8 `[out, in]`: the levels `q`, −127..=127;
//! - `{2l}.weight_scale` F32 `[out]`: the row scales `s` (1 for a zero row);
//! - `{2l}.bias` F32 `[out]`;
//!
//! and the metadata key `distill_wgpu.quantization = int8_per_channel`. A weight is
//! `fl32(q·s)`, the quantizer of [`crate::ops::fake_quant::reference`] that quantization-aware
//! training runs on the GPU, so a model trained with it and then quantized here is the model it
//! trained, and the float copy [`Int8Model::dequantized`] reproduces the int8 file's logits bit
//! for bit. [`crate::model::io::from_safetensors`] reads these files, dequantizing on load.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::error::{check_finite, check_len, Error, Result};
use crate::model::names::{bias_name, ACTIVATION_KEY, SIZES_KEY};
use crate::model::spec::{Activation, MlpSpec};
use crate::ops::fake_quant::reference::{dequantize, quantize_row};

/// The metadata key naming the quantization, and its value for these files.
pub const QUANTIZATION_KEY: &str = "distill_wgpu.quantization";
/// The value of [`QUANTIZATION_KEY`] in an int8 file.
pub const INT8_PER_CHANNEL: &str = "int8_per_channel";

/// Tensor name of layer `l`'s int8 levels.
pub fn levels_name(layer: usize) -> String {
    format!("{}.weight_int8", 2 * layer)
}

/// Tensor name of layer `l`'s row scales.
pub fn scales_name(layer: usize) -> String {
    format!("{}.weight_scale", 2 * layer)
}

/// One layer quantized.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Layer {
    /// Levels `[outputs, inputs]`, row-major.
    pub levels: Vec<i8>,
    /// One scale per output row.
    pub scales: Vec<f32>,
    /// The bias, as trained.
    pub bias: Vec<f32>,
}

/// An MLP with int8 per-row weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Model {
    /// The architecture.
    pub spec: MlpSpec,
    /// Each layer, in order.
    pub layers: Vec<Int8Layer>,
}

impl Int8Model {
    /// Quantizes flat float parameters of `spec`.
    pub fn quantize(spec: &MlpSpec, params: &[f32]) -> Result<Self> {
        spec.validate()?;
        check_len("MLP parameters", spec.parameter_count(), params.len())?;
        check_finite("MLP parameters", params)?;
        let layers = spec
            .layers()
            .iter()
            .map(|l| {
                let weights = &params[l.weight_offset..l.bias_offset];
                let mut levels = Vec::with_capacity(weights.len());
                let mut scales = Vec::with_capacity(l.outputs);
                for row in weights.chunks(l.inputs) {
                    let (scale, row_levels) = quantize_row(row);
                    levels.extend(row_levels);
                    scales.push(scale);
                }
                let bias = params[l.bias_offset..l.bias_offset + l.outputs].to_vec();
                Int8Layer {
                    levels,
                    scales,
                    bias,
                }
            })
            .collect();
        let model = Self {
            spec: spec.clone(),
            layers,
        };
        check_finite("dequantized int8 weights", &model.dequantized())?;
        Ok(model)
    }

    /// The flat float parameters the levels stand for, `fl32(q·s)`, biases as stored.
    pub fn dequantized(&self) -> Vec<f32> {
        let mut params = Vec::with_capacity(self.spec.parameter_count());
        for (layer, shape) in self.layers.iter().zip(self.spec.layers()) {
            for (row, &scale) in layer.levels.chunks(shape.inputs).zip(&layer.scales) {
                params.extend(row.iter().map(|&q| dequantize(q, scale)));
            }
            params.extend(&layer.bias);
        }
        params
    }

    /// Bytes of the tensors (levels, scales, biases), the header not counted.
    pub fn tensor_bytes(&self) -> u64 {
        crate::model::prune::int8_bytes(&self.spec)
    }

    /// The model as safetensors bytes, with `extra` metadata.
    pub fn to_safetensors(&self, extra: &[(&str, String)]) -> Result<Vec<u8>> {
        fn view(dtype: Dtype, shape: Vec<usize>, data: &[u8]) -> Result<TensorView<'_>> {
            TensorView::new(dtype, shape, data)
                .map_err(|e| Error::InvalidConfig(format!("safetensors view: {e}")))
        }
        let mut tensors = Vec::new();
        for (l, (layer, shape)) in self.layers.iter().zip(self.spec.layers()).enumerate() {
            let levels: &[u8] = bytemuck::cast_slice(&layer.levels);
            let (out, inp) = (shape.outputs, shape.inputs);
            tensors.push((levels_name(l), view(Dtype::I8, vec![out, inp], levels)?));
            let scales = bytemuck::cast_slice(&layer.scales);
            tensors.push((scales_name(l), view(Dtype::F32, vec![out], scales)?));
            let bias = bytemuck::cast_slice(&layer.bias);
            tensors.push((bias_name(l), view(Dtype::F32, vec![out], bias)?));
        }
        let mut metadata: HashMap<String, String> = HashMap::new();
        metadata.insert("format".into(), "pt".into());
        let sizes: Vec<String> = self.spec.sizes.iter().map(usize::to_string).collect();
        metadata.insert(SIZES_KEY.into(), sizes.join(","));
        let activation = match self.spec.activation {
            Activation::Relu => "relu",
            Activation::Identity => "identity",
        };
        metadata.insert(ACTIVATION_KEY.into(), activation.into());
        metadata.insert(QUANTIZATION_KEY.into(), INT8_PER_CHANNEL.into());
        for (k, v) in extra {
            metadata.insert((*k).to_string(), v.clone());
        }
        safetensors::serialize(tensors, Some(metadata))
            .map_err(|e| Error::InvalidConfig(format!("safetensors: {e}")))
    }

    /// Reads an int8 file's bytes (`path` names it in errors); every tensor's dtype and shape
    /// is checked against the architecture in the metadata.
    pub fn from_safetensors(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |message: String| Error::Format {
            path: path.to_path_buf(),
            message,
        };
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        if meta.get(QUANTIZATION_KEY).map(String::as_str) != Some(INT8_PER_CHANNEL) {
            return Err(bad(format!(
                "int8 tensors without {QUANTIZATION_KEY} = {INT8_PER_CHANNEL} in the metadata"
            )));
        }
        let sizes = meta
            .get(SIZES_KEY)
            .ok_or_else(|| bad(format!("an int8 file needs {SIZES_KEY} in its metadata")))?;
        let sizes: Vec<usize> = sizes
            .split(',')
            .map(|v| v.trim().parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad(format!("bad {SIZES_KEY} metadata {sizes:?}")))?;
        let activation = match meta.get(ACTIVATION_KEY).map(String::as_str) {
            None | Some("relu") => Activation::Relu,
            Some("identity") => Activation::Identity,
            Some(other) => return Err(bad(format!("unknown activation {other:?} in metadata"))),
        };
        let spec = MlpSpec { sizes, activation };
        spec.validate().map_err(|e| bad(e.to_string()))?;
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
        let tensor = |name: String, dtype: Dtype, shape: &[usize]| {
            let view = file
                .tensor(&name)
                .map_err(|_| bad(format!("tensor {name:?} is missing")))?;
            if view.dtype() != dtype || view.shape() != shape {
                return Err(bad(format!(
                    "tensor {name:?} is {:?} {:?}, expected {dtype:?} {shape:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
            Ok(view.data().to_vec())
        };
        let floats = |bytes: Vec<u8>| -> Vec<f32> {
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let mut layers = Vec::new();
        for (l, shape) in spec.layers().iter().enumerate() {
            let (out, inp) = (shape.outputs, shape.inputs);
            let levels = tensor(levels_name(l), Dtype::I8, &[out, inp])?;
            let levels: Vec<i8> = levels.into_iter().map(|b| b as i8).collect();
            if let Some(at) = levels.iter().position(|&q| q == i8::MIN) {
                return Err(bad(format!(
                    "{} holds level −128 at {at}; levels are −127..=127",
                    levels_name(l)
                )));
            }
            let scales = floats(tensor(scales_name(l), Dtype::F32, &[out])?);
            if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                return Err(bad(format!(
                    "{} holds scale {s}; scales are finite and positive",
                    scales_name(l)
                )));
            }
            let bias = floats(tensor(bias_name(l), Dtype::F32, &[out])?);
            check_finite(&format!("{} in {}", bias_name(l), path.display()), &bias)?;
            layers.push(Int8Layer {
                levels,
                scales,
                bias,
            });
        }
        if file.len() != 3 * layers.len() {
            return Err(bad(format!(
                "architecture {:?} has {} layers, the file holds {} tensors (3 per layer)",
                spec.sizes,
                layers.len(),
                file.len()
            )));
        }
        Ok(Self { spec, layers })
    }
}

/// Whether safetensors bytes hold an int8 model (its first layer's levels).
pub(crate) fn is_int8(metadata: &safetensors::tensor::Metadata) -> bool {
    metadata.info(&levels_name(0)).is_some()
}
