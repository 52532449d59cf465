//! The matmul family: one strided product `C[M,N] = A[M,K]·B[K,N]` with a fused epilogue that
//! serves the forward pass (`X·Wᵀ`), the input gradient (`dY·W`) and the weight gradient
//! (`dYᵀ·X`) without transpose copies, in two designs chosen per adapter: workgroup-memory
//! tiles (`shaders/matmul/tiled.wgsl`) for GPUs and generated unrolled kernels (`codegen`, WGSL
//! built as text, no file) for CPU adapters.

use maybe_async::maybe_async;
pub mod check;
pub mod choice;
pub mod codegen;
pub mod layout;
pub mod reference;
pub mod shuffle;
pub mod spec;
pub mod tune;
pub mod variant;

pub use choice::{candidates, choose_variant, AdapterShape};
pub use codegen::{
    generate_unrolled_dot4_matmul, generate_unrolled_matmul, generate_unrolled_vec4_matmul,
};
pub use layout::{LayoutTile, ProductLayout};
pub use shuffle::{generate_shuffle_matmul, ShuffleB, ShuffleBlock, SHUFFLE_LANES};
pub use spec::{Epilogue, MatmulSpec, Strided};
pub use variant::{
    MatmulVariant, TILED_CONFIGS, UNROLLED_CONFIGS, UNROLLED_DOT4_CONFIGS, UNROLLED_VEC4_CONFIGS,
};

use crate::error::{Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::prepared::Output;
use crate::gpu::{GpuContext, PreparedKernel, ShaderSource};

/// The tiled kernel (`shaders/matmul/tiled.wgsl`); it also holds the matmul interface the
/// generated kernels reuse.
pub const TILED_WGSL: &str = TILED.source;

/// Lanes per workgroup of the generated CPU-adapter kernels: llvmpipe vectorises x over 8 lanes.
pub const UNROLLED_LANES: usize = 8;

/// Byte size of the uniform block every matmul kernel reads.
pub const UNIFORM_SIZE: usize = std::mem::size_of::<spec::MatmulParams>();

/// The tiled shader file (its overrides default to 16×16).
pub const TILED: ShaderSource = shader_source! {
    name: "matmul_tiled",
    entry_point: "matmul",
    files: ["shaders/matmul/tiled.wgsl"],
    uniform_size: UNIFORM_SIZE,
};

/// What the choice of a matmul variant depends on about `ctx`'s adapter.
pub fn adapter_shape(ctx: &GpuContext) -> AdapterShape {
    AdapterShape {
        family: ctx.matmul_family(),
        shuffle_lanes: ctx.subgroup_lanes(),
        min_workgroups: ctx.min_matmul_workgroups(),
    }
}

/// The variant `ctx` uses for `spec`: by the cost model, or measured and cached when the
/// context was opened with [`MatmulTuning::Measure`](crate::gpu::MatmulTuning::Measure).
pub fn choose(ctx: &GpuContext, spec: &MatmulSpec) -> MatmulVariant {
    tune::choose_tuned(ctx, &adapter_shape(ctx), spec)
}

/// The pipeline of a matmul variant, compiled on first use and cached.
fn pipeline(ctx: &GpuContext, variant: MatmulVariant) -> Result<wgpu::ComputePipeline> {
    if let MatmulVariant::Tiled { wg_x, wg_y } = variant {
        if wg_x == 0 || wg_y == 0 || wg_x > 16 || wg_y > 16 {
            return Err(Error::InvalidConfig(format!(
                "tiled matmul workgroup {wg_x}x{wg_y}: each side must be in 1..=16"
            )));
        }
    }
    ctx.pipeline_with(
        &format!("matmul {}", variant.name()),
        "matmul",
        &variant.overrides(),
        || variant.source().0,
    )
}

/// Builds a matmul dispatch over existing buffers.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_dispatch(
    ctx: &GpuContext,
    label: &str,
    variant: MatmulVariant,
    spec: &MatmulSpec,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    aux: &wgpu::Buffer,
    c: &wgpu::Buffer,
) -> Result<Dispatch> {
    let pipeline = pipeline(ctx, variant)?;
    let (x, y) = variant.workgroups(spec.m, spec.n);
    let groups = ctx.check_grid(label, x, y)?;
    let uniform = ctx.uniform_buffer(label, &spec.params())?;
    Dispatch::new(ctx, label, pipeline, &[&uniform, a, b, aux, c], groups)
}

/// Uploads the operands of a matmul and prepares its dispatch; C is pre-filled with NaN.
pub fn prepare_matmul(
    ctx: &GpuContext,
    variant: MatmulVariant,
    spec: &MatmulSpec,
    a: &[f32],
    b: &[f32],
    aux: &[f32],
) -> Result<PreparedKernel> {
    if spec.m == 0 || spec.n == 0 || spec.k == 0 {
        return Err(Error::InvalidConfig(format!(
            "matmul needs non-zero M, N, K, got {}x{}x{}",
            spec.m, spec.n, spec.k
        )));
    }
    if !variant.supports(spec) {
        return Err(Error::InvalidConfig(format!(
            "matmul variant {} does not apply to this product (its vec4 loads need the \
             operand contiguous along them, aligned to 4 elements); choose one whose \
             `supports` accepts it",
            variant.name()
        )));
    }
    // Operands may be larger than the strided view reads (e.g. a whole parameter buffer).
    let at_least = |what: &str, needed: usize, got: usize| {
        if got < needed {
            Err(Error::ShapeMismatch {
                what: format!("{what} (at least)"),
                expected: needed,
                got,
            })
        } else {
            Ok(())
        }
    };
    at_least("matmul A", spec.a_len(), a.len())?;
    at_least("matmul B", spec.b_len(), b.len())?;
    if spec.epilogue != Epilogue::Store {
        at_least("matmul aux", spec.aux_len(), aux.len())?;
    }
    let a_buf = ctx.upload("matmul A", a)?;
    let b_buf = ctx.upload("matmul B", b)?;
    let aux_buf = if aux.is_empty() {
        ctx.upload("matmul aux", &[0.0f32])?
    } else {
        ctx.upload("matmul aux", aux)?
    };
    let c_buf = ctx.nan_buffer("matmul C", spec.c_len())?;
    let dispatch = matmul_dispatch(
        ctx,
        &format!("matmul {}", variant.name()),
        variant,
        spec,
        &a_buf,
        &b_buf,
        &aux_buf,
        &c_buf,
    )?;
    let output = Output {
        name: "matmul C",
        buffer: c_buf,
        offset: spec.c_offset,
        len: spec.m * spec.n,
    };
    Ok(PreparedKernel::new(
        vec![dispatch],
        vec![output],
        vec![a_buf, b_buf, aux_buf],
    ))
}

/// Runs one matmul and returns the `m × n` result.
#[maybe_async]
pub async fn matmul(
    ctx: &GpuContext,
    variant: MatmulVariant,
    spec: &MatmulSpec,
    a: &[f32],
    b: &[f32],
    aux: &[f32],
) -> Result<Vec<f32>> {
    prepare_matmul(ctx, variant, spec, a, b, aux)?
        .run_once(ctx, 0)
        .await
}
