//! Running the `distill` binary from tests: its output, its error lines, a fresh folder.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `distill` with `args`.
pub fn distill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(args)
        .output()
        .expect("failed to start distill")
}

/// Its stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Fails unless the run failed without a panic and with an `error` line holding `needle`.
pub fn assert_clean_failure(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "expected failure, stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert!(
        error_lines.iter().any(|l| l.contains(needle)),
        "no error line containing {needle:?} in:\n{err}"
    );
}

/// A fresh, empty folder named for this process and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distill-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
