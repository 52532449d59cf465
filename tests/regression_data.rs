//! Regression data: CSV folders with one or several named target columns and NumPy archives
//! with float targets `[N]` or `[N, K]` read back exactly; bad files (a non-numeric or NaN
//! target, a missing target column, integer targets) get typed errors naming the file, the
//! column or output and the row; Friedman #1 is seeded and follows its formula; written CSV
//! reads back as the same data.

mod common;

use std::path::Path;

use common::formats::{npy, zip};
use distill_wgpu::data::regression_files::read_regression_csv_dir;
use distill_wgpu::data::{
    friedman1, friedman1_splits, read_regression, write_regression_csv_dir, Inputs,
    RegressionOptions,
};
use distill_wgpu::Error;

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("distill-regression-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_csvs(d: &Path, train: &str, test: &str) {
    std::fs::write(d.join("train.csv"), train).unwrap();
    std::fs::write(d.join("test.csv"), test).unwrap();
}

fn targets(names: &[&str]) -> RegressionOptions {
    RegressionOptions {
        target_columns: names.iter().map(|s| s.to_string()).collect(),
        standardize: false,
    }
}

/// The message of a format error, after checking it names `file`.
fn format_message(err: Error, file: &str) -> String {
    match err {
        Error::Format { path, message } => {
            assert!(path.ends_with(file), "{} vs {file}", path.display());
            message
        }
        other => panic!("expected a format error, got {other}"),
    }
}

#[test]
fn csv_with_one_or_several_target_columns_reads_back() {
    let d = dir("csv-good");
    write_csvs(
        &d,
        "a,target,b\n1,2.5,3\n4,-5e-1,6\n",
        "a,target,b\n7,8,9\n",
    );
    let s = read_regression(&d, &RegressionOptions::default()).unwrap();
    assert_eq!(s.train.inputs, Inputs::F32(vec![1.0, 3.0, 4.0, 6.0]));
    assert_eq!(s.train.targets, vec![2.5, -0.5]);
    assert_eq!((s.train.features, s.train.outputs, s.test.len()), (2, 1, 1));
    assert_eq!(s.target_names, vec!["target"]);
    // Two targets, named in output order (not column order).
    write_csvs(&d, "y1,x,y0\n1,2,3\n4,5,6\n", "y1,x,y0\n7,8,9\n");
    let s = read_regression(&d, &targets(&["y0", "y1"])).unwrap();
    assert_eq!(s.train.targets, vec![3.0, 1.0, 6.0, 4.0]);
    assert_eq!(s.train.inputs, Inputs::F32(vec![2.0, 5.0]));
    assert_eq!((s.train.outputs, s.train.features), (2, 1));
    assert_eq!(s.test.targets, vec![9.0, 7.0]);
}

#[test]
fn bad_csv_targets_are_named_by_file_column_and_line() {
    let d = dir("csv-bad");
    let good_test = "x,target\n1,2\n";
    write_csvs(&d, "x,target\n1,2\n3,abc\n", good_test);
    let m = format_message(
        read_regression(&d, &RegressionOptions::default()).unwrap_err(),
        "train.csv",
    );
    assert!(
        m.contains("line 3") && m.contains("target column \"target\"") && m.contains("\"abc\""),
        "{m}"
    );
    write_csvs(&d, "x,target\n1,NaN\n", good_test);
    let m = format_message(
        read_regression(&d, &RegressionOptions::default()).unwrap_err(),
        "train.csv",
    );
    assert!(
        m.contains("line 2") && m.contains("NaN") && m.contains("finite"),
        "{m}"
    );
    write_csvs(&d, "x,target\n1,2\n", "x,target\n1,inf\n");
    let m = format_message(
        read_regression(&d, &RegressionOptions::default()).unwrap_err(),
        "test.csv",
    );
    assert!(m.contains("line 2") && m.contains("inf"), "{m}");
    write_csvs(&d, "x,y\n1,2\n", "x,y\n1,2\n");
    let m = format_message(
        read_regression(&d, &RegressionOptions::default()).unwrap_err(),
        "train.csv",
    );
    assert!(
        m.contains("no target column named \"target\"") && m.contains("--target-column"),
        "{m}"
    );
    let m = format_message(
        read_regression(&d, &targets(&["y", "z"])).unwrap_err(),
        "train.csv",
    );
    assert!(m.contains("\"z\""), "{m}");
    let m = format_message(
        read_regression(&d, &targets(&["x", "y"])).unwrap_err(),
        "train.csv",
    );
    assert!(m.contains("no feature columns"), "{m}");
    let m = format_message(
        read_regression(&d, &targets(&["y", "y"])).unwrap_err(),
        "train.csv",
    );
    assert!(m.contains("named twice"), "{m}");
    write_csvs(&d, "x,y\n1,2\n", "w,y\n1,2\n");
    let m = format_message(
        read_regression(&d, &targets(&["y"])).unwrap_err(),
        "test.csv",
    );
    assert!(m.contains("feature columns differ"), "{m}");
    // A bad feature is named as a feature.
    write_csvs(&d, "x,y\n?,2\n", "x,y\n1,2\n");
    let m = format_message(
        read_regression_csv_dir(&d, &["y".to_string()]).unwrap_err(),
        "train.csv",
    );
    assert!(m.contains("feature column \"x\""), "{m}");
}

fn arrays(y_train: Vec<u8>, y_test: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "x_train.npy",
            npy(&[3, 2], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]),
        ),
        ("y_train.npy", y_train),
        ("x_test.npy", npy(&[1, 2], &[7.0f64, 8.0])),
        ("y_test.npy", y_test),
    ]
}

