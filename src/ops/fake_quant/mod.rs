//! Int8 fake quantization for quantization-aware training: each dense layer's weights are
//! quantized per output row to 255 symmetric levels and dequantized again, `W_q = clamp(round(W
//! / s), −127, 127)·s` with `s = max|W[o, :]| / 127` (a zero row gets `s = 1`, all levels 0),
//! into a separate effective-parameter buffer that the step's forward and backward passes read
//! while the optimizer updates the master weights: the straight-through estimator (Bengio et
//! al. 2013; per-channel symmetric weights as in Jacob et al. 2018). The bias is copied
//! unchanged. One workgroup per output row reduces `max |w|` and writes the row.
//!
//! There is no finite-difference test: the quantizer is a step function, and the gradient the
//! step applies to `W` is the one taken at `W_q` (see [`mod@reference`]).

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};

/// Uniform block of `shaders/fake_quant.wgsl`: one dense layer.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct FakeQuantParams {
    pub inputs: u32,
    pub outputs: u32,
    pub weight_offset: u32,
    pub bias_offset: u32,
    /// Where the layer's row scales start in the scale buffer.
    pub scale_offset: u32,
    pub pad: [u32; 3],
}

/// The shader.
pub const SHADER: ShaderSource = shader_source! {
    name: "fake_quant",
    entry_point: "fake_quant",
    files: ["shaders/fake_quant.wgsl"],
    uniform_size: std::mem::size_of::<FakeQuantParams>(),
};

/// An offset or count as the kernel's `u32`, or an error naming it.
fn index(what: &str, value: usize) -> Result<u32> {
    u32::try_from(value).map_err(|_| {
        Error::InvalidConfig(format!(
            "{what} {value} does not fit the fake-quantization kernel's 32-bit indices"
        ))
    })
}

/// Where one dense layer's parameters sit in a flat parameter buffer (the MLP's layout: weight
/// `[outputs, inputs]` row-major at `weight_offset`, bias `[outputs]` at `bias_offset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseLayer {
    /// Input features (columns of the weight).
    pub inputs: usize,
    /// Output units (rows of the weight, one scale each).
    pub outputs: usize,
    /// Offset of the weight.
    pub weight_offset: usize,
    /// Offset of the bias.
    pub bias_offset: usize,
}

/// Row scales of every layer, layer after layer: one per output unit.
pub fn scale_count(layers: &[DenseLayer]) -> usize {
    layers.iter().map(|l| l.outputs).sum()
}

/// Checks that every layer lies inside `count` parameters, weight and bias apart, and that all
/// offsets fit the kernel's 32-bit indices.
pub fn check_layers(layers: &[DenseLayer], count: usize) -> Result<()> {
    index("parameter count", count)?;
    for (l, layer) in layers.iter().enumerate() {
        let weight_end = layer
            .inputs
            .checked_mul(layer.outputs)
            .and_then(|n| n.checked_add(layer.weight_offset));
        let bias_end = layer.bias_offset.checked_add(layer.outputs);
        let fits = matches!((weight_end, bias_end), (Some(w), Some(b))
            if w <= count && b <= count && (w <= layer.bias_offset || b <= layer.weight_offset));
        if !fits || layer.inputs == 0 || layer.outputs == 0 {
            return Err(Error::InvalidConfig(format!(
                "layer {l} {layer:?} does not lie inside {count} parameters with its weight and                  bias apart"
            )));
        }
    }
    Ok(())
}

/// One dispatch per layer: fake-quantizes `master`'s weights into `effective` (the
/// same layout; biases copied) and writes each row's scale into `scales`
/// ([`scale_count`] floats).
pub(crate) fn fake_quant_dispatches(
    ctx: &GpuContext,
    (layers, count): (&[DenseLayer], usize),
    master: &wgpu::Buffer,
    effective: &wgpu::Buffer,
    scales: &wgpu::Buffer,
) -> Result<Vec<Dispatch>> {
    check_layers(layers, count)?;
    let mut scale_offset = 0usize;
    let mut dispatches = Vec::new();
    for (l, layer) in layers.iter().enumerate() {
        let params = FakeQuantParams {
            inputs: index("layer inputs", layer.inputs)?,
            outputs: index("layer outputs", layer.outputs)?,
            weight_offset: index("weight offset", layer.weight_offset)?,
            bias_offset: index("bias offset", layer.bias_offset)?,
            scale_offset: index("scale offset", scale_offset)?,
            pad: [0; 3],
        };
        let what = format!("layer {l} fake quant");
        let uniform = ctx.uniform_buffer(&format!("{what} params"), &params)?;
        dispatches.push(Dispatch::new(
            ctx,
            &what,
            ctx.pipeline(&SHADER)?,
            &[&uniform, master, effective, scales],
            ctx.grid(&what, layer.outputs)?,
        )?);
        scale_offset += layer.outputs;
    }
    Ok(dispatches)
}

/// Uploads flat parameters laid out as `layers` say and prepares their fake quantization; outputs: the
/// effective parameters (0) and the row scales (1), NaN-filled before the run.
pub fn prepare_fake_quant(
    ctx: &GpuContext,
    layers: &[DenseLayer],
    params: &[f32],
) -> Result<PreparedKernel> {
    check_layers(layers, params.len())?;
    let master = ctx.upload("fake-quant master parameters", params)?;
    let effective = ctx.nan_buffer("fake-quant effective parameters", params.len())?;
    let rows = scale_count(layers);
    let scales = ctx.nan_buffer("fake-quant row scales", rows)?;
    let dispatches =
        fake_quant_dispatches(ctx, (layers, params.len()), &master, &effective, &scales)?;
    Ok(PreparedKernel::new(
        dispatches,
        vec![
            Output::new("fake-quant effective parameters", effective, params.len()),
            Output::new("fake-quant row scales", scales, rows),
        ],
        vec![master],
    ))
}

/// Fake-quantizes flat parameters laid out as `layers` say on the GPU: the effective parameters and every
/// layer's row scales.
#[maybe_async]
pub async fn fake_quant(
    ctx: &GpuContext,
    layers: &[DenseLayer],
    params: &[f32],
) -> Result<(Vec<f32>, Vec<f32>)> {
    let prepared = prepare_fake_quant(ctx, layers, params)?;
    prepared.run(ctx, 1)?;
    let effective = prepared.output(ctx, 0).await?;
    let scales = prepared.output(ctx, 1).await?;
    Ok((effective, scales))
}
