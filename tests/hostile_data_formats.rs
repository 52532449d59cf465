//! Corrupt and unsupported NumPy and CSV data sets: each gives an error that names the file
//! and the problem, never a panic, and nothing is read past the bounds a header promises.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{assert_clean_failure, distill, temp_dir};
use common::formats::{blob_arrays, npy, write, zip};
use distill_wgpu::data::{read_data, DataOptions};

/// The error reading `path`, as text (the read must fail).
fn error(path: &Path) -> String {
    match read_data(path, &DataOptions::default()) {
        Ok(_) => panic!("{} was read", path.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_error(path: &Path, needles: &[&str]) {
    let err = error(path);
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
}

/// A `.npz` of the good arrays with `name` replaced by `bytes` (or left out when `None`).
fn npz_with(dir: &Path, file: &str, name: &str, bytes: Option<Vec<u8>>) -> PathBuf {
    let mut members: Vec<(&str, Vec<u8>)> = blob_arrays(8, 4, 3)
        .into_iter()
        .filter(|(n, _)| *n != name)
        .collect();
    if let Some(bytes) = bytes {
        members.push((name, bytes));
    }
    let path = dir.join(file);
    std::fs::write(&path, zip(&members, false)).unwrap();
    path
}

#[test]
fn broken_npz_archives_are_named() {
    let dir = temp_dir("hostile-npz");
    let not_zip = dir.join("not-zip.npz");
    std::fs::write(&not_zip, b"this is not a zip archive at all").unwrap();
    assert_error(
        &not_zip,
        &["not-zip.npz", "not a readable .npz (zip) archive"],
    );

    let good = zip(&blob_arrays(8, 4, 3), true);
    let truncated = dir.join("truncated.npz");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    assert_error(&truncated, &["truncated.npz", "zip"]);

    // Flip bytes inside the first member's deflated data: the CRC or the inflater objects.
    let mut flipped = good.clone();
    for b in &mut flipped[60..90] {
        *b ^= 0x5a;
    }
    let corrupt = dir.join("corrupt.npz");
    std::fs::write(&corrupt, &flipped).unwrap();
    let err = error(&corrupt);
    assert!(err.contains("corrupt.npz"), "{err}");

    let missing = npz_with(&dir, "missing.npz", "y_test.npy", None);
    assert_error(&missing, &["no array y_test", "x_train.npy"]);

    let empty_dir = temp_dir("hostile-empty");
    assert_error(&empty_dir, &["train-images-idx3-ubyte"]);
}

#[test]
fn unsupported_or_inconsistent_arrays_are_named() {
    let dir = temp_dir("hostile-arrays");
    let cases: Vec<(&str, &str, Vec<u8>, &[&str])> = vec![
        (
            "int-features",
            "x_train.npy",
            npy(&[8, 3], &[1i32; 24]),
            &["x_train.npy", "dtype <i4", "float32, float64 or uint8"],
        ),
        (
            "bool-features",
            "x_train.npy",
            npy(&[8, 3], &[true; 24]),
            &["dtype |b1"],
        ),
        (
            "rank1-features",
            "x_train.npy",
            npy(&[8], &[0.5f32; 8]),
            &["shape [8]", "[samples, features]"],
        ),
        (
            "zero-features",
            "x_train.npy",
            npy(&[8, 0], &[0f32; 0]),
            &["no values per sample"],
        ),
        (
            "nan-features",
            "x_train.npy",
            npy(&[8, 3], &[f32::NAN; 24]),
            &["features in", "NaN"],
        ),
        (
            "huge-f64",
            "x_test.npy",
            npy(&[4, 3], &[1e300f64; 12]),
            &["x_test.npy", "inf"],
        ),
        (
            "float-labels",
            "y_train.npy",
            npy(&[8], &[1.0f32; 8]),
            &["y_train.npy", "integer class indices"],
        ),
        (
            "big-label",
            "y_train.npy",
            npy(&[8], &[300i64; 8]),
            &["label 300 of sample 0", "0 to 255"],
        ),
        (
            "negative-label",
            "y_test.npy",
            npy(&[4], &[0i32, 1, -1, 0]),
            &["label -1 of sample 2"],
        ),
        (
            "matrix-labels",
            "y_train.npy",
            npy(&[4, 2], &[0u8; 8]),
            &["labels of shape [4, 2]"],
        ),
        (
            "few-labels",
            "y_train.npy",
            npy(&[7], &[0u8; 7]),
            &["7 labels for 8 samples"],
        ),
        (
            "other-width",
            "x_test.npy",
            npy(&[4, 5], &[0f32; 20]),
            &["test samples are 1x5, training samples 1x3"],
        ),
    ];
    for (case, member, bytes, needles) in cases {
        let path = npz_with(&dir, &format!("{case}.npz"), member, Some(bytes));
        let err = error(&path);
        for needle in needles {
            assert!(err.contains(needle), "{case}: {needle:?} not in: {err}");
        }
    }

    // Fortran order, a truncated body, and a header that claims far more data than follows.
    let mut fortran = npy(&[8, 3], &[0.5f32; 24]);
    let at = fortran.windows(5).position(|w| w == b"False").unwrap();
    fortran[at..at + 5].copy_from_slice(b"True ");
    let path = npz_with(&dir, "fortran.npz", "x_train.npy", Some(fortran));
    assert_error(&path, &["Fortran-order"]);
    let full = npy(&[8, 3], &[0.5f32; 24]);
    let path = npz_with(
        &dir,
        "short.npz",
        "x_train.npy",
        Some(full[..full.len() - 5].to_vec()),
    );
    // The archive's directory and the header disagree: refused before inflating.
    assert_error(
        &path,
        &[
            "x_train.npy",
            "directory gives 219 bytes",
            "header promises 224",
        ],
    );
    let mut huge = npy(&[8, 3], &[0.5f32; 24]);
    let at = huge.windows(3).position(|w| w == b"(8,").unwrap();
    huge[at + 1] = b'9';
    let path = npz_with(&dir, "huge.npz", "x_train.npy", Some(huge));
    assert_error(
        &path,
        &[
            "x_train.npy",
            "directory gives 224 bytes",
            "header promises 236",
        ],
    );
}

#[test]
fn npy_folders_name_the_missing_or_irregular_file() {
    let dir = temp_dir("hostile-npy-dir");
    for (name, bytes) in blob_arrays(8, 4, 3) {
        if name != "x_test.npy" {
            write(&dir, name, &bytes);
        }
    }
    // The folder is recognised by x_train.npy; the missing one is named.
    assert_error(&dir, &["x_test.npy"]);
    std::fs::create_dir(dir.join("x_test.npy")).unwrap();
    assert_error(&dir, &["x_test.npy", "a directory, not an .npy file"]);
}

#[test]
fn broken_csv_files_name_the_line_and_column() {
    let dir = temp_dir("hostile-csv");
    let good_test = "a,b,label\n1,2,0\n3,4,1\n";
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "a,b,label\n1,x,0\n",
            good_test,
            &[
                "train.csv",
                "line 2",
                "column \"b\"",
                "\"x\" is not a number",
            ],
        ),
        (
            "a,b,label\n1,2,0\n1,2\n",
            good_test,
            &["train.csv", "line 3"],
        ),
        (
            "a,b,label\n1,2,0.5\n",
            good_test,
            &["\"0.5\" is not an integer class index"],
        ),
        (
            "a,b,label\n1,2,256\n",
            good_test,
            &["label 256", "0 to 255"],
        ),
        (
            "a,b,label\n1,NaN,1\n",
            good_test,
            &["line 2", "not a finite float32"],
        ),
        (
            "a,b,label\n",
            good_test,
            &["no samples after the header row"],
        ),
        ("", good_test, &["no column named \"label\""]),
        ("label\n1\n", good_test, &["no feature columns"]),
        (
            "a,b,label\n1,2,0\n",
            "b,a,label\n1,2,0\n",
            &["test.csv", "same columns in the same order"],
        ),
    ];
    for (train, test, needles) in cases {
        write(&dir, "train.csv", train.as_bytes());
        write(&dir, "test.csv", test.as_bytes());
        let err = error(&dir);
        for needle in *needles {
            assert!(
                err.contains(needle),
                "train.csv {train:?}: {needle:?} not in: {err}"
            );
        }
    }
    std::fs::remove_file(dir.join("test.csv")).unwrap();
    write(&dir, "train.csv", b"a,b,label\n1,2,0\n");
    assert_error(&dir, &["test.csv"]);
}

/// The command line reports each of these as one error line, before any GPU work.
#[test]
fn the_cli_reports_bad_data_as_one_error_line() {
    let dir = temp_dir("hostile-cli");
    let path = npz_with(
        &dir,
        "bad.npz",
        "y_train.npy",
        Some(npy(&[8], &[1.5f64; 8])),
    );
    let out = dir.join("out");
    assert_clean_failure(
        &distill(&[
            "run",
            "--data",
            path.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]),
        "integer class indices",
    );
    assert!(!out.join("report.json").exists());
}

/// A seeded mutation sweep: truncations and flipped bytes of a valid `.npz` (stored and
/// deflated) and of CSV text never panic, and whatever is read is self-consistent.
#[test]
fn mutated_archives_and_csv_never_panic() {
    let dir = temp_dir("hostile-sweep");
    let mut rng = distill_wgpu::SplitMix64::new(12);
    let consistent = |data: &distill_wgpu::data::TrainTest| {
        for split in [&data.train, &data.test] {
            assert_eq!(split.inputs.len(), split.len() * split.features());
            assert!(split.labels.iter().all(|&l| (l as usize) < data.classes));
        }
    };
    for deflate in [false, true] {
        let good = zip(&blob_arrays(8, 4, 3), deflate);
        let path = dir.join("m.npz");
        for case in 0..300 {
            let mut bytes = good.clone();
            if case % 3 == 0 {
                bytes.truncate(rng.below(good.len()));
            } else {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
            let _ = std::fs::remove_file(&path);
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(data) = read_data(&path, &DataOptions::default()) {
                consistent(&data);
            }
        }
    }
    let text = "a,b,label\n1.5,-2,0\n3,4e-3,1\n0,0,2\n".as_bytes();
    for case in 0..300 {
        let mut bytes = text.to_vec();
        if case % 3 == 0 {
            bytes.truncate(rng.below(text.len()));
        } else {
            let at = rng.below(bytes.len());
            bytes[at] = b",\n\"x9.-e"[rng.below(8)];
        }
        if let Ok((_, data)) =
            distill_wgpu::data::table::parse_csv(Path::new("t.csv"), &bytes, "label")
        {
            assert_eq!(data.inputs.len(), data.len() * data.features());
        }
    }
}
