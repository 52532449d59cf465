//! Where a run writes, and the promise that it replaces nothing the user has unless asked:
//! without `--out`, each run gets a new numbered folder `runs/run-NNN`, never reused; an
//! explicit `--out` that already holds files is refused unless `--force` (overwrite this run's
//! files) or `--resume` (continue from its checkpoints); a folder another run is writing to is
//! refused (`lock.rs`); and no output is ever one of the run's inputs.

use std::path::{Path, PathBuf};

use distill_wgpu::{Error, Result};

use crate::flags::OutputFlags;
use crate::lock::{OutputLock, LOCK_FILE};

/// Folder that numbered run folders are made in when `--out` is not given.
pub const RUNS_DIR: &str = "runs";

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `runs/run-NNN` with the first free number (creation is the claim, so two runs
/// started together never share a folder).
fn new_run_dir(root: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(root).map_err(io_error(root))?;
    for n in 1..=999_999u32 {
        let dir = root.join(format!("run-{n:03}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(&dir)(e)),
        }
    }
    Err(Error::InvalidConfig(format!(
        "{} holds a million runs; pass --out",
        root.display()
    )))
}

/// A run's output folder, claimed for this run until the value is dropped.
#[derive(Debug)]
pub struct OutputDir {
    path: PathBuf,
    _lock: OutputLock,
}

impl std::ops::Deref for OutputDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for OutputDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Whether a command continues a run from its checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// The command keeps no checkpoints (it has no --resume).
    Unsupported,
    /// A new run (no --resume).
    Start,
    /// --resume: continue the run in --out.
    Continue,
}

impl Resume {
    /// The value of a command's --resume flag.
    pub fn from_flag(resume: bool) -> Self {
        if resume {
            Resume::Continue
        } else {
            Resume::Start
        }
    }
}

/// Whether `dir` holds anything but a run's claim on it.
fn holds_files(dir: &Path) -> Result<bool> {
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        if entry.file_name() != LOCK_FILE {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The output folder of this run, created or checked by the policy above and claimed for it
/// (`lock.rs`), so a second run into the same folder is refused while this one lasts.
pub fn prepare(output: &OutputFlags, resume: Resume) -> Result<OutputDir> {
    let resume_allowed = !matches!(resume, Resume::Unsupported);
    let resume = matches!(resume, Resume::Continue);
    if resume && output.force {
        return Err(Error::InvalidConfig(
            "--resume continues a run and --force starts it over: pass one".into(),
        ));
    }
    let Some(dir) = output.out.clone() else {
        if resume {
            return Err(Error::InvalidConfig(
                "--resume needs --out DIR naming the run to continue".into(),
            ));
        }
        let path = new_run_dir(Path::new(RUNS_DIR))?;
        let lock = OutputLock::claim(&path)?;
        return Ok(OutputDir { path, _lock: lock });
    };
    match std::fs::metadata(&dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::InvalidConfig(format!(
                "--out {} is not a folder",
                dir.display()
            )))
        }
        Ok(_) => {}
        Err(_) if resume => {
            return Err(Error::InvalidConfig(format!(
                "--resume: {} does not exist, so there is nothing to continue",
                dir.display()
            )))
        }
        Err(_) => std::fs::create_dir_all(&dir).map_err(io_error(&dir))?,
    }
    // Claimed before it is checked, so of two runs started together into one empty folder
    // one is refused here rather than both finding it empty.
    let lock = OutputLock::claim(&dir)?;
    if holds_files(&dir)? && !output.force && !resume {
        return Err(if resume_allowed {
            Error::OutputExists { path: dir }
        } else {
            Error::InvalidConfig(format!(
                "{} already holds results; pass --force to overwrite them",
                dir.display()
            ))
        });
    }
    Ok(OutputDir {
        path: dir,
        _lock: lock,
    })
}

/// Fails if any of `outputs` (files this run will write) is one of `inputs` (files it reads),
/// comparing resolved paths, so `--out` pointed at a teacher's folder cannot replace it.
pub fn check_inputs_not_outputs(inputs: &[&Path], outputs: &[PathBuf]) -> Result<()> {
    let resolved: Vec<PathBuf> = inputs
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    for out in outputs {
        if let Ok(real) = std::fs::canonicalize(out) {
            if resolved.contains(&real) {
                return Err(Error::InputIsOutput { path: out.clone() });
            }
        }
    }
    Ok(())
}

/// The last component of `path`, for messages (the whole path if it has none).
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The report files a run writes in `out`.
const RUN_REPORTS: [&str; 3] = ["report.json", "report.html", "metrics.csv"];

/// The files a run of training jobs named `names` writes in `out`.
pub fn job_outputs(out: &Path, names: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = RUN_REPORTS.iter().map(|f| out.join(f)).collect();
    for name in names {
        files.push(out.join(format!("{name}.safetensors")));
        files.push(checkpoint_path(out, name));
        files.push(test_errors_path(out, name));
    }
    files
}

/// The test errors per epoch of job `name` in `out`, kept beside its checkpoint so a resumed
/// run reports them for every epoch.
pub fn test_errors_path(out: &Path, name: &str) -> PathBuf {
    out.join("checkpoints")
        .join(format!("{name}.test-errors.json"))
}

/// The checkpoint of job `name` in `out`.
pub fn checkpoint_path(out: &Path, name: &str) -> PathBuf {
    out.join("checkpoints").join(format!("{name}.safetensors"))
}
