//! A run's checkpoint on disk: whether to resume it (same settings, not past the run's end),
//! whether writing one may replace a file, and the test errors kept beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::train::{Checkpoint, EpochLog, TrainerConfig};

/// The settings a run records in its checkpoint unless the app gives its own
/// ([`crate::session::TrainingRun::settings`]): typed and versioned, so a resumed run is
/// compared field by field, not as text. Checkpoints written before the settings had a
/// version recorded the trainer config as its `Debug` text; they are compared in that form
/// ([`RunSettings::legacy`]), so they still resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The layout of these settings, [`RunSettings::VERSION`].
    pub version: u32,
    /// Layer sizes, inputs to classes.
    pub sizes: Vec<usize>,
    /// The trainer's configuration.
    pub config: TrainerConfig,
    /// The run's seed.
    pub seed: u64,
    /// The initialisation's seed, when it differs from the run's.
    pub init_seed: Option<u64>,
    /// Whether the run starts from given weights.
    pub init: bool,
    /// Input jitter in pixels.
    pub jitter: u32,
    /// What kind of teacher teaches.
    pub teacher: TeacherKind,
}

/// The kind of teacher a run has (its data is not part of the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeacherKind {
    /// No teacher.
    None,
    /// A teacher model.
    Model,
    /// Cached teacher logits.
    Logits,
    /// Several teachers.
    Several,
}

impl TeacherKind {
    fn name(self) -> &'static str {
        match self {
            TeacherKind::None => "none",
            TeacherKind::Model => "model",
            TeacherKind::Logits => "logits",
            TeacherKind::Several => "several",
        }
    }
}

impl RunSettings {
    /// The current layout: 2 (1 was the untyped one, which carried no version).
    pub const VERSION: u32 = 2;

    /// These settings as a checkpoint written before they were versioned recorded them.
    pub fn legacy(&self) -> serde_json::Value {
        serde_json::json!({
            "sizes": self.sizes,
            "config": self.config.legacy_debug_text(),
            "seed": self.seed,
            "init_seed": self.init_seed,
            "init": self.init,
            "jitter": self.jitter,
            "teacher": self.teacher.name(),
        })
    }
}

/// What a resumed run's checkpoint must have been made with.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedSettings {
    /// The run's own typed settings.
    Run(RunSettings),
    /// Settings an app chose ([`crate::session::TrainingRun::settings`]), compared as JSON.
    App(serde_json::Value),
}

impl ExpectedSettings {
    /// The settings as the checkpoint records them.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ExpectedSettings::Run(run) => {
                serde_json::to_value(run).unwrap_or(serde_json::Value::Null)
            }
            ExpectedSettings::App(value) => value.clone(),
        }
    }

    /// Whether a checkpoint's recorded `stored` settings are these.
    pub fn matches(&self, stored: &serde_json::Value) -> bool {
        match self {
            ExpectedSettings::Run(run) if stored.get("version").is_some() => {
                serde_json::from_value::<RunSettings>(stored.clone()).is_ok_and(|s| s == *run)
            }
            // The stored settings went through JSON text; send these through it too, so a
            // float whose shortest text parses back one ulp off (0.999 as an f32 widened to
            // f64) compares equal to itself.
            ExpectedSettings::Run(run) => *stored == round_trip(&run.legacy()),
            ExpectedSettings::App(value) => *stored == round_trip(value),
        }
    }
}

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
        settings: &ExpectedSettings,
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
        if !settings.matches(&checkpoint.settings) {
            return Err(Error::InvalidConfig(format!(
                "{}: made with settings {}, this run has {}; resume with the same settings",
                self.path.display(),
                checkpoint.settings,
                settings.to_json()
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
