//! The second hostile corpus over the data readers: test classes training never had, error
//! messages that stay short whatever a file holds, and symbolic links that lead nowhere.

mod common;

use std::path::Path;

use common::cli::temp_dir;
use common::formats::{blob_arrays, write};
use distill_wgpu::data::{read_data, DataOptions};

fn error(path: &Path, options: &DataOptions) -> String {
    match read_data(path, options) {
        Ok(_) => panic!("{} was read", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_test_class_training_never_had_is_refused_unless_the_count_is_stated() {
    let dir = temp_dir("unseen-class");
    write(
        &dir,
        "train.csv",
        b"a,b,label\n1,2,0\n3,4,1\n5,6,2\n7,8,0\n",
    );
    write(&dir, "test.csv", b"a,b,label\n1,2,0\n3,4,7\n");
    let err = error(&dir, &DataOptions::default());
    for needle in ["test.csv", "class 7", "test sample 1", "never has"] {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }

    // Stated, the count is used as it is.
    let stated = DataOptions {
        classes: Some(10),
        ..Default::default()
    };
    let data = read_data(&dir, &stated).unwrap();
    assert_eq!(data.classes, 10);

    // A stated count below a label is refused, naming the split and the sample.
    let too_few = DataOptions {
        classes: Some(5),
        ..Default::default()
    };
    let err = error(&dir, &too_few);
    for needle in [
        "test split",
        "sample 1",
        "label 7",
        "stated class count is 5",
    ] {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
    let one = DataOptions {
        classes: Some(1),
        ..Default::default()
    };
    assert!(error(&dir, &one).contains("at least 2"));

    // A class inside the training range but absent from it is refused too.
    write(&dir, "train.csv", b"a,b,label\n1,2,0\n3,4,2\n");
    write(&dir, "test.csv", b"a,b,label\n1,2,1\n");
    let err = error(&dir, &DataOptions::default());
    assert!(err.contains("class 1"), "{err}");

    // Without a stated count, the classes are the training split's.
    write(&dir, "train.csv", b"a,b,label\n1,2,0\n3,4,1\n5,6,2\n");
    write(&dir, "test.csv", b"a,b,label\n1,2,1\n");
    assert_eq!(read_data(&dir, &DataOptions::default()).unwrap().classes, 3);
}

#[test]
fn the_same_holds_for_npz_archives() {
    let dir = temp_dir("unseen-class-npz");
    let mut members = blob_arrays(8, 4, 3);
    let labels: Vec<i64> = vec![0, 1, 2, 9];
    members[3].1 = common::formats::npy(&[4], &labels);
    let path = dir.join("d.npz");
    std::fs::write(&path, common::formats::zip(&members, false)).unwrap();
    let err = error(&path, &DataOptions::default());
    for needle in ["d.npz (y_test)", "class 9", "test sample 3"] {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
}

/// Errors about wide CSV files name the first differing column and the counts, not both
/// headers: a 200,000-column file gives a message of a few hundred bytes.
#[test]
fn errors_about_wide_csv_headers_stay_short() {
    let dir = temp_dir("wide-csv");
    let columns = 200_000;
    let names: Vec<String> = (0..columns).map(|i| format!("feature_{i}")).collect();
    let row = |label: &str| {
        let mut fields = vec!["0.5"; columns];
        fields.push(label);
        fields.join(",")
    };
    let header = |names: &[String]| {
        let mut all = names.to_vec();
        all.push("label".into());
        all.join(",")
    };
    let train = format!("{}\n{}\n", header(&names), row("0"));
    let mut renamed = names.clone();
    renamed[123_456] = "renamed".into();
    let test = format!("{}\n{}\n", header(&renamed), row("0"));
    write(&dir, "train.csv", train.as_bytes());
    write(&dir, "test.csv", test.as_bytes());
    let err = error(&dir, &DataOptions::default());
    assert!(err.len() < 400, "{} bytes: {err:.400}", err.len());
    for needle in [
        "column 123457",
        "\"renamed\"",
        "\"feature_123456\"",
        "200000 feature columns",
    ] {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }

    // A label column that is not there.
    let missing = DataOptions {
        label_column: Some("target".into()),
        ..Default::default()
    };
    let err = error(&dir, &missing);
    assert!(err.len() < 400, "{} bytes: {err:.400}", err.len());
    for needle in ["\"target\"", "200001 columns", "\"feature_0\""] {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }

    // A field of a megabyte is quoted in part.
    let long = "x".repeat(1 << 20);
    write(&dir, "train.csv", format!("a,label\n{long},0\n").as_bytes());
    let err = error(&dir, &DataOptions::default());
    assert!(err.len() < 400, "{} bytes", err.len());
    assert!(err.contains("more characters"), "{err}");
}

#[test]
#[cfg(unix)]
fn dangling_and_looping_links_are_named_as_links() {
    let dir = temp_dir("links");
    for (name, bytes) in blob_arrays(8, 4, 3) {
        if name != "x_train.npy" {
            write(&dir, name, &bytes);
        }
    }
    let link = dir.join("x_train.npy");
    std::os::unix::fs::symlink(dir.join("gone.npy"), &link).unwrap();
    let err = error(&dir, &DataOptions::default());
    for needle in [
        "x_train.npy",
        "symbolic link to",
        "gone.npy",
        "cannot be followed",
    ] {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
    assert!(!err.contains("IDX"), "{err}");

    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&link, &link).unwrap();
    let err = error(&dir, &DataOptions::default());
    assert!(
        err.contains("x_train.npy") && err.contains("symbolic link"),
        "{err}"
    );

    // The same for an IDX file.
    let idx = temp_dir("links-idx");
    std::os::unix::fs::symlink(idx.join("nowhere"), idx.join("train-images-idx3-ubyte")).unwrap();
    let err = error(&idx, &DataOptions::default());
    assert!(
        err.contains("train-images-idx3-ubyte") && err.contains("symbolic link"),
        "{err}"
    );
}
