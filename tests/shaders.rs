//! Every shader (hand-written files and every generated matmul configuration) parses and
//! validates with naga and translates to SPIR-V, MSL, HLSL and GLSL: portability to Vulkan,
//! Metal, DX12 and GL without that hardware. The shader list names every file under
//! `shaders/`, and each shader is exactly the files it lists.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::portability::{translate_all, uniform_block_size};
use distill_wgpu::ops::matmul::{self, generate_unrolled_matmul, MatmulVariant, UNROLLED_CONFIGS};
use distill_wgpu::ops::SHADERS;

/// The repository root (this crate's manifest directory).
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Adds the repository-relative, `/`-separated path of every `.wgsl` file under `dir` (at any
/// depth) to `out`.
fn collect_wgsl(dir: &Path, out: &mut BTreeSet<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            collect_wgsl(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "wgsl") {
            let relative = path
                .strip_prefix(root())
                .expect("under the repository root");
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.insert(parts.join("/"));
        }
    }
}

/// The files on disk that nothing lists, and the listed files that are not on disk.
fn unlisted_and_missing(
    on_disk: &BTreeSet<String>,
    listed: &BTreeSet<&str>,
) -> (Vec<String>, Vec<String>) {
    let unlisted = on_disk
        .iter()
        .filter(|f| !listed.contains(f.as_str()))
        .cloned()
        .collect();
    let missing = listed
        .iter()
        .filter(|f| !on_disk.contains(**f))
        .map(|f| f.to_string())
        .collect();
    (unlisted, missing)
}

#[test]
fn the_shader_list_names_every_file_under_shaders() {
    let mut on_disk = BTreeSet::new();
    collect_wgsl(&root().join("shaders"), &mut on_disk);
    assert!(!on_disk.is_empty(), "no .wgsl files under shaders/");
    let listed: BTreeSet<&str> = SHADERS
        .iter()
        .flat_map(|s| s.files.iter().copied())
        .collect();
    let (unlisted, missing) = unlisted_and_missing(&on_disk, &listed);
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "WGSL files under shaders/ that no entry of ops::SHADERS lists: {unlisted:?}; \
         files ops::SHADERS lists that are not on disk: {missing:?}"
    );
}

#[test]
fn a_file_missing_from_the_list_would_be_caught() {
    let on_disk: BTreeSet<String> = ["shaders/a.wgsl", "shaders/common/b.wgsl"]
        .map(String::from)
        .into();
    let listed: BTreeSet<&str> = ["shaders/a.wgsl", "shaders/c.wgsl"].into();
    let (unlisted, missing) = unlisted_and_missing(&on_disk, &listed);
    assert_eq!(unlisted, ["shaders/common/b.wgsl"]);
    assert_eq!(missing, ["shaders/c.wgsl"]);
}

#[test]
fn every_shader_is_its_listed_files_concatenated() {
    for shader in SHADERS {
        assert!(!shader.files.is_empty(), "{}: no files listed", shader.name);
        let mut text = String::new();
        for file in shader.files {
            let path = root().join(file);
            text += &std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {}: {e}", shader.name, path.display()));
        }
        assert!(
            text == shader.source,
            "{}: source is not {:?} concatenated in order",
            shader.name,
            shader.files
        );
    }
}

