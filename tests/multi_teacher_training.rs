//! Several teachers in the trainer: the multi-teacher objective with one all-knowing teacher
//! trains like the single-teacher one, specialists on disjoint digits distil into one
//! student, a sample no teacher knows is trained by cross-entropy alone, resume gives the same
//! bits, and bad teacher sets get typed errors.

mod common;

use distill_wgpu::data::{self, Dataset, DeviceDataset};
use distill_wgpu::eval;
use distill_wgpu::train::{fit, FitOptions};
use distill_wgpu::{
    ClassSet, Combine, Error, GpuContext, KdConfig, Mlp, MlpSpec, MultiKdConfig, Optimizer,
    TeacherEnsemble, TeacherLogits, Teachers, Trainer, TrainerConfig, WeightMode,
};

const BATCH: usize = 50;

fn slices(train: usize, test: usize) -> (Dataset, Dataset, usize) {
    let d = data::read_dir(&data::bundled_dir()).unwrap();
    (d.train.head(train), d.test.head(test), d.classes)
}

fn multi(weights: WeightMode, combine: Combine) -> MultiKdConfig {
    MultiKdConfig {
        temperature: 4.0,
        alpha: 0.9,
        weights,
        combine,
    }
}

fn config() -> TrainerConfig {
    TrainerConfig::new(BATCH, Optimizer::adam(2e-3))
}

fn run(ctx: &GpuContext, trainer: &mut Trainer, data: &DeviceDataset, epochs: usize) -> f32 {
    let (logs, _) = fit(
        ctx,
        trainer,
        data,
        FitOptions::new(epochs, 3),
        None,
        || {},
        |_, _| Ok(()),
    )
    .unwrap();
    logs.last().unwrap().loss.total
}

/// A 784-32-10 MLP trained by cross-entropy on `data` only.
fn scratch(ctx: &GpuContext, data: &Dataset, classes: usize, epochs: usize, seed: u64) -> Mlp {
    let device = DeviceDataset::new(ctx, data, classes).unwrap();
    let model = Mlp::new(ctx, &MlpSpec::relu(&[784, 32, 10]).unwrap(), seed).unwrap();
    let mut t = Trainer::new(ctx, model, &config()).unwrap();
    t.attach_dataset(ctx, &device, None, 0, 0).unwrap();
    run(ctx, &mut t, &device, epochs);
    t.into_student()
}

fn set(list: &str) -> ClassSet {
    ClassSet::parse(list, 10).unwrap()
}

#[test]
fn one_all_knowing_teacher_trains_like_the_single_teacher_objective() {
    with_gpu!(ctx => {
        let (train, _, classes) = slices(400, 0);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let teacher = scratch(ctx, &train, classes, 2, 9);
        let logits = TeacherLogits::compute(ctx, &teacher, &data, 128).unwrap();
        let spec = MlpSpec::relu(&[784, 24, 10]).unwrap();
        let kd = KdConfig { temperature: 4.0, alpha: 0.9 };

        let mut single = Trainer::new(ctx, Mlp::new(ctx, &spec, 5).unwrap(), &config().kd(kd)).unwrap();
        single.attach_dataset(ctx, &data, Some(&logits), 1, 7).unwrap();
        run(ctx, &mut single, &data, 3);

        let stacked = TeacherLogits::stack(ctx, &[&logits]).unwrap();
        assert_eq!(stacked.read(ctx).unwrap(), logits.read(ctx).unwrap());
        let known = [ClassSet::all(10)];
        let teachers = Teachers { logits: &stacked, known: &known, base_weights: &[1.0] };
        let cfg = config().multi_kd(multi(WeightMode::Uniform, Combine::Mixture));
        let mut multi_t = Trainer::new(ctx, Mlp::new(ctx, &spec, 5).unwrap(), &cfg).unwrap();
        multi_t.attach_teachers(ctx, &data, &teachers, 1, 7).unwrap();
        run(ctx, &mut multi_t, &data, 3);

        let a = single.student().parameters(ctx).unwrap();
        let b = multi_t.student().parameters(ctx).unwrap();
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        eprintln!("single vs multi (K = 1): max |Δw| = {worst:e}");
        // The single-teacher kernel uses cancellation-free forms the multi-teacher one does not,
        // so the last bits of each step differ; over 36 Adam steps (lr 2e-3) that stays far
        // below one step's size, where a wrong loss would move weights by ~1e-3.
        assert!(worst < 1e-4, "max |Δw| = {worst}");
    });
}

