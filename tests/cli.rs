//! The `distill` binary: bad input gives one clear error line and a non-zero exit, never a
//! panic or a partial file; `validate` and `bench` produce their documented JSON.

mod common;

use common::cli::{assert_clean_failure, distill, stderr, temp_dir};

#[test]
fn nonsensical_flags_are_rejected_before_any_work() {
    let out_dir = temp_dir("flags");
    let out = out_dir.to_str().unwrap();
    assert_clean_failure(&distill(&["--alpha", "1.5", "--out", out]), "alpha");
    assert_clean_failure(
        &distill(&["--temperature", "0", "--out", out]),
        "temperature",
    );
    assert_clean_failure(&distill(&["--hidden", "0", "--out", out]), "zero");
    assert_clean_failure(&distill(&["--batch-size", "0", "--out", out]), "batch");
    assert_clean_failure(&distill(&["--epochs", "-3"]), "");
    assert!(
        std::fs::read_dir(&out_dir).unwrap().next().is_none(),
        "a rejected run left files behind"
    );
}

#[test]
fn missing_and_corrupt_data_files_fail_cleanly() {
    assert_clean_failure(
        &distill(&["--data", "/nonexistent/folder"]),
        "train-images-idx3-ubyte",
    );
    let dir = temp_dir("corrupt-data");
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::write(dir.join(name), b"\x00\x00\x08\x01\x00\x00\x00\x05ab").unwrap();
    }
    assert_clean_failure(
        &distill(&["train", "--data", dir.to_str().unwrap()]),
        "need 5 data bytes",
    );
    assert_clean_failure(
        &distill(&[
            "eval",
            "--model",
            dir.join("train-images-idx3-ubyte").to_str().unwrap(),
        ]),
        "safetensors",
    );
}

#[test]
fn unknown_adapter_is_named_in_the_error() {
    assert_clean_failure(
        &distill(&["validate", "--adapter", "no-such-gpu-xyz"]),
        "no-such-gpu-xyz",
    );
}

#[test]
fn validate_json_reports_every_kernel_and_passes() {
    with_gpu!(_ctx => {
        let out = distill(&["validate", "--quick", "--json"]);
        assert!(out.status.success(), "validate failed: {}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["schema"], "distill-wgpu-validate/1");
        assert_eq!(report["passed"], true);
        let kernels: Vec<String> = report["kernels"].as_array().unwrap().iter().map(|k| k["kernel"].as_str().unwrap().to_string()).collect();
        for needed in ["matmul tiled-16x16", "matmul unrolled-32x16", "softmax", "log-softmax", "kd grad", "bias grad", "sgd params", "adamw params"] {
            assert!(kernels.iter().any(|k| k == needed), "{needed} missing from {kernels:?}");
        }
        assert!(report["adapter"]["name"].is_string());
    });
}

#[test]
fn bench_json_follows_the_documented_schema() {
    with_gpu!(_ctx => {
        let out = distill(&["bench", "--quick", "--json"]);
        assert!(out.status.success(), "bench failed: {}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["schema"], "distill-wgpu-bench/1");
        for key in ["name", "vendor", "backend", "driver", "device_type", "limits"] {
            assert!(!report["adapter"][key].is_null(), "adapter.{key} missing");
        }
        let kernels = report["kernels"].as_array().unwrap();
        assert!(kernels.iter().any(|k| k["kernel"] == "matmul" && k["gflops"].as_f64().unwrap() > 0.0));
        let steps = report["kd_step"].as_array().unwrap();
        let objectives: Vec<&str> = steps.iter().map(|s| s["objective"].as_str().unwrap()).collect();
        assert_eq!(objectives, ["kd", "kd", "dkd", "kd + hint 2:2", "kd + ema teacher", "mutual (2 students)"]);
        for name in ["dkd_loss", "hint_loss", "ema", "accumulate"] {
            assert!(kernels.iter().any(|k| k["kernel"] == name), "no {name} row");
        }
        assert!(steps.iter().all(|s| s["samples_per_second"].as_f64().unwrap() > 0.0 && s["submits_per_step"] == 1));
    });
}

#[test]
fn eval_of_a_saved_model_reports_errors() {
    with_gpu!(_ctx => {
        let dir = temp_dir("eval");
        let spec = distill_wgpu::MlpSpec::relu(&[784, 8, 10]).unwrap();
        let path = dir.join("m.safetensors");
        distill_wgpu::model::io::save(&path, &spec, &spec.init_parameters(1), &[]).unwrap();
        let out = distill(&["eval", "--model", path.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["test_count"], 1996);
        assert!(report["test_errors"].as_u64().unwrap() > 1000, "an untrained model should be near chance");
    });
}

#[test]
fn an_experiment_prints_and_writes_its_table() {
    let list = distill(&["experiment", "--list"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let names = String::from_utf8_lossy(&list.stdout);
    for name in ["specialists", "novel-class", "omitted-class", "ensemble"] {
        assert!(names.contains(name), "{names}");
    }
    assert_clean_failure(
        &distill(&["experiment", "nope", "--quick"]),
        "no experiment \"nope\"",
    );
    assert_clean_failure(&distill(&["experiment", "--quick"]), "name an experiment");
    assert_clean_failure(
        &distill(&["experiment", "ensemble", "--seeds", "1", "--epochs", "0"]),
        "--epochs",
    );
    with_gpu!(_ctx => {
        let out = temp_dir("experiment");
        let run = distill(&["experiment", "novel-class", "--quick", "--quiet", "--out", out.to_str().unwrap(), "--force"]);
        assert!(run.status.success(), "{}", stderr(&run));
        let stdout = String::from_utf8_lossy(&run.stdout);
        let table = std::fs::read_to_string(out.join("novel-class.md")).unwrap();
        assert!(stdout.contains(&table), "the printed table is the written one");
        assert!(table.contains("| student: partial KD (3 masked) |"), "{table}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("novel-class.json")).unwrap()).unwrap();
        assert_eq!(report["schema"], "distill-wgpu-experiment/1");
        assert_eq!(report["table"]["rows"].as_array().unwrap().len(), 4);
        assert_eq!(report["scale"]["seeds"], serde_json::json!([1]));
        // report.html: the table and a chart of its first column.
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert!(html.contains("<td>student: partial KD (3 masked)</td>"), "{html}");
        assert_eq!(html.matches("<svg").count(), 1, "{html}");
        assert!(!html.contains("no figure"), "{html}");
        // An --out that holds results is kept unless --force.
        let again = distill(&["experiment", "novel-class", "--quick", "--out", out.to_str().unwrap()]);
        assert_clean_failure(&again, "already");
    });
}

/// Mesa's "XDG_RUNTIME_DIR is invalid" line is not printed when the variable is missing or
/// names no folder: the binary points it at a private folder first.
#[test]
fn no_runtime_dir_warning_when_the_variable_is_missing_or_bad() {
    if common::gpu().is_none() {
        return;
    }
    for value in [None, Some("/nonexistent/runtime-dir")] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_distill"));
        command.arg("adapters");
        match value {
            None => command.env_remove("XDG_RUNTIME_DIR"),
            Some(v) => command.env("XDG_RUNTIME_DIR", v),
        };
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());
        assert!(
            !stderr(&out).contains("XDG_RUNTIME_DIR"),
            "{}",
            stderr(&out)
        );
    }
}
