//! report.html of `calibrate` (reliability before and after), `diagnose` (warnings, per-class
//! accuracy, confusion matrices, contradicted labels, saliency agreement and maps) and `sweep` (a T × α heat map of mean
//! test errors per student size and training share).

use std::path::{Path, PathBuf};

use distill_wgpu::diagnose::saliency::HISTOGRAM_BINS;
use distill_wgpu::diagnose::{Diagnosis, ModelSummary};
use distill_wgpu::experiment::sweep::SweepResult;
use distill_wgpu::experiment::table::mean_std;
use distill_wgpu::ops::calibration::Calibration;
use distill_wgpu::report::{
    bar_chart, class_names, heat_map, pixel_maps, reliability_diagrams, HtmlReport,
};
use distill_wgpu::{GpuContext, Result};

use crate::pages::{figure, provenance};

/// Writes `page` to `out/report.html` and returns the path.
fn write(page: &HtmlReport, out: &Path) -> Result<PathBuf> {
    let path = out.join("report.html");
    page.write(&path)?;
    Ok(path)
}

/// The calibration page: metrics before and after, and both reliability diagrams.
pub fn write_calibration_page(
    out: &Path,
    ctx: &GpuContext,
    model: &Path,
    before: &Calibration,
    after: &Calibration,
) -> Result<PathBuf> {
    let mut page = HtmlReport::new(&format!("distill calibrate: {}", model.display()));
    page.paragraph(&provenance(ctx));
    let t = after.temperature;
    let row =
        |name: &str, b: f64, a: f64| vec![name.to_string(), format!("{b:.5}"), format!("{a:.5}")];
    let after_header = format!("after (T = {t:.4})");
    page.table(
        &["on the test set", "before (T = 1)", &after_header],
        &[
            row("NLL", before.nll, after.nll),
            row("ECE (15 bins)", before.ece, after.ece),
            row("Brier score", before.brier, after.brier),
            row("accuracy", before.accuracy, after.accuracy),
        ],
    );
    figure(
        &mut page,
        "Accuracy against mean confidence per confidence bin; the diagonal is perfect calibration.",
        reliability_diagrams(&[
            ("before (T = 1)", &before.bins),
            (&after_header, &after.bins),
        ]),
    );
    write(&page, out)
}

/// A few test samples' saliency maps for the diagnosis page: per row a name, the student's
/// Spearman ρ with the teacher, and one `height × width` panel per column (the input, then
/// each model's map).
pub struct SaliencyExamples {
    /// Column names.
    pub columns: Vec<String>,
    /// `(name, ρ, panels)` per sample.
    pub rows: Vec<(String, f64, Vec<Vec<f32>>)>,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
}

/// The diagnosis page.
pub fn write_diagnosis_page(
    out: &Path,
    ctx: &GpuContext,
    d: &Diagnosis,
    saliency: Option<&SaliencyExamples>,
) -> Result<PathBuf> {
    let mut page = HtmlReport::new("distill diagnose");
    page.paragraph(&provenance(ctx));
    page.heading("Warnings");
    if d.warnings.is_empty() {
        page.paragraph("None.");
    }
    for w in &d.warnings {
        page.paragraph(&w.message);
    }
    let models: Vec<&ModelSummary> = [Some(&d.teacher), d.student.as_ref(), d.baseline.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    let classes = d.teacher.class_accuracy.len();
    page.heading("Per-class test accuracy");
    let series: Vec<(String, Vec<f64>)> = models
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                m.class_accuracy.iter().map(|a| 100.0 * a).collect(),
            )
        })
        .collect();
    figure(
        &mut page,
        "Test accuracy per class, %.",
        bar_chart(
            "per-class accuracy",
            "accuracy, %",
            &class_names(classes),
            &series,
        ),
    );
    page.heading("Confusion matrices (true class down, predicted across)");
    for m in &models {
        let counts: Vec<f64> = m.confusion.iter().map(|&n| n as f64).collect();
        let names = class_names(classes);
        figure(
            &mut page,
            &format!("{}: {} test errors.", m.name, m.errors),
            heat_map(
                &m.name,
                "true class",
                "predicted class",
                &names,
                &names,
                &counts,
                0,
            ),
        );
    }
    if let Some(dis) = &d.disagreements {
        page.heading("Where the teacher contradicts the training labels");
        page.paragraph(&format!(
            "{} training samples ({:.2} %); the most confident:",
            dis.count,
            100.0 * dis.fraction
        ));
        let rows: Vec<Vec<String>> = dis
            .most_confident
            .iter()
            .map(|x| {
                vec![
                    x.index.to_string(),
                    x.label.to_string(),
                    x.teacher_class.to_string(),
                    format!("{:.3}", x.probability),
                ]
            })
            .collect();
        page.table(&["sample", "label", "teacher says", "probability"], &rows);
    }
    figure(
        &mut page,
        "The teacher's reliability on the test set.",
        reliability_diagrams(&[("teacher", &d.teacher_calibration.bins)]),
    );
    saliency_section(&mut page, d, saliency);
    write(&page, out)
}

