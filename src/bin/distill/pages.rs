//! report.html and metrics.csv. A run's page: the results table, the training curves of every
//! job, per-class test accuracy, the last model's confusion matrix and the models' reliability
//! diagrams. An experiment's page: each table with a chart of its first column.

use std::path::{Path, PathBuf};

use distill_wgpu::experiment::table::{mean_std, Table};
use distill_wgpu::experiment::Scale;
use distill_wgpu::report::{
    bar_chart, class_accuracy_chart, line_chart, reliability_diagrams, write_metrics_csv,
    HtmlReport, MetricsRow, ReliabilityBin, Series, TestDiagnostics,
};
use distill_wgpu::{GpuContext, Result};

use crate::report::{to_json, today, ModelReport, Settings};

/// Most reliability diagrams shown side by side.
const MAX_DIAGRAMS: usize = 4;

/// Adds `svg` as a figure, or, when the plot could not be made, a line saying why: the page
/// of a finished run is written even if one plot has nothing to show.
pub fn figure(page: &mut HtmlReport, caption: &str, svg: Result<String>) {
    match svg {
        Ok(svg) => page.figure(caption, &svg),
        Err(e) => page.paragraph(&format!("{caption}: no figure ({e}).")),
    };
}

/// The line "date · crate version · adapter" under a page's title.
pub fn provenance(ctx: &GpuContext) -> String {
    format!(
        "{} · distill-wgpu {} · adapter: {}",
        today(),
        env!("CARGO_PKG_VERSION"),
        ctx.describe()
    )
}

/// Writes metrics.csv (one row per job and epoch) and report.html of a `distill COMMAND` run
/// into `out`, and returns their paths.
pub fn write_run_pages(
    out: &Path,
    command: &str,
    ctx: &GpuContext,
    settings: &Settings,
    models: &[ModelReport],
) -> Result<[PathBuf; 2]> {
    let rows: Vec<MetricsRow> = models
        .iter()
        .flat_map(|m| m.epochs.iter().map(|e| e.metrics_row(&m.name)))
        .collect();
    let csv = out.join("metrics.csv");
    write_metrics_csv(&csv, &rows)?;
    let html = out.join("report.html");
    run_page(out, command, ctx, settings, models).write(&html)?;
    Ok([csv, html])
}

fn run_page(
    out: &Path,
    command: &str,
    ctx: &GpuContext,
    settings: &Settings,
    models: &[ModelReport],
) -> HtmlReport {
    let mut page = HtmlReport::new(&format!("distill {command}: {}", out.display()));
    page.paragraph(&provenance(ctx)).heading("Results");
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            let sizes: Vec<String> = m.sizes.iter().map(usize::to_string).collect();
            vec![
                m.name.clone(),
                sizes.join("-"),
                m.parameters.to_string(),
                format!("{:.2}%", 100.0 * m.test_accuracy),
                format!("{} / {}", m.test_errors, m.test_count),
                format!("{:.1}", m.train_seconds),
            ]
        })
        .collect();
    page.table(
        &[
            "model",
            "sizes",
            "parameters",
            "test accuracy",
            "test errors",
            "train s",
        ],
        &rows,
    );
    training_curves(&mut page, models);
    by_class(&mut page, models);
    page.heading("Settings").preformatted(&to_json(settings));
    page
}

/// The loss and test errors of every trained job, per epoch.
fn training_curves(page: &mut HtmlReport, models: &[ModelReport]) {
    page.heading("Training");
    let trained: Vec<&ModelReport> = models.iter().filter(|m| !m.epochs.is_empty()).collect();
    if trained.is_empty() {
        page.paragraph("No model was trained in this run.");
        return;
    }
    let curve = |m: &ModelReport, value: &dyn Fn(usize) -> Option<f64>| {
        let points = m
            .epochs
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((e.epoch as f64, value(i)?)))
            .collect();
        Series::new(m.name.clone(), points)
    };
    let losses: Vec<Series> = trained
        .iter()
        .map(|m| curve(m, &|i| Some(m.epochs[i].loss as f64)))
        .collect();
    figure(
        page,
        "Mean training loss per epoch: (1 − α)·CE + α·T²·KL for distilled students, CE \
         otherwise, so the curves of different jobs are on different scales.",
        line_chart("Training loss", "epoch", "mean loss", &losses),
    );
    let errors: Vec<Series> = trained
        .iter()
        .map(|m| curve(m, &|i| m.epochs[i].test_errors.map(|e| e as f64)))
        .collect();
    figure(
        page,
        "Test errors after each epoch (epochs without a measurement are left out).",
        line_chart("Test errors", "epoch", "test errors", &errors),
    );
}

