//! `--data` in every format: `.npz` archives (stored and deflated), folders of `.npy` files
//! (float32, float64 and uint8 features, labels of any integer type), CSV folders with a
//! named label column, and `--standardize` with the training split's statistics. Each format
//! is read back exactly here, and trained end to end by `distill run` (GPU).

mod common;

use std::path::Path;

use common::cli::{assert_clean_failure, distill, stderr, temp_dir};
use common::formats::{blob_arrays, blobs, csv_text, npy, write, zip};
use distill_wgpu::data::{read_data, DataFormat, DataOptions, Inputs, Standardization};

fn read(path: &Path) -> distill_wgpu::data::TrainTest {
    read_data(path, &DataOptions::default()).unwrap()
}

#[test]
fn npz_archives_stored_and_deflated_read_the_arrays_exactly() {
    let dir = temp_dir("formats-npz");
    let (x_train, y_train) = blobs(60, 5, 3, 1);
    let (x_test, y_test) = blobs(15, 5, 3, 2);
    for deflate in [false, true] {
        let path = dir.join(format!("data-{deflate}.npz"));
        std::fs::write(&path, zip(&blob_arrays(60, 15, 5), deflate)).unwrap();
        assert_eq!(DataFormat::detect(&path).unwrap(), DataFormat::Npz);
        let data = read(&path);
        assert_eq!(data.train.inputs, Inputs::F32(x_train.clone()));
        assert_eq!(data.test.inputs, Inputs::F32(x_test.clone()));
        assert_eq!(
            (data.train.labels.clone(), data.test.labels.clone()),
            (y_train.clone(), y_test.clone())
        );
        assert_eq!(
            (data.train.height, data.train.width, data.classes),
            (1, 5, 3)
        );
        assert!(data.train.is_tabular());
    }
}

#[test]
fn npy_folders_take_float64_and_uint8_features_and_any_integer_labels() {
    let dir = temp_dir("formats-npy-f64");
    let train: Vec<f64> = (0..12).map(|i| i as f64 * 0.25 - 1.0).collect();
    let test: Vec<f64> = vec![1e-3, -2.5, 7.0];
    write(&dir, "x_train.npy", &npy(&[4, 3], &train));
    write(&dir, "y_train.npy", &npy(&[4, 1], &[0i32, 1, 2, 1]));
    write(&dir, "x_test.npy", &npy(&[1, 3], &test));
    write(&dir, "y_test.npy", &npy(&[1], &[4u16]));
    assert_eq!(DataFormat::detect(&dir).unwrap(), DataFormat::NpyDir);
    // Class 4 is in the test split only: read when the class count is stated.
    let stated = DataOptions {
        classes: Some(5),
        ..Default::default()
    };
    let data = read_data(&dir, &stated).unwrap();
    let narrowed = |v: &[f64]| Inputs::F32(v.iter().map(|&x| x as f32).collect());
    assert_eq!(data.train.inputs, narrowed(&train));
    assert_eq!(data.test.inputs, narrowed(&test));
    assert_eq!(data.train.labels, vec![0, 1, 2, 1]);
    assert_eq!(data.test.labels, vec![4]);
    assert_eq!(data.classes, 5, "the stated count");

    // uint8 images [N, H, W] keep their shape and are scaled by 1/255 when read.
    let dir = temp_dir("formats-npy-u8");
    let pixels: Vec<u8> = (0..2 * 4 * 5).map(|i| (i * 6) as u8).collect();
    write(&dir, "x_train.npy", &npy(&[2, 4, 5], &pixels));
    write(&dir, "y_train.npy", &npy(&[2], &[1u8, 0]));
    write(&dir, "x_test.npy", &npy(&[1, 4, 5], &pixels[..20]));
    write(&dir, "y_test.npy", &npy(&[1], &[1i8]));
    let data = read(&dir);
    assert_eq!(data.train.inputs, Inputs::U8(pixels.clone()));
    assert_eq!((data.train.height, data.train.width), (4, 5));
    assert_eq!(data.train.inputs_f32(1..2)[0], pixels[20] as f32 / 255.0);

    // [N, H, W, C] is flattened to one row of features.
    let dir = temp_dir("formats-npy-rank4");
    write(&dir, "x_train.npy", &npy(&[2, 2, 2, 3], &[0.5f32; 24]));
    write(&dir, "y_train.npy", &npy(&[2], &[1u64, 0]));
    write(&dir, "x_test.npy", &npy(&[1, 2, 2, 3], &[0.5f32; 12]));
    write(&dir, "y_test.npy", &npy(&[1], &[0u32]));
    let data = read(&dir);
    assert_eq!((data.train.height, data.train.width), (1, 12));
}

#[test]
fn csv_folders_find_the_named_label_column_anywhere() {
    let dir = temp_dir("formats-csv");
    let (x_train, y_train) = blobs(30, 4, 3, 1);
    let (x_test, y_test) = blobs(9, 4, 3, 2);
    let names = ["a", "b", "c", "d"];
    write(
        &dir,
        "train.csv",
        csv_text(&names, &x_train, &y_train, "species", 2).as_bytes(),
    );
    write(
        &dir,
        "test.csv",
        csv_text(&names, &x_test, &y_test, "species", 2).as_bytes(),
    );
    assert_eq!(DataFormat::detect(&dir).unwrap(), DataFormat::Csv);
    let options = DataOptions {
        label_column: Some("species".into()),
        standardize: false,
        ..Default::default()
    };
    let data = read_data(&dir, &options).unwrap();
    assert_eq!(
        data.train.inputs,
        Inputs::F32(x_train),
        "Rust's shortest float text reads back exactly"
    );
    assert_eq!(data.train.labels, y_train);
    assert_eq!(data.test.labels, y_test);
    assert_eq!(
        (data.train.height, data.train.width, data.classes),
        (1, 4, 3)
    );
    // The default name is `label`, which this file lacks.
    let err = read_data(&dir, &DataOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no column named \"label\"") && err.contains("DataOptions::label_column"),
        "{err}"
    );
}

