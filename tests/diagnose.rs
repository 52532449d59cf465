//! The diagnosis on constructed logits: each warning rule fires when its number crosses the
//! threshold and names it, and stays silent otherwise; on the bundled teacher and data the
//! `diagnose` command finds nothing to warn about.

mod common;

use distill_wgpu::diagnose::{diagnose, DiagnoseInput, ModelLogits, Thresholds, WarningKind};
use distill_wgpu::ops::calibration::Calibration;

const C: usize = 3;

/// Logits that predict `classes[i]` for row i (confidence about 0.88).
fn predicting(classes: &[usize]) -> Vec<f32> {
    classes
        .iter()
        .flat_map(|&k| (0..C).map(move |c| if c == k { 3.0 } else { 0.0 }))
        .collect()
}

/// A calibration with this ECE (one bin of 100 rows, accuracy 0.9, confidence 0.9 + ece).
fn calibration(ece: f64) -> Calibration {
    Calibration::from_sums(
        1.0,
        &[[100.0, 100.0 * (0.9 + ece), 90.0]],
        [10.0, 10.0, 90.0],
        100,
    )
}

fn kinds(
    teacher: (&[usize], &[usize]),
    student: Option<(&[usize], &[usize])>,
    baseline: Option<&[usize]>,
    ece: f64,
) -> Vec<WarningKind> {
    let labels_test: Vec<u8> = (0..20).map(|i| (i % C) as u8).collect();
    let labels_train: Vec<u8> = (0..40).map(|i| (i % C) as u8).collect();
    let t = (predicting(teacher.0), predicting(teacher.1));
    let s = student.map(|(a, b)| (predicting(a), predicting(b)));
    let b = baseline.map(predicting);
    let cal = calibration(ece);
    let input = DiagnoseInput {
        classes: C,
        test_labels: &labels_test,
        train_labels: &labels_train,
        teacher: ModelLogits {
            name: "teacher",
            test: &t.0,
            train: Some(&t.1),
        },
        teacher_calibration: &cal,
        student: s.as_ref().map(|s| ModelLogits {
            name: "student",
            test: &s.0,
            train: Some(&s.1),
        }),
        baseline: b.as_ref().map(|b| ModelLogits {
            name: "baseline",
            test: b,
            train: None,
        }),
    };
    let d = diagnose(&input, &Thresholds::default()).unwrap();
    for w in &d.warnings {
        eprintln!("{:?}: {}", w.kind, w.message);
    }
    d.warnings.iter().map(|w| w.kind).collect()
}

/// Predictions equal to the labels `i % C` for `n` rows, with rows in `wrong` shifted by one.
fn labels_with(n: usize, wrong: &[usize]) -> Vec<usize> {
    (0..n)
        .map(|i| {
            if wrong.contains(&i) {
                (i + 1) % C
            } else {
                i % C
            }
        })
        .collect()
}

#[test]
fn a_good_teacher_and_faithful_student_raise_nothing() {
    let (test, train) = (labels_with(20, &[]), labels_with(40, &[]));
    let student = labels_with(20, &[5]);
    assert!(kinds(
        (&test, &train),
        Some((&student, &train)),
        Some(&labels_with(20, &[5, 7])),
        0.01
    )
    .is_empty());
}

#[test]
fn each_rule_fires_on_its_number() {
    let (test, train) = (labels_with(20, &[]), labels_with(40, &[]));
    // A teacher with more test errors than the baseline.
    let weak = labels_with(20, &[0, 1, 2, 3]);
    assert_eq!(
        kinds((&weak, &train), None, Some(&labels_with(20, &[0])), 0.01),
        [WarningKind::TeacherNoBetter]
    );
    // Confidence 0.06 above accuracy.
    assert_eq!(
        kinds((&test, &train), None, None, 0.06),
        [WarningKind::TeacherMiscalibrated]
    );
    // The teacher contradicts 3 of 40 training labels (7.5 %); 2 of 40 (5 %) is not above 5 %.
    assert_eq!(
        kinds((&test, &labels_with(40, &[1, 2, 3])), None, None, 0.0),
        [WarningKind::TeacherContradictsLabels]
    );
    assert!(kinds((&test, &labels_with(40, &[1, 2])), None, None, 0.0).is_empty());
    // The student misses two class-0 test samples (of 7) the baseline gets right.
    let student = labels_with(20, &[0, 3]);
    let baseline = labels_with(20, &[1]);
    assert_eq!(
        kinds(
            (&test, &train),
            Some((&student, &train)),
            Some(&baseline),
            0.0
        ),
        [WarningKind::ClassesHurt]
    );
    // The student follows the teacher on 36 of 40 training samples (90 % < 95 %).
    let unfaithful = labels_with(40, &[0, 1, 2, 4]);
    assert_eq!(
        kinds((&test, &train), Some((&test, &unfaithful)), None, 0.0),
        [WarningKind::LowFidelity]
    );
}

#[test]
fn the_bundled_teacher_gets_no_warnings() {
    with_gpu!(_ctx => {
        let out = std::env::temp_dir().join(format!("distill-diagnose-{}", std::process::id()));
        let teacher = concat!(env!("CARGO_MANIFEST_DIR"), "/models/teacher-mnist10k.safetensors");
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_distill"))
            .args(["diagnose", "--teacher", teacher, "--json", "--force", "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let json: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        let d = &json["diagnosis"];
        assert_eq!(d["warnings"], serde_json::json!([]));
        assert_eq!(d["teacher"]["errors"], 49, "the bundled teacher's test errors");
        assert_eq!(d["teacher"]["confusion"].as_array().unwrap().len(), 100);
        let total: u64 = d["teacher"]["confusion"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(total, 1996);
        assert!(d["disagreements"]["count"].as_u64().unwrap() < 100);
    });
}
