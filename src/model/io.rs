//! Saving and loading MLPs as safetensors, in the layout PyTorch writes for
//! `nn.Sequential(nn.Linear, nn.ReLU, nn.Linear, …)`: layer `l` is `{2l}.weight` `[out, in]` and
//! `{2l}.bias` `[out]`, f32 (or f16, [`WeightPrecision`]; bf16 files are read too; int8 files of
//! [`crate::model::int8`] are dequantized on load). The architecture goes in the metadata (`distill_wgpu.sizes`,
//! `distill_wgpu.activation`); files without it (e.g. from PyTorch) are read from the shapes.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
#[cfg(not(target_arch = "wasm32"))]
use crate::files::read_regular;
use crate::model::spec::{Activation, MlpSpec};

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

pub use crate::model::names::{bias_name, weight_name};
use crate::model::names::{ACTIVATION_KEY, SIZES_KEY};

/// The precision a model file stores its weights in. Training always runs in f32; f16 halves
/// a file (the bundled teacher ships so), each weight rounded to the nearest f16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightPrecision {
    /// 4 bytes a weight, exactly what was trained.
    #[default]
    F32,
    /// 2 bytes a weight, rounded to nearest; weights past ±65504 are refused.
    F16,
}

/// Serialises flat parameters of `spec` to safetensors bytes (f32), with `extra` metadata;
/// refuses NaN or infinite weights.
pub fn to_safetensors(spec: &MlpSpec, params: &[f32], extra: &[(&str, String)]) -> Result<Vec<u8>> {
    to_safetensors_as(spec, params, extra, WeightPrecision::F32)
}

