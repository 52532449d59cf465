//! End to end on real digits: GPU batch gather, dropout and jitter determinism, and a short
//! distillation on a slice of the bundled data in which the teacher's signal arrives.

mod common;

use distill_wgpu::data::{self, DeviceDataset};
use distill_wgpu::eval;
use distill_wgpu::train::{fit, FitOptions};
use distill_wgpu::validate::{compare, Tolerance};
use distill_wgpu::{
    cpu, Dropout, GpuContext, KdConfig, Mlp, MlpSpec, Optimizer, TeacherLogits, Trainer,
    TrainerConfig,
};

fn slice(count: usize) -> (data::Dataset, usize) {
    let d = data::read_dir(&data::bundled_dir()).unwrap();
    (d.train.head(count), d.classes)
}

#[test]
fn device_dataset_logits_equal_host_inputs_logits() {
    with_gpu!(ctx => {
        let (train, classes) = slice(300);
        let dataset = DeviceDataset::new(ctx, &train, classes).unwrap();
        let model = Mlp::new(ctx, &MlpSpec::relu(&[784, 32, 10]).unwrap(), 3).unwrap();
        let gathered = eval::logits(ctx, &model, &dataset, 128).unwrap();
        let cached = TeacherLogits::compute(ctx, &model, &dataset, 128).unwrap().read(ctx).unwrap();
        let host = model.logits(ctx, &train.inputs_f32(0..300), 300).unwrap();
        let expected = cpu::to_f64(&host);
        compare("gathered vs host logits", &gathered, &expected, Tolerance::new(1e-6, 1e-6)).assert_ok();
        compare("cached teacher vs host logits", &cached, &expected, Tolerance::new(1e-6, 1e-6)).assert_ok();
    });
}

#[allow(clippy::too_many_arguments)]
fn train_student(
    ctx: &GpuContext,
    data: &DeviceDataset,
    teacher: Option<&TeacherLogits>,
    spec: &MlpSpec,
    kd: KdConfig,
    dropout: Dropout,
    jitter: u32,
    seed: u64,
    epochs: usize,
) -> (Mlp, f32) {
    let model = Mlp::new(ctx, spec, seed).unwrap();
    let mut trainer = Trainer::new(
        ctx,
        model,
        &TrainerConfig::new(50, Optimizer::adam(2e-3))
            .kd(kd)
            .dropout(dropout),
    )
    .unwrap();
    trainer
        .attach_dataset(ctx, data, teacher, jitter, seed as u32)
        .unwrap();
    let (logs, _) = fit(
        ctx,
        &mut trainer,
        data,
        FitOptions::new(epochs, seed),
        None,
        || {},
        |_, _| Ok(()),
    )
    .unwrap();
    assert_eq!(logs.len(), epochs);
    assert_eq!(logs[0].steps as usize, data.len() / 50);
    let last = logs.last().unwrap().loss.total;
    (trainer.into_student(), last)
}

#[test]
fn training_with_dropout_and_jitter_is_deterministic_per_seed() {
    with_gpu!(ctx => {
        let (train, classes) = slice(400);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let spec = MlpSpec::relu(&[784, 48, 10]).unwrap();
        let dropout = Dropout { p: 0.5, seed: 9 };
        let run = |seed| {
            let (m, loss) = train_student(ctx, &data, None, &spec, KdConfig::cross_entropy(), dropout, 2, seed, 2);
            (m.parameters(ctx).unwrap(), loss)
        };
        let (a, la) = run(5);
        let (b, lb) = run(5);
        assert_eq!(a, b, "same seed, data and adapter must give the same weights");
        assert_eq!(la, lb);
        let (c, _) = run(6);
        assert_ne!(a, c, "a different seed should change the run");
    });
}

#[test]
fn dropout_training_still_learns() {
    with_gpu!(ctx => {
        let (train, classes) = slice(1000);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let spec = MlpSpec::relu(&[784, 64, 64, 10]).unwrap();
        let (model, loss) = train_student(ctx, &data, None, &spec, KdConfig::cross_entropy(), Dropout { p: 0.3, seed: 1 }, 1, 1, 8);
        assert!(loss < 0.8, "training loss {loss}");
        let eval = eval::evaluate(ctx, &model, &data, 256).unwrap();
        assert!(eval.accuracy() > 0.85, "train accuracy {}", eval.accuracy());
        assert!(Dropout { p: 1.0, seed: 0 }.validate().is_err());
    });
}

