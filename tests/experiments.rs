//! The experiments at their quick scale on the bundled data: every table has its rows, and the
//! numbers keep the promises the setups make (a specialist never predicts a class it never
//! saw, masking gives the novel class back, a positive bias shift only helps that class,
//! uniform weights are uniform). Bad settings get typed errors.

mod common;

use distill_wgpu::data::{self, TrainTest};
use distill_wgpu::experiment::{Experiment, Scale, Table, HELD_OUT_CLASS};
use distill_wgpu::{Error, GpuContext};

fn bundled() -> TrainTest {
    data::read_dir(&data::bundled_dir()).unwrap()
}

fn run(ctx: &GpuContext, e: Experiment, data: &TrainTest) -> Table {
    let mut lines = Vec::new();
    let table = e
        .run(ctx, data, &Scale::quick(), &mut |l: &str| {
            lines.push(l.to_string())
        })
        .unwrap();
    eprintln!("{}", table.markdown());
    assert!(!lines.is_empty(), "progress lines are reported");
    table
}

/// The single-seed value of a cell.
fn value(t: &Table, method: &str, column: usize) -> f64 {
    t.cell(method, column)
        .unwrap_or_else(|| panic!("no {method:?} / {column} in\n{}", t.markdown()))
        .0
}

/// Test samples of the quick scale with labels in `lo..=hi`.
fn count(data: &TrainTest, lo: u8, hi: u8) -> f64 {
    let test = data.test.head(Scale::quick().test_samples.unwrap());
    test.labels
        .iter()
        .filter(|&&l| (lo..=hi).contains(&l))
        .count() as f64
}

#[test]
fn specialists_know_only_their_half() {
    with_gpu!(ctx => {
        let data = bundled();
        let t = run(ctx, Experiment::Specialists, &data);
        assert_eq!(t.rows.len(), 7);
        // Trained without classes 5-9, specialist 0-4 never predicts them, and vice versa.
        assert_eq!(value(&t, "teacher: specialist 0-4", 2), count(&data, 5, 9));
        assert_eq!(value(&t, "teacher: specialist 5-9", 1), count(&data, 0, 4));
        for row in &t.rows {
            let total = row.values[0][0];
            assert_eq!(total, row.values[1][0] + row.values[2][0], "{}", row.method);
            assert!(total <= 500.0);
        }
        // Both halves reach the student: it does far better than either specialist alone.
        let student = value(&t, "student: KD from both specialists", 0);
        assert!(student < 0.6 * value(&t, "teacher: specialist 0-4", 0), "{student}");
    });
}

#[test]
fn masking_the_novel_class_gives_it_back() {
    with_gpu!(ctx => {
        let data = bundled();
        let t = run(ctx, Experiment::NovelClass, &data);
        let threes = count(&data, 3, 3);
        assert_eq!(value(&t, "teacher (never saw 3)", 1), threes);
        // Blind KD tells every 3 it is not a 3; partial KD does not.
        let blind = value(&t, "student: blind KD", 1);
        let partial = value(&t, "student: partial KD (3 masked)", 1);
        assert!(partial < blind, "partial {partial} vs blind {blind} of {threes}");
        assert!(value(&t, "student: scratch", 1) < threes);
    });
}

#[test]
fn the_bias_shift_only_helps_the_omitted_class() {
    with_gpu!(ctx => {
        let data = bundled();
        let t = run(ctx, Experiment::OmittedClass, &data);
        let threes = count(&data, 3, 3);
        // Labels alone never teach a class the transfer set lacks.
        assert_eq!(value(&t, "student: labels only, no 3s", 1), threes);
        let plain = "student: KD, no 3s";
        let shifted = "student: KD, no 3s, bias shifted";
        let shift = value(&t, shifted, 2);
        assert!((0.0..=20.0).contains(&shift));
        // A higher class-3 logit can only turn predictions into 3s.
        assert!(value(&t, shifted, 1) <= value(&t, plain, 1));
        if shift == 0.0 {
            assert_eq!(value(&t, shifted, 0), value(&t, plain, 0));
        }
        assert!(value(&t, plain, 1) < threes, "soft targets teach some 3s");
    });
}

#[test]
fn ensemble_weights_follow_their_rules() {
    with_gpu!(ctx => {
        let t = run(ctx, Experiment::Ensemble, &bundled());
        assert_eq!(t.rows.len(), 8);
        assert_eq!(value(&t, "student: KD from all 4, uniform", 1), 0.25);
        for mode in ["accuracy", "confidence", "route"] {
            let w = value(&t, &format!("student: KD from all 4, {mode}"), 1);
            assert!((0.0..0.25).contains(&w), "{mode}: the weak teacher gets less: {w}");
        }
        assert!(value(&t, "teacher: weak (1 epoch)", 0) > value(&t, "teacher: best of 3 (validation)", 0));
    });
}

