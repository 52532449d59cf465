//! How matmul variants are chosen on a context: by the cost model, or by timing the
//! candidates once per adapter, driver and crate version and remembering the choice on disk
//! (the measuring itself is `ops::matmul::tune`; this layer only holds the setting and the
//! table).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// How a context picks each product's matmul variant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MatmulTuning {
    /// The cost model: no measurement, no files, the same choice every run.
    #[default]
    CostModel,
    /// Time the candidates on first use of each product shape (a second or so) and keep the
    /// fastest, in memory and, when `cache_dir` is set, in `matmul-tuning.json` there, keyed
    /// by adapter, driver and crate version. `retune` measures again even when the file has a
    /// choice.
    Measure {
        /// Folder of the cache file; [`default_cache_dir`] beside Mesa's shader cache.
        cache_dir: Option<PathBuf>,
        /// Ignore choices already in the file (and replace them).
        retune: bool,
    },
}

impl MatmulTuning {
    /// Measuring, cached in [`default_cache_dir`] (none when it cannot be found).
    pub fn measured() -> Self {
        MatmulTuning::Measure {
            cache_dir: default_cache_dir(),
            retune: false,
        }
    }
}

/// The cache folder: `DISTILL_CACHE_DIR` if set, else `distill-wgpu` in `XDG_CACHE_HOME`, else
/// in `~/.cache` (where Mesa keeps its shader cache); `None` when none of them is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("DISTILL_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .map(|dir| dir.join("distill-wgpu"))
}

/// Sets `LP_NATIVE_VECTOR_WIDTH=512` on x86-64 hosts with AVX-512 unless it is set already
/// (see [`ContextOptions::wide_cpu_vectors`](crate::gpu::ContextOptions::wide_cpu_vectors)).
pub fn request_wide_cpu_vectors() {
    #[cfg(target_arch = "x86_64")]
    if std::env::var_os("LP_NATIVE_VECTOR_WIDTH").is_none()
        && std::arch::is_x86_feature_detected!("avx512f")
    {
        std::env::set_var("LP_NATIVE_VECTOR_WIDTH", "512");
    }
}

/// Choices made on one context: product key → variant name, and where each came from.
#[derive(Debug, Default)]
pub struct TuneTable {
    inner: Mutex<TuneState>,
}

#[derive(Debug, Default)]
struct TuneState {
    chosen: HashMap<String, TunedChoice>,
    file_read: bool,
}

/// One product's choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunedChoice {
    /// The variant's name.
    pub variant: String,
    /// Whether this context timed it (rather than reading it from the cache file).
    pub measured_here: bool,
}

impl TuneTable {
    /// The choice for `key`, if made.
    pub fn get(&self, key: &str) -> Option<TunedChoice> {
        self.inner.lock().ok()?.chosen.get(key).cloned()
    }

    /// Records a choice.
    pub fn insert(&self, key: String, choice: TunedChoice) {
        if let Ok(mut state) = self.inner.lock() {
            state.chosen.insert(key, choice);
        }
    }

    /// Marks the cache file read; `true` the first time.
    pub fn first_file_read(&self) -> bool {
        self.inner
            .lock()
            .map(|mut state| !std::mem::replace(&mut state.file_read, true))
            .unwrap_or(false)
    }

    /// Every choice made so far, sorted by key.
    pub fn all(&self) -> Vec<(String, TunedChoice)> {
        let mut all: Vec<_> = self
            .inner
            .lock()
            .map(|state| state.chosen.clone().into_iter().collect())
            .unwrap_or_default();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}
