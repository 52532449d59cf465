//! Every WGSL shader of the crate, in one list that host code and tests share.

/// Tiled matmul (also holds the matmul interface the generated kernels reuse).
pub const MATMUL_TILED_WGSL: &str = include_str!("../shaders/matmul_tiled.wgsl");
/// Row-wise temperature softmax / log-softmax.
pub const SOFTMAX_WGSL: &str = include_str!("../shaders/softmax.wgsl");
/// Fused KD loss rows and gradient.
pub const KD_LOSS_WGSL: &str = include_str!("../shaders/kd_loss.wgsl");
/// Deterministic batch-loss reduction.
pub const REDUCE_LOSS_WGSL: &str = include_str!("../shaders/reduce_loss.wgsl");
/// Bias gradient (column sums).
pub const BIAS_GRAD_WGSL: &str = include_str!("../shaders/bias_grad.wgsl");
/// SGD with momentum.
pub const SGD_WGSL: &str = include_str!("../shaders/sgd.wgsl");
/// AdamW.
pub const ADAMW_WGSL: &str = include_str!("../shaders/adamw.wgsl");
/// Inverted dropout in place.
pub const DROPOUT_WGSL: &str = include_str!("../shaders/dropout.wgsl");
/// Argmax-vs-label error count.
pub const COUNT_ERRORS_WGSL: &str = include_str!("../shaders/count_errors.wgsl");
/// Mini-batch gather from a device-resident u8 data set.
pub const GATHER_WGSL: &str = include_str!("../shaders/gather.wgsl");

/// A shader file: its name, entry point and source.
#[derive(Debug, Clone, Copy)]
pub struct ShaderSource {
    /// File stem, used in labels.
    pub name: &'static str,
    /// The compute entry point.
    pub entry_point: &'static str,
    /// WGSL text.
    pub source: &'static str,
}

/// Every hand-written shader file. Generated matmul variants come from
/// [`crate::matmul::MatmulVariant::source`].
pub const SHADERS: &[ShaderSource] = &[
    ShaderSource {
        name: "matmul_tiled",
        entry_point: "matmul",
        source: MATMUL_TILED_WGSL,
    },
    ShaderSource {
        name: "softmax",
        entry_point: "softmax_rows",
        source: SOFTMAX_WGSL,
    },
    ShaderSource {
        name: "kd_loss",
        entry_point: "kd_loss_rows",
        source: KD_LOSS_WGSL,
    },
    ShaderSource {
        name: "reduce_loss",
        entry_point: "reduce_loss",
        source: REDUCE_LOSS_WGSL,
    },
    ShaderSource {
        name: "bias_grad",
        entry_point: "bias_grad",
        source: BIAS_GRAD_WGSL,
    },
    ShaderSource {
        name: "sgd",
        entry_point: "sgd_step",
        source: SGD_WGSL,
    },
    ShaderSource {
        name: "adamw",
        entry_point: "adamw_step",
        source: ADAMW_WGSL,
    },
    ShaderSource {
        name: "dropout",
        entry_point: "dropout",
        source: DROPOUT_WGSL,
    },
    ShaderSource {
        name: "count_errors",
        entry_point: "count_errors",
        source: COUNT_ERRORS_WGSL,
    },
    ShaderSource {
        name: "gather",
        entry_point: "gather_batch",
        source: GATHER_WGSL,
    },
];

/// Translates WGSL to SPIR-V, MSL, HLSL and GLSL with naga (overrides resolved), proving the
/// shader is portable to Vulkan, Metal, DX12 and GL. Returns the byte sizes of the four outputs.
pub fn translate_all(
    name: &str,
    source: &str,
    entry_point: &str,
    overrides: &[(&str, f64)],
) -> crate::Result<[usize; 4]> {
    use naga::back;
    let fail = |stage: &str, e: String| crate::Error::Shader {
        shader: name.to_string(),
        message: format!("{stage}: {e}"),
    };
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| fail("parse", e.emit_to_string(source)))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .map_err(|e| fail("validate", e.emit_to_string(source)))?;
    let mut constants = back::PipelineConstants::default();
    for (key, value) in overrides {
        constants.insert((*key).to_string(), *value);
    }
    let (module, info) = back::pipeline_constants::process_overrides(
        &module,
        &info,
        Some((naga::ShaderStage::Compute, entry_point)),
        &constants,
    )
    .map_err(|e| fail("overrides", e.to_string()))?;

    let spirv = back::spv::write_vec(
        &module,
        &info,
        &back::spv::Options::default(),
        Some(&back::spv::PipelineOptions {
            shader_stage: naga::ShaderStage::Compute,
            entry_point: entry_point.to_string(),
        }),
    )
    .map_err(|e| fail("spir-v", e.to_string()))?;

    let msl_pipeline = back::msl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, entry_point.to_string())),
        ..Default::default()
    };
    let (msl, _) = back::msl::write_string(
        &module,
        &info,
        &back::msl::Options::default(),
        &msl_pipeline,
    )
    .map_err(|e| fail("msl", e.to_string()))?;

    let hlsl_options = back::hlsl::Options::default();
    let hlsl_pipeline = back::hlsl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, entry_point.to_string())),
    };
    let mut hlsl = String::new();
    back::hlsl::Writer::new(&mut hlsl, &hlsl_options, &hlsl_pipeline)
        .write(&module, &info, None)
        .map_err(|e| fail("hlsl", e.to_string()))?;

    let glsl_options = back::glsl::Options {
        version: back::glsl::Version::Embedded {
            version: 310,
            is_webgl: false,
        },
        ..Default::default()
    };
    let glsl_pipeline = back::glsl::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: entry_point.to_string(),
        multiview: None,
    };
    let mut glsl = String::new();
    back::glsl::Writer::new(
        &mut glsl,
        &module,
        &info,
        &glsl_options,
        &glsl_pipeline,
        naga::proc::BoundsCheckPolicies::default(),
    )
    .and_then(|mut w| w.write())
    .map_err(|e| fail("glsl", e.to_string()))?;

    Ok([spirv.len() * 4, msl.len(), hlsl.len(), glsl.len()])
}
