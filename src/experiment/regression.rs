//! Distillation of a regression model on Friedman #1 (its own data: the experiment draws it):
//! a wide teacher, a small scratch student (squared error, and Huber as the control for the
//! Huber form), and small students distilled with the MSE, Huber and teacher-bounded (Chen et
//! al. 2017) forms of the regression loss, each from the same initialisation per seed; test
//! RMSE and MAE.

use crate::data::{friedman1_splits, DeviceDataset};
use crate::error::{Error, Result};
use crate::eval::{evaluate_regression, RegressionMetrics};
use crate::experiment::{model_seed, Scale, Table};
use crate::gpu::GpuContext;
use crate::model::Mlp;
use crate::ops::optim::Optimizer;
use crate::ops::regression_loss::{RegressionConfig, RegressionForm};
use crate::session::{RunOutcome, RunTeacher, TrainingRun};
use crate::train::{Objective, TrainerConfig};

/// Training and test samples drawn when the scale does not cut them.
pub const FRIEDMAN_TRAIN: usize = 2000;
/// Test samples drawn when the scale does not cut them.
pub const FRIEDMAN_TEST: usize = 1000;
/// The teacher's hidden widths: wide enough to fit Friedman #1 near its noise floor.
pub const TEACHER_HIDDEN: &[usize] = &[128, 128];
/// The students' hidden widths: small enough that capacity limits them.
pub const STUDENT_HIDDEN: &[usize] = &[8];
/// Regression epochs per epoch of the scale's recipes: the data set is small (2,000 samples, 16
/// to 31 steps an epoch), so the scale's epoch counts, sized for MNIST, are multiplied.
pub const EPOCH_FACTOR: usize = 20;
/// Weight of the teacher term in every distilled student.
pub const ALPHA: f32 = 0.5;
/// Huber's δ: one unit of the target, the noise's standard deviation.
pub const HUBER_DELTA: f32 = 1.0;
/// The bounded form's margin.
pub const BOUND_MARGIN: f32 = 0.0;
/// Rows per evaluation pass.
const EVAL_BATCH: usize = 1000;

/// The distilled students' rows and losses.
fn students() -> [(&'static str, RegressionForm); 3] {
    [
        ("student: MSE to teacher", RegressionForm::Mse),
        (
            "student: Huber (δ = 1)",
            RegressionForm::Huber { delta: HUBER_DELTA },
        ),
        (
            "student: teacher-bounded (m = 0)",
            RegressionForm::Bounded {
                margin: BOUND_MARGIN,
            },
        ),
    ]
}

/// Where one seed's models train and are scored.
struct Bench<'a> {
    ctx: &'a GpuContext,
    scale: &'a Scale,
    train: &'a DeviceDataset,
    test: &'a DeviceDataset,
}

/// One model of the experiment: its widths, epochs, seeds, loss and teacher.
struct ModelRecipe<'a> {
    hidden: &'a [usize],
    epochs: usize,
    seed: u64,
    init_seed: u64,
    loss: RegressionConfig,
    teacher: Option<&'a Mlp>,
}

/// The small student of `seed`: every one starts from the same weights.
fn student_recipe(
    seed: u64,
    epochs: usize,
    loss: RegressionConfig,
    teacher: Option<&Mlp>,
) -> ModelRecipe<'_> {
    ModelRecipe {
        hidden: STUDENT_HIDDEN,
        epochs,
        seed,
        init_seed: model_seed(seed, 1),
        loss,
        teacher,
    }
}

impl Bench<'_> {
    /// Trains `recipe` and scores it on the test set.
    fn train_and_score(&self, recipe: &ModelRecipe<'_>) -> Result<(Mlp, RegressionMetrics)> {
        let config = TrainerConfig::new(self.scale.batch_size, Optimizer::adam(self.scale.lr))
            .objective(Objective::Regression(recipe.loss));
        let mut run = TrainingRun::new(recipe.hidden, config)
            .epochs(recipe.epochs)
            .seed(recipe.seed)
            .init_seed(recipe.init_seed);
        if let Some(t) = recipe.teacher {
            run = run.teacher(RunTeacher::Model(t));
        }
        let model = match run.run(self.ctx, self.train, |_| {})? {
            RunOutcome::Finished(done) => done.model,
            RunOutcome::Cancelled { .. } => {
                return Err(Error::InvalidConfig(
                    "the regression experiment's run was cancelled".into(),
                ))
            }
        };
        let metrics = evaluate_regression(self.ctx, &model, self.test, EVAL_BATCH)?;
        Ok((model, metrics))
    }
}