/// KL(teacher ‖ student) at temperature T over the data set, from logits.
fn kl_to_teacher(
    ctx: &GpuContext,
    data: &DeviceDataset,
    teacher_logits: &[f32],
    student: &Mlp,
    t: f32,
) -> f64 {
    let student_logits = eval::logits(ctx, student, data, 256).unwrap();
    let labels = vec![0u32; data.len()];
    cpu::kd_loss(
        &cpu::to_f64(&student_logits),
        &cpu::to_f64(teacher_logits),
        &labels,
        data.len(),
        data.classes(),
        t as f64,
        1.0,
    )
    .kl
}

#[test]
fn short_distillation_transfers_the_teachers_signal() {
    with_gpu!(ctx => {
        let (train, classes) = slice(1500);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let teacher_spec = MlpSpec::relu(&[784, 128, 10]).unwrap();
        let (teacher, _) = train_student(ctx, &data, None, &teacher_spec, KdConfig::cross_entropy(), Dropout::none(), 0, 11, 4);
        let cache = TeacherLogits::compute(ctx, &teacher, &data, 256).unwrap();
        let teacher_logits = cache.read(ctx).unwrap();
        let student_spec = MlpSpec::relu(&[784, 16, 10]).unwrap();
        let kd = KdConfig { temperature: 4.0, alpha: 0.9 };
        let (scratch, _) = train_student(ctx, &data, None, &student_spec, KdConfig::cross_entropy(), Dropout::none(), 0, 12, 3);
        let (distilled, _) = train_student(ctx, &data, Some(&cache), &student_spec, kd, Dropout::none(), 0, 12, 3);
        let kl_scratch = kl_to_teacher(ctx, &data, &teacher_logits, &scratch, kd.temperature);
        let kl_distilled = kl_to_teacher(ctx, &data, &teacher_logits, &distilled, kd.temperature);
        eprintln!("KL(teacher ‖ student) at T=4: scratch {kl_scratch:.5}, distilled {kl_distilled:.5}");
        assert!(kl_distilled < 0.5 * kl_scratch, "teacher signal did not arrive: scratch {kl_scratch}, distilled {kl_distilled}");
    });
}

#[test]
fn trainer_rejects_mismatched_data_and_missing_teacher() {
    with_gpu!(ctx => {
        let (train, classes) = slice(100);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let wrong = Mlp::new(ctx, &MlpSpec::relu(&[100, 8, 10]).unwrap(), 1).unwrap();
        let mut t = Trainer::new(ctx, wrong, &TrainerConfig::new(10, Optimizer::adam(1e-3))).unwrap();
        assert!(t.attach_dataset(ctx, &data, None, 0, 0).is_err());
        let ok = Mlp::new(ctx, &MlpSpec::relu(&[784, 8, 10]).unwrap(), 1).unwrap();
        let kd = KdConfig { temperature: 2.0, alpha: 0.5 };
        let mut t = Trainer::new(ctx, ok, &TrainerConfig::new(10, Optimizer::adam(1e-3)).kd(kd)).unwrap();
        assert!(t.step_on_dataset(ctx, 0, None).is_err(), "step before attach");
        t.attach_dataset(ctx, &data, None, 0, 0).unwrap();
        let err = t.step_on_dataset(ctx, 0, None).unwrap_err();
        assert!(err.to_string().contains("teacher"), "{err}");
        assert!(t.step_on_dataset(ctx, 10, None).is_err(), "batch past the data set");
        // Teacher logits are tied to the data set they were computed for, even at equal length.
        let teacher = Mlp::new(ctx, &MlpSpec::relu(&[784, 8, 10]).unwrap(), 2).unwrap();
        let other = DeviceDataset::new(ctx, &train, classes).unwrap();
        let other_logits = TeacherLogits::compute(ctx, &teacher, &other, 64).unwrap();
        let err = t.attach_dataset(ctx, &data, Some(&other_logits), 0, 0).unwrap_err();
        assert!(err.to_string().contains("another data set"), "{err}");
        let own_logits = TeacherLogits::compute(ctx, &teacher, &data, 64).unwrap();
        t.attach_dataset(ctx, &data, Some(&own_logits), 0, 0).unwrap();
        t.step_on_dataset(ctx, 0, None).unwrap();
        // fit refuses a data set other than the attached one.
        let err = fit(ctx, &mut t, &other, FitOptions::new(1, 1), None, || {}, |_, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("attached"), "{err}");
        let mut bad = train.clone();
        bad.labels[3] = 10;
        assert!(matches!(DeviceDataset::new(ctx, &bad, 10), Err(distill_wgpu::Error::LabelOutOfRange { row: 3, .. })));
    });
}

