//! Choosing a product's matmul variant by measurement, as burn's autotune does: on first use
//! of a product shape, time each candidate ([`candidates`](crate::ops::matmul::candidates)) once and keep the fastest, in the
//! context and in `matmul-tuning.json` in the cache folder, keyed by adapter, driver, subgroup
//! size and crate version. Every candidate sums k in the same order, so the choice changes
//! speed, not results.

use std::path::{Path, PathBuf};

use crate::gpu::{GpuContext, MatmulTuning};
use crate::ops::matmul::choice::{choose_variant, AdapterShape};
use crate::ops::matmul::spec::MatmulSpec;
use crate::ops::matmul::variant::MatmulVariant;

/// Name of the cache file in the cache folder.
pub const CACHE_FILE: &str = "matmul-tuning.json";

/// The format tag of the cache file.
#[cfg(not(target_arch = "wasm32"))]
const FORMAT: &str = "distill-wgpu-matmul-tuning/1";

/// The cache file: adapter key → product key → variant name.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CacheFile {
    format: String,
    adapters: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

/// The product's key: its shape and the operands' strides and alignment (what decides which
/// variants apply and how fast they run), e.g. `128x800x784 a784,1@0 b1,784@0`.
pub fn product_key(spec: &MatmulSpec) -> String {
    format!(
        "{}x{}x{} a{},{}@{} b{},{}@{}",
        spec.m,
        spec.n,
        spec.k,
        spec.a.row_stride,
        spec.a.col_stride,
        spec.a.offset % 4,
        spec.b.row_stride,
        spec.b.col_stride,
        spec.b.offset % 4
    )
}

/// The adapter's key in the cache file: name, backend, driver, subgroup lanes, crate version.
pub fn adapter_key(ctx: &GpuContext) -> String {
    let info = ctx.adapter_info();
    format!(
        "{} | {:?} | {} {} | lanes {} | distill-wgpu {}",
        info.name,
        info.backend,
        info.driver,
        info.driver_info,
        ctx.subgroup_lanes()
            .map_or("-".to_string(), |l| l.to_string()),
        env!("CARGO_PKG_VERSION")
    )
}

/// Products smaller than this many floating-point operations take the cost model's choice even
/// when measuring: their time is a small share of any step, and timing them would cost a first
/// run more compiling than it could save.
pub const MIN_MEASURED_FLOPS: f64 = 4e6;

