//! What the training commands share: data, output folder and KD settings from the flags, one
//! training run with a progress bar, and the results table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use distill_wgpu::data::{self, DeviceDataset, TrainTest};
use distill_wgpu::eval::evaluate;
use distill_wgpu::model::io;
use distill_wgpu::train::{fit, EpochLog, FitOptions};
use distill_wgpu::{
    Dropout, Error, GpuContext, KdConfig, Mlp, MlpSpec, Optimizer, Result, TeacherLogits, Trainer,
    TrainerConfig,
};

use crate::report::{EpochReport, ModelReport};
use crate::{defaults, Common};

/// The teacher shipped for the bundled data (see README for the command that reproduces it).
pub fn bundled_teacher() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join("teacher-mnist10k.safetensors")
}

pub fn load_data(common: &Common) -> Result<TrainTest> {
    let dir = common.data.clone().unwrap_or_else(data::bundled_dir);
    data::read_dir(&dir)
}

pub fn sizes(inputs: usize, hidden: &[usize], classes: usize) -> Vec<usize> {
    std::iter::once(inputs)
        .chain(hidden.iter().copied())
        .chain(std::iter::once(classes))
        .collect()
}

/// Everything one training run needs.
#[derive(Clone, Copy)]
pub struct TrainJob<'a> {
    pub name: &'a str,
    pub spec: &'a MlpSpec,
    pub epochs: usize,
    pub kd: KdConfig,
    /// Cached teacher logits for the training set (needed when `kd.alpha > 0`).
    pub teacher: Option<&'a TeacherLogits>,
    pub dropout: Dropout,
    pub jitter: u32,
    pub init_seed: u64,
}

/// Trains one model on `train` and returns it with its epoch logs and wall time.
pub fn train_model(
    ctx: &GpuContext,
    common: &Common,
    train: &DeviceDataset,
    job: &TrainJob<'_>,
) -> Result<Trained> {
    let batch = common.batch_size.unwrap_or(defaults::BATCH);
    let lr = common.lr.unwrap_or(defaults::LR);
    let seed = common.seed.unwrap_or(defaults::SEED);
    let model = Mlp::new(ctx, job.spec, job.init_seed)?;
    let config = TrainerConfig::new(batch, Optimizer::adam(lr))
        .kd(job.kd)
        .dropout(job.dropout);
    let mut trainer = Trainer::new(ctx, model, &config)?;
    trainer.attach_dataset(ctx, train, job.teacher, job.jitter, seed as u32)?;
    let steps = (train.len() / batch) as u64 * job.epochs as u64;
    let bar = if common.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(steps)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} steps {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(job.name.to_string());
    let start = Instant::now();
    let logs = fit(
        ctx,
        &mut trainer,
        train,
        FitOptions {
            epochs: job.epochs,
            seed,
        },
        None,
        || bar.inc(1),
        |log| {
            bar.set_message(format!(
                "epoch {} loss {:.4} (ce {:.4} kl {:.4})",
                log.epoch, log.loss.total, log.loss.ce, log.loss.kl
            ));
        },
    )?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if !common.quiet {
        if let Some(last) = logs.last() {
            // KL is only meaningful when a teacher term is trained.
            let kl = if job.kd.alpha > 0.0 {
                format!(", kl {:.4}", last.loss.kl)
            } else {
                String::new()
            };
            eprintln!(
                "{:>10}: {} epochs in {:.1} s, final loss {:.4} (ce {:.4}{kl})",
                job.name, job.epochs, secs, last.loss.total, last.loss.ce
            );
        }
    }
    Ok(Trained {
        model: trainer.into_student(),
        logs,
        seconds: secs,
    })
}

/// Prints the results table.
pub fn print_table(ctx: &GpuContext, results: &[ModelReport]) {
    println!("\nadapter: {}", ctx.describe());
    println!(
        "{:<20} {:<22} {:>10} {:>9} {:>12} {:>9}",
        "model", "sizes", "params", "test acc", "test errors", "train s"
    );
    for r in results {
        let sizes = r
            .sizes
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("-");
        println!(
            "{:<20} {:<22} {:>10} {:>8.2}% {:>6} / {:<5} {:>8.1}",
            r.name,
            sizes,
            r.parameters,
            100.0 * r.test_accuracy,
            r.test_errors,
            r.test_count,
            r.train_seconds
        );
    }
}

/// The output folder (created).
pub fn out_dir(common: &Common) -> Result<PathBuf> {
    let dir = common
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(defaults::OUT));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// T and α from the flags or the defaults, checked.
pub fn kd_from(common: &Common) -> Result<KdConfig> {
    let kd = KdConfig {
        temperature: common.temperature.unwrap_or(defaults::TEMPERATURE),
        alpha: common.alpha.unwrap_or(defaults::ALPHA),
    };
    kd.validate()?;
    Ok(kd)
}

/// A trained model with its epoch logs and wall time.
pub struct Trained {
    pub model: Mlp,
    pub logs: Vec<EpochLog>,
    pub seconds: f64,
}

/// Evaluates a trained model on the test set and saves its weights.
pub fn finish_model(
    ctx: &GpuContext,
    test: &DeviceDataset,
    out: &Path,
    name: &str,
    trained: &Trained,
    extra: &[(&str, String)],
) -> Result<ModelReport> {
    let model = &trained.model;
    let eval = evaluate(ctx, model, test, 512)?;
    let file = out.join(format!("{name}.safetensors"));
    io::save(&file, model.spec(), &model.parameters(ctx)?, extra)?;
    Ok(ModelReport {
        name: name.to_string(),
        sizes: model.spec().sizes.clone(),
        parameters: model.spec().parameter_count(),
        test_errors: eval.errors,
        test_count: eval.count,
        test_accuracy: eval.accuracy(),
        train_seconds: trained.seconds,
        weights: file,
        epochs: trained.logs.iter().map(EpochReport::from).collect(),
    })
}
