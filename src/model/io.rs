//! Saving and loading MLPs as safetensors, in the layout PyTorch writes for
//! `nn.Sequential(nn.Linear, nn.ReLU, nn.Linear, …)`: layer `l` is `{2l}.weight` `[out, in]` and
//! `{2l}.bias` `[out]`, f32. The architecture goes in the metadata (`distill_wgpu.sizes`,
//! `distill_wgpu.activation`); files without it (e.g. from PyTorch) are read from the shapes.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::model::spec::{Activation, MlpSpec};

const SIZES_KEY: &str = "distill_wgpu.sizes";
const ACTIVATION_KEY: &str = "distill_wgpu.activation";

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Tensor name of layer `l`'s weight in `nn.Sequential` numbering (Linear, activation, …).
pub fn weight_name(layer: usize) -> String {
    format!("{}.weight", 2 * layer)
}

/// Tensor name of layer `l`'s bias.
pub fn bias_name(layer: usize) -> String {
    format!("{}.bias", 2 * layer)
}

/// Serialises flat parameters of `spec` to safetensors bytes, with `extra` metadata.
pub fn to_safetensors(spec: &MlpSpec, params: &[f32], extra: &[(&str, String)]) -> Result<Vec<u8>> {
    crate::error::check_len("MLP parameters", spec.parameter_count(), params.len())?;
    let bytes: &[u8] = bytemuck::cast_slice(params);
    let mut tensors = Vec::new();
    for (l, layer) in spec.layers().iter().enumerate() {
        let w = &bytes[layer.weight_offset * 4..layer.bias_offset * 4];
        let b = &bytes[layer.bias_offset * 4..(layer.bias_offset + layer.outputs) * 4];
        let view = |shape: Vec<usize>, data| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape, data)
                .map_err(|e| Error::InvalidConfig(format!("safetensors view: {e}")))
        };
        tensors.push((weight_name(l), view(vec![layer.outputs, layer.inputs], w)?));
        tensors.push((bias_name(l), view(vec![layer.outputs], b)?));
    }
    let mut metadata: HashMap<String, String> = HashMap::new();
    metadata.insert("format".into(), "pt".into());
    metadata.insert(
        SIZES_KEY.into(),
        spec.sizes
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    metadata.insert(
        ACTIVATION_KEY.into(),
        match spec.activation {
            Activation::Relu => "relu",
            Activation::Identity => "identity",
        }
        .into(),
    );
    for (k, v) in extra {
        metadata.insert((*k).to_string(), v.clone());
    }
    safetensors::serialize(tensors, Some(metadata))
        .map_err(|e| Error::InvalidConfig(format!("safetensors: {e}")))
}

/// Writes a model file atomically (temporary file, then rename), so an interrupted save never
/// leaves a partial file under the final name or destroys an earlier one.
pub fn save(path: &Path, spec: &MlpSpec, params: &[f32], extra: &[(&str, String)]) -> Result<()> {
    let bytes = to_safetensors(spec, params, extra)?;
    crate::files::write_atomic(path, &bytes)
}

/// Reads a model file: its architecture and flat parameters.
pub fn load(path: &Path) -> Result<(MlpSpec, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_safetensors(path, &bytes)
}

/// Parses safetensors bytes (`path` names the source in errors).
pub fn from_safetensors(path: &Path, bytes: &[u8]) -> Result<(MlpSpec, Vec<f32>)> {
    let (_, metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format_error(path, format!("not a readable safetensors file: {e}")))?;
    let tensors = SafeTensors::deserialize(bytes)
        .map_err(|e| format_error(path, format!("not a readable safetensors file: {e}")))?;
    let meta = metadata.metadata().clone().unwrap_or_default();
    let activation = match meta.get(ACTIVATION_KEY).map(String::as_str) {
        None | Some("relu") => Activation::Relu,
        Some("identity") => Activation::Identity,
        Some(other) => {
            return Err(format_error(
                path,
                format!("unknown activation {other:?} in metadata"),
            ))
        }
    };
    // Layers from the weight names present: 0.weight, 2.weight, … must be contiguous.
    let mut layer_count = 0;
    while tensors.names().contains(&weight_name(layer_count).as_str()) {
        layer_count += 1;
    }
    if layer_count == 0 {
        return Err(format_error(
            path,
            "tensor \"0.weight\" is missing (expected nn.Sequential Linear layers)",
        ));
    }
    let sizes: Vec<usize> = match meta.get(SIZES_KEY) {
        Some(s) => s
            .split(',')
            .map(|v| v.trim().parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| format_error(path, format!("bad {SIZES_KEY} metadata {s:?}")))?,
        None => {
            let mut sizes = Vec::new();
            for l in 0..layer_count {
                let shape = tensor_shape(path, &tensors, &weight_name(l))?;
                if shape.len() != 2 {
                    return Err(format_error(
                        path,
                        format!(
                            "tensor {:?} has shape {shape:?}, expected [out, in]",
                            weight_name(l)
                        ),
                    ));
                }
                if l == 0 {
                    sizes.push(shape[1]);
                }
                sizes.push(shape[0]);
            }
            sizes
        }
    };
    let spec = MlpSpec { sizes, activation };
    spec.validate()
        .map_err(|e| format_error(path, e.to_string()))?;
    if spec.sizes.len() - 1 != layer_count {
        return Err(format_error(
            path,
            format!(
                "architecture {:?} has {} layers, file has {layer_count} weights",
                spec.sizes,
                spec.sizes.len() - 1
            ),
        ));
    }
    let mut params = vec![0.0f32; spec.parameter_count()];
    for (l, layer) in spec.layers().iter().enumerate() {
        let w = read_f32(
            path,
            &tensors,
            &weight_name(l),
            &[layer.outputs, layer.inputs],
        )?;
        params[layer.weight_offset..layer.bias_offset].copy_from_slice(&w);
        let b = read_f32(path, &tensors, &bias_name(l), &[layer.outputs])?;
        params[layer.bias_offset..layer.bias_offset + layer.outputs].copy_from_slice(&b);
    }
    crate::error::check_finite(&format!("parameters in {}", path.display()), &params)?;
    Ok((spec, params))
}

fn tensor_shape(path: &Path, tensors: &SafeTensors<'_>, name: &str) -> Result<Vec<usize>> {
    tensors
        .tensor(name)
        .map(|t| t.shape().to_vec())
        .map_err(|_| format_error(path, format!("tensor {name:?} is missing")))
}

fn read_f32(
    path: &Path,
    tensors: &SafeTensors<'_>,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>> {
    let t = tensors
        .tensor(name)
        .map_err(|_| format_error(path, format!("tensor {name:?} is missing")))?;
    if t.dtype() != Dtype::F32 {
        return Err(format_error(
            path,
            format!("tensor {name:?} has dtype {:?}, expected F32", t.dtype()),
        ));
    }
    if t.shape() != shape {
        return Err(format_error(
            path,
            format!(
                "tensor {name:?} has shape {:?}, expected {shape:?}",
                t.shape()
            ),
        ));
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}
