//! End to end on real digits: GPU batch gather, dropout and jitter determinism, and a short
//! distillation on a slice of the bundled data in which the teacher's signal arrives.

mod common;

use distill_wgpu::data::{self, DeviceDataset};
use distill_wgpu::train::{fit, FitOptions};
use distill_wgpu::validate::{compare, Tolerance};
use distill_wgpu::{cpu, Dropout, GpuContext, KdConfig, Mlp, MlpSpec, Optimizer, Trainer};

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
        let buffer_logits = {
            let b = dataset.logits_buffer(ctx, &model, 128).unwrap();
            let mut d2 = DeviceDataset::new(ctx, &train, classes).unwrap();
            d2.cache_teacher_logits(ctx, &model, 128).unwrap();
            let cached = d2.read_teacher_logits(ctx).unwrap().unwrap();
            drop(b);
            cached
        };
        let host = model.logits(ctx, &train.inputs_f32(0..300), 300).unwrap();
        let expected = cpu::to_f64(&host);
        compare("gathered vs host logits", &buffer_logits, &expected, Tolerance::new(1e-6, 1e-6)).assert_ok();
    });
}

#[allow(clippy::too_many_arguments)]
fn train_student(
    ctx: &GpuContext,
    data: &DeviceDataset,
    spec: &MlpSpec,
    kd: KdConfig,
    dropout: Dropout,
    jitter: u32,
    seed: u64,
    epochs: usize,
) -> (Mlp, f32) {
    let model = Mlp::new(ctx, spec, seed).unwrap();
    let mut trainer =
        Trainer::with_dropout(ctx, model, 50, Optimizer::adam(2e-3), kd, dropout).unwrap();
    trainer
        .attach_dataset(ctx, data, jitter, seed as u32)
        .unwrap();
    let logs = fit(
        ctx,
        &mut trainer,
        data,
        FitOptions { epochs, seed },
        None,
        || {},
        |_| {},
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
            let (m, loss) = train_student(ctx, &data, &spec, KdConfig::cross_entropy(), dropout, 2, seed, 2);
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
        let (model, loss) = train_student(ctx, &data, &spec, KdConfig::cross_entropy(), Dropout { p: 0.3, seed: 1 }, 1, 1, 8);
        assert!(loss < 0.8, "training loss {loss}");
        let eval = data.evaluate(ctx, &model, 256).unwrap();
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
    let buffer = data.logits_buffer(ctx, student, 256).unwrap();
    drop(buffer);
    let mut d = DeviceDataset::new(ctx, &slice(data.len()).0, data.classes()).unwrap();
    d.cache_teacher_logits(ctx, student, 256).unwrap();
    let student_logits = d.read_teacher_logits(ctx).unwrap().unwrap();
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
        let mut data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let teacher_spec = MlpSpec::relu(&[784, 128, 10]).unwrap();
        let (teacher, _) = train_student(ctx, &data, &teacher_spec, KdConfig::cross_entropy(), Dropout::none(), 0, 11, 4);
        data.cache_teacher_logits(ctx, &teacher, 256).unwrap();
        let teacher_logits = data.read_teacher_logits(ctx).unwrap().unwrap();
        let student_spec = MlpSpec::relu(&[784, 16, 10]).unwrap();
        let kd = KdConfig { temperature: 4.0, alpha: 0.9 };
        let (scratch, _) = train_student(ctx, &data, &student_spec, KdConfig::cross_entropy(), Dropout::none(), 0, 12, 3);
        let (distilled, _) = train_student(ctx, &data, &student_spec, kd, Dropout::none(), 0, 12, 3);
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
        let mut t = Trainer::new(ctx, wrong, 10, Optimizer::adam(1e-3), KdConfig::cross_entropy()).unwrap();
        assert!(t.attach_dataset(ctx, &data, 0, 0).is_err());
        let ok = Mlp::new(ctx, &MlpSpec::relu(&[784, 8, 10]).unwrap(), 1).unwrap();
        let mut t = Trainer::new(ctx, ok, 10, Optimizer::adam(1e-3), KdConfig { temperature: 2.0, alpha: 0.5 }).unwrap();
        assert!(t.step_on_dataset(ctx, &data, 0, None).is_err(), "step before attach");
        t.attach_dataset(ctx, &data, 0, 0).unwrap();
        let err = t.step_on_dataset(ctx, &data, 0, None).unwrap_err();
        assert!(err.to_string().contains("teacher"), "{err}");
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
        let (model, _) = train_student(ctx, &data, &MlpSpec::relu(&[784, 16, 10]).unwrap(), KdConfig::cross_entropy(), Dropout::none(), 0, 3, 1);
        let logits = model.logits(ctx, &train.inputs_f32(0..700), 700).unwrap();
        let host_errors = logits
            .chunks(10)
            .zip(data.labels())
            .filter(|(row, &y)| data::argmax(row) != y as usize)
            .count();
        let eval = data.evaluate(ctx, &model, 128).unwrap();
        assert_eq!(eval.errors, host_errors);
        assert!(host_errors > 0 && host_errors < 700);
        assert_eq!(eval.count, 700);
    });
}