/// Runs the experiment at `scale`: its seeds, batch size, learning rate and sample counts;
/// epochs [`EPOCH_FACTOR`] times the scale's recipes'; widths its own.
pub(crate) fn run(
    ctx: &GpuContext,
    scale: &Scale,
    progress: &mut dyn FnMut(&str),
) -> Result<Table> {
    let mut table = Table::new(
        "regression",
        "Friedman #1: a wide teacher, a small scratch student, small students distilled three ways",
        &[("test RMSE", 3), ("test MAE", 3)],
    );
    let train_n = scale.train_samples.unwrap_or(FRIEDMAN_TRAIN);
    let test_n = scale.test_samples.unwrap_or(FRIEDMAN_TEST);
    let teacher_epochs = scale.teacher.epochs * EPOCH_FACTOR;
    let student_epochs = scale.student.epochs * EPOCH_FACTOR;
    for &seed in &scale.seeds {
        let splits = friedman1_splits(train_n, test_n, seed)?;
        let train = DeviceDataset::regression(ctx, &splits.train)?;
        let test = DeviceDataset::regression(ctx, &splits.test)?;
        let bench = Bench {
            ctx,
            scale,
            train: &train,
            test: &test,
        };
        let mut record = |table: &mut Table, method: &str, m: RegressionMetrics| {
            progress(&format!(
                "seed {seed}: {method}: RMSE {:.3}, MAE {:.3}",
                m.rmse, m.mae
            ));
            table.record(method, 0, m.rmse);
            table.record(method, 1, m.mae);
        };
        let scratch = RegressionConfig::scratch();
        let (teacher, m) = bench.train_and_score(&ModelRecipe {
            hidden: TEACHER_HIDDEN,
            epochs: teacher_epochs,
            seed,
            init_seed: model_seed(seed, 0),
            loss: scratch,
            teacher: None,
        })?;
        record(&mut table, "teacher", m);
        // Every student starts from the same weights.
        let student = |loss, teacher| student_recipe(seed, student_epochs, loss, teacher);
        let (_, m) = bench.train_and_score(&student(scratch, None))?;
        record(&mut table, "student: scratch", m);
        // The Huber loss on the targets alone: what the Huber form gains without a teacher.
        let huber = RegressionConfig {
            alpha: 0.0,
            form: RegressionForm::Huber { delta: HUBER_DELTA },
        };
        let (_, m) = bench.train_and_score(&student(huber, None))?;
        record(&mut table, "student: scratch, Huber (δ = 1)", m);
        for (method, form) in students() {
            let loss = RegressionConfig { alpha: ALPHA, form };
            let (_, m) = bench.train_and_score(&student(loss, Some(&teacher)))?;
            record(&mut table, method, m);
        }
    }
    table.notes.push(format!(
        "Friedman #1 (10 features on [0, 1), 5 irrelevant; noise σ = 1), {train_n} training / \
         {test_n} test samples drawn per seed; batch {}, Adam lr {}. Teacher {TEACHER_HIDDEN:?} \
         hidden, {teacher_epochs} epochs; students {STUDENT_HIDDEN:?} hidden, {student_epochs} \
         epochs, all from one initialisation per seed. Distilled: (1 − α)·loss(s, y) + \
         α·loss(s, t) at α = {ALPHA} (MSE; Huber δ = {HUBER_DELTA}), and the bounded form \
         (1 − α)·MSE(s, y) + α·[e_s + m > e_t]·MSE(s, y) at m = {BOUND_MARGIN}. RMSE and MAE in the \
         target's units; the noise alone gives an RMSE of 1.",
        scale.batch_size, scale.lr
    ));
    Ok(table)
}