/// [`to_safetensors`] with the weights stored in `precision`.
pub fn to_safetensors_as(
    spec: &MlpSpec,
    params: &[f32],
    extra: &[(&str, String)],
    precision: WeightPrecision,
) -> Result<Vec<u8>> {
    crate::error::check_len("MLP parameters", spec.parameter_count(), params.len())?;
    // A model file never holds NaN or infinite weights.
    crate::error::check_finite("MLP parameters", params)?;
    let (dtype, width, stored): (Dtype, usize, Vec<u8>) = match precision {
        WeightPrecision::F32 => (Dtype::F32, 4, bytemuck::cast_slice(params).to_vec()),
        WeightPrecision::F16 => (
            Dtype::F16,
            2,
            bytemuck::cast_slice(&halves(params)?).to_vec(),
        ),
    };
    let bytes = &stored[..];
    let mut tensors = Vec::new();
    for (l, layer) in spec.layers().iter().enumerate() {
        let w = &bytes[layer.weight_offset * width..layer.bias_offset * width];
        let b = &bytes[layer.bias_offset * width..(layer.bias_offset + layer.outputs) * width];
        let view = |shape: Vec<usize>, data| {
            safetensors::tensor::TensorView::new(dtype, shape, data)
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

/// `params` as a file in `precision` holds them: f16 rounds each to nearest (and refuses one
/// past ±65504); f32 keeps them.
pub fn round_to(params: &[f32], precision: WeightPrecision) -> Result<Vec<f32>> {
    match precision {
        WeightPrecision::F32 => Ok(params.to_vec()),
        WeightPrecision::F16 => halves(params).map(|h| h.iter().map(|v| v.to_f32()).collect()),
    }
}

/// Each parameter rounded to the nearest f16, refusing one that f16 cannot hold.
fn halves(params: &[f32]) -> Result<Vec<half::f16>> {
    let halves: Vec<half::f16> = params.iter().map(|&v| half::f16::from_f32(v)).collect();
    if let Some(at) = halves.iter().position(|h| h.is_infinite()) {
        return Err(Error::InvalidConfig(format!(
            "parameter {at} is {}, past the largest float16 (65504)",
            params[at]
        )));
    }
    Ok(halves)
}

#[cfg(not(target_arch = "wasm32"))]
/// Writes a model file atomically (temporary file, then rename), so an interrupted save never
/// leaves a partial file under the final name or destroys an earlier one.
pub fn save(path: &Path, spec: &MlpSpec, params: &[f32], extra: &[(&str, String)]) -> Result<()> {
    save_as(path, spec, params, extra, WeightPrecision::F32)
}

#[cfg(not(target_arch = "wasm32"))]
/// [`save`] with the weights stored in `precision`.
pub fn save_as(
    path: &Path,
    spec: &MlpSpec,
    params: &[f32],
    extra: &[(&str, String)],
    precision: WeightPrecision,
) -> Result<()> {
    let bytes = to_safetensors_as(spec, params, extra, precision)?;
    crate::files::write_atomic(path, &bytes)
}

/// Model files larger than this are refused before reading. The parameters live in one
/// storage binding, which Vulkan caps at 4 GiB (its range limit is 32-bit); twice that leaves
/// room for any other backend without reading absurd files.
pub const MAX_MODEL_FILE_BYTES: u64 = 8 << 30;

/// A model file read whole: architecture, flat parameters and metadata.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// The architecture.
    pub spec: MlpSpec,
    /// Flat parameters (layout of [`MlpSpec::layers`]).
    pub params: Vec<f32>,
    /// The file's metadata (architecture keys, known classes, KD settings, …).
    pub metadata: HashMap<String, String>,
}

#[cfg(not(target_arch = "wasm32"))]
/// Reads a model file with its metadata (same checks as [`load`]).
pub fn load_file(path: &Path) -> Result<ModelFile> {
    let bytes = read_regular(path, MAX_MODEL_FILE_BYTES, "a model file")?;
    let (spec, params) = from_safetensors(path, &bytes)?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| format_error(path, format!("not a readable safetensors file: {e}")))?;
    Ok(ModelFile {
        spec,
        params,
        metadata: header.metadata().clone().unwrap_or_default(),
    })
}

#[cfg(not(target_arch = "wasm32"))]
/// Reads a model file: its architecture and flat parameters.
///
/// Only regular files are opened: a FIFO or device would block or never end, a directory
/// is not a model. Sizes past [`MAX_MODEL_FILE_BYTES`] are refused before reading.
pub fn load(path: &Path) -> Result<(MlpSpec, Vec<f32>)> {
    let bytes = read_regular(path, MAX_MODEL_FILE_BYTES, "a model file")?;
    from_safetensors(path, &bytes)
}

/// Parses safetensors bytes (`path` names the source in errors).
///
/// The architecture (from the metadata, or from the weight shapes when there is none) is
/// checked against the tensors actually present (dtype, shape, byte length) before anything
/// is allocated, so the parameter vector never holds more than the file does.
pub fn from_safetensors(path: &Path, bytes: &[u8]) -> Result<(MlpSpec, Vec<f32>)> {
    let (header_len, metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format_error(path, format!("not a readable safetensors file: {e}")))?;
    // read_metadata checked that the length prefix, header and data span the buffer exactly.
    let data = header_len
        .checked_add(8)
        .and_then(|start| bytes.get(start..))
        .unwrap_or_default();
    let file = Tensors {
        path,
        metadata: &metadata,
        data,
    };
    if crate::model::int8::is_int8(&metadata) {
        let model = crate::model::int8::Int8Model::from_safetensors(path, bytes)?;
        return Ok((model.spec.clone(), model.dequantized()));
    }
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
    // Layers from the weight names present: 0.weight, 2.weight, … must be contiguous. Each
    // lookup is a hash lookup, so a header with many names costs linear time.
    let mut layer_count = 0;
    while metadata.info(&weight_name(layer_count)).is_some() {
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
                let shape = file.shape(&weight_name(l))?;
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
    // Every tensor is checked before the parameter vector is allocated.
    let mut views = Vec::with_capacity(2 * layer_count);
    for (l, layer) in spec.layers().iter().enumerate() {
        views.push(file.tensor_data(&weight_name(l), &[layer.outputs, layer.inputs])?);
        views.push(file.tensor_data(&bias_name(l), &[layer.outputs])?);
    }
    let count = spec.parameter_count();
    let held: usize = views
        .iter()
        .map(|(dtype, v)| v.len() / stored_bytes(*dtype))
        .sum();
    if held != count || count > data.len() / 2 {
        return Err(format_error(
            path,
            format!(
                "architecture {:?} needs {count} parameters, the file's tensors hold {held}",
                spec.sizes
            ),
        ));
    }
    let mut params = Vec::with_capacity(count);
    for (dtype, view) in views {
        match dtype {
            Dtype::F16 => params.extend(
                view.chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()),
            ),
            Dtype::BF16 => params.extend(
                view.chunks_exact(2)
                    .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()),
            ),
            _ => params.extend(
                view.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
        }
    }
    crate::error::check_finite(&format!("parameters in {}", path.display()), &params)?;
    Ok((spec, params))
}

/// Bytes one element of a float dtype this reader accepts takes.
fn stored_bytes(dtype: Dtype) -> usize {
    dtype.bitsize() / 8
}

/// The tensors of one safetensors file: its parsed header and data section.
struct Tensors<'a> {
    path: &'a Path,
    metadata: &'a Metadata,
    data: &'a [u8],
}

impl<'a> Tensors<'a> {
    fn info(&self, name: &str) -> Result<&'a TensorInfo> {
        self.metadata
            .info(name)
            .ok_or_else(|| format_error(self.path, format!("tensor {name:?} is missing")))
    }

    fn shape(&self, name: &str) -> Result<&'a [usize]> {
        Ok(&self.info(name)?.shape)
    }

    /// The dtype and bytes of float tensor `name` (F32, F16 or BF16), checked to have exactly
    /// `shape` and its byte length.
    fn tensor_data(&self, name: &str, shape: &[usize]) -> Result<(Dtype, &'a [u8])> {
        let info = self.info(name)?;
        if !matches!(info.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            return Err(format_error(
                self.path,
                format!(
                    "tensor {name:?} has dtype {:?}, expected F32, F16 or BF16",
                    info.dtype
                ),
            ));
        }
        if info.shape != shape {
            return Err(format_error(
                self.path,
                format!(
                    "tensor {name:?} has shape {:?}, expected {shape:?}",
                    info.shape
                ),
            ));
        }
        let (start, end) = info.data_offsets;
        let expected = shape
            .iter()
            .try_fold(stored_bytes(info.dtype), |acc, &d| acc.checked_mul(d));
        match self.data.get(start..end) {
            Some(bytes) if Some(bytes.len()) == expected => Ok((info.dtype, bytes)),
            _ => Err(format_error(
                self.path,
                format!(
                    "tensor {name:?} data {start}..{end} does not hold its {shape:?} {:?}s",
                    info.dtype
                ),
            )),
        }
    }
}