#[test]
fn bad_settings_are_typed_errors() {
    with_gpu!(ctx => {
        let data = bundled();
        let bad = |scale: Scale, e: Experiment, data: &TrainTest| {
            let r = e.run(ctx, data, &scale, &mut |_: &str| {});
            assert!(matches!(r, Err(Error::InvalidConfig(_))), "{r:?}");
        };
        bad(Scale { seeds: vec![], ..Scale::quick() }, Experiment::Specialists, &data);
        let mut zero = Scale::quick();
        zero.student.epochs = 0;
        bad(zero, Experiment::Specialists, &data);
        bad(Scale { validation_fraction: 1.0, ..Scale::quick() }, Experiment::Ensemble, &data);
        // Three classes have no class 3 to hold out.
        let mut three = data.clone();
        let keep = distill_wgpu::ClassSet::parse("0-2", 10).unwrap();
        three.train = three.train.filter_classes(&keep).unwrap();
        three.test = three.test.filter_classes(&keep).unwrap();
        three.classes = 3;
        bad(Scale::quick(), Experiment::NovelClass, &three);
        assert!(HELD_OUT_CLASS >= three.classes);
        assert!(Experiment::parse("nope").unwrap_err().to_string().contains("specialists"));
        for e in Experiment::ALL {
            assert_eq!(Experiment::parse(e.name()).unwrap(), e);
        }
    });
}

#[test]
fn label_noise_drops_only_contradicted_terms() {
    with_gpu!(ctx => {
        let t = run(ctx, Experiment::LabelNoise, &bundled());
        assert_eq!(t.rows.len(), 5);
        let method = "student: KD, drop where the teacher contradicts the label";
        let dropped = value(&t, method, 1);
        // The teacher fits part of the noise, so it contradicts some but not all 300 flipped labels.
        assert!(dropped > 0.0 && dropped < 1500.0, "{dropped}");
        for row in &t.rows {
            assert!(row.values[0][0] > 0.0 && row.values[0][0] < 500.0, "{}", row.method);
        }
    });
}

#[test]
fn beyond_the_logits_share_their_baselines_and_report_each_method() {
    with_gpu!(ctx => {
        let data = bundled();
        let tests = Scale::quick().test_samples.unwrap() as f64;
        let hints = run(ctx, Experiment::Hints, &data);
        let dkd = run(ctx, Experiment::Dkd, &data);
        let mutual = run(ctx, Experiment::Mutual, &data);
        let ema = run(ctx, Experiment::Ema, &data);
        // One teacher, scratch and KD student per seed, trained once and shared.
        for shared in ["teacher", "student: scratch", "student: KD"] {
            let v = value(&hints, shared, 0);
            for t in [&dkd, &mutual, &ema] {
                assert_eq!(value(t, shared, 0), v, "{shared} differs in {}", t.experiment);
            }
        }
        assert_eq!(hints.rows.len(), 5);
        assert_eq!(dkd.rows.len(), 6);
        assert_eq!(mutual.rows.len(), 6);
        assert_eq!(ema.rows.len(), 6);
        // The hint's MSE is measured where a hint trained (FitNets: its hint-only stage).
        for method in ["student: KD + hint (β = 1)", "student: FitNets (hint-only stage, then KD)"] {
            let mse = value(&hints, method, 1);
            assert!(mse.is_finite() && mse > 0.0, "{method}: {mse}");
        }
        let pair = value(&mutual, "student: mutual, student 1", 0) + value(&mutual, "student: mutual, student 2", 0);
        assert_eq!(value(&mutual, "student: mutual, mean of the pair", 0), pair / 2.0);
        // Every model learns: far better than guessing among ten classes.
        for t in [&hints, &dkd, &mutual, &ema] {
            for row in &t.rows {
                assert!(row.values[0][0] < 0.5 * tests, "{}: {}", t.experiment, row.method);
            }
        }
    });
}

