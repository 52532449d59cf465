//! `distill eval`: test errors of a saved model.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use distill_wgpu::eval::evaluate;
use distill_wgpu::model::io;
use distill_wgpu::{DeviceDataset, Mlp, Result};

use crate::jobs::load_data;
use crate::report::to_json;
use crate::{open_context, Common};

/// `distill eval --json`.
#[derive(Serialize)]
struct EvalReport<'a> {
    model: &'a Path,
    sizes: &'a [usize],
    test_errors: usize,
    test_count: usize,
    test_accuracy: f64,
}

pub fn run(common: &Common, model_path: &Path) -> Result<ExitCode> {
    let data = load_data(common)?;
    let ctx = open_context(common)?;
    let (spec, params) = io::load(model_path)?;
    let model = Mlp::from_parameters(&ctx, &spec, &params)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let eval = evaluate(&ctx, &model, &test, 512)?;
    if common.json {
        let report = EvalReport {
            model: model_path,
            sizes: &spec.sizes,
            test_errors: eval.errors,
            test_count: eval.count,
            test_accuracy: eval.accuracy(),
        };
        println!("{}", to_json(&report));
    } else {
        println!(
            "{}: {} errors / {} ({:.2}% accuracy)",
            model_path.display(),
            eval.errors,
            eval.count,
            100.0 * eval.accuracy()
        );
    }
    Ok(ExitCode::SUCCESS)
}