#[test]
fn standardize_uses_the_training_split_statistics_for_both_splits() {
    let dir = temp_dir("formats-standardize");
    // Feature 0 varies, feature 1 is constant.
    write(
        &dir,
        "x_train.npy",
        &npy(&[4, 2], &[1.0f32, 5.0, 3.0, 5.0, 5.0, 5.0, 7.0, 5.0]),
    );
    write(&dir, "y_train.npy", &npy(&[4], &[0i64, 1, 0, 1]));
    write(&dir, "x_test.npy", &npy(&[1, 2], &[9.0f32, 6.0]));
    write(&dir, "y_test.npy", &npy(&[1], &[1i64]));
    let options = DataOptions {
        label_column: None,
        standardize: true,
        ..Default::default()
    };
    let data = read_data(&dir, &options).unwrap();
    // Training feature 0: mean 4, population std sqrt(5).
    let s = 5f32.sqrt();
    let expected_train = [-3.0 / s, 0.0, -1.0 / s, 0.0, 1.0 / s, 0.0, 3.0 / s, 0.0];
    let Inputs::F32(train) = &data.train.inputs else {
        panic!("standardized features are floats")
    };
    for (got, want) in train.iter().zip(expected_train) {
        assert!((got - want).abs() < 1e-6, "{train:?}");
    }
    // The test split is shifted and scaled by the training statistics, not its own; the
    // constant feature's scale is 1.
    let Inputs::F32(test) = &data.test.inputs else {
        panic!()
    };
    assert!(
        (test[0] - 5.0 / s).abs() < 1e-6 && (test[1] - 1.0).abs() < 1e-6,
        "{test:?}"
    );
    let stats = Standardization::fit(&read(&dir).train).unwrap();
    assert_eq!(stats.std[1], 1.0);
}

#[test]
fn label_column_is_refused_for_data_without_columns() {
    let dir = temp_dir("formats-label-npz");
    let path = dir.join("d.npz");
    std::fs::write(&path, zip(&blob_arrays(6, 3, 2), false)).unwrap();
    let options = DataOptions {
        label_column: Some("y".into()),
        standardize: false,
        ..Default::default()
    };
    let err = read_data(&path, &options).unwrap_err().to_string();
    assert!(
        err.contains("DataOptions::label_column") && err.contains("npz"),
        "{err}"
    );
}

/// `distill run` trains a live teacher and both students on each format, and `eval` reads
/// the same data again.
#[test]
fn distill_run_trains_on_every_format_end_to_end() {
    if common::gpu().is_none() {
        return;
    }
    let dir = temp_dir("formats-run");
    let npz = dir.join("blobs.npz");
    std::fs::write(&npz, zip(&blob_arrays(240, 60, 6), true)).unwrap();
    let npy_dir = dir.join("npy");
    std::fs::create_dir_all(&npy_dir).unwrap();
    for (name, bytes) in blob_arrays(240, 60, 6) {
        write(&npy_dir, name, &bytes);
    }
    let csv_dir = dir.join("csv");
    std::fs::create_dir_all(&csv_dir).unwrap();
    let names = ["f0", "f1", "f2", "f3", "f4", "f5"];
    let (x, y) = blobs(240, 6, 3, 1);
    write(
        &csv_dir,
        "train.csv",
        csv_text(&names, &x, &y, "target", 6).as_bytes(),
    );
    let (x, y) = blobs(60, 6, 3, 2);
    write(
        &csv_dir,
        "test.csv",
        csv_text(&names, &x, &y, "target", 6).as_bytes(),
    );

    let small = [
        "--hidden",
        "16",
        "--teacher-hidden",
        "32",
        "--epochs",
        "6",
        "--teacher-epochs",
        "6",
        "--batch-size",
        "20",
        "--quiet",
    ];
    for (name, data, extra) in [
        ("npz", &npz, vec!["--standardize"]),
        ("npy", &npy_dir, vec!["--standardize"]),
        (
            "csv",
            &csv_dir,
            vec!["--label-column", "target", "--standardize"],
        ),
    ] {
        let out = dir.join(format!("out-{name}"));
        let mut args = vec![
            "run",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(small);
        args.extend(extra.iter().copied());
        let run = distill(&args);
        assert!(run.status.success(), "{name}: {}", stderr(&run));
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        let models = report["models"].as_array().unwrap();
        assert_eq!(
            models.len(),
            3,
            "{name}: teacher, scratch and distilled students"
        );
        for m in models {
            assert_eq!(m["sizes"][0], 6, "{name}: six features in");
            assert_eq!(m["test_count"], 60);
            // Three well separated blobs: far better than the 2/3 errors of chance.
            assert!(m["test_errors"].as_u64().unwrap() <= 12, "{name}: {m}");
        }
        let model = out.join("student-distilled.safetensors");
        let mut eval = vec!["eval", "--model", model.to_str().unwrap()];
        eval.extend(["--data", data.to_str().unwrap()]);
        eval.extend(extra.iter().copied());
        let run = distill(&eval);
        assert!(run.status.success(), "{name} eval: {}", stderr(&run));
    }

    // Tabular samples cannot be shifted.
    let out = dir.join("out-jitter");
    assert_clean_failure(
        &distill(&[
            "train",
            "--data",
            npz.to_str().unwrap(),
            "--jitter",
            "1",
            "--hidden",
            "8",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]),
        "tabular",
    );
}
