//! `distill make-data friedman1`, `distill train --task regression` and
//! `distill distill --task regression`: the files they write, RMSE and MAE in the output and
//! its JSON, the loss flags parsed into typed settings, and refusals of flags that do not apply.

mod common;

use common::cli::{assert_clean_failure, distill, stderr, temp_dir};

fn ok(args: &[&str]) -> String {
    let out = distill(args);
    assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn make_data_train_and_distill_regression_end_to_end() {
    if common::gpu().is_none() {
        eprintln!("skipped: no GPU ({})", common::SKIP_ENV);
        return;
    }
    let dir = temp_dir("regression");
    let data = dir.join("friedman");
    let data_s = data.to_str().unwrap();
    let text = ok(&[
        "make-data",
        "friedman1",
        "--out",
        data_s,
        "--train",
        "400",
        "--test",
        "200",
        "--seed",
        "3",
    ]);
    assert!(
        text.contains("400 training, 200 test samples of 10 features"),
        "{text}"
    );
    let header = std::fs::read_to_string(data.join("train.csv")).unwrap();
    assert!(
        header.starts_with("x0,x1,x2,x3,x4,x5,x6,x7,x8,x9,y\n"),
        "{}",
        &header[..60]
    );
    // The folder now holds data: a second write is refused unless --force.
    assert_clean_failure(
        &distill(&["make-data", "friedman1", "--out", data_s]),
        "already holds results",
    );
    let teacher_dir = dir.join("teacher");
    let t = teacher_dir.to_str().unwrap();
    let common_flags = [
        "--data",
        data_s,
        "--target-column",
        "y",
        "--epochs",
        "20",
        "--batch-size",
        "32",
        "--lr",
        "0.003",
        "--quiet",
    ];
    let mut args = vec![
        "train",
        "--task",
        "regression",
        "--hidden",
        "32,32",
        "--out",
        t,
    ];
    args.extend(common_flags);
    let text = ok(&args);
    assert!(text.contains("RMSE") && text.contains("MAE"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(teacher_dir.join("results.json")).unwrap())
            .unwrap();
    let teacher_rmse = json["models"][0]["rmse"].as_f64().unwrap();
    assert!(teacher_rmse < 4.0, "{json}");
    assert!(json["models"][0]["mae"].as_f64().unwrap() <= teacher_rmse);
    let model = teacher_dir.join("model.safetensors");
    assert!(model.exists());
    for (loss, extra) in [
        ("mse", vec![]),
        ("huber", vec!["--huber-delta", "0.5"]),
        ("bounded", vec!["--bound-margin", "0.1"]),
    ] {
        let student_dir = dir.join(format!("student-{loss}"));
        let mut args = vec![
            "distill",
            "--task",
            "regression",
            "--teacher",
            model.to_str().unwrap(),
            "--regression-loss",
            loss,
            "--alpha",
            "0.5",
            "--out",
            student_dir.to_str().unwrap(),
        ];
        args.extend(&extra);
        args.extend(common_flags);
        let text = ok(&args);
        assert!(
            text.contains("teacher") && text.contains("student"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(student_dir.join("results.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["loss"]["form"]["form"], loss, "{json}");
        assert_eq!(json["loss"]["alpha"], 0.5);
        assert!(json["models"][1]["rmse"].as_f64().unwrap() < 6.0, "{json}");
        assert!(student_dir.join("student.safetensors").exists());
    }
    let huber = std::fs::read_to_string(dir.join("student-huber/results.json")).unwrap();
    assert!(huber.contains("\"delta\": 0.5"), "{huber}");
}

#[test]
fn bad_regression_flags_are_refused_by_name() {
    let dir = temp_dir("regression-flags");
    let out = dir.join("o");
    let o = out.to_str().unwrap();
    assert_clean_failure(
        &distill(&["train", "--task", "regresion", "--out", o]),
        "regresion",
    );
    assert_clean_failure(
        &distill(&[
            "train",
            "--task",
            "regression",
            "--regression-loss",
            "l1",
            "--out",
            o,
        ]),
        "l1",
    );
    assert_clean_failure(
        &distill(&[
            "train",
            "--task",
            "regression",
            "--huber-delta",
            "0",
            "--out",
            o,
        ]),
        "huber-delta",
    );
    assert_clean_failure(
        &distill(&[
            "train",
            "--task",
            "regression",
            "--bound-margin",
            "nan",
            "--out",
            o,
        ]),
        "bound-margin",
    );
    assert_clean_failure(
        &distill(&[
            "train",
            "--task",
            "regression",
            "--huber-delta",
            "2",
            "--out",
            o,
        ]),
        "--regression-loss huber",
    );
    assert_clean_failure(
        &distill(&[
            "train",
            "--task",
            "regression",
            "--regression-loss",
            "huber",
            "--bound-margin",
            "1",
            "--out",
            o,
        ]),
        "--regression-loss bounded",
    );
    assert_clean_failure(
        &distill(&["train", "--task", "regression", "--out", o]),
        "needs --data",
    );
    assert_clean_failure(
        &distill(&[
            "train",
            "--task",
            "regression",
            "--label-column",
            "y",
            "--out",
            o,
        ]),
        "--label-column",
    );
    assert_clean_failure(
        &distill(&["train", "--target-column", "y", "--out", o]),
        "--task regression",
    );
    assert_clean_failure(
        &distill(&[
            "distill",
            "--task",
            "regression",
            "--teacher",
            "a",
            "--teacher",
            "b",
            "--data",
            o,
            "--out",
            o,
        ]),
        "one --teacher",
    );
    assert_clean_failure(
        &distill(&["make-data", "friedman2", "--out", o]),
        "friedman2",
    );
}
