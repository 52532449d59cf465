//! `distill sweep`: students distilled over a grid of temperatures, α values, sizes and
//! training shares from one teacher (its logits computed once), beside scratch students;
//! the table goes to stdout and, with every seed's value, to sweep.md, sweep.csv and
//! sweep.json.

use std::process::ExitCode;

use serde::Serialize;

use distill_wgpu::experiment::sweep::{run_sweep, SweepGrid, SweepResult};
use distill_wgpu::experiment::Scale;
use distill_wgpu::model::io;
use distill_wgpu::{files, Error, Mlp, Result};

use crate::analysis_pages::write_sweep_page;
use crate::cli::SweepArgs;
use crate::jobs::{bundled_teacher, load_data};
use crate::output::{check_inputs_not_outputs, prepare, Resume};
use crate::report::{to_json, today, AdapterReport};
use crate::{defaults, open_context};

/// Student epochs of a sweep unless --epochs says otherwise (a sweep trains many).
const SWEEP_EPOCHS: usize = 10;

/// `sweep.json`.
#[derive(Serialize)]
struct SweepReport<'a> {
    schema: &'static str,
    date: String,
    crate_version: &'static str,
    adapter: AdapterReport,
    teacher: &'a std::path::Path,
    scale: &'a Scale,
    result: &'a SweepResult,
}

/// Runs the grid and writes its tables and page.
pub fn run(args: &SweepArgs) -> Result<ExitCode> {
    let training = &args.training;
    let force = args.output.force;
    let grid = SweepGrid {
        temperatures: non_empty(&args.temperature, defaults::TEMPERATURE),
        alphas: non_empty(&args.alpha, defaults::ALPHA),
        hidden: args
            .hidden
            .as_ref()
            .map_or_else(|| vec![defaults::STUDENT_HIDDEN.to_vec()], |h| h.0.clone()),
        train_fractions: non_empty(&args.train_fraction, 1.0),
        seeds: non_empty(&args.seeds, training.seed()),
    };
    grid.validate(force)?;
    let mut scale = Scale::full();
    scale.student.epochs = training.epochs.unwrap_or(SWEEP_EPOCHS);
    scale.batch_size = training.batch_size();
    scale.lr = training.lr();
    scale.validate()?;
    let teacher_path =
        match (&args.teacher, &args.data.data) {
            (Some(path), _) => path.clone(),
            (None, None) => bundled_teacher(),
            (None, Some(_)) => return Err(Error::InvalidConfig(
                "a sweep on --data needs --teacher (the bundled teacher knows the bundled data)"
                    .into(),
            )),
        };
    let data = load_data(&args.data)?;
    let (spec, params) = io::load(&teacher_path)?;
    let out = prepare(&args.output, Resume::Unsupported)?;
    let mut outputs: Vec<_> = ["md", "csv", "json"]
        .iter()
        .map(|ext| out.join(format!("sweep.{ext}")))
        .collect();
    outputs.push(out.join("report.html"));
    check_inputs_not_outputs(&[teacher_path.as_path()], &outputs)?;
    let ctx = open_context(&args.gpu, false)?;
    let teacher = Mlp::from_parameters(&ctx, &spec, &params)?;
    let mut progress = |line: &str| {
        if !training.quiet {
            eprintln!("{line}");
        }
    };
    eprintln!(
        "sweep: {} cells × {} seeds, {} epochs each",
        grid.cells(),
        grid.seeds.len(),
        scale.student.epochs
    );
    let result = run_sweep(&ctx, &data, &teacher, &grid, &scale, force, &mut progress)?;
    let markdown = result.markdown();
    println!("\n{markdown}");
    files::write_atomic(&outputs[0], markdown.as_bytes())?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| Error::InvalidConfig(format!("writing sweep.csv: {e}"));
    writer
        .write_record([
            "hidden",
            "train_fraction",
            "temperature",
            "alpha",
            "seed",
            "test_errors",
        ])
        .map_err(csv_error)?;
    for row in result.csv_rows() {
        writer.write_record(&row).map_err(csv_error)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| Error::InvalidConfig(format!("writing sweep.csv: {e}")))?;
    files::write_atomic(&outputs[1], &bytes)?;
    let report = SweepReport {
        schema: "distill-wgpu-sweep/1",
        date: today(),
        crate_version: env!("CARGO_PKG_VERSION"),
        adapter: AdapterReport::new(&ctx),
        teacher: &teacher_path,
        scale: &scale,
        result: &result,
    };
    files::write_atomic(&outputs[2], to_json(&report).as_bytes())?;
    write_sweep_page(&out, &ctx, &result)?;
    println!("sweep written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `values`, or `[default]` when none were given.
fn non_empty<T: Copy>(values: &[T], default: T) -> Vec<T> {
    if values.is_empty() {
        vec![default]
    } else {
        values.to_vec()
    }
}