/// Mean KL(p_k ‖ q) at T = 1 over teacher k's known classes, on the samples whose label it
/// knows.
fn kl_on_known(student: &[f32], teacher: &[f32], labels: &[u8], known: &ClassSet) -> f64 {
    let soft = |row: &[f32]| -> Vec<f64> {
        let m = known.iter().map(|c| row[c] as f64).fold(f64::MIN, f64::max);
        let e: Vec<f64> = known.iter().map(|c| (row[c] as f64 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    };
    let (mut sum, mut n) = (0.0, 0);
    for (i, &y) in labels.iter().enumerate() {
        if !known.contains(y as usize) {
            continue;
        }
        let (p, q) = (
            soft(&teacher[i * 10..][..10]),
            soft(&student[i * 10..][..10]),
        );
        sum += p.iter().zip(&q).map(|(p, q)| p * (p / q).ln()).sum::<f64>();
        n += 1;
    }
    sum / n as f64
}

#[test]
fn routed_specialists_distil_into_one_student() {
    with_gpu!(ctx => {
        let (train, test, classes) = slices(1000, 500);
        let sets = [set("0-4"), set("5-9")];
        let specialists: Vec<Mlp> = sets
            .iter()
            .enumerate()
            .map(|(i, s)| scratch(ctx, &train.filter_classes(s).unwrap(), classes, 4, 20 + i as u64))
            .collect();
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let cached: Vec<TeacherLogits> = specialists
            .iter()
            .map(|m| TeacherLogits::compute(ctx, m, &data, 128).unwrap())
            .collect();
        let stacked = TeacherLogits::stack(ctx, &[&cached[0], &cached[1]]).unwrap();
        assert_eq!(stacked.teachers(), 2);
        let teachers = Teachers { logits: &stacked, known: &sets, base_weights: &[1.0, 1.0] };
        let spec = MlpSpec::relu(&[784, 32, 10]).unwrap();
        let cfg = config().multi_kd(multi(WeightMode::Route, Combine::Mixture));
        let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, 4).unwrap(), &cfg).unwrap();
        t.attach_teachers(ctx, &data, &teachers, 0, 0).unwrap();
        let loss = run(ctx, &mut t, &data, 4);
        assert!(loss.is_finite());
        let student = t.into_student();
        let baseline = scratch(ctx, &train, classes, 4, 4);

        let test_data = DeviceDataset::new(ctx, &test, classes).unwrap();
        let z = eval::logits(ctx, &student, &test_data, 128).unwrap();
        let z0 = eval::logits(ctx, &baseline, &test_data, 128).unwrap();
        for (k, s) in sets.iter().enumerate() {
            let tk = eval::logits(ctx, &specialists[k], &test_data, 128).unwrap();
            let (kd, base) = (kl_on_known(&z, &tk, &test.labels, s), kl_on_known(&z0, &tk, &test.labels, s));
            eprintln!("specialist {k} ({s}): KL distilled {kd:.4}, scratch {base:.4}");
            assert!(kd < 0.25 * base, "specialist {k}: KL {kd} not clearly below scratch {base}");
        }
        let acc = eval::evaluate(ctx, &student, &test_data, 128).unwrap().accuracy();
        let acc0 = eval::evaluate(ctx, &baseline, &test_data, 128).unwrap().accuracy();
        eprintln!("test accuracy: distilled {acc:.3}, scratch {acc0:.3}");
        // Specialists say nothing across their halves (only the 1 − α of CE does), so the
        // student may trail scratch training somewhat at α = 0.9; it must stay close.
        assert!(acc > 0.7 && acc > acc0 - 0.1, "accuracy {acc} (scratch {acc0})");
    });
}

#[test]
fn a_label_no_teacher_knows_trains_by_cross_entropy_only() {
    with_gpu!(ctx => {
        let (train, test, classes) = slices(800, 300);
        let teacher = scratch(ctx, &train, classes, 2, 9);
        let spec = MlpSpec::relu(&[784, 24, 10]).unwrap();
        let cfg = config().multi_kd(multi(WeightMode::Uniform, Combine::Mixture));
        let known = [set("0-8")];

        // Only nines: no teacher term at all, so the loss is (1 − α)·CE.
        let nines = train.filter_classes(&set("9")).unwrap();
        let nine_data = DeviceDataset::new(ctx, &nines, classes).unwrap();
        let nine_logits = TeacherLogits::compute(ctx, &teacher, &nine_data, 128).unwrap();
        let stacked = TeacherLogits::stack(ctx, &[&nine_logits]).unwrap();
        let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, 2).unwrap(), &cfg).unwrap();
        t.attach_teachers(ctx, &nine_data, &Teachers { logits: &stacked, known: &known, base_weights: &[1.0] }, 0, 0).unwrap();
        t.step_on_dataset(ctx, 0, None).unwrap();
        let loss = t.read_loss(ctx).unwrap();
        assert_eq!(loss.kl, 0.0);
        assert!(loss.ce > 0.0 && loss.ce.is_finite());
        assert!((loss.total - 0.1 * loss.ce).abs() <= 1e-6 * loss.ce, "{loss:?}");

        // Mixed data: training works and stays finite.
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let logits = TeacherLogits::compute(ctx, &teacher, &data, 128).unwrap();
        let stacked = TeacherLogits::stack(ctx, &[&logits]).unwrap();
        let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, 2).unwrap(), &cfg).unwrap();
        t.attach_teachers(ctx, &data, &Teachers { logits: &stacked, known: &known, base_weights: &[1.0] }, 0, 0).unwrap();
        let loss = run(ctx, &mut t, &data, 3);
        assert!(loss.is_finite());
        let params = t.student().parameters(ctx).unwrap();
        assert!(params.iter().all(|v| v.is_finite()));
        let test_data = DeviceDataset::new(ctx, &test, classes).unwrap();
        let acc = eval::evaluate(ctx, t.student(), &test_data, 128).unwrap().accuracy();
        assert!(acc > 0.5, "accuracy {acc}");
    });
}