#[test]
fn npz_targets_of_one_or_several_outputs_read_back() {
    let d = dir("npz-good");
    let path = d.join("data.npz");
    std::fs::write(
        &path,
        zip(
            &arrays(npy(&[3], &[0.5f32, 1.5, 2.5]), npy(&[1], &[3.5f64])),
            true,
        ),
    )
    .unwrap();
    let s = read_regression(&path, &RegressionOptions::default()).unwrap();
    assert_eq!(s.train.targets, vec![0.5, 1.5, 2.5]);
    assert_eq!(s.test.targets, vec![3.5]);
    assert_eq!((s.train.features, s.train.outputs), (2, 1));
    std::fs::write(
        &path,
        zip(
            &arrays(
                npy(&[3, 2], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]),
                npy(&[1, 2], &[1.0f32, 2.0]),
            ),
            false,
        ),
    )
    .unwrap();
    let s = read_regression(&path, &RegressionOptions::default()).unwrap();
    assert_eq!((s.train.outputs, s.train.len()), (2, 3));
    assert_eq!(s.target_names, vec!["y0", "y1"]);
    // Target columns name CSV columns only.
    let err = read_regression(&path, &targets(&["y"])).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig(m) if m.contains("CSV")),
        "{err}"
    );
}

#[test]
fn bad_npz_targets_are_typed_errors() {
    let d = dir("npz-bad");
    let path = d.join("data.npz");
    let write = |y_train: Vec<u8>| {
        std::fs::write(&path, zip(&arrays(y_train, npy(&[1], &[1.0f32])), false)).unwrap();
        read_regression(&path, &RegressionOptions::default()).unwrap_err()
    };
    let m = format_message(write(npy(&[3], &[1.0f32, f32::NAN, 2.0])), "y_train.npy");
    assert!(m.contains("sample 1") && m.contains("NaN"), "{m}");
    let m = format_message(write(npy(&[3], &[1i64, 2, 3])), "y_train.npy");
    assert!(m.contains("float32 or float64"), "{m}");
    let m = format_message(write(npy(&[2], &[1.0f32, 2.0])), "y_train.npy");
    assert!(m.contains("2 samples") && m.contains("3"), "{m}");
    let m = format_message(write(npy(&[3, 1, 1], &[1.0f32, 2.0, 3.0])), "y_train.npy");
    assert!(m.contains("shape"), "{m}");
}

#[test]
fn idx_folders_are_refused_for_regression() {
    let err = read_regression(
        &distill_wgpu::data::bundled_dir(),
        &RegressionOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig(m) if m.contains("IDX")),
        "{err}"
    );
}

#[test]
fn friedman1_is_seeded_and_follows_its_formula() {
    let noiseless = friedman1(200, 0.0, 4).unwrap();
    let x = noiseless.inputs.to_f32();
    assert_eq!(
        (noiseless.features, noiseless.outputs, noiseless.len()),
        (10, 1, 200)
    );
    assert!(x.iter().all(|v| (0.0..1.0).contains(v)));
    for (row, &y) in x.chunks_exact(10).zip(&noiseless.targets) {
        let r: Vec<f64> = row.iter().map(|&v| v as f64).collect();
        let e = 10.0 * (std::f64::consts::PI * r[0] * r[1]).sin()
            + 20.0 * (r[2] - 0.5).powi(2)
            + 10.0 * r[3]
            + 5.0 * r[4];
        assert!(
            (y as f64 - e).abs() <= 1e-5 * e.abs().max(1.0),
            "{y} vs {e}"
        );
    }
    // Unit noise: the residual's standard deviation is close to 1.
    let noisy = friedman1(4000, 1.0, 4).unwrap();
    let clean = friedman1(4000, 0.0, 4).unwrap();
    assert_eq!(noisy.inputs, clean.inputs);
    let n = 4000.0;
    let (sum, squares) =
        noisy
            .targets
            .iter()
            .zip(&clean.targets)
            .fold((0.0, 0.0), |(s, q), (a, b)| {
                let d = (a - b) as f64;
                (s + d, q + d * d)
            });
    let std = (squares / n - (sum / n).powi(2)).sqrt();
    assert!(
        (std - 1.0).abs() < 0.05 && (sum / n).abs() < 0.05,
        "noise mean {} std {std}",
        sum / n
    );
    assert_eq!(
        friedman1_splits(50, 20, 9).unwrap(),
        friedman1_splits(50, 20, 9).unwrap()
    );
    assert_ne!(
        friedman1_splits(50, 20, 9).unwrap().train,
        friedman1_splits(50, 20, 9).unwrap().test
    );
    assert!(matches!(friedman1(0, 1.0, 1), Err(Error::EmptyBatch)));
    assert!(matches!(
        friedman1(5, f64::NAN, 1),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn written_csv_reads_back_as_the_same_data() {
    let d = dir("roundtrip");
    let splits = friedman1_splits(40, 10, 2).unwrap();
    write_regression_csv_dir(&d, &splits).unwrap();
    let back = read_regression(
        &d,
        &RegressionOptions {
            target_columns: vec!["y".into()],
            standardize: false,
        },
    )
    .unwrap();
    assert_eq!(back, splits);
    let standardized = read_regression(
        &d,
        &RegressionOptions {
            target_columns: vec!["y".into()],
            standardize: true,
        },
    )
    .unwrap();
    assert_eq!(standardized.train.targets, splits.train.targets);
    let x = standardized.train.inputs.to_f32();
    let mean: f64 = x.chunks_exact(10).map(|r| r[0] as f64).sum::<f64>() / 40.0;
    assert!(mean.abs() < 1e-5, "{mean}");
}
