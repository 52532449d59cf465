//! What the commands share: data, architecture and KD settings from the flags, `--init`
//! weights, evaluating and saving a trained model, and the results table.

use std::path::{Path, PathBuf};

use distill_wgpu::data::{self, DeviceDataset, TrainTest};
use distill_wgpu::model::io::{self, WeightPrecision};
use distill_wgpu::report::{TestDiagnostics, DEFAULT_BINS};
use distill_wgpu::util::joined;
use distill_wgpu::{Error, GpuContext, Mlp, MlpSpec, Result};

use crate::flags::DataFlags;
use crate::output::file_name;
use crate::pages::write_run_pages;
use crate::report::{write_run_report, EpochReport, ModelReport, Settings};
use crate::training::Trained;

/// The teacher shipped for the bundled data (see README for the command that reproduces it).
pub fn bundled_teacher() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join("teacher-mnist10k.safetensors")
}

/// The data set --data names (any format [`data::read_data`] reads), or the bundled one,
/// read as the data flags say (--label-column, --standardize, --num-classes).
pub fn load_data(flags: &DataFlags) -> Result<TrainTest> {
    data::read_data(&flags.path(), &flags.options())
}

pub fn sizes(inputs: usize, hidden: &[usize], classes: usize) -> Vec<usize> {
    std::iter::once(inputs)
        .chain(hidden.iter().copied())
        .chain(std::iter::once(classes))
        .collect()
}

/// Prints the results table.
pub fn print_table(ctx: &GpuContext, results: &[ModelReport]) {
    println!("\nadapter: {}", ctx.describe());
    println!(
        "{:<20} {:<22} {:>10} {:>9} {:>12} {:>9}",
        "model", "sizes", "params", "test acc", "test errors", "train s"
    );
    for r in results {
        let sizes = joined(&r.sizes, "-");
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

/// Evaluates a trained model on the test set (errors, and the breakdown by class for
/// report.html) and saves its weights in f32.
pub fn finish_model(
    ctx: &GpuContext,
    test: &DeviceDataset,
    out: &Path,
    name: &str,
    trained: &Trained,
    extra: &[(&str, String)],
) -> Result<ModelReport> {
    finish_model_as(ctx, test, out, name, trained, extra, WeightPrecision::F32)
}

/// [`finish_model`] with the weights stored in `precision`; the model evaluated is the one
/// stored (its weights rounded first), so the reported errors are the file's.
pub fn finish_model_as(
    ctx: &GpuContext,
    test: &DeviceDataset,
    out: &Path,
    name: &str,
    trained: &Trained,
    extra: &[(&str, String)],
    precision: WeightPrecision,
) -> Result<ModelReport> {
    let rounded = match precision {
        WeightPrecision::F32 => None,
        WeightPrecision::F16 => {
            let params = trained.model.parameters(ctx)?;
            let stored = io::round_to(&params, precision)?;
            Some(Mlp::from_parameters(ctx, trained.model.spec(), &stored)?)
        }
    };
    let model = rounded.as_ref().unwrap_or(&trained.model);
    let file = out.join(format!("{name}.safetensors"));
    let epochs = trained
        .logs
        .iter()
        .map(|log| EpochReport::new(log, trained.test_errors.get(&log.epoch).copied()))
        .collect();
    // Measured before saving: a model with non-finite outputs leaves no weights file.
    let report = model_report(
        ctx,
        test,
        name,
        model,
        (file.clone(), trained.seconds),
        epochs,
    )?;
    let params = model.parameters(ctx)?;
    io::save_as(&file, model.spec(), &params, extra, precision)?;
    Ok(report)
}

/// A model's row of the results: its test errors, counted with its per-class breakdown in one
/// pass over the test set, beside its weights file, training time and epoch logs.
pub fn model_report(
    ctx: &GpuContext,
    test: &DeviceDataset,
    name: &str,
    model: &Mlp,
    (weights, train_seconds): (PathBuf, f64),
    epochs: Vec<EpochReport>,
) -> Result<ModelReport> {
    let diagnostics = TestDiagnostics::measure(ctx, model, test, DEFAULT_BINS)?;
    let eval = diagnostics.evaluation();
    Ok(ModelReport {
        name: name.to_string(),
        sizes: model.spec().sizes.clone(),
        parameters: model.spec().parameter_count(),
        test_errors: eval.errors,
        test_count: eval.count,
        test_accuracy: eval.accuracy(),
        train_seconds,
        weights,
        epochs,
        diagnostics: Some(diagnostics),
    })
}

/// The architecture for a model with `default_hidden` layers unless `--hidden` (`given`) says
/// otherwise, or, with `--init FILE`, the file's architecture and weights (which `--hidden`,
/// if given, must match).
pub fn spec_and_init(
    given: Option<&[usize]>,
    data: &TrainTest,
    default_hidden: &[usize],
    init: Option<&Path>,
) -> Result<(MlpSpec, Option<Vec<f32>>)> {
    let features = data.train.features();
    let hidden = given.unwrap_or(default_hidden).to_vec();
    let Some(path) = init else {
        return Ok((
            MlpSpec::relu(&sizes(features, &hidden, data.classes))?,
            None,
        ));
    };
    let (spec, params) = io::load(path)?;
    let wanted = sizes(features, &hidden, data.classes);
    let mismatch = |what: String| {
        Err(Error::InvalidConfig(format!(
            "--init {}: {what}",
            path.display()
        )))
    };
    if spec.inputs() != features || spec.classes() != data.classes {
        return mismatch(format!(
            "model {:?} does not fit data with {features} features and {} classes",
            spec.sizes, data.classes
        ));
    }
    if given.is_some() && spec.sizes != wanted {
        return mismatch(format!(
            "model {:?} differs from --hidden {:?}",
            spec.sizes, hidden
        ));
    }
    Ok((spec, Some(params)))
}

/// The data set's settings for report.json (its path, CSV label column, standardization,
/// stated class count);
/// every other field empty, for a command's settings to complete.
pub fn data_settings(flags: &DataFlags) -> Settings {
    Settings {
        data: Some(flags.path()),
        label_column: flags.label_column.clone(),
        standardize: flags.standardize.then_some(true),
        num_classes: flags.num_classes,
        ..Settings::default()
    }
}

/// Writes a run's report.json, report.html and metrics.csv into `out` (the page titled by
/// `command`) and says where they went.
pub fn publish(
    out: &Path,
    ctx: &GpuContext,
    command: &str,
    settings: &Settings,
    results: &[ModelReport],
) -> Result<()> {
    let report = write_run_report(out, ctx, settings, results)?;
    let [csv, html] = write_run_pages(out, command, ctx, settings, results)?;
    println!(
        "weights, {}, {} and {} written to {}",
        file_name(&report),
        file_name(&html),
        file_name(&csv),
        out.display()
    );
    Ok(())
}
