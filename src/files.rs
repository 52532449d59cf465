//! Files a run reads and writes: bounded reads of regular files (a FIFO or device is named,
//! never opened and waited on), atomic writes (a unique temporary file in the same folder, fsynced,
//! renamed over the target, the folder fsynced; removed on any error) and the output-folder
//! policy (a new numbered folder per run unless told otherwise; nothing a user has is replaced
//! unless they ask).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The metadata of what `path` points to; where that fails because `path` is a symbolic link
/// whose target is missing, or a loop of links, the error says so and names the target
/// rather than calling the file missing.
pub fn metadata(path: &Path) -> Result<std::fs::Metadata> {
    std::fs::metadata(path).map_err(|source| {
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            return Error::Io {
                path: path.to_path_buf(),
                source,
            };
        }
        let target = std::fs::read_link(path).map_or_else(
            |_| "an unreadable target".into(),
            |t| t.display().to_string(),
        );
        format_error(
            path,
            format!("a symbolic link to {target}, which cannot be followed: {source}"),
        )
    })
}

/// Whether anything — a file, a folder, or a symbolic link, even a broken one — is at `path`.
pub fn entry_exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// What a non-regular file is, for error messages.
pub fn file_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// The length of a regular file, or an error naming what else it is (`expected` names the
/// kind of file wanted, e.g. "an IDX file").
pub fn check_regular(path: &Path, meta: &std::fs::Metadata, expected: &str) -> Result<u64> {
    if meta.is_file() {
        return Ok(meta.len());
    }
    Err(format_error(
        path,
        format!("{}, not {expected}", file_kind(&meta.file_type())),
    ))
}

/// Reads the regular file at `path`, of at most `max` bytes (`expected` names the kind of file
/// wanted in errors, e.g. "a model file"). The kind and size are checked on the path before
/// opening (opening a FIFO blocks until a writer comes), then again on the open handle (the
/// path may have been replaced in between); the read itself is bounded too, in case the file
/// grows while it is read.
pub fn read_regular(path: &Path, max: u64, expected: &str) -> Result<Vec<u8>> {
    let checked = |meta: std::fs::Metadata| {
        let len = check_regular(path, &meta, expected)?;
        if len > max {
            return Err(format_error(
                path,
                format!("{len} bytes is more than {expected} may hold ({max})"),
            ));
        }
        Ok(len)
    };
    checked(metadata(path)?)?;
    let file = std::fs::File::open(path).map_err(io_error(path))?;
    let len = checked(file.metadata().map_err(io_error(path))?)?;
    let mut bytes = Vec::new();
    // The length is bounded above, so this reservation is too.
    bytes
        .try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
        .map_err(|e| format_error(path, format!("cannot hold {len} bytes in memory: {e}")))?;
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error(path))?;
    if bytes.len() as u64 > max {
        return Err(format_error(
            path,
            format!("grew past the {max} bytes {expected} may hold while read"),
        ));
    }
    Ok(bytes)
}

/// A temporary name beside `path` that no other writer in this or another process uses.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(
        ".{name}.{}.{n}.{nanos:x}.partial",
        std::process::id()
    ))
}

/// Writes `bytes` to `path` atomically: readers see the old file or the whole new one, never
/// a part, and a crash or full disk leaves no temporary file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable (not supported everywhere: best effort).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_error(path))
}