#[test]
fn resuming_a_multi_teacher_run_gives_the_same_bits() {
    with_gpu!(ctx => {
        let (train, _, classes) = slices(300, 0);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let a = Mlp::new(ctx, &MlpSpec::relu(&[784, 16, 10]).unwrap(), 1).unwrap();
        let b = Mlp::new(ctx, &MlpSpec::relu(&[784, 16, 10]).unwrap(), 2).unwrap();
        let (la, lb) = (TeacherLogits::compute(ctx, &a, &data, 128).unwrap(), TeacherLogits::compute(ctx, &b, &data, 128).unwrap());
        let stacked = TeacherLogits::stack(ctx, &[&la, &lb]).unwrap();
        let known = [set("0-6"), set("3-9")];
        let teachers = Teachers { logits: &stacked, known: &known, base_weights: &[0.7, 0.3] };
        let cfg = config().multi_kd(multi(WeightMode::Fixed, Combine::Mixture));
        let spec = MlpSpec::relu(&[784, 16, 10]).unwrap();
        let fresh = |ctx: &GpuContext| {
            let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, 8).unwrap(), &cfg).unwrap();
            t.attach_teachers(ctx, &data, &teachers, 1, 3).unwrap();
            t
        };
        let mut straight = fresh(ctx);
        for b in 0..6 {
            straight.step_on_dataset(ctx, b, None).unwrap();
        }
        let mut first = fresh(ctx);
        for b in 0..3 {
            first.step_on_dataset(ctx, b, None).unwrap();
        }
        let state = first.state(ctx).unwrap();
        let mut resumed = fresh(ctx);
        resumed.restore(ctx, &state).unwrap();
        for b in 3..6 {
            resumed.step_on_dataset(ctx, b, None).unwrap();
        }
        assert_eq!(resumed.state(ctx).unwrap(), straight.state(ctx).unwrap());
    });
}

fn invalid<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::InvalidConfig(m)) => m,
        Err(Error::ShapeMismatch { what, .. }) => what,
        other => panic!("expected a typed config error, got {other:?}"),
    }
}

