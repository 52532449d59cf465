//! Where a run writes, and the promise that it replaces nothing the user has unless asked:
//! without `--out`, each run gets a new numbered folder `runs/run-NNN`, never reused; an
//! explicit `--out` that already holds files is refused unless `--force` (overwrite this run's
//! files) or `--resume` (continue from its checkpoints); and no output is ever one of the
//! run's inputs.

use std::path::{Path, PathBuf};

use distill_wgpu::{Error, Result};

use crate::Common;

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

/// The output folder of this run, created or checked by the policy above.
pub fn prepare(common: &Common) -> Result<PathBuf> {
    if common.resume && common.force {
        return Err(Error::InvalidConfig(
            "--resume continues a run and --force starts it over: pass one".into(),
        ));
    }
    let Some(dir) = common.out.clone() else {
        if common.resume {
            return Err(Error::InvalidConfig(
                "--resume needs --out DIR naming the run to continue".into(),
            ));
        }
        return new_run_dir(Path::new(RUNS_DIR));
    };
    match std::fs::metadata(&dir) {
        Ok(meta) if !meta.is_dir() => Err(Error::InvalidConfig(format!(
            "--out {} is not a folder",
            dir.display()
        ))),
        Ok(_) => {
            let has_files = std::fs::read_dir(&dir)
                .map_err(io_error(&dir))?
                .next()
                .is_some();
            if has_files && !common.force && !common.resume {
                return Err(Error::OutputExists { path: dir });
            }
            Ok(dir)
        }
        Err(_) if common.resume => Err(Error::InvalidConfig(format!(
            "--resume: {} does not exist, so there is nothing to continue",
            dir.display()
        ))),
        Err(_) => {
            std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
            Ok(dir)
        }
    }
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
