//! The claim on an output folder: `<out>/.distill-lock`, created exclusively (so of two runs
//! started together into one folder, exactly one gets it), holding the claiming process's id
//! and host, and removed when the run ends — by [`OutputLock`]'s `Drop` on every return, error
//! and single Ctrl-C, and by [`release_all`] on a second Ctrl-C's immediate exit.
//!
//! A lock a killed process left behind (SIGKILL, a crash, power loss) is reclaimed when it
//! names this host and a process id that `/proc` (Linux) shows is no longer running. The
//! reclaim moves the stale file aside under a name of this process's own and checks that it
//! moved the stale claim, not a fresh one, before claiming again. Where that cannot be told
//! (no `/proc`, another host, an unreadable file), the run is refused with a message naming
//! the file to remove once no run is using the folder.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use distill_wgpu::{Error, Result};

/// The claim's file name inside the output folder.
pub const LOCK_FILE: &str = ".distill-lock";

/// The claims this process holds, for [`release_all`].
static HELD: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

/// This process's claim on one output folder, released on drop.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
    token: String,
}

/// Who holds a claim, as its file says.
struct Holder {
    pid: u32,
    host: String,
}

impl Holder {
    fn parse(text: &str) -> Option<Holder> {
        let mut pid = None;
        let mut host = None;
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("pid", v)) => pid = v.trim().parse().ok(),
                Some(("host", v)) => host = Some(v.trim().to_string()),
                _ => {}
            }
        }
        Some(Holder {
            pid: pid?,
            host: host?,
        })
    }

    /// Whether the holder is known to have exited: same host, and no `/proc/<pid>` where
    /// `/proc` is mounted.
    fn is_gone(&self) -> bool {
        self.host == host_name()
            && Path::new("/proc/self").exists()
            && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// This machine's host name (empty where it cannot be read).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The refusal of a folder another run holds.
fn in_use(dir: &Path, lock: &Path, holder: Option<&Holder>) -> Error {
    let who = match holder {
        Some(h) => format!("process {} on host {:?}", h.pid, h.host),
        None => "another process".to_string(),
    };
    Error::InvalidConfig(format!(
        "--out {} is in use by another distill run ({who}); wait for it to finish or choose \
         another --out (if no run is using the folder, remove {} and try again)",
        dir.display(),
        lock.display()
    ))
}

impl OutputLock {
    /// Claims `dir` (which exists) for this run, or says which run holds it.
    pub fn claim(dir: &Path) -> Result<OutputLock> {
        let path = dir.join(LOCK_FILE);
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let token = format!(
            "pid {}\nhost {}\nclaim {nonce}\n",
            std::process::id(),
            host_name()
        );
        // One reclaim of a stale claim, then one more try.
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    if let Err(e) = file.write_all(token.as_bytes()) {
                        let _ = std::fs::remove_file(&path);
                        return Err(io_error(&path)(e));
                    }
                    if let Ok(mut held) = HELD.lock() {
                        held.push((path.clone(), token.clone()));
                    }
                    return Ok(OutputLock { path, token });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // An empty or partly written file is a claim being made right now.
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder = Holder::parse(&text);
                    match &holder {
                        Some(h) if h.is_gone() => reclaim(dir, &path, &text)?,
                        _ => return Err(in_use(dir, &path, holder.as_ref())),
                    }
                }
                Err(e) => return Err(io_error(&path)(e)),
            }
        }
        Err(in_use(dir, &path, None))
    }
}

/// Removes the stale claim `stale` (the text read from `lock`), moving it aside first so a
/// fresh claim made meanwhile is put back rather than removed.
fn reclaim(dir: &Path, lock: &Path, stale: &str) -> Result<()> {
    let aside = dir.join(format!("{LOCK_FILE}.stale-{}", std::process::id()));
    match std::fs::rename(lock, &aside) {
        Ok(()) => {}
        // Another run reclaimed it first.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(lock)(e)),
    }
    let moved = std::fs::read_to_string(&aside).unwrap_or_default();
    if moved == stale {
        std::fs::remove_file(&aside).map_err(io_error(&aside))?;
        return Ok(());
    }
    // A live run's claim: put it back (unless yet another claim took its place) and refuse.
    let _ = std::fs::hard_link(&aside, lock);
    let _ = std::fs::remove_file(&aside);
    Err(in_use(dir, lock, Holder::parse(&moved).as_ref()))
}

/// Removes the claim file at `path` if it is still `token`'s.
fn remove_if_ours(path: &Path, token: &str) {
    if std::fs::read_to_string(path).is_ok_and(|text| text == token) {
        let _ = std::fs::remove_file(path);
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        remove_if_ours(&self.path, &self.token);
        if let Ok(mut held) = HELD.lock() {
            held.retain(|(p, _)| p != &self.path);
        }
    }
}

/// Removes every claim this process holds, for an exit that skips destructors.
pub fn release_all() {
    if let Ok(held) = HELD.lock() {
        for (path, token) in held.iter() {
            remove_if_ours(path, token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("distill-lock-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_claimed_folder_is_refused_until_released() {
        let dir = fresh("claim");
        let lock = OutputLock::claim(&dir).unwrap();
        let e = OutputLock::claim(&dir).unwrap_err().to_string();
        assert!(
            e.contains("in use") && e.contains(&dir.display().to_string()),
            "{e}"
        );
        drop(lock);
        assert!(!dir.join(LOCK_FILE).exists());
        drop(OutputLock::claim(&dir).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_dead_process_claim_is_reclaimed_and_an_unreadable_one_is_not() {
        if !Path::new("/proc/self").exists() {
            return;
        }
        let dir = fresh("stale");
        // Beyond Linux's largest process id, so never running.
        let stale = format!("pid 4294967295\nhost {}\nclaim 1\n", host_name());
        std::fs::write(dir.join(LOCK_FILE), &stale).unwrap();
        let lock = OutputLock::claim(&dir).unwrap();
        let text = std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(lock);
        std::fs::write(dir.join(LOCK_FILE), "").unwrap();
        let e = OutputLock::claim(&dir).unwrap_err().to_string();
        assert!(e.contains("remove"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
