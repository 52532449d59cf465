//! Regression end to end: Friedman #1 uploaded as a regression data set, a small MLP trained
//! from scratch and distilled from a teacher in every loss form lowers its test RMSE; the
//! trainer refuses to mix a regression data set with a classification objective and back.

mod common;

use distill_wgpu::data::{friedman1_splits, DeviceDataset, RegressionSplits};
use distill_wgpu::eval::{evaluate, evaluate_regression};
use distill_wgpu::ops::regression_loss::{RegressionConfig, RegressionForm};
use distill_wgpu::train::{Objective, TrainerConfig};
use distill_wgpu::{Error, Mlp, MlpSpec, Optimizer, RunOutcome, RunTeacher, TrainingRun};

fn data() -> RegressionSplits {
    friedman1_splits(512, 256, 3).unwrap()
}

fn train(
    ctx: &distill_wgpu::GpuContext,
    train: &DeviceDataset,
    hidden: &[usize],
    config: RegressionConfig,
    teacher: Option<&Mlp>,
    epochs: usize,
) -> Mlp {
    let trainer =
        TrainerConfig::new(32, Optimizer::adam(3e-3)).objective(Objective::Regression(config));
    let run = TrainingRun::new(hidden, trainer).epochs(epochs).seed(5);
    let run = match teacher {
        Some(t) => run.teacher(RunTeacher::Model(t)),
        None => run,
    };
    match run.run(ctx, train, |_| {}).unwrap() {
        RunOutcome::Finished(done) => done.model,
        other => panic!("{other:?}"),
    }
}

#[test]
fn training_and_distillation_lower_the_test_rmse() {
    with_gpu!(ctx => {
        let splits = data();
        let train_set = DeviceDataset::regression(ctx, &splits.train).unwrap();
        let test_set = DeviceDataset::regression(ctx, &splits.test).unwrap();
        assert!(train_set.is_regression());
        assert_eq!(train_set.classes(), 1);
        let untrained = Mlp::new(ctx, &MlpSpec::relu(&[10, 16, 1]).unwrap(), 5).unwrap();
        let before = evaluate_regression(ctx, &untrained, &test_set, 128).unwrap();
        let teacher = train(ctx, &train_set, &[64, 64], RegressionConfig::scratch(), None, 30);
        let teacher_rmse = evaluate_regression(ctx, &teacher, &test_set, 128).unwrap();
        eprintln!("untrained {before:?}, teacher {teacher_rmse:?}");
        assert!(teacher_rmse.rmse < 0.5 * before.rmse, "{teacher_rmse:?} vs {before:?}");
        for form in [RegressionForm::Mse, RegressionForm::Huber { delta: 1.0 }, RegressionForm::Bounded { margin: 0.0 }] {
            let config = RegressionConfig { alpha: 0.5, form };
            let student = train(ctx, &train_set, &[16], config, Some(&teacher), 15);
            let after = evaluate_regression(ctx, &student, &test_set, 128).unwrap();
            eprintln!("{form:?}: {after:?}");
            assert!(after.rmse < 0.6 * before.rmse && after.mae < after.rmse, "{form:?}: {after:?}");
            assert_eq!(after.count, 256);
        }
    });
}

#[test]
fn tasks_do_not_mix() {
    with_gpu!(ctx => {
        let splits = data();
        let regression = DeviceDataset::regression(ctx, &splits.train).unwrap();
        let ce = TrainerConfig::new(32, Optimizer::adam(1e-3));
        let err = TrainingRun::new(&[8], ce).epochs(1).run(ctx, &regression, |_| {}).unwrap_err();
        assert!(matches!(&err, Error::InvalidConfig(m) if m.contains("regression objective")), "{err}");
        let model = Mlp::new(ctx, &MlpSpec::relu(&[10, 4, 1]).unwrap(), 1).unwrap();
        let err = evaluate(ctx, &model, &regression, 64).unwrap_err();
        assert!(err.to_string().contains("RMSE"), "{err}");
        let mut rng = distill_wgpu::SplitMix64::new(1);
        let images = distill_wgpu::Dataset::random(&mut rng, 64, 1, 10, 2);
        let classes = DeviceDataset::new(ctx, &images, 2).unwrap();
        let reg = TrainerConfig::new(32, Optimizer::adam(1e-3)).objective(Objective::Regression(RegressionConfig::scratch()));
        let err = TrainingRun::new(&[8], reg).epochs(1).run(ctx, &classes, |_| {}).unwrap_err();
        assert!(matches!(&err, Error::InvalidConfig(m) if m.contains("regression data set")), "{err}");
        let err = evaluate_regression(ctx, &model, &classes, 64).unwrap_err();
        assert!(err.to_string().contains("class labels"), "{err}");
        let teacher = TrainerConfig::new(32, Optimizer::adam(1e-3)).objective(Objective::Regression(RegressionConfig { alpha: 0.5, form: RegressionForm::Mse }));
        let err = TrainingRun::new(&[8], teacher).epochs(1).run(ctx, &regression, |_| {}).unwrap_err();
        assert!(err.to_string().contains("teacher"), "{err}");
    });
}

#[test]
fn several_outputs_are_gathered_and_learned_together() {
    with_gpu!(ctx => {
        // Two targets per sample, y and 10 − y/2: the gather copies both words of each row.
        let two = |set: &distill_wgpu::data::RegressionDataset| distill_wgpu::data::RegressionDataset {
            targets: set.targets.iter().flat_map(|&y| [y, 10.0 - 0.5 * y]).collect(),
            outputs: 2,
            ..set.clone()
        };
        let splits = data();
        let train_set = DeviceDataset::regression(ctx, &two(&splits.train)).unwrap();
        let test_set = DeviceDataset::regression(ctx, &two(&splits.test)).unwrap();
        assert_eq!(train_set.classes(), 2);
        let untrained = Mlp::new(ctx, &MlpSpec::relu(&[10, 32, 2]).unwrap(), 5).unwrap();
        let before = evaluate_regression(ctx, &untrained, &test_set, 100).unwrap();
        let model = train(ctx, &train_set, &[32], RegressionConfig::scratch(), None, 60);
        let outputs = distill_wgpu::eval::logits(ctx, &model, &test_set, 100).unwrap();
        let targets = test_set.targets();
        // Each output scored on its own: both learned, and the second, half as steep, to about
        // half the error (a gather that took the wrong words would not give that ratio).
        let mut rmse = [0.0; 2];
        for (k, slot) in rmse.iter_mut().enumerate() {
            let pick = |v: &[f32]| v.iter().skip(k).step_by(2).copied().collect::<Vec<f32>>();
            let m = distill_wgpu::eval::regression_metrics("output", &pick(&outputs), &pick(targets), 1).unwrap();
            eprintln!("output {k}: {m:?} (untrained, both: {before:?})");
            assert!(m.rmse < 0.4 * before.rmse, "output {k}: {m:?} vs {before:?}");
            *slot = m.rmse;
        }
        assert!(rmse[1] < 0.75 * rmse[0] && rmse[1] > 0.35 * rmse[0], "{rmse:?}");
    });
}
