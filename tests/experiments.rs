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