/// Does the student look where the teacher looks: the rank agreement of the saliency maps
/// and, for images, the maps of a few samples.
fn saliency_section(page: &mut HtmlReport, d: &Diagnosis, examples: Option<&SaliencyExamples>) {
    if d.saliency.is_empty() {
        return;
    }
    page.heading("Saliency: does the student look where the teacher looks?");
    page.paragraph(
        "Per test sample, Spearman's rank correlation ρ between the teacher's map |∂ z_label / ∂ x| \
         and the other model's (1: the same pixels matter in the same order).",
    );
    let rows: Vec<Vec<String>> = d
        .saliency
        .iter()
        .map(|a| {
            let mut row = vec![
                a.name.clone(),
                a.samples.to_string(),
                format!("{:.3} ± {:.3}", a.mean, a.std),
            ];
            row.extend(a.quantiles.iter().map(|q| format!("{q:.3}")));
            row
        })
        .collect();
    page.table(
        &[
            "vs teacher",
            "samples",
            "mean ρ ± std",
            "min",
            "q1",
            "median",
            "q3",
            "max",
        ],
        &rows,
    );
    let bins: Vec<String> = (0..HISTOGRAM_BINS)
        .map(|b| format!("{:.1}", -1.0 + 2.0 * b as f64 / HISTOGRAM_BINS as f64))
        .collect();
    let series: Vec<(String, Vec<f64>)> = d
        .saliency
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                a.histogram.iter().map(|&n| n as f64).collect(),
            )
        })
        .collect();
    figure(
        page,
        "Test samples per bin of ρ (each bin from the value shown, 0.2 wide).",
        bar_chart(
            "saliency agreement with the teacher",
            "test samples",
            &bins,
            &series,
        ),
    );
    if let Some(e) = examples {
        let rows: Vec<(String, Vec<&[f32]>)> = e
            .rows
            .iter()
            .map(|(name, rho, panels)| {
                let name = format!("{name}, ρ {rho:.2}");
                (name, panels.iter().map(Vec::as_slice).collect())
            })
            .collect();
        figure(
            page,
            "The student's lowest, median and highest ρ: the input and each model's saliency \
             map, each shaded to its own largest value.",
            pixel_maps("saliency maps", &e.columns, &rows, e.height, e.width),
        );
    }
}

/// The sweep page: per (size, share), the mean test errors over T × α (scratch noted).
pub fn write_sweep_page(out: &Path, ctx: &GpuContext, r: &SweepResult) -> Result<PathBuf> {
    let mut page = HtmlReport::new("distill sweep");
    page.paragraph(&provenance(ctx));
    page.paragraph(&format!(
        "Teacher: {} test errors of {}. Mean test errors over seeds {:?}.",
        r.teacher_errors, r.test_count, r.grid.seeds
    ));
    let alphas: Vec<f32> = r.grid.alphas.iter().copied().filter(|&a| a > 0.0).collect();
    for hidden in &r.grid.hidden {
        for &fraction in &r.grid.train_fractions {
            let cells: Vec<_> = r
                .cells
                .iter()
                .filter(|c| &c.hidden == hidden && c.train_fraction == fraction)
                .collect();
            let mean = |c: &&distill_wgpu::experiment::sweep::SweepCell| {
                mean_std(&c.test_errors).map_or(f64::NAN, |m| m.0)
            };
            let scratch = cells.iter().find(|c| c.temperature.is_none()).map(mean);
            let values: Vec<f64> = r
                .grid
                .temperatures
                .iter()
                .flat_map(|&t| {
                    let cells = &cells;
                    alphas.iter().map(move |&a| {
                        cells
                            .iter()
                            .find(|c| c.temperature == Some(t) && c.alpha == a)
                            .map_or(f64::NAN, mean)
                    })
                })
                .collect();
            let sizes: Vec<String> = hidden.iter().map(usize::to_string).collect();
            let title = format!("hidden {}, training share {fraction}", sizes.join("-"));
            page.heading(&title);
            if let Some(s) = scratch {
                page.paragraph(&format!("Scratch student (α = 0): {s:.1} test errors."));
            }
            if alphas.is_empty() {
                continue;
            }
            let rows: Vec<String> = r
                .grid
                .temperatures
                .iter()
                .map(|t| format!("T = {t}"))
                .collect();
            let cols: Vec<String> = alphas.iter().map(|a| format!("α = {a}")).collect();
            figure(
                &mut page,
                "Mean test errors of the distilled student per temperature and α.",
                heat_map(&title, "temperature", "α", &rows, &cols, &values, 1),
            );
        }
    }
    page.heading("Every cell").preformatted(&r.markdown());
    write(&page, out)
}
