//! `distill calibrate --model FILE`: fits the model's calibration temperature on a seeded
//! held-out share of the training set, reports NLL, ECE, Brier score and accuracy on the test
//! set before and after, and saves the model with the temperature in its metadata.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use distill_wgpu::eval::calibrate::{
    before_after, fit_model_temperature, parse_held_out, CALIBRATION_KEY, HELD_OUT_KEY,
};
use distill_wgpu::eval::check_fits;
use distill_wgpu::model::io;
use distill_wgpu::ops::calibration::Calibration;
use distill_wgpu::{files, DeviceDataset, Mlp, Result};

use crate::analysis_pages::write_calibration_page;
use crate::cli::CalibrateArgs;
use crate::jobs::load_data;
use crate::output::{check_inputs_not_outputs, prepare, Resume};
use crate::report::{to_json, today, AdapterReport};
use crate::{defaults, open_context};

/// Name of the calibrated model file in the output folder.
const CALIBRATED: &str = "model-calibrated.safetensors";

/// `calibration.json`.
#[derive(Serialize)]
struct CalibrationReport<'a> {
    schema: &'static str,
    date: String,
    crate_version: &'static str,
    adapter: AdapterReport,
    model: &'a Path,
    calibrated_model: &'a Path,
    val_fraction: f64,
    val_samples: usize,
    seed: u64,
    held_out_from_training: bool,
    temperature: f32,
    test_before: &'a Calibration,
    test_after: &'a Calibration,
}

/// Fits, reports and saves the calibrated model.
pub fn run(args: &CalibrateArgs) -> Result<ExitCode> {
    let model_path = args.model.as_path();
    let data = load_data(&args.data)?;
    let file = io::load_file(model_path)?;
    // The share the model was held out from (`train --val-fraction`), unless the flags say.
    let recorded = file
        .metadata
        .get(HELD_OUT_KEY)
        .map(|e| parse_held_out(e))
        .transpose()?;
    let (fraction, seed) = match (recorded, args.val_fraction) {
        (Some(split), None) => split,
        _ => (
            args.val_fraction.unwrap_or(defaults::VAL_FRACTION),
            args.seed.unwrap_or(defaults::SEED),
        ),
    };
    let honest = recorded == Some((fraction, seed));
    let (_, validation) = data.train.split(fraction, seed)?;
    let out = prepare(&args.output, Resume::Unsupported)?;
    let calibrated = out.join(CALIBRATED);
    let report_path = out.join("calibration.json");
    let page_path = out.join("report.html");
    check_inputs_not_outputs(
        &[model_path],
        &[calibrated.clone(), report_path.clone(), page_path],
    )?;
    let ctx = open_context(&args.gpu, args.json)?;
    let model = Mlp::from_parameters(&ctx, &file.spec, &file.params)?;
    let validation = DeviceDataset::new(&ctx, &validation, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    check_fits("model", &model, &test)?;
    let temperature = fit_model_temperature(&ctx, &model, &validation)?;
    let (before, after) = before_after(&ctx, &model, &test, temperature)?;

    let mut meta: Vec<(&str, String)> = file
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != CALIBRATION_KEY)
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    meta.push((CALIBRATION_KEY, temperature.to_string()));
    io::save(&calibrated, &file.spec, &file.params, &meta)?;
    let report = CalibrationReport {
        schema: "distill-wgpu-calibration/1",
        date: today(),
        crate_version: env!("CARGO_PKG_VERSION"),
        adapter: AdapterReport::new(&ctx),
        model: model_path,
        calibrated_model: &calibrated,
        val_fraction: fraction,
        val_samples: validation.len(),
        seed,
        held_out_from_training: honest,
        temperature,
        test_before: &before,
        test_after: &after,
    };
    let json = to_json(&report);
    files::write_atomic(&report_path, json.as_bytes())?;
    let page = write_calibration_page(&out, &ctx, model_path, &before, &after)?;
    if args.json {
        println!("{json}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "T_cal = {temperature:.4}, fitted on {} samples ({fraction} of the training set, seed {seed})",
        validation.len()
    );
    if !honest {
        println!(
            "warning: the model records no held-out share matching these samples, so it may have \
             trained on them and T_cal then reflects its confidence on training data; train it \
             with --val-fraction to hold them out"
        );
    }
    println!(
        "\non {} test samples   before (T = 1)   after (T = {temperature:.3})",
        test.len()
    );
    let rows = [
        ("NLL", before.nll, after.nll),
        ("ECE (15 bins)", before.ece, after.ece),
        ("Brier score", before.brier, after.brier),
        ("accuracy", before.accuracy, after.accuracy),
    ];
    for (name, b, a) in rows {
        println!("{name:<22} {b:>15.5} {a:>16.5}");
    }
    println!(
        "\ncalibrated model written to {} (the temperature is in its metadata as {CALIBRATION_KEY}); report in {} and {}",
        calibrated.display(),
        report_path.display(),
        page.display()
    );
    Ok(ExitCode::SUCCESS)
}