#[test]
fn self_distillation_reports_generations_ensembles_and_the_assistant_chain() {
    use distill_wgpu::experiment::self_distill::*;
    with_gpu!(ctx => {
        let data = bundled();
        let t = run(ctx, Experiment::SelfDistill, &data);
        let generations = Scale::quick().born_again_generations;
        let tests = Scale::quick().test_samples.unwrap() as f64;
        let mut rows: Vec<String> = ["teacher", "student: scratch", "student: KD"].map(String::from).to_vec();
        rows.extend((1..=generations).map(generation_row));
        rows.push(ensemble_row(0, generations));
        rows.push(ensemble_row(1, generations));
        rows.extend([ASSISTANT_SCRATCH, ASSISTANT_KD, SMALL_SCRATCH, SMALL_KD, SMALL_VIA_ASSISTANT].map(String::from));
        let names: Vec<&str> = t.rows.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(names, rows, "{}", t.markdown());
        for row in &rows {
            // Every model learns (far better than guessing) and has a finite, positive NLL.
            let (errors, nll) = (value(&t, row, 0), value(&t, row, 1));
            assert!(errors < 0.5 * tests && errors.fract() == 0.0, "{row}: {errors}");
            assert!(nll.is_finite() && nll > 0.0, "{row}: {nll}");
        }
        // An ensemble's NLL is at most its members' mean (the log is concave).
        let members: Vec<f64> = std::iter::once(value(&t, "student: scratch", 1))
            .chain((1..=generations).map(|g| value(&t, &generation_row(g), 1)))
            .collect();
        let mean = members.iter().sum::<f64>() / members.len() as f64;
        assert!(value(&t, &ensemble_row(0, generations), 1) <= mean + 1e-12, "{}", t.markdown());
    });
}

#[test]
fn compression_reports_int8_and_pruned_students_with_their_sizes() {
    use distill_wgpu::experiment::compression::*;
    with_gpu!(ctx => {
        let data = bundled();
        let t = run(ctx, Experiment::Compression, &data);
        let mut rows: Vec<String> = ["teacher", "student: scratch", "student: KD", INT8_SCRATCH, INT8_KD]
            .map(String::from)
            .to_vec();
        for s in SPARSITIES {
            rows.extend(pruned_rows(s));
        }
        let names: Vec<&str> = t.rows.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(names, rows, "{}", t.markdown());
        let tests = Scale::quick().test_samples.unwrap() as f64;
        for row in &rows[..5] {
            assert!(value(&t, row, 0) < 0.5 * tests, "{row}: {}", t.markdown());
        }
        // int8: a byte per weight and 8 bytes per row, against 4 bytes per parameter.
        let float = value(&t, "student: scratch", 1);
        assert!(value(&t, INT8_KD, 1) < 0.3 * float);
        let mut last_bytes = f64::INFINITY;
        for s in SPARSITIES {
            let [none, labels, kd] = pruned_rows(s);
            // The target sparsity is reached and fine-tuning keeps it (the mask holds).
            for row in [&none, &labels, &kd] {
                assert!((value(&t, row, 2) - 100.0 * s).abs() < 0.1, "{row}: {}", t.markdown());
            }
            let bytes = value(&t, &none, 1);
            assert!(bytes < last_bytes);
            last_bytes = bytes;
        }
        // 95 % pruned without repair is badly damaged; fine-tuning recovers much of it.
        let [none, labels, _] = pruned_rows(0.95);
        assert!(value(&t, &labels, 0) < value(&t, &none, 0), "{}", t.markdown());
    });
}

#[test]
fn regression_brings_its_own_data_and_reports_rmse_and_mae() {
    with_gpu!(ctx => {
        let e = Experiment::Regression;
        assert!(e.brings_own_data());
        // It draws Friedman #1 itself: the classification entry point refuses it, and the
        // own-data one refuses the others.
        let err = e.run(ctx, &bundled(), &Scale::quick(), &mut |_: &str| {}).unwrap_err();
        assert!(matches!(&err, Error::InvalidConfig(m) if m.contains("own data")), "{err}");
        let err = Experiment::Losses.run_on_own_data(ctx, &Scale::quick(), &mut |_: &str| {}).unwrap_err();
        assert!(matches!(&err, Error::InvalidConfig(_)), "{err}");
        let mut lines = Vec::new();
        let t = e.run_on_own_data(ctx, &Scale::quick(), &mut |l: &str| lines.push(l.to_string())).unwrap();
        eprintln!("{}", t.markdown());
        assert!(!lines.is_empty());
        let names: Vec<&str> = t.rows.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(names, [
            "teacher",
            "student: scratch",
            "student: scratch, Huber (δ = 1)",
            "student: MSE to teacher",
            "student: Huber (δ = 1)",
            "student: teacher-bounded (m = 0)",
        ]);
        // Friedman #1's targets have a standard deviation near 5: every model learns, the wide
        // teacher best, and MAE never exceeds RMSE.
        for name in &names {
            let (rmse, mae) = (value(&t, name, 0), value(&t, name, 1));
            assert!(rmse < 3.5 && mae <= rmse, "{name}: {}", t.markdown());
        }
        assert!(value(&t, "teacher", 0) < value(&t, "student: scratch", 0), "{}", t.markdown());
    });
}
