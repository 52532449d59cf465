//! `distill experiment NAME`: runs one experiment (or `all`) end to end, prints its table and
//! writes it to the output folder as Markdown and JSON, and every finished experiment's table
//! with a chart into report.html.

use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;

use distill_wgpu::experiment::{Experiment, Scale, Table};
use distill_wgpu::{files, Error, Result};

use crate::cli::ExperimentArgs;
use crate::jobs::load_data;
use crate::open_context;
use crate::output::{prepare, Resume};
use crate::pages::write_experiment_page;
use crate::report::{to_json, today, AdapterReport};

/// `<name>.json`: the table with what produced it.
#[derive(Serialize)]
struct ExperimentReport<'a> {
    schema: &'static str,
    date: String,
    crate_version: &'static str,
    adapter: AdapterReport,
    scale: &'a Scale,
    seconds: f64,
    table: &'a Table,
}

/// Runs the experiments named (or lists them) and writes their tables.
pub fn run(args: &ExperimentArgs) -> Result<ExitCode> {
    if args.list {
        for e in Experiment::ALL {
            println!("{:<14} {}", e.name(), e.summary());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(chosen) = &args.name else {
        return Err(Error::InvalidConfig(
            "name an experiment (or `all`); `distill experiment --list` shows them".into(),
        ));
    };
    // Several names, comma-separated, run in one process: the experiments beyond the logits
    // then share their teachers and baselines.
    let quiet = args.training.quiet;
    let scale = scale_from(args)?;
    // Loaded once, and only when an experiment runs on it (some draw their own data).
    let data = if chosen.0.iter().all(|e| e.brings_own_data()) {
        None
    } else {
        Some(load_data(&args.data)?)
    };
    let out = prepare(&args.output, Resume::Unsupported)?;
    let ctx = open_context(&args.gpu, false)?;
    let mut finished = Vec::new();
    for &experiment in &chosen.0 {
        if !quiet {
            eprintln!("experiment {}: {}", experiment.name(), experiment.summary());
        }
        let start = Instant::now();
        let mut progress = |line: &str| {
            if !quiet {
                eprintln!("{line}");
            }
        };
        let table = match &data {
            Some(data) if !experiment.brings_own_data() => {
                experiment.run(&ctx, data, &scale, &mut progress)?
            }
            _ => experiment.run_on_own_data(&ctx, &scale, &mut progress)?,
        };
        let seconds = start.elapsed().as_secs_f64();
        let markdown = table.markdown();
        println!("\n{markdown}");
        let report = ExperimentReport {
            schema: "distill-wgpu-experiment/1",
            date: today(),
            crate_version: env!("CARGO_PKG_VERSION"),
            adapter: AdapterReport::new(&ctx),
            scale: &scale,
            seconds,
            table: &table,
        };
        let stem = out.join(experiment.name());
        files::write_atomic(&stem.with_extension("md"), markdown.as_bytes())?;
        files::write_atomic(&stem.with_extension("json"), to_json(&report).as_bytes())?;
        finished.push((table, seconds));
        // Rewritten after each experiment, so `all` leaves a page of what finished.
        let page = write_experiment_page(&out, &ctx, &scale, &finished)?;
        println!(
            "{} took {seconds:.0} s; table written to {}.md and .json, and to {}",
            experiment.name(),
            stem.display(),
            page.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The full or quick scale with the flags' overrides (student: --hidden, --epochs).
fn scale_from(args: &ExperimentArgs) -> Result<Scale> {
    let training = &args.training;
    let mut scale = if args.quick {
        Scale::quick()
    } else {
        Scale::full()
    };
    if let Some(seeds) = &args.seeds {
        scale.seeds = seeds.clone();
    } else if let Some(seed) = training.seed {
        scale.seeds = vec![seed];
    }
    if let Some(h) = &args.hidden {
        scale.student.hidden = h.0.clone();
    }
    if let Some(e) = training.epochs {
        scale.student.epochs = e;
    }
    if let Some(h) = &args.teacher_hidden {
        scale.teacher.hidden = h.0.clone();
    }
    if let Some(e) = args.teacher_epochs {
        scale.teacher.epochs = e;
    }
    if let Some(b) = training.batch_size {
        scale.batch_size = b;
    }
    if let Some(lr) = training.lr {
        scale.lr = lr;
    }
    if let Some(t) = args.kd.temperature {
        scale.kd.temperature = t;
    }
    if let Some(a) = args.kd.alpha {
        scale.kd.alpha = a;
    }
    scale.validate()?;
    Ok(scale)
}
