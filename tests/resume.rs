//! Checkpoints and resume: a run interrupted (between epochs or mid-epoch) and resumed from a
//! checkpoint gives bit-identical weights and logs to an uninterrupted run on the same
//! adapter; a non-finite loss stops a run naming the epoch and step; nonsensical settings are
//! refused before any step.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use distill_wgpu::data::{self, Dataset};
use distill_wgpu::train::{fit, Checkpoint, EpochLog, FitEnd, FitOptions, FitPosition};
use distill_wgpu::{
    DeviceDataset, Dropout, Error, GpuContext, KdConfig, Mlp, MlpSpec, Optimizer, TeacherLogits,
    Trainer, TrainerConfig,
};

fn slice(count: usize) -> (Dataset, usize) {
    let d = data::read_dir(&data::bundled_dir()).unwrap();
    (d.train.head(count), d.classes)
}

fn config() -> TrainerConfig {
    TrainerConfig::new(32, Optimizer::adam(2e-3))
        .kd(KdConfig {
            temperature: 4.0,
            alpha: 0.7,
        })
        .dropout(Dropout { p: 0.3, seed: 4 })
}

/// A trainer on `data` with a (fixed) teacher's cached logits, dropout and jitter: every
/// stream a resume must restore is in play.
fn trainer(
    ctx: &GpuContext,
    data: &DeviceDataset,
    teacher: &TeacherLogits,
    init_seed: u64,
) -> Trainer {
    let spec = MlpSpec::relu(&[784, 24, 10]).unwrap();
    let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, init_seed).unwrap(), &config()).unwrap();
    t.attach_dataset(ctx, data, Some(teacher), 1, 7).unwrap();
    t
}

fn run(
    ctx: &GpuContext,
    t: &mut Trainer,
    data: &DeviceDataset,
    options: FitOptions<'_>,
) -> (Vec<EpochLog>, FitEnd) {
    fit(ctx, t, data, options, None, || {}, |_, _| Ok(())).unwrap()
}

/// Saves `t` as a checkpoint at `position`, reads it back from bytes, and restores it into a
/// fresh trainer built with another initial seed (so only the checkpoint can make it equal).
fn round_trip(
    ctx: &GpuContext,
    t: &Trainer,
    data: &DeviceDataset,
    teacher: &TeacherLogits,
    position: FitPosition,
    logs: &[EpochLog],
) -> Trainer {
    let checkpoint = Checkpoint {
        state: t.state(ctx).unwrap(),
        position,
        logs: logs.to_vec(),
        settings: serde_json::json!({"k": 1}),
    };
    let bytes = checkpoint.to_bytes().unwrap();
    let back = Checkpoint::from_bytes(std::path::Path::new("mem"), &bytes).unwrap();
    assert_eq!(back, checkpoint, "checkpoint bytes round trip");
    let mut fresh = trainer(ctx, data, teacher, 99);
    fresh.restore(ctx, &back.state).unwrap();
    fresh
}

#[test]
fn resume_between_and_within_epochs_is_bit_identical() {
    with_gpu!(ctx => {
        let (train, classes) = slice(400);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let teacher = Mlp::new(ctx, &MlpSpec::relu(&[784, 32, 10]).unwrap(), 3).unwrap();
        let cache = TeacherLogits::compute(ctx, &teacher, &data, 128).unwrap();
        let epochs = 3;

        let mut whole = trainer(ctx, &data, &cache, 1);
        let (logs_whole, end) = run(ctx, &mut whole, &data, FitOptions::new(epochs, 5));
        assert_eq!(end, FitEnd::Finished);
        let weights_whole = whole.student().parameters(ctx).unwrap();

        // Stopped after epoch 1, resumed at epoch 2.
        let mut first = trainer(ctx, &data, &cache, 1);
        let (logs1, _) = run(ctx, &mut first, &data, FitOptions::new(1, 5));
        let from = FitPosition { epoch: 2, batch: 0 };
        let mut resumed = round_trip(ctx, &first, &data, &cache, from, &logs1);
        let (logs2, end) = run(ctx, &mut resumed, &data, FitOptions { from, ..FitOptions::new(epochs, 5) });
        assert_eq!(end, FitEnd::Finished);
        assert_eq!(resumed.student().parameters(ctx).unwrap(), weights_whole, "resumed between epochs");
        let logs: Vec<EpochLog> = logs1.iter().chain(&logs2).copied().collect();
        let losses = |l: &[EpochLog]| l.iter().map(|e| (e.epoch, e.loss, e.steps)).collect::<Vec<_>>();
        assert_eq!(losses(&logs), losses(&logs_whole));

        // Interrupted after 17 steps (mid-epoch 2), resumed there.
        let flag = AtomicBool::new(false);
        let mut steps = 0;
        let mut part = trainer(ctx, &data, &cache, 1);
        let (logs_a, end) = fit(ctx, &mut part, &data, FitOptions { interrupt: Some(&flag), ..FitOptions::new(epochs, 5) }, None, || {
            steps += 1;
            if steps == 17 { flag.store(true, Ordering::Relaxed); }
        }, |_, _| Ok(())).unwrap();
        let FitEnd::Interrupted(at) = end else { panic!("not interrupted: {end:?}") };
        assert_eq!(at, FitPosition { epoch: 2, batch: 17 - 12 }, "12 batches of 32 an epoch");
        let mut resumed = round_trip(ctx, &part, &data, &cache, at, &logs_a);
        let (logs_b, _) = run(ctx, &mut resumed, &data, FitOptions { from: at, ..FitOptions::new(epochs, 5) });
        assert_eq!(resumed.student().parameters(ctx).unwrap(), weights_whole, "resumed mid-epoch");
        let logs: Vec<EpochLog> = logs_a.iter().chain(&logs_b).copied().collect();
        assert_eq!(losses(&logs), losses(&logs_whole), "an interrupted epoch's mean loss resumes too");
    });
}

