//! Checkpoints: a trainer's state (parameters, optimizer state and step, loss slots), where
//! the run stands (epoch and batch; the shuffle and dropout streams are functions of the seed,
//! epoch and step, so that is all their state), the epoch logs so far, and the caller's run
//! settings, in one safetensors file written atomically.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::error::{check_finite, Error, Result};
use crate::files::write_atomic;
use crate::train::fit::{EpochLog, FitPosition};
use crate::train::state::TrainerState;

const META_KEY: &str = "distill_wgpu.checkpoint";
const VERSION: u32 = 1;
/// Checkpoints past this size are refused before reading (a 4 GiB parameter buffer and two
/// moments stay below it).
const MAX_BYTES: u64 = 16 << 30;

/// A resumable snapshot of one training run.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The trainer's state.
    pub state: TrainerState,
    /// Where training resumes.
    pub position: FitPosition,
    /// Logs of the epochs finished so far.
    pub logs: Vec<EpochLog>,
    /// The caller's settings of the run (checked on resume), as JSON.
    pub settings: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    version: u32,
    step: u32,
    position: FitPosition,
    logs: Vec<EpochLog>,
    settings: serde_json::Value,
}

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl Checkpoint {
    /// Serialises the checkpoint; refuses non-finite parameters (a checkpoint is only ever of
    /// a good state).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        check_finite("checkpoint parameters", &self.state.parameters)?;
        let mut named: Vec<(String, &[f32])> = vec![
            ("parameters".into(), &self.state.parameters),
            ("loss_slots".into(), &self.state.loss_slots),
        ];
        for (i, s) in self.state.optimizer.iter().enumerate() {
            named.push((format!("optimizer.{i}"), s));
        }
        for (i, s) in self.state.auxiliary.iter().enumerate() {
            named.push((format!("auxiliary.{i}"), s));
        }
        let views = named
            .iter()
            .map(|(name, data)| {
                safetensors::tensor::TensorView::new(
                    Dtype::F32,
                    vec![data.len()],
                    bytemuck::cast_slice(data),
                )
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::InvalidConfig(format!("checkpoint tensor {name}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let meta = Meta {
            version: VERSION,
            step: self.state.step,
            position: self.position,
            logs: self.logs.clone(),
            settings: self.settings.clone(),
        };
        let json = serde_json::to_string(&meta)
            .map_err(|e| Error::InvalidConfig(format!("checkpoint metadata: {e}")))?;
        let metadata = HashMap::from([(META_KEY.to_string(), json)]);
        safetensors::serialize(views, Some(metadata))
            .map_err(|e| Error::InvalidConfig(format!("checkpoint: {e}")))
    }

    /// Writes the checkpoint atomically to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }

    /// Parses checkpoint bytes (`path` names the source in errors).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let unreadable = |e: safetensors::SafeTensorError| {
            format_error(path, format!("not a readable checkpoint: {e}"))
        };
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(unreadable)?;
        let tensors = SafeTensors::deserialize(bytes).map_err(unreadable)?;
        let json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .ok_or_else(|| {
                format_error(path, format!("no {META_KEY} metadata: not a checkpoint"))
            })?;
        let meta: Meta = serde_json::from_str(json)
            .map_err(|e| format_error(path, format!("bad checkpoint metadata: {e}")))?;
        if meta.version != VERSION {
            return Err(format_error(
                path,
                format!(
                    "checkpoint version {} (this build reads {VERSION})",
                    meta.version
                ),
            ));
        }
        let read = |name: &str| -> Result<Vec<f32>> {
            let t = tensors
                .tensor(name)
                .map_err(|_| format_error(path, format!("tensor {name:?} is missing")))?;
            if t.dtype() != Dtype::F32 || t.shape().len() != 1 {
                return Err(format_error(
                    path,
                    format!("tensor {name:?} is not a flat f32"),
                ));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        let parameters = read("parameters")?;
        let names: std::collections::HashSet<&str> = tensors.names().into_iter().collect();
        let numbered = |prefix: &str| {
            (0..)
                .map(|i| format!("{prefix}.{i}"))
                .take_while(|n| names.contains(n.as_str()))
                .map(|n| read(&n))
                .collect::<Result<Vec<_>>>()
        };
        let optimizer = numbered("optimizer")?;
        let auxiliary = numbered("auxiliary")?;
        check_finite(&format!("parameters in {}", path.display()), &parameters)?;
        Ok(Self {
            state: TrainerState {
                parameters,
                optimizer,
                step: meta.step,
                loss_slots: read("loss_slots")?,
                auxiliary,
            },
            position: meta.position,
            logs: meta.logs,
            settings: meta.settings,
        })
    }

    /// Reads a checkpoint file (a regular file of bounded size).
    pub fn load(path: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if !meta.is_file() {
            return Err(format_error(path, "not a regular file"));
        }
        if meta.len() > MAX_BYTES {
            return Err(format_error(
                path,
                format!("{} bytes is too large for a checkpoint", meta.len()),
            ));
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Self::from_bytes(path, &bytes)
    }
}
