//! The page's training run: a scratch student and a distilled one on the same slice, epoch by
//! epoch, with the test errors after each and a pause between epochs so the page can draw.

use std::path::Path;

use distill_wgpu::eval::evaluate;
use distill_wgpu::model::io::from_safetensors;
use distill_wgpu::train::{fit, FitOptions, FitPosition};
use distill_wgpu::{
    Dataset, DeviceDataset, Error, GpuContext, KdConfig, Mlp, MlpSpec, Optimizer, Result,
    TeacherLogits, Trainer, TrainerConfig,
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

/// What the page may set; every field has a default (15 epochs at T 4, α 0.7 on 2000 samples:
/// on 500 test samples one headless-Chromium run gave 40 errors from scratch and 32 distilled;
/// at 8 epochs or 1000 samples the distilled student was still behind).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistillOptions {
    /// Training samples taken from the start of the training file.
    pub train_samples: usize,
    /// Test samples taken from the start of the test file.
    pub test_samples: usize,
    /// Student hidden widths.
    pub hidden: Vec<usize>,
    /// Epochs per student.
    pub epochs: usize,
    /// Batch size.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f32,
    /// KD temperature T.
    pub temperature: f32,
    /// KD weight α of the teacher term.
    pub alpha: f32,
    /// Seed of the initialisation and the shuffles (both students get the same).
    pub seed: u64,
}

impl Default for DistillOptions {
    fn default() -> Self {
        Self {
            train_samples: 2000,
            test_samples: 500,
            hidden: vec![300, 300],
            epochs: 15,
            batch: 64,
            lr: 1e-3,
            temperature: 4.0,
            alpha: 0.7,
            seed: 1,
        }
    }
}

/// One epoch of one student, as the page plots it.
#[derive(Debug, Clone, Serialize)]
pub struct EpochReport {
    /// `scratch` or `distilled`.
    pub run: &'static str,
    /// Epoch, from 1.
    pub epoch: usize,
    /// Epochs in the run.
    pub epochs: usize,
    /// Mean training loss over the epoch.
    pub loss: f32,
    /// Test errors after the epoch.
    pub test_errors: usize,
    /// Test samples.
    pub test_count: usize,
    /// Training samples per second over the epoch (steps submitted and finished).
    pub samples_per_second: f64,
}

/// A finished student.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// `scratch` or `distilled`.
    pub run: &'static str,
    /// Its epochs, in order.
    pub epochs: Vec<EpochReport>,
    /// Test errors at the end.
    pub test_errors: usize,
    /// Test samples.
    pub test_count: usize,
    /// Mean training loss of the first and the last epoch.
    pub first_loss: f32,
    /// Mean training loss of the last epoch.
    pub last_loss: f32,
}

/// The teacher's summary and the two students.
#[derive(Debug, Clone, Serialize)]
pub struct DistillReport {
    /// Teacher layer sizes.
    pub teacher: Vec<usize>,
    /// Teacher errors on the test slice.
    pub teacher_errors: usize,
    /// Training samples used.
    pub train_samples: usize,
    /// The scratch student, then the distilled one.
    pub runs: Vec<RunSummary>,
}

/// Trains both students and reports each epoch through `report` (one JSON line).
pub async fn scratch_and_distilled(
    ctx: &GpuContext,
    train: &Dataset,
    test: &Dataset,
    teacher_file: &[u8],
    options: &DistillOptions,
    report: impl Fn(String),
) -> Result<DistillReport> {
    if options.train_samples < options.batch || options.test_samples == 0 {
        return Err(Error::InvalidConfig(format!(
            "{} training samples make no batch of {}, or no test samples",
            options.train_samples, options.batch
        )));
    }
    let (teacher_spec, teacher_params) =
        from_safetensors(Path::new("teacher-mnist10k.safetensors"), teacher_file)?;
    let teacher = Mlp::from_parameters(ctx, &teacher_spec, &teacher_params)?;
    let classes = teacher_spec.classes();
    let train = DeviceDataset::new(ctx, &train.head(options.train_samples), classes)?;
    let test = DeviceDataset::new(ctx, &test.head(options.test_samples), classes)?;
    let teacher_errors = evaluate(ctx, &teacher, &test, 512).await?.errors;
    let cached = TeacherLogits::compute(ctx, &teacher, &train, 512).await?;

    let mut sizes = vec![train.features()];
    sizes.extend(&options.hidden);
    sizes.push(classes);
    let spec = MlpSpec::relu(&sizes)?;
    let kd = KdConfig {
        temperature: options.temperature,
        alpha: options.alpha,
    };
    let mut runs = Vec::new();
    for (run, teacher) in [("scratch", None), ("distilled", Some(&cached))] {
        let mut config = TrainerConfig::new(options.batch, Optimizer::adam(options.lr));
        if teacher.is_some() {
            config = config.kd(kd);
        }
        let student = Mlp::new(ctx, &spec, options.seed)?;
        let mut trainer = Trainer::new(ctx, student, &config)?;
        trainer.attach_dataset(ctx, &train, teacher, 0, options.seed as u32)?;
        runs.push(train_student(ctx, &mut trainer, &train, &test, run, options, &report).await?);
    }
    Ok(DistillReport {
        teacher: teacher_spec.sizes.clone(),
        teacher_errors,
        train_samples: train.len(),
        runs,
    })
}

/// Runs `trainer` epoch by epoch, evaluating after each.
async fn train_student(
    ctx: &GpuContext,
    trainer: &mut Trainer,
    train: &DeviceDataset,
    test: &DeviceDataset,
    run: &'static str,
    options: &DistillOptions,
    report: &impl Fn(String),
) -> Result<RunSummary> {
    let mut epochs = Vec::new();
    for epoch in 1..=options.epochs {
        let fit_options = FitOptions {
            from: FitPosition { epoch, batch: 0 },
            ..FitOptions::new(epoch, options.seed)
        };
        let (logs, _) = fit(ctx, trainer, train, fit_options, None, || {}, |_, _| Ok(())).await?;
        let eval = evaluate(ctx, trainer.student(), test, 512).await?;
        let log = logs.last().ok_or_else(|| {
            Error::InvalidConfig(format!("epoch {epoch} of the {run} student ran no step"))
        })?;
        let line = EpochReport {
            run,
            epoch,
            epochs: options.epochs,
            loss: log.loss.total,
            test_errors: eval.errors,
            test_count: eval.count,
            samples_per_second: (log.steps as usize * options.batch) as f64 / log.seconds.max(1e-9),
        };
        report(serde_json::to_string(&line).unwrap_or_default());
        epochs.push(line);
        next_frame().await;
    }
    let (first, last) = match (epochs.first(), epochs.last()) {
        (Some(first), Some(last)) => (first.loss, last.clone()),
        _ => return Err(Error::InvalidConfig("a run needs at least 1 epoch".into())),
    };
    Ok(RunSummary {
        run,
        test_errors: last.test_errors,
        test_count: last.test_count,
        first_loss: first,
        last_loss: last.loss,
        epochs,
    })
}

/// Lets the browser draw before the next epoch is queued (a zero-delay timer).
async fn next_frame() {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback(&resolve);
        } else {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
