//! `distill distill` with DKD, hints and an EMA teacher, and `distill mutual`, from the
//! command line: bad settings fail with one clear error line before any training, and small
//! runs write their students.

mod common;

use common::cli::{assert_clean_failure, distill, stderr, temp_dir};

const TEACHER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/teacher-mnist10k.safetensors"
);

#[test]
fn bad_objective_settings_fail_before_any_training() {
    let out = temp_dir("bad");
    let out = out.to_str().unwrap();
    let fails = |args: &[&str], needle: &str| {
        let mut all = args.to_vec();
        all.extend(["--out", out, "--epochs", "1"]);
        assert_clean_failure(&distill(&all), needle);
    };
    fails(&["mutual", "--students", "1"], "at least 2 students");
    fails(
        &["mutual", "--students", "3", "--hidden", "8;8"],
        "2 architectures for 3 students",
    );
    fails(
        &[
            "distill",
            "--teacher",
            TEACHER,
            "--loss",
            "dkd",
            "--dkd-beta",
            "-1",
        ],
        "--dkd-alpha/--dkd-beta",
    );
    fails(
        &[
            "distill",
            "--teacher",
            TEACHER,
            "--loss",
            "dkd",
            "--dkd-alpha",
            "nan",
        ],
        "--dkd-alpha/--dkd-beta",
    );
    fails(
        &[
            "distill",
            "--teacher",
            TEACHER,
            "--hint",
            "1:1",
            "--hint-weight",
            "-2",
        ],
        "--hint-weight",
    );
    fails(
        &["distill", "--teacher", TEACHER, "--hint", "1-1"],
        "TEACHER:STUDENT hidden layers",
    );
    fails(&["distill", "--ema-teacher", "1"], "--ema-teacher");
    fails(&["distill", "--ema-teacher", "0"], "--ema-teacher");
    fails(
        &["distill", "--ema-teacher", "0.9", "--hint", "1:1"],
        "needs a --teacher",
    );
    fails(
        &[
            "distill",
            "--ema-teacher",
            "0.9",
            "--teacher-update-every",
            "0",
        ],
        "at least 1 step",
    );
    with_gpu!(_ctx => {
        fails(&["distill", "--teacher", TEACHER, "--hint", "2:3"], "hint layer 3 does not exist");
        fails(&["distill", "--teacher", TEACHER, "--ema-teacher", "0.9", "--loss", "dkd"], "dkd takes one teacher");
    });
}

#[test]
fn small_runs_of_each_objective_write_their_students() {
    with_gpu!(_ctx => {
        let out = temp_dir("mutual");
        let run = distill(&["mutual", "--students", "2", "--hidden", "16;8", "--epochs", "1", "--quiet", "--out", out.to_str().unwrap()]);
        assert!(run.status.success(), "{}", stderr(&run));
        for k in [1, 2] {
            assert!(out.join(format!("mutual-{k}.safetensors")).is_file());
        }
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        let models = report["models"].as_array().unwrap();
        assert_eq!(models.len(), 2);
        assert_eq!(models[1]["sizes"], serde_json::json!([784, 8, 10]));
        for m in models {
            assert!(m["test_errors"].as_u64().unwrap() < 1000, "{m}");
        }

        let out = temp_dir("dkd-hint");
        let run = distill(&["distill", "--teacher", TEACHER, "--loss", "dkd", "--dkd-warmup-epochs", "1", "--hint", "2:1", "--hint-epochs", "1", "--hidden", "16", "--epochs", "2", "--quiet", "--out", out.to_str().unwrap()]);
        assert!(run.status.success(), "{}", stderr(&run));
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["settings"]["temperature"], 4.0, "DKD's T unless given");
        assert_eq!(report["settings"]["objectives"]["hint"]["stage_epochs"], 1);
        // One hint-only epoch and one DKD epoch of a 16-unit student: better than chance.
        assert!(report["models"][0]["test_errors"].as_u64().unwrap() < 1700);

        let out = temp_dir("ema");
        let run = distill(&["distill", "--ema-teacher", "0.99", "--temperature", "4", "--alpha", "0.5", "--hidden", "16", "--epochs", "2", "--quiet", "--out", out.to_str().unwrap()]);
        assert!(run.status.success(), "{}", stderr(&run));
        assert!(out.join("student-ema.safetensors").is_file());
    });
}
