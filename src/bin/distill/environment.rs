//! The process environment the GPU drivers read. Mesa's software drivers (lavapipe, llvmpipe)
//! print `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` when that variable
//! is missing, as it is in containers, CI and `sudo` shells; compute work never uses the
//! folder, but the line alarms people. A missing or unusable one is pointed at a private
//! folder of this user's before any driver loads.

use std::path::{Path, PathBuf};

/// Sets `XDG_RUNTIME_DIR` to a private folder when it is unset or not a folder; must run
/// before any thread starts (it changes the process environment). Leaves it alone when the
/// folder cannot be made.
pub fn ensure_runtime_dir() {
    let usable = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|dir| Path::new(&dir).is_dir());
    if usable {
        return;
    }
    let dir = private_dir();
    if create_private(&dir).is_ok() {
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
}

/// A per-user folder under the temporary directory.
fn private_dir() -> PathBuf {
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    std::env::temp_dir().join(format!("distill-runtime-{user}"))
}

#[cfg(unix)]
fn create_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // Mesa, like the XDG specification, wants the folder to be the user's alone.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}
