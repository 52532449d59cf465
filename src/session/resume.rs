//! A run's checkpoint on disk: whether to resume it (same settings, not past the run's end),
//! whether writing one may replace a file, and the test errors kept beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::train::{Checkpoint, EpochLog};

/// Where and how a run keeps its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointPlan {
    /// The checkpoint file.
    pub path: PathBuf,
    /// Continue from the file when it exists.
    pub resume: bool,
    /// Replace a file there that is not resumed.
    pub overwrite: bool,
}

impl CheckpointPlan {
    /// The file of test errors by epoch kept beside the checkpoint
    /// (`name.safetensors` → `name.test-errors.json`).
    pub fn test_errors_path(&self) -> PathBuf {
        self.path.with_extension("test-errors.json")
    }

    /// The checkpoint to resume, after checking that it was made with `settings` and is not
    /// past `epochs`; `None` for a fresh run. A file there that is not to be resumed is
    /// refused unless `overwrite`.
    pub fn resumable(
        &self,
        settings: &serde_json::Value,
        epochs: usize,
    ) -> Result<Option<Checkpoint>> {
        let exists = self.path.exists();
        if !self.resume {
            if exists && !self.overwrite {
                return Err(Error::InvalidConfig(format!(
                    "{} already exists; resume it, or allow overwriting it",
                    self.path.display()
                )));
            }
            return Ok(None);
        }
        if !exists {
            return Ok(None);
        }
        let checkpoint = Checkpoint::load(&self.path)?;
        // The stored settings went through JSON text; send this run's through it too, so a
        // float whose shortest text parses back one ulp off (0.999 as an f32 widened to f64)
        // compares equal to itself.
        let settings = &round_trip(settings);
        if &checkpoint.settings != settings {
            return Err(Error::InvalidConfig(format!(
                "{}: made with settings {}, this run has {}; resume with the same settings",
                self.path.display(),
                checkpoint.settings,
                settings
            )));
        }
        if checkpoint.position.epoch > epochs + 1 {
            return Err(Error::InvalidConfig(format!(
                "{}: already past epoch {}, beyond the run's {} epochs",
                self.path.display(),
                checkpoint.position.epoch - 1,
                epochs
            )));
        }
        Ok(Some(checkpoint))
    }

    /// Creates the checkpoint's folder.
    pub(crate) fn create_dir(&self) -> Result<()> {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    path: dir.to_path_buf(),
                    source,
                })
            }
            _ => Ok(()),
        }
    }
}

/// The test errors kept beside a checkpoint, for the epochs the checkpoint has finished (none
/// if the file is missing or unreadable: they are a record, not training state).
pub(crate) fn resumed_test_errors(path: &Path, logs: &[EpochLog]) -> BTreeMap<usize, usize> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    let mut errors: BTreeMap<usize, usize> = serde_json::from_str(&text).unwrap_or_default();
    errors.retain(|epoch, _| logs.iter().any(|l| l.epoch == *epoch));
    errors
}

/// `value` written as JSON text and read back.
fn round_trip(value: &serde_json::Value) -> serde_json::Value {
    serde_json::to_string(value)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| value.clone())
}