/// The variant `ctx` uses for `spec`: by the cost model, or measured (see the module).
/// Measuring that fails (it should not) falls back to the cost model, which is always valid.
pub fn choose_tuned(ctx: &GpuContext, adapter: &AdapterShape, spec: &MatmulSpec) -> MatmulVariant {
    match ctx.matmul_tuning() {
        MatmulTuning::CostModel => choose_variant(adapter, spec),
        MatmulTuning::Measure { .. } if spec.flops() < MIN_MEASURED_FLOPS => {
            choose_variant(adapter, spec)
        }
        MatmulTuning::Measure { cache_dir, retune } => {
            measured(ctx, adapter, spec, cache_dir.as_deref(), *retune)
                .unwrap_or_else(|| choose_variant(adapter, spec))
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn measured(
    _ctx: &GpuContext,
    _adapter: &AdapterShape,
    _spec: &MatmulSpec,
    _cache_dir: Option<&Path>,
    _retune: bool,
) -> Option<MatmulVariant> {
    // A browser has no synchronous wait to time with and no files: the cost model serves.
    None
}

#[cfg(not(target_arch = "wasm32"))]
fn measured(
    ctx: &GpuContext,
    adapter: &AdapterShape,
    spec: &MatmulSpec,
    cache_dir: Option<&Path>,
    retune: bool,
) -> Option<MatmulVariant> {
    use crate::gpu::TunedChoice;
    use crate::ops::matmul::choice::candidates;
    let options = candidates(adapter, spec);
    let by_name = |name: &str| options.iter().copied().find(|v| v.name() == name);
    let key = product_key(spec);
    if let Some(choice) = ctx.tuned.get(&key) {
        if let Some(variant) = by_name(&choice.variant) {
            return Some(variant);
        }
    }
    if ctx.tuned.first_file_read() && !retune {
        if let Some(saved) = cache_dir.map(cache_path).and_then(|p| read_cache(&p)) {
            for (product, variant) in saved
                .adapters
                .get(&adapter_key(ctx))
                .cloned()
                .unwrap_or_default()
            {
                ctx.tuned.insert(
                    product,
                    TunedChoice {
                        variant,
                        measured_here: false,
                    },
                );
            }
        }
        if let Some(variant) = ctx.tuned.get(&key).and_then(|c| by_name(&c.variant)) {
            return Some(variant);
        }
    }
    let fastest = match options.as_slice() {
        [] => return None,
        [only] => *only,
        _ => fastest(ctx, spec, &options)?,
    };
    ctx.tuned.insert(
        key.clone(),
        TunedChoice {
            variant: fastest.name(),
            measured_here: true,
        },
    );
    if let Some(dir) = cache_dir {
        // A cache that cannot be written only means measuring again next time.
        let _ = save_choice(dir, &adapter_key(ctx), &key, &fastest.name());
    }
    Some(fastest)
}

/// The candidate with the least time per run over constant operands (their values do not
/// change the speed): each compiled and run once, then three rounds that time every candidate
/// in turn (so a machine that changes speed mid-way slows all of them alike), each over enough
/// runs to last about 6 ms; the median of a candidate's three rounds counts.
#[cfg(not(target_arch = "wasm32"))]
fn fastest(
    ctx: &GpuContext,
    spec: &MatmulSpec,
    options: &[MatmulVariant],
) -> Option<MatmulVariant> {
    use std::time::Instant;
    let a = vec![0.5f32; spec.a_len()];
    let b = vec![0.25f32; spec.b_len()];
    let aux = vec![1.0f32; spec.aux_len()];
    let mut timed = Vec::with_capacity(options.len());
    for &variant in options {
        let Ok(kernel) = super::prepare_matmul(ctx, variant, spec, &a, &b, &aux) else {
            continue;
        };
        let start = Instant::now();
        if kernel.run(ctx, 1).is_err() {
            continue;
        }
        let once = start.elapsed().as_secs_f64();
        let repeats = ((0.006 / once.max(1e-6)).ceil() as usize).clamp(1, 16);
        timed.push((variant, kernel, repeats, Vec::with_capacity(3)));
    }
    for _ in 0..3 {
        for (_, kernel, repeats, rounds) in &mut timed {
            let start = Instant::now();
            if kernel.run(ctx, *repeats).is_ok() {
                rounds.push(start.elapsed().as_secs_f64() / *repeats as f64);
            }
        }
    }
    timed
        .into_iter()
        .filter(|(_, _, _, rounds)| rounds.len() == 3)
        .map(|(variant, _, _, mut rounds)| {
            rounds.sort_by(f64::total_cmp);
            (rounds[1], variant)
        })
        .min_by(|x, y| x.0.total_cmp(&y.0))
        .map(|(_, variant)| variant)
}

/// The cache file in `dir`.
pub fn cache_path(dir: &Path) -> PathBuf {
    dir.join(CACHE_FILE)
}

/// The cache file's contents, or `None` when it is missing or not ours (it is then rebuilt).
#[cfg(not(target_arch = "wasm32"))]
fn read_cache(path: &Path) -> Option<CacheFile> {
    let text = std::fs::read_to_string(path).ok()?;
    let file: CacheFile = serde_json::from_str(&text).ok()?;
    (file.format == FORMAT).then_some(file)
}

/// Adds one choice to the cache file (read again just before, so choices other processes
/// saved meanwhile are kept), written atomically.
#[cfg(not(target_arch = "wasm32"))]
fn save_choice(dir: &Path, adapter: &str, product: &str, variant: &str) -> crate::Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| crate::Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = cache_path(dir);
    let mut file = read_cache(&path).unwrap_or_default();
    file.format = FORMAT.to_string();
    file.adapters
        .entry(adapter.to_string())
        .or_default()
        .insert(product.to_string(), variant.to_string());
    let text = serde_json::to_string_pretty(&file)
        .map_err(|e| crate::Error::InvalidConfig(e.to_string()))?;
    crate::files::write_atomic(&path, text.as_bytes())
}