#[test]
fn gpu_error_count_matches_host_argmax() {
    with_gpu!(ctx => {
        let (train, classes) = slice(700);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let (model, _) = train_student(ctx, &data, None, &MlpSpec::relu(&[784, 16, 10]).unwrap(), KdConfig::cross_entropy(), Dropout::none(), 0, 3, 1);
        let logits = model.logits(ctx, &train.inputs_f32(0..700), 700).unwrap();
        let host_errors = logits
            .chunks(10)
            .zip(data.labels())
            .filter(|(row, &y)| cpu::argmax(row) != y as usize)
            .count();
        let eval = eval::evaluate(ctx, &model, &data, 128).unwrap();
        assert_eq!(eval.errors, host_errors);
        assert!(host_errors > 0 && host_errors < 700);
        assert_eq!(eval.count, 700);
    });
}

/// The scaling sweep's timing: a point's figures agree with each other and with the step's
/// FLOP count, and a second point of the same sweep reuses the workload.
#[test]
fn scaling_points_report_consistent_rates() {
    use distill_wgpu::bench::scaling::{bench_scaling, step_flops};
    use distill_wgpu::bench::KdStepWorkload;
    with_gpu!(ctx => {
        let mut rng = distill_wgpu::SplitMix64::new(3);
        let workload = KdStepWorkload::new(ctx, &mut rng, 256).unwrap();
        let points = [
            ("width", vec![784, 30, 30, 10], 32),
            ("batch", vec![784, 30, 30, 10], 64),
        ];
        let mut lines = Vec::new();
        let got = bench_scaling(ctx, &workload, &points, |l| lines.push(l)).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(lines.len(), 2);
        for (p, (sweep, sizes, batch)) in got.iter().zip(&points) {
            assert_eq!((p.sweep, &p.student, p.batch), (*sweep, sizes, *batch));
            assert!(p.seconds_per_step > 0.0 && p.seconds_per_step.is_finite());
            let spec = MlpSpec::relu(sizes).unwrap();
            assert_eq!(p.flops_per_step, step_flops(&spec, *batch));
            let rel = |a: f64, b: f64| (a - b).abs() / b;
            assert!(rel(p.samples_per_second, *batch as f64 / p.seconds_per_step) < 1e-9);
            assert!(rel(p.gflops, p.flops_per_step / p.seconds_per_step / 1e9) < 1e-9);
        }
        assert!(lines[1].contains("batch   64"), "{}", lines[1]);
    });
}

/// `Mlp::duplicate` copies on the GPU: same parameters, then independent of the original.
#[test]
fn duplicate_copies_parameters_and_stays_independent() {
    with_gpu!(ctx => {
        let spec = MlpSpec::relu(&[5, 4, 3]).unwrap();
        let original = Mlp::new(ctx, &spec, 9).unwrap();
        let copy = original.duplicate(ctx).unwrap();
        let before = original.parameters(ctx).unwrap();
        assert_eq!(copy.parameters(ctx).unwrap(), before);
        assert_eq!(copy.spec(), original.spec());
        // Train the original one step; the copy keeps the old values.
        let config = TrainerConfig::new(
            2,
            Optimizer::Sgd {
                lr: 0.5,
                momentum: 0.0,
                weight_decay: 0.0,
            },
        );
        let mut trainer = Trainer::new(ctx, original, &config).unwrap();
        let inputs = [0.5f32; 10];
        trainer
            .step(
                ctx,
                &distill_wgpu::StepBatch {
                    inputs: &inputs,
                    labels: &[0, 2],
                    teacher: distill_wgpu::TeacherSource::None,
                },
            )
            .unwrap();
        assert_ne!(trainer.student().parameters(ctx).unwrap(), before);
        assert_eq!(copy.parameters(ctx).unwrap(), before);
    });
}
