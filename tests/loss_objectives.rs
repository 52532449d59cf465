//! The logit losses as training objectives: each trains through the one step plan, the
//! teacher-free baseline uses no teacher (its run is the same with any teacher or none), the
//! objective's settings survive a config round trip, and `distill experiment losses --quick`
//! trains every loss beside scratch and KD.

mod common;

use distill_wgpu::data::{bundled_dir, read_dir, DeviceDataset};
use distill_wgpu::experiment::{Experiment, Scale};
use distill_wgpu::ops::gjsd::GjsdConfig;
use distill_wgpu::ops::logit_mse::LogitMseConfig;
use distill_wgpu::ops::logit_std::LogitStdConfig;
use distill_wgpu::ops::tf_kd::TfKdConfig;
use distill_wgpu::session::{RunOutcome, RunTeacher, TrainingRun};
use distill_wgpu::{
    EmaConfig, GpuContext, Mlp, MlpSpec, Objective, Optimizer, TeacherLogits, TrainerConfig,
};

fn objectives() -> Vec<Objective> {
    vec![
        Objective::Gjsd(GjsdConfig {
            temperature: 4.0,
            alpha: 0.9,
            beta: 0.5,
        }),
        Objective::Gjsd(GjsdConfig::reverse_kl(4.0, 0.9)),
        Objective::LogitMse(LogitMseConfig { alpha: 0.9 }),
        Objective::LogitStd(LogitStdConfig::paper()),
        Objective::TfKd(TfKdConfig::paper()),
    ]
}

struct Fixture {
    train: DeviceDataset,
    teacher: TeacherLogits,
}

fn fixture(ctx: &GpuContext) -> Fixture {
    let data = read_dir(&bundled_dir()).unwrap();
    let train = DeviceDataset::new(ctx, &data.train.head(256), data.classes).unwrap();
    let teacher = Mlp::new(ctx, &MlpSpec::relu(&[784, 32, 10]).unwrap(), 9).unwrap();
    let logits = TeacherLogits::compute(ctx, &teacher, &train, 128).unwrap();
    Fixture {
        train,
        teacher: logits,
    }
}

fn trained(
    ctx: &GpuContext,
    f: &Fixture,
    objective: Objective,
    teacher: RunTeacher<'_>,
) -> (Vec<f32>, Vec<f32>) {
    let config = TrainerConfig::new(32, Optimizer::adam(2e-3)).objective(objective);
    let outcome = TrainingRun::new(&[16], config)
        .epochs(3)
        .seed(4)
        .teacher(teacher)
        .run(ctx, &f.train, |_| {})
        .unwrap();
    let RunOutcome::Finished(model) = outcome else {
        panic!("cancelled")
    };
    let losses = model.logs.iter().map(|l| l.loss.total).collect();
    (model.model.parameters(ctx).unwrap(), losses)
}

#[test]
fn every_logit_objective_trains_and_lowers_its_loss() {
    with_gpu!(ctx => {
        let f = fixture(ctx);
        for objective in objectives() {
            let (_, losses) = trained(ctx, &f, objective, RunTeacher::Logits(&f.teacher));
            assert!(losses.iter().all(|l| l.is_finite()), "{}: {losses:?}", objective.name());
            assert!(losses[2] < losses[0], "{}: {losses:?}", objective.name());
        }
    });
}

#[test]
fn the_teacher_free_baseline_uses_no_teacher() {
    with_gpu!(ctx => {
        let f = fixture(ctx);
        let tf = Objective::TfKd(TfKdConfig::paper());
        assert!(!tf.needs_teacher());
        let (alone, _) = trained(ctx, &f, tf, RunTeacher::None);
        let (beside, _) = trained(ctx, &f, tf, RunTeacher::Logits(&f.teacher));
        assert_eq!(alone, beside, "a teacher changed a teacher-free run");
        // The others need one.
        let config = TrainerConfig::new(32, Optimizer::adam(2e-3))
            .objective(Objective::LogitMse(LogitMseConfig { alpha: 0.5 }));
        let err = TrainingRun::new(&[16], config).epochs(1).run(ctx, &f.train, |_| {}).unwrap_err();
        assert!(err.to_string().contains("needs"), "{err}");
    });
}

#[test]
fn objectives_round_trip_and_refuse_what_they_cannot_do() {
    for objective in objectives() {
        let config = TrainerConfig::new(8, Optimizer::adam(1e-3)).objective(objective);
        let json = serde_json::to_string(&config).unwrap();
        let back: TrainerConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config, "{json}");
        assert!(config.validate().is_ok());
        // An EMA teacher teaches through KD or DKD only.
        let ema = EmaConfig {
            decay: 0.99,
            warmup_epochs: 0,
            update_every: 1,
        };
        let err = config.ema(ema).validate().unwrap_err().to_string();
        assert!(err.contains(objective.name()), "{err}");
    }
    let bad = Objective::LogitMse(LogitMseConfig { alpha: 1.5 });
    assert!(TrainerConfig::new(8, Optimizer::adam(1e-3))
        .objective(bad)
        .validate()
        .is_err());
}

#[test]
fn the_losses_experiment_trains_every_loss_beside_scratch_and_kd() {
    with_gpu!(ctx => {
        let data = read_dir(&bundled_dir()).unwrap();
        let table = Experiment::Losses.run(ctx, &data, &Scale::quick(), &mut |_| {}).unwrap();
        let text = format!("{table:?}");
        for method in ["student: scratch", "student: KD", "DKD", "JSD", "reverse KL", "logit MSE", "logit standardization", "teacher-free"] {
            assert!(text.contains(method), "{method} missing from {text}");
        }
    });
}