fn assert_translates(name: &str, source: &str, entry: &str, overrides: &[(&str, f64)]) {
    match translate_all(name, source, entry, overrides) {
        Ok(sizes) => {
            for (backend, size) in ["SPIR-V", "MSL", "HLSL", "GLSL"].iter().zip(sizes) {
                assert!(size > 0, "{name}: empty {backend} output");
            }
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn every_shader_file_translates_to_all_backends() {
    for shader in SHADERS {
        assert_translates(shader.name, shader.source, shader.entry_point, &[]);
    }
}

#[test]
fn every_matmul_variant_translates_with_its_overrides() {
    for variant in MatmulVariant::all() {
        let (source, overrides) = variant.source();
        assert_translates(&variant.name(), &source, "matmul", &overrides);
    }
}

#[test]
fn row_kernels_translate_with_other_workgroup_sizes() {
    for shader in SHADERS.iter().filter(|s| s.source.contains("override WG:")) {
        for wg in [32.0, 128.0, 256.0] {
            assert_translates(
                shader.name,
                shader.source,
                shader.entry_point,
                &[("WG", wg)],
            );
        }
    }
}

#[test]
fn generated_matmul_is_plain_wgsl_with_unrolled_block() {
    let (rows, cols) = UNROLLED_CONFIGS[1];
    let source = generate_unrolled_matmul(rows as usize, cols as usize);
    // Fully unrolled: one FMA line per accumulator, no loop over the block inside the K loop.
    let fmas = source.matches("= fma(").count();
    assert_eq!(fmas, (rows * cols) as usize);
    assert!(!source.contains("workgroupBarrier"));
    assert!(!source.contains("var<workgroup>"));
    assert!(
        !source.contains("{{"),
        "template syntax left in generated WGSL"
    );
}

#[test]
fn uniform_structs_match_their_wgsl_blocks() {
    for shader in SHADERS {
        let size = uniform_block_size(shader.name, shader.source).unwrap();
        assert_eq!(
            size.map(|s| s as usize),
            Some(shader.uniform_size),
            "{}: WGSL uniform block vs Rust struct size",
            shader.name
        );
    }
    for variant in MatmulVariant::all() {
        let (source, _) = variant.source();
        let size = uniform_block_size(&variant.name(), &source).unwrap();
        assert_eq!(
            size.map(|s| s as usize),
            Some(matmul::UNIFORM_SIZE),
            "{}",
            variant.name()
        );
    }
}

#[test]
fn a_uniform_size_mismatch_would_be_caught() {
    // A block one field longer than its Rust twin must not look the same size.
    let source = "struct P { a: u32, b: u32, c: u32, d: u32, e: u32 }\n\
                  @group(0) @binding(0) var<uniform> params: P;\n\
                  @compute @workgroup_size(1) fn main() { _ = params.a; }";
    assert_eq!(uniform_block_size("probe", source).unwrap(), Some(20));
    let none = "@compute @workgroup_size(1) fn main() {}";
    assert_eq!(uniform_block_size("probe", none).unwrap(), None);
}

#[test]
fn shader_names_are_unique_cache_keys() {
    let mut names: Vec<&str> = SHADERS.iter().map(|s| s.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        SHADERS.len(),
        "two shaders share a pipeline-cache name"
    );
}

#[test]
fn a_broken_shader_is_reported_not_panicked() {
    let err = translate_all("broken", "fn main( {", "main", &[]).unwrap_err();
    assert!(err.to_string().contains("broken"), "{err}");
}

/// The identifiers of `source` outside `//` comments.
fn identifiers(source: &str) -> BTreeSet<&str> {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .flat_map(|code| code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|word| word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .collect()
}

/// WGSL reserves words it may make keywords later (`active`, `filter`, `module`, …); naga
/// accepts them as names but Tint (Chromium's WebGPU) refuses the shader, so no shader may
/// use one.
#[test]
fn no_shader_uses_a_wgsl_reserved_word() {
    let reserved = naga::keywords::wgsl::RESERVED;
    // The list holds the keywords first, up to `while`, then the reserved words.
    let keywords_end = reserved.iter().position(|w| *w == "while").unwrap() + 1;
    let forbidden: BTreeSet<&str> = reserved[keywords_end..].iter().copied().collect();
    let mut sources: Vec<(String, String)> = SHADERS
        .iter()
        .map(|s| (s.name.to_string(), s.source.to_string()))
        .collect();
    sources.extend(
        MatmulVariant::all()
            .into_iter()
            .map(|v| (v.name(), v.source().0)),
    );
    let mut offences = Vec::new();
    for (name, source) in &sources {
        for word in identifiers(source) {
            if forbidden.contains(word) {
                offences.push(format!("{name}: `{word}`"));
            }
        }
    }
    assert!(offences.is_empty(), "reserved words used: {offences:?}");
    // The check itself finds one.
    assert!(identifiers("var active = 1.0; // filter").contains("active"));
    assert!(!identifiers("let x = 1; // filter").contains("filter"));
}
