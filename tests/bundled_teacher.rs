//! The bundled teacher as a user meets it: it records the held-out share it never trained on,
//! and `distill calibrate` on it, out of the box, fits its temperature there and lowers the
//! test NLL and ECE.

mod common;

use std::process::Command;

use distill_wgpu::eval::calibrate::{parse_held_out, HELD_OUT_KEY};
use distill_wgpu::model::io;

fn bundled_teacher() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/teacher-mnist10k.safetensors")
}

#[test]
fn the_bundled_teacher_records_its_held_out_share() {
    let file = io::load_file(&bundled_teacher()).unwrap();
    let entry = file
        .metadata
        .get(HELD_OUT_KEY)
        .expect("a recorded held-out share");
    assert_eq!(parse_held_out(entry).unwrap(), (0.1, 1));
    assert_eq!(file.spec.sizes, vec![784, 1200, 1200, 10]);
}

#[test]
fn calibrating_the_bundled_teacher_lowers_test_nll_and_ece() {
    with_gpu!(_ctx => {
        let out = common::cli::temp_dir("calibrate-bundled").join("out");
        let run = Command::new(env!("CARGO_BIN_EXE_distill"))
            .args(["calibrate", "--model", bundled_teacher().to_str().unwrap(), "--json", "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("calibration.json")).unwrap()).unwrap();
        assert_eq!(report["held_out_from_training"], true, "{report}");
        let (before, after) = (&report["test_before"], &report["test_after"]);
        for metric in ["nll", "ece"] {
            let (b, a) = (before[metric].as_f64().unwrap(), after[metric].as_f64().unwrap());
            assert!(a < b, "{metric}: {b} before, {a} after calibration");
        }
        assert_eq!(before["accuracy"], after["accuracy"], "temperature never changes a prediction");
    });
}