#[test]
fn a_restore_from_another_architecture_is_refused() {
    with_gpu!(ctx => {
        let (train, classes) = slice(64);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let teacher = Mlp::new(ctx, &MlpSpec::relu(&[784, 8, 10]).unwrap(), 3).unwrap();
        let cache = TeacherLogits::compute(ctx, &teacher, &data, 64).unwrap();
        let mut t = trainer(ctx, &data, &cache, 1);
        let mut state = t.state(ctx).unwrap();
        state.parameters.pop();
        assert!(matches!(t.restore(ctx, &state), Err(Error::ShapeMismatch { .. })));
        let mut state = t.state(ctx).unwrap();
        state.parameters[0] = f32::NAN;
        assert!(t.restore(ctx, &state).is_err(), "NaN parameters restored");
        let checkpoint = Checkpoint { state, position: FitPosition::start(), logs: Vec::new(), settings: serde_json::Value::Null };
        assert!(checkpoint.to_bytes().is_err(), "a checkpoint of NaN weights was written");
        assert!(Checkpoint::from_bytes(std::path::Path::new("x"), b"not a checkpoint").is_err());
    });
}

#[test]
fn a_diverging_run_stops_with_the_epoch_and_step() {
    with_gpu!(ctx => {
        let (train, classes) = slice(256);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let spec = MlpSpec::relu(&[784, 16, 10]).unwrap();
        let config = TrainerConfig::new(32, Optimizer::Sgd { lr: 1e30, momentum: 0.0, weight_decay: 0.0 });
        let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, 1).unwrap(), &config).unwrap();
        t.attach_dataset(ctx, &data, None, 0, 0).unwrap();
        let mut epochs_seen = 0;
        let err = fit(ctx, &mut t, &data, FitOptions::new(3, 1), None, || {}, |_, _| { epochs_seen += 1; Ok(()) }).unwrap_err();
        match err {
            Error::NonFiniteTraining { epoch, step, .. } => {
                assert_eq!(epoch, 1);
                assert!((2..=8).contains(&step), "first non-finite step {step}");
            }
            other => panic!("expected a non-finite stop, got {other}"),
        }
        assert_eq!(epochs_seen, 0, "an epoch with a non-finite loss reached the checkpoint hook");
    });
}

#[test]
fn settings_that_make_a_run_meaningless_are_refused() {
    for t in [1e20f32, 1e-20, f32::INFINITY, 0.0, -1.0] {
        assert!(
            KdConfig {
                temperature: t,
                alpha: 0.5
            }
            .validate()
            .is_err(),
            "T = {t}"
        );
    }
    assert!(KdConfig {
        temperature: 1e3,
        alpha: 0.5
    }
    .validate()
    .is_ok());
    assert!(Dropout {
        p: 0.99999994,
        seed: 0
    }
    .validate()
    .is_err());
    assert!(Dropout {
        p: Dropout::MAX_P,
        seed: 0
    }
    .validate()
    .is_ok());
    with_gpu!(ctx => {
        let (train, classes) = slice(64);
        let data = DeviceDataset::new(ctx, &train, classes).unwrap();
        let spec = MlpSpec::relu(&[784, 8, 10]).unwrap();
        let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, 1).unwrap(), &TrainerConfig::new(16, Optimizer::adam(1e-3))).unwrap();
        let err = t.attach_dataset(ctx, &data, None, 28, 0).unwrap_err();
        assert!(err.to_string().contains("jitter 28"), "{err}");
        t.attach_dataset(ctx, &data, None, 27, 0).unwrap();
        let err = fit(ctx, &mut t, &data, FitOptions::new(usize::MAX, 1), None, || {}, |_, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("steps a run can count"), "{err}");
        let huge = TrainerConfig::new(usize::MAX / 2, Optimizer::adam(1e-3));
        let err = Trainer::new(ctx, Mlp::new(ctx, &spec, 1).unwrap(), &huge).unwrap_err();
        assert!(err.to_string().contains("batch size"), "{err}");
    });
}
