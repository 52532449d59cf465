//! The GPU MLP: parameters in one flat buffer, and the forward plan (one fused matmul per
//! layer: bias and ReLU in the epilogue).

use crate::error::{check_finite, check_len, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::GpuContext;
use crate::model::spec::{Activation, MlpSpec};
use crate::ops::matmul::{self, matmul_dispatch, MatmulSpec};
use maybe_async::maybe_async;

/// An MLP whose parameters live on the GPU in one flat buffer (layout: [`MlpSpec::layers`]).
#[derive(Debug)]
pub struct Mlp {
    spec: MlpSpec,
    params: wgpu::Buffer,
}

impl Mlp {
    /// A new MLP with seeded PyTorch-style initialisation.
    pub fn new(ctx: &GpuContext, spec: &MlpSpec, seed: u64) -> Result<Self> {
        spec.validate()?;
        // The validated byte size is checked against the adapter before the host-side initial
        // values are allocated, so an absurd width never sizes a host vector.
        ctx.check_buffer_size("MLP parameters", spec.parameter_bytes())?;
        Self::from_parameters(ctx, spec, &spec.init_parameters(seed))
    }

    /// An MLP with the given flat parameters.
    pub fn from_parameters(ctx: &GpuContext, spec: &MlpSpec, params: &[f32]) -> Result<Self> {
        spec.validate()?;
        check_len("MLP parameters", spec.parameter_count(), params.len())?;
        check_finite("MLP parameters", params)?;
        let buffer = ctx.storage_buffer(
            "mlp parameters",
            params.len(),
            Some(bytemuck::cast_slice(params)),
        )?;
        Ok(Self {
            spec: spec.clone(),
            params: buffer,
        })
    }

    /// A copy of this model, made on the GPU (queued before the next submit; nothing is read
    /// back).
    pub fn duplicate(&self, ctx: &GpuContext) -> Result<Self> {
        let count = self.spec.parameter_count();
        let params = ctx.storage_buffer("mlp parameters", count, None)?;
        ctx.submit("copying MLP parameters", |encoder| {
            encoder.copy_buffer_to_buffer(&self.params, 0, &params, 0, self.spec.parameter_bytes());
        })?;
        Ok(Self {
            spec: self.spec.clone(),
            params,
        })
    }

    pub(crate) fn params_buffer(&self) -> &wgpu::Buffer {
        &self.params
    }

    /// The architecture.
    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// Reads the flat parameters back.
    #[maybe_async]
    pub async fn parameters(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        ctx.read_back(
            "MLP parameters",
            &self.params,
            0,
            self.spec.parameter_count(),
        )
        .await
    }

    /// Logits `[rows, classes]` for `inputs` `[rows, inputs]`.
    #[maybe_async]
    pub async fn logits(&self, ctx: &GpuContext, inputs: &[f32], rows: usize) -> Result<Vec<f32>> {
        if rows == 0 {
            return Err(Error::EmptyBatch);
        }
        check_len(
            "MLP inputs",
            elements(rows, self.spec.inputs())?,
            inputs.len(),
        )?;
        check_finite("MLP inputs", inputs)?;
        let input = ctx.storage_buffer(
            "mlp inputs",
            inputs.len(),
            Some(bytemuck::cast_slice(inputs)),
        )?;
        let plan = ForwardPlan::new(ctx, &self.spec, &self.params, &input, rows, "forward")?;
        ctx.run("MLP forward", &plan.dispatches)?;
        let logits = elements(rows, self.spec.classes())?;
        ctx.read_back("MLP logits", plan.logits(), 0, logits).await
    }
}

/// `rows × width` elements, or an error naming the overflow (`rows` comes from flags).
fn elements(rows: usize, width: usize) -> Result<usize> {
    rows.checked_mul(width).ok_or_else(|| {
        Error::InvalidConfig(format!(
            "{rows} rows of width {width} overflow the element count"
        ))
    })
}

/// Forward dispatches of an MLP over a fixed input buffer, with one output buffer per layer.
#[derive(Debug)]
pub(crate) struct ForwardPlan {
    pub outputs: Vec<wgpu::Buffer>,
    pub dispatches: Vec<Dispatch>,
}

impl ForwardPlan {
    /// Forward dispatches of `spec` over `rows` rows of `input`, reading `params`.
    pub fn new(
        ctx: &GpuContext,
        spec: &MlpSpec,
        params: &wgpu::Buffer,
        input: &wgpu::Buffer,
        rows: usize,
        label: &str,
    ) -> Result<Self> {
        let mut outputs: Vec<wgpu::Buffer> = Vec::new();
        let mut dispatches = Vec::new();
        for (l, layer) in spec.layers().iter().enumerate() {
            let out = ctx.storage_buffer(
                &format!("{label} layer {l} output"),
                elements(rows, layer.outputs)?,
                None,
            )?;
            let relu = spec.activation_after(l) == Activation::Relu;
            let mm = MatmulSpec::forward(
                rows,
                layer.inputs,
                layer.outputs,
                layer.weight_offset,
                layer.bias_offset,
                relu,
            );
            let variant = matmul::choose(ctx, &mm);
            let x = outputs.last().unwrap_or(input);
            dispatches.push(matmul_dispatch(
                ctx,
                &format!("{label} layer {l} ({})", variant.name()),
                variant,
                &mm,
                x,
                params,
                params,
                &out,
            )?);
            outputs.push(out);
        }
        Ok(Self {
            outputs,
            dispatches,
        })
    }

    /// The last layer's output buffer.
    pub fn logits(&self) -> &wgpu::Buffer {
        // A validated spec has at least one layer.
        &self.outputs[self.outputs.len() - 1]
    }
}