/// Per-class accuracy of every model, the last one's confusion matrix, and reliability.
fn by_class(page: &mut HtmlReport, models: &[ModelReport]) {
    let diagnosed: Vec<(&str, &TestDiagnostics)> = models
        .iter()
        .filter_map(|m| Some((m.name.as_str(), m.diagnostics.as_ref()?)))
        .collect();
    let Some((last, diagnostics)) = diagnosed.last() else {
        return;
    };
    page.heading("Test set by class");
    figure(
        page,
        "Accuracy on each class of the test set, per model.",
        class_accuracy_chart("Per-class test accuracy", &diagnosed),
    );
    figure(
        page,
        &format!(
            "Confusion matrix of {last} on the test set: true classes down, predictions across."
        ),
        diagnostics.confusion_heat_map(&format!("Confusion matrix: {last}")),
    );
    // The trained models (the last ones) when there are more than fit side by side.
    let shown = &diagnosed[diagnosed.len().saturating_sub(MAX_DIAGRAMS)..];
    let panels: Vec<(&str, &[ReliabilityBin])> = shown
        .iter()
        .map(|(name, d)| (*name, d.reliability.as_slice()))
        .collect();
    figure(
        page,
        "Reliability on the test set: accuracy against the softmax confidence of the top \
         class, in ten bins; the red boxes are the gaps to perfect calibration, and ECE is \
         their sample-weighted mean.",
        reliability_diagrams(&panels),
    );
}

/// Writes report.html of `distill experiment` into `out`: each finished experiment's table
/// (mean ± sample std over seeds, with its notes) and a bar chart of its first column's
/// means. Returns the path.
pub fn write_experiment_page(
    out: &Path,
    ctx: &GpuContext,
    scale: &Scale,
    tables: &[(Table, f64)],
) -> Result<PathBuf> {
    let mut page = HtmlReport::new(&format!("distill experiment: {}", out.display()));
    page.paragraph(&provenance(ctx));
    for (table, seconds) in tables {
        page.heading(&format!("{}: {}", table.experiment, table.title));
        let mut headers = vec!["method"];
        headers.extend(table.columns.iter().map(|c| c.name.as_str()));
        let rows: Vec<Vec<String>> = table
            .rows
            .iter()
            .map(|row| {
                let cells = (0..table.columns.len()).map(|c| table.cell_text(row, c));
                std::iter::once(row.method.clone()).chain(cells).collect()
            })
            .collect();
        page.table(&headers, &rows);
        let seeds: Vec<String> = table.seeds.iter().map(u64::to_string).collect();
        page.paragraph(&format!(
            "Mean ± sample std over seeds {}; {seconds:.0} s.",
            seeds.join(", ")
        ));
        for note in &table.notes {
            page.paragraph(note);
        }
        if let Some(first) = table.columns.first() {
            let methods: Vec<String> = table.rows.iter().map(|r| r.method.clone()).collect();
            let means: Vec<f64> = table
                .rows
                .iter()
                .map(|r| {
                    r.values
                        .first()
                        .and_then(|v| mean_std(v))
                        .map_or(f64::NAN, |m| m.0)
                })
                .collect();
            figure(
                &mut page,
                &format!("{} per method (mean over seeds).", first.name),
                bar_chart(
                    &format!("{}: {}", table.experiment, first.name),
                    &first.name,
                    &methods,
                    &[(first.name.clone(), means)],
                ),
            );
        }
    }
    page.heading("Scale").preformatted(&to_json(scale));
    let path = out.join("report.html");
    page.write(&path)?;
    Ok(path)
}
