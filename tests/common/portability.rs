//! Portability checks with naga (a dev-dependency: only the tests translate shaders): every
//! shader translates to the languages of Vulkan, Metal, DX12 and GL, and its uniform block has
//! the size of the Rust struct that fills it.

use distill_wgpu::{Error, Result};

fn parse(name: &str, source: &str) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let fail = |stage: &str, e: String| Error::Shader {
        shader: name.to_string(),
        message: format!("{stage}: {e}"),
    };
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| fail("parse", e.emit_to_string(source)))?;
    // Subgroup operations are validated as a device with `Features::SUBGROUP` would.
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default() | naga::valid::Capabilities::SUBGROUP,
    )
    .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
    .subgroup_operations(naga::valid::SubgroupOperationSet::all())
    .validate(&module)
    .map_err(|e| fail("validate", e.emit_to_string(source)))?;
    Ok((module, info))
}

/// Byte size of the uniform block at group 0, binding 0 of a shader as naga lays it out
/// (WGSL's memory-layout rules), or `None` when it has none.
pub fn uniform_block_size(name: &str, source: &str) -> Result<Option<u32>> {
    let (module, _) = parse(name, source)?;
    let mut layouter = naga::proc::Layouter::default();
    layouter
        .update(module.to_ctx())
        .map_err(|e| Error::Shader {
            shader: name.to_string(),
            message: format!("layout: {e}"),
        })?;
    let size = module
        .global_variables
        .iter()
        .find(|(_, var)| {
            var.space == naga::AddressSpace::Uniform
                && var
                    .binding
                    .as_ref()
                    .is_some_and(|b| b.group == 0 && b.binding == 0)
        })
        .map(|(_, var)| layouter[var.ty].size);
    Ok(size)
}

/// Translates WGSL to SPIR-V, MSL, HLSL and GLSL with naga (overrides resolved), proving the
/// shader is portable to Vulkan, Metal, DX12 and GL. Returns the byte sizes of the four outputs.
pub fn translate_all(
    name: &str,
    source: &str,
    entry_point: &str,
    overrides: &[(&str, f64)],
) -> Result<[usize; 4]> {
    use naga::back;
    let (module, info) = parse(name, source)?;
    let fail = |stage: &str, e: String| Error::Shader {
        shader: name.to_string(),
        message: format!("{stage}: {e}"),
    };
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