#[test]
fn bad_teacher_sets_get_typed_errors() {
    with_gpu!(ctx => {
        let (train, _, classes) = slices(200, 0);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let other = DeviceDataset::new(ctx, &train, classes).unwrap();
        let model = Mlp::new(ctx, &MlpSpec::relu(&[784, 8, 10]).unwrap(), 1).unwrap();
        let mine = TeacherLogits::compute(ctx, &model, &data, 128).unwrap();
        let theirs = TeacherLogits::compute(ctx, &model, &other, 128).unwrap();
        let spec = MlpSpec::relu(&[784, 8, 10]).unwrap();

        assert!(invalid(TeacherLogits::stack(ctx, &[&mine, &theirs])).contains("another data set"));
        assert!(invalid(TeacherLogits::stack(ctx, &[])).contains("got 0"));
        assert!(invalid(TeacherLogits::stack(ctx, &[&mine; 9])).contains("got 9"));
        let eight: TeacherEnsemble = TeacherLogits::stack(ctx, &[&mine; 8]).unwrap();
        assert_eq!((eight.teachers(), eight.len(), eight.classes()), (8, 200, 10));

        let two = TeacherLogits::stack(ctx, &[&mine, &mine]).unwrap();
        let cfg = config().multi_kd(multi(WeightMode::Fixed, Combine::Mixture));
        let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, 1).unwrap(), &cfg).unwrap();
        let sets = [set("0-4"), set("5-9")];
        let one_set = [set("0-4")];
        let cases = [
            Teachers { logits: &two, known: &one_set, base_weights: &[1.0, 1.0] },
            Teachers { logits: &two, known: &sets, base_weights: &[1.0] },
            Teachers { logits: &two, known: &sets, base_weights: &[1.0, -1.0] },
        ];
        for (case, says) in cases.iter().zip(["known-class sets", "base weights", "≥ 0"]) {
            let m = invalid(t.attach_teachers(ctx, &data, case, 0, 0));
            assert!(m.contains(says), "{m}");
        }
        let wide = [ClassSet::all(11), ClassSet::all(10)];
        invalid(t.attach_teachers(ctx, &data, &Teachers { logits: &two, known: &wide, base_weights: &[1.0, 1.0] }, 0, 0));
        let good = Teachers { logits: &two, known: &sets, base_weights: &[1.0, 1.0] };
        assert!(invalid(t.attach_teachers(ctx, &other, &good, 0, 0)).contains("another data set"));
        // Without teachers: the data set alone, a host batch, or stepping unattached.
        assert!(invalid(t.attach_dataset(ctx, &data, None, 0, 0)).contains("multi-teacher"));
        invalid(t.step_on_dataset(ctx, 0, None));
        invalid(t.set_kd_config(ctx, KdConfig { temperature: 2.0, alpha: 0.5 }));
        t.attach_teachers(ctx, &data, &good, 0, 0).unwrap();
        t.step_on_dataset(ctx, 0, None).unwrap();
        invalid(t.step_on_dataset(ctx, 0, Some(&model)));
        t.set_multi_kd_config(ctx, MultiKdConfig { alpha: 0.5, ..multi(WeightMode::Uniform, Combine::Mixture) }).unwrap();
        invalid(t.set_multi_kd_config(ctx, multi(WeightMode::Uniform, Combine::Logits)));

        // Combining logits needs equal class sets.
        let logits_cfg = config().multi_kd(multi(WeightMode::Uniform, Combine::Logits));
        let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, 1).unwrap(), &logits_cfg).unwrap();
        assert!(invalid(t.attach_teachers(ctx, &data, &good, 0, 0)).contains("same classes"));
        let same = [ClassSet::all(10), ClassSet::all(10)];
        t.attach_teachers(ctx, &data, &Teachers { logits: &two, known: &same, base_weights: &[1.0, 1.0] }, 0, 0).unwrap();

        // A single-teacher trainer takes no teacher sets.
        let mut single = Trainer::new(ctx, Mlp::new(ctx, &spec, 1).unwrap(), &config()).unwrap();
        assert!(invalid(single.attach_teachers(ctx, &data, &good, 0, 0)).contains("multi-teacher"));
    });
}

#[test]
fn gated_stacks_append_one_gate_per_teacher_to_each_row() {
    with_gpu!(ctx => {
        let (train, _, classes) = slices(64, 0);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let a = scratch(ctx, &train, classes, 1, 1);
        let b = scratch(ctx, &train, classes, 1, 2);
        let (la, lb) = (
            TeacherLogits::compute(ctx, &a, &data, 32).unwrap(),
            TeacherLogits::compute(ctx, &b, &data, 32).unwrap(),
        );
        let gates: Vec<bool> = (0..64 * 2).map(|i| i % 3 != 0).collect();
        let stacked = TeacherLogits::stack_gated(ctx, &[&la, &lb], Some(&gates)).unwrap();
        assert!(stacked.is_gated());
        assert_eq!(stacked.row_width(), 2 * 10 + 2);
        let rows = stacked.read(ctx).unwrap();
        let (ra, rb) = (la.read(ctx).unwrap(), lb.read(ctx).unwrap());
        for n in 0..64 {
            let row = &rows[n * 22..(n + 1) * 22];
            assert_eq!(&row[..10], &ra[n * 10..(n + 1) * 10]);
            assert_eq!(&row[10..20], &rb[n * 10..(n + 1) * 10]);
            assert_eq!(row[20], f32::from(u8::from(gates[2 * n])));
            assert_eq!(row[21], f32::from(u8::from(gates[2 * n + 1])));
        }
        assert!(TeacherLogits::stack_gated(ctx, &[&la, &lb], Some(&gates[1..])).is_err());

        // Every gate shut: the student trains on its labels alone, whatever the teachers say.
        let shut = vec![false; 64];
        let stacked = TeacherLogits::stack_gated(ctx, &[&la], Some(&shut)).unwrap();
        let known = [ClassSet::all(10)];
        let teachers = Teachers { logits: &stacked, known: &known, base_weights: &[1.0] };
        let spec = MlpSpec::relu(&[784, 16, 10]).unwrap();
        let cfg = config().multi_kd(multi(WeightMode::Uniform, Combine::Mixture));
        let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, 5).unwrap(), &cfg).unwrap();
        t.attach_teachers(ctx, &data, &teachers, 0, 7).unwrap();
        let (logs, _) = fit(ctx, &mut t, &data, FitOptions::new(1, 3), None, || {}, |_, _| Ok(())).unwrap();
        assert_eq!(logs[0].loss.kl, 0.0, "no KD term anywhere");
        assert!(logs[0].loss.ce > 0.0);
    });
}
