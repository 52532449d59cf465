//! `distill experiment NAME`: runs one experiment (or `all`) end to end, prints its table and
//! writes it to the output folder as Markdown and JSON, and every finished experiment's table
//! with a chart into report.html.

use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;

use distill_wgpu::experiment::{Experiment, Scale, Table};
use distill_wgpu::{files, Error, Result};

use crate::jobs::load_data;
use crate::output::prepare;
use crate::pages::write_experiment_page;
use crate::report::{to_json, today, AdapterReport};
use crate::{open_context, Common, ExperimentArgs};

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

pub fn run(common: &Common, args: &ExperimentArgs) -> Result<ExitCode> {
    if args.list {
        for e in Experiment::ALL {
            println!("{:<14} {}", e.name(), e.summary());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(name) = args.name.as_deref() else {
        return Err(Error::InvalidConfig(
            "name an experiment (or `all`); `distill experiment --list` shows them".into(),
        ));
    };
    // Several names, comma-separated, run in one process: the experiments beyond the logits
    // then share their teachers and baselines.
    let chosen = if name == "all" {
        Experiment::ALL.to_vec()
    } else {
        name.split(',')
            .map(|n| Experiment::parse(n.trim()))
            .collect::<Result<Vec<_>>>()?
    };
    if common.resume {
        return Err(Error::InvalidConfig(
            "experiments keep no checkpoints; run them again instead of --resume".into(),
        ));
    }
    let scale = scale_from(common, args)?;
    let data = load_data(common)?;
    let out = prepare(common)?;
    let ctx = open_context(common)?;
    let mut finished = Vec::new();
    for experiment in chosen {
        if !common.quiet {
            eprintln!("experiment {}: {}", experiment.name(), experiment.summary());
        }
        let start = Instant::now();
        let mut progress = |line: &str| {
            if !common.quiet {
                eprintln!("{line}");
            }
        };
        let table = experiment.run(&ctx, &data, &scale, &mut progress)?;
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
fn scale_from(common: &Common, args: &ExperimentArgs) -> Result<Scale> {
    let mut scale = if args.quick {
        Scale::quick()
    } else {
        Scale::full()
    };
    if let Some(seeds) = &args.seeds {
        scale.seeds = seeds.clone();
    } else if let Some(seed) = common.seed {
        scale.seeds = vec![seed];
    }
    if let Some(h) = common.hidden() {
        scale.student.hidden = h;
    }
    if let Some(e) = common.epochs {
        scale.student.epochs = e;
    }
    if let Some(h) = &args.teacher_hidden {
        scale.teacher.hidden = h.clone();
    }
    if let Some(e) = args.teacher_epochs {
        scale.teacher.epochs = e;
    }
    if let Some(b) = common.batch_size {
        scale.batch_size = b;
    }
    if let Some(lr) = common.lr {
        scale.lr = lr;
    }
    if let Some(t) = common.temperature() {
        scale.kd.temperature = t;
    }
    if let Some(a) = common.alpha() {
        scale.kd.alpha = a;
    }
    scale.validate()?;
    Ok(scale)
}
