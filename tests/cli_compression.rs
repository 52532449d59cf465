//! `distill distill --quantize int8` and `--prune FRACTION --from STUDENT`: bad values are
//! refused by name before anything runs, the int8 file reads back through `distill eval` with
//! the same errors as its float copy, and a pruned fine-tune reaches its sparsity.

mod common;

use common::cli::{assert_clean_failure, distill, stderr, temp_dir};

const TEACHER: &str = "models/teacher-mnist10k.safetensors";

#[test]
fn bad_compression_flags_are_refused_by_name() {
    for bad in ["1.5", "-0.1", "1", "nan"] {
        let out = distill(&["distill", "--teacher", "t", "--prune", bad, "--from", "x"]);
        assert_clean_failure(&out, "must lie in [0, 1)");
    }
    let out = distill(&["distill", "--teacher", "t", "--prune", "0.5"]);
    assert_clean_failure(&out, "required arguments were not provided");
    let out = distill(&["distill", "--teacher", "t", "--quantize", "int4"]);
    assert_clean_failure(&out, "expected one of int8");
    let out = distill(&["distill", "--teacher", "t", "--finetune-epochs", "2"]);
    assert_clean_failure(&out, "required arguments were not provided");
}

/// The "N errors" of `distill eval --model FILE`.
fn eval_errors(model: &std::path::Path) -> String {
    let out = distill(&["eval", "--model", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.contains("errors"))
        .unwrap_or_else(|| panic!("{text}"));
    line.rsplit_once(": ").map(|(_, e)| e.to_string()).unwrap()
}

#[test]
fn an_int8_student_and_a_pruned_fine_tune_end_to_end() {
    if common::gpu().is_none() {
        eprintln!("no adapter; skipped");
        return;
    }
    let dir = temp_dir("int8");
    let out = dir.join("int8");
    let run = distill(&[
        "distill",
        "--teacher",
        TEACHER,
        "--hidden",
        "16",
        "--epochs",
        "1",
        "--quantize",
        "int8",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(String::from_utf8_lossy(&run.stdout).contains("bytes of tensors"));
    let int8 = out.join("student-distilled-int8.safetensors");
    let float = out.join("student-distilled.safetensors");
    assert_eq!(eval_errors(&int8), eval_errors(&float));
    assert!(std::fs::metadata(&int8).unwrap().len() < std::fs::metadata(&float).unwrap().len() / 3);
    let pruned = dir.join("pruned");
    let run = distill(&[
        "distill",
        "--teacher",
        TEACHER,
        "--prune",
        "0.8",
        "--from",
        float.to_str().unwrap(),
        "--finetune-epochs",
        "1",
        "--out",
        pruned.to_str().unwrap(),
        "-q",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(stdout.contains("80.0 % of the weights zero"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
