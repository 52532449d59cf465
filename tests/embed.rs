//! The embedding surface (`session::TrainingRun`): progress events in order, cancellation at
//! a batch boundary with a resumable checkpoint that finishes bit for bit like an
//! uninterrupted run, and the refusals a checkpoint's owner relies on.

mod common;

use distill_wgpu::data::{bundled_dir, read_dir, DeviceDataset};
use distill_wgpu::session::{CancelToken, Progress, RunOutcome, RunTeacher, TrainingRun};
use distill_wgpu::train::FitPosition;
use distill_wgpu::{
    EmaConfig, GpuContext, HintConfig, KdConfig, Mlp, MlpSpec, Optimizer, TrainerConfig,
};

struct Fixture {
    train: DeviceDataset,
    test: DeviceDataset,
    teacher: Mlp,
}

fn fixture(ctx: &GpuContext) -> Fixture {
    let data = read_dir(&bundled_dir()).unwrap();
    let teacher = Mlp::new(ctx, &MlpSpec::relu(&[784, 32, 10]).unwrap(), 9).unwrap();
    Fixture {
        train: DeviceDataset::new(ctx, &data.train.head(96), data.classes).unwrap(),
        test: DeviceDataset::new(ctx, &data.test.head(50), data.classes).unwrap(),
        teacher,
    }
}

fn config() -> TrainerConfig {
    TrainerConfig::new(16, Optimizer::adam(2e-3)).kd(KdConfig {
        temperature: 3.0,
        alpha: 0.5,
    })
}

