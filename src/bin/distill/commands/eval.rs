//! `distill eval`: test errors of a saved model.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use distill_wgpu::eval::evaluate;
use distill_wgpu::model::io;
use distill_wgpu::{DeviceDataset, Mlp, Result};

use crate::cli::EvalArgs;
use crate::jobs::load_data;
use crate::open_context;
use crate::report::to_json;

/// `distill eval --json`.
#[derive(Serialize)]
struct EvalReport<'a> {
    model: &'a Path,
    sizes: &'a [usize],
    test_errors: usize,
    test_count: usize,
    test_accuracy: f64,
}

/// Counts the model's test errors.
pub fn run(args: &EvalArgs) -> Result<ExitCode> {
    let model_path = args.model.as_path();
    let data = load_data(&args.data)?;
    let ctx = open_context(&args.gpu, args.json)?;
    let (spec, params) = io::load(model_path)?;
    let model = Mlp::from_parameters(&ctx, &spec, &params)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let eval = evaluate(&ctx, &model, &test, 512)?;
    if args.json {
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