/// Cross-entropy alone: no teacher needed.
fn plain() -> TrainerConfig {
    TrainerConfig::new(16, Optimizer::adam(2e-3))
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("distill-embed-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("student.safetensors")
}

#[test]
fn events_come_in_order_with_test_errors_and_checkpoints() {
    with_gpu!(ctx => {
        let f = fixture(ctx);
        let path = temp("events");
        let run = TrainingRun::new(&[24], config())
            .epochs(3)
            .teacher(RunTeacher::Model(&f.teacher))
            .test_set(&f.test)
            .checkpoint(&path, false, false);
        let mut events = Vec::new();
        let outcome = run.run(ctx, &f.train, |e| events.push(e.clone())).unwrap();
        let RunOutcome::Finished(trained) = outcome else { panic!("not cancelled") };
        // 96 samples in batches of 16: 6 steps an epoch, then the epoch, then its checkpoint.
        let mut expected_step = (1, 1);
        let mut epochs = 0;
        for (i, event) in events.iter().enumerate() {
            match event {
                Progress::Step { epoch, step, steps_per_epoch } => {
                    assert_eq!((*epoch, *step, *steps_per_epoch), (expected_step.0, expected_step.1, 6), "event {i}");
                    expected_step.1 += 1;
                }
                Progress::Epoch { log, test_errors, epochs: total } => {
                    epochs += 1;
                    assert_eq!((log.epoch, *total, log.steps), (epochs, 3, 6));
                    assert!(test_errors.is_some_and(|e| e <= 50));
                    assert!(matches!(events[i + 1], Progress::Checkpoint { position, .. } if position == FitPosition { epoch: epochs + 1, batch: 0 }));
                    expected_step = (epochs + 1, 1);
                }
                Progress::Checkpoint { path: written, .. } => assert_eq!(written, &path),
            }
        }
        assert_eq!(epochs, 3);
        assert_eq!(events.len(), 3 * (6 + 2));
        assert_eq!(trained.logs.len(), 3);
        assert_eq!(trained.test_errors.len(), 3);
        assert_eq!(trained.model.spec().sizes, vec![784, 24, 10]);
        assert!(path.is_file() && path.with_extension("test-errors.json").is_file());
    });
}

#[test]
fn a_cancelled_run_resumes_to_the_same_weights() {
    with_gpu!(ctx => {
        let f = fixture(ctx);
        let run = TrainingRun::new(&[24], config())
            .epochs(3)
            .seed(5)
            .teacher(RunTeacher::Model(&f.teacher))
            .test_set(&f.test);
        let whole = run.run(ctx, &f.train, |_| {}).unwrap().finished().unwrap();

        let path = temp("cancel");
        let token = CancelToken::new();
        let cancel = token.clone();
        let outcome = run
            .clone()
            .checkpoint(&path, true, false)
            .cancel_token(token.clone())
            .run(ctx, &f.train, |e| {
                if let Progress::Step { epoch: 2, step: 4, .. } = e {
                    cancel.cancel();
                }
            })
            .unwrap();
        let RunOutcome::Cancelled { position, checkpoint, logs } = outcome else { panic!("not cancelled") };
        assert_eq!(position, FitPosition { epoch: 2, batch: 4 });
        assert_eq!(checkpoint.as_deref(), Some(path.as_path()));
        assert_eq!(logs.len(), 1);

        // Still cancelled: the resumed run would stop at once, so clear the token first.
        token.reset();
        let mut steps = 0;
        let resumed = run
            .clone()
            .checkpoint(&path, true, false)
            .cancel_token(token)
            .run(ctx, &f.train, |e| steps += matches!(e, Progress::Step { .. }) as usize)
            .unwrap()
            .finished()
            .unwrap();
        assert_eq!(steps, 2 + 6, "the rest of epoch 2, then epoch 3");
        assert_eq!(resumed.model.parameters(ctx).unwrap(), whole.model.parameters(ctx).unwrap());
        let losses = |logs: &[distill_wgpu::train::EpochLog]| logs.iter().map(|l| (l.epoch, l.loss, l.steps)).collect::<Vec<_>>();
        assert_eq!(losses(&resumed.logs), losses(&whole.logs));
        assert_eq!(resumed.test_errors, whole.test_errors, "epoch 1's errors come from beside the checkpoint");
    });
}

#[test]
fn checkpoints_refuse_other_settings_and_unasked_overwrites() {
    with_gpu!(ctx => {
        let f = fixture(ctx);
        let path = temp("refuse");
        let run = TrainingRun::new(&[8], plain()).epochs(1).checkpoint(&path, false, false);
        run.run(ctx, &f.train, |_| {}).unwrap();
        let err = run.run(ctx, &f.train, |_| {}).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        run.clone().checkpoint(&path, false, true).run(ctx, &f.train, |_| {}).unwrap();

        let other_seed = TrainingRun::new(&[8], plain()).epochs(2).seed(99).checkpoint(&path, true, false);
        let err = other_seed.run(ctx, &f.train, |_| {}).unwrap_err().to_string();
        assert!(err.contains("made with settings") && err.contains("\"seed\":99"), "{err}");
        let past = TrainingRun::new(&[8], plain()).epochs(1).checkpoint(&path, true, false);
        // Resuming a finished run of 1 epoch with 1 epoch has nothing left to do.
        let done = past.run(ctx, &f.train, |_| {}).unwrap().finished().unwrap();
        assert_eq!(done.logs.len(), 1);

        let err = TrainingRun::new(&[8], plain()).epochs(0).run(ctx, &f.train, |_| {}).unwrap_err().to_string();
        assert!(err.contains("at least 1 epoch"), "{err}");
        let hint = plain().hint(HintConfig { teacher_layer: 1, student_layer: 1, weight: 1.0, stage_epochs: 0 });
        let logits_only = TrainingRun::new(&[8], hint).epochs(1);
        let err = logits_only.run(ctx, &f.train, |_| {}).unwrap_err().to_string();
        assert!(err.contains("hint needs a teacher model"), "{err}");
    });
}

/// Settings with floats whose JSON text does not read back to the same f64 (an f32 0.999
/// widened) still match themselves on resume.
#[test]
fn a_resumed_run_matches_its_own_float_settings() {
    with_gpu!(ctx => {
        let f = fixture(ctx);
        let path = temp("floats");
        let ema = TrainerConfig::new(16, Optimizer::adam(0.000_192_339_94))
            .kd(KdConfig { temperature: 2.0, alpha: 0.5 })
            .ema(EmaConfig::new(0.999));
        let token = CancelToken::new();
        let cancel = token.clone();
        // Settings as an app (or the CLI) records them: f32 values as JSON numbers.
        let settings = serde_json::json!({ "lr": 0.000_192_339_94f32, "ema_decay": 0.999f32 });
        let run = TrainingRun::new(&[8], ema)
            .epochs(2)
            .settings(settings)
            .checkpoint(&path, true, false);
        let outcome = run.clone().cancel_token(token).run(ctx, &f.train, |e| {
            if let Progress::Step { epoch: 1, step: 3, .. } = e {
                cancel.cancel();
            }
        });
        assert!(matches!(outcome.unwrap(), RunOutcome::Cancelled { .. }));
        let resumed = run.run(ctx, &f.train, |_| {}).unwrap().finished().unwrap();
        assert_eq!(resumed.logs.len(), 2);
    });
}
