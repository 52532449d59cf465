//! Reports: every plot kind renders (with resvg) to an image that is not blank and changes with
//! its data; plots with nothing to show are errors; the HTML page holds its figures and escapes
//! names; metrics.csv parses back with the right columns; a model's test diagnostics agree
//! with the GPU error count.

mod common;

use distill_wgpu::eval::evaluate;
use distill_wgpu::report::{
    bar_chart, class_accuracy_chart, heat_map, line_chart, metrics_csv, reliability_diagram,
    reliability_diagrams, HtmlReport, MetricsRow, ReliabilityBin, Series, TestDiagnostics,
    METRICS_COLUMNS,
};
use distill_wgpu::{Dataset, DeviceDataset, Error, Mlp, MlpSpec, SplitMix64};
use resvg::{tiny_skia, usvg};

/// The SVG rendered to RGBA pixels (text needs fonts, which these tests do not load, so the
/// pixels are the lines, bars and cells).
fn render(svg: &str) -> tiny_skia::Pixmap {
    let tree = usvg::Tree::from_str(svg, &usvg::Options::default())
        .unwrap_or_else(|e| panic!("not a valid SVG ({e}):\n{svg}"));
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
}

/// Pixels that are neither white background nor transparent.
fn inked(pixmap: &tiny_skia::Pixmap) -> usize {
    pixmap
        .pixels()
        .iter()
        .filter(|p| p.alpha() > 0 && (p.red() < 245 || p.green() < 245 || p.blue() < 245))
        .count()
}

/// Renders `svg` and checks it is a drawing, not a blank: at least `share` of its pixels
/// inked. Returns the pixels for comparisons.
fn drawn(svg: &str, share: f64) -> Vec<u8> {
    let pixmap = render(svg);
    let total = (pixmap.width() * pixmap.height()) as usize;
    let ink = inked(&pixmap);
    assert!(
        ink as f64 >= share * total as f64,
        "only {ink} of {total} pixels drawn"
    );
    pixmap.data().to_vec()
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("class {i}")).collect()
}

fn curve(name: &str, scale: f64) -> Series {
    Series::new(
        name,
        (1..=12).map(|e| (e as f64, scale / e as f64)).collect(),
    )
}

fn bins(shift: f64) -> Vec<ReliabilityBin> {
    (0..10)
        .map(|b| {
            let lower = b as f64 / 10.0;
            ReliabilityBin {
                lower,
                upper: lower + 0.1,
                count: 5 + b,
                accuracy: (lower + shift).clamp(0.0, 1.0),
                confidence: lower + 0.05,
            }
        })
        .collect()
}

#[test]
fn line_charts_render_and_follow_their_data() {
    let a = line_chart(
        "loss",
        "epoch",
        "loss",
        &[curve("scratch", 1.0), curve("distilled", 0.6)],
    )
    .unwrap();
    let b = line_chart(
        "loss",
        "epoch",
        "loss",
        &[curve("scratch", 1.0), curve("distilled", 0.2)],
    )
    .unwrap();
    assert_ne!(drawn(&a, 0.01), drawn(&b, 0.01));
    // NaN and infinite points are left out, not fatal; nothing finite is an error.
    let holes = Series::new(
        "holes",
        vec![(1.0, 2.0), (2.0, f64::NAN), (f64::INFINITY, 1.0)],
    );
    drawn(&line_chart("holes", "x", "y", &[holes]).unwrap(), 0.005);
    assert!(matches!(
        line_chart("empty", "x", "y", &[]),
        Err(Error::Report(_))
    ));
    let nothing = Series::new("none", vec![(f64::NAN, f64::NAN)]);
    assert!(line_chart("none", "x", "y", &[nothing, Series::new("e", vec![])]).is_err());
}

#[test]
fn bar_charts_render_both_ways_and_follow_their_data() {
    let cats = names(10);
    let a: Vec<f64> = (0..10).map(|c| 0.5 + c as f64 * 0.04).collect();
    let b: Vec<f64> = (0..10).map(|c| 0.9 - c as f64 * 0.03).collect();
    let grouped = bar_chart(
        "acc",
        "accuracy",
        &cats,
        &[("a".into(), a.clone()), ("b".into(), b)],
    )
    .unwrap();
    let single = bar_chart("acc", "accuracy", &cats, &[("a".into(), a)]).unwrap();
    assert_ne!(drawn(&grouped, 0.1), drawn(&single, 0.1));
    // Long names lie the bars down with the names beside them.
    let long: Vec<String> = ["student, scratch", "<partial> & routed teachers, distilled"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let lying = bar_chart(
        "errors",
        "test errors",
        &long,
        &[("mean".into(), vec![120.0, 95.0])],
    )
    .unwrap();
    drawn(&lying, 0.1);
    assert!(lying.contains("&lt;partial&gt; &amp;"), "{lying}");
    assert!(bar_chart("e", "y", &[], &[]).is_err());
    assert!(bar_chart("e", "y", &long, &[("short".into(), vec![1.0])]).is_err());
    assert!(bar_chart(
        "e",
        "y",
        &long,
        &[("nan".into(), vec![f64::NAN, f64::INFINITY])]
    )
    .is_err());
}

#[test]
fn heat_maps_render_their_cells() {
    let (rows, cols) = (names(10), names(10));
    let diagonal: Vec<f64> = (0..100)
        .map(|i| if i % 11 == 0 { 90.0 } else { (i % 3) as f64 })
        .collect();
    let flat: Vec<f64> = (0..100).map(|i| (i % 5) as f64).collect();
    let a = heat_map("confusion", "true", "predicted", &rows, &cols, &diagonal, 0).unwrap();
    let b = heat_map("confusion", "true", "predicted", &rows, &cols, &flat, 0).unwrap();
    assert_ne!(drawn(&a, 0.3), drawn(&b, 0.3));
    assert_eq!(
        a.matches(">\n90\n<").count(),
        10,
        "every cell shows its value"
    );
    let sweep = heat_map(
        "T × α",
        "T",
        "α",
        &["1".into(), "20".into()],
        &["0.5".into(), "0.9".into(), "1.0".into()],
        &[1.25, 1.5, f64::NAN, 0.75, 0.5, 0.25],
        2,
    )
    .unwrap();
    drawn(&sweep, 0.3);
    assert!(sweep.contains(">\n1.25\n<") && !sweep.contains("NaN"));
    assert!(heat_map("e", "r", "c", &rows, &cols, &[1.0; 99], 0).is_err());
    assert!(heat_map("e", "r", "c", &[], &[], &[], 0).is_err());
}

#[test]
fn reliability_diagrams_render_alone_and_side_by_side() {
    let (good, bad) = (bins(0.0), bins(-0.3));
    let a = reliability_diagram("calibrated", &good).unwrap();
    let b = reliability_diagram("overconfident", &bad).unwrap();
    assert_ne!(drawn(&a, 0.1), drawn(&b, 0.1));
    let both = reliability_diagrams(&[("before", &good), ("after", &bad)]).unwrap();
    let pixmap = render(&both);
    assert_eq!(pixmap.width(), 2 * render(&a).width());
    assert!(inked(&pixmap) > inked(&render(&a)));
    assert!(both.contains("before (ECE") && both.contains("after (ECE"));
    assert!(reliability_diagram("none", &[]).is_err());
    assert!(reliability_diagrams(&[]).is_err());
}

#[test]
fn the_page_holds_its_figures_and_escapes_names() {
    let svg = line_chart("loss", "epoch", "loss", &[curve("a <b> & c", 1.0)]).unwrap();
    let mut page = HtmlReport::new("run <1> & more");
    page.heading("results for <student> & teacher")
        .table(&["model", "errors"], &[vec!["<m> & n".into(), "3".into()]])
        .figure("loss of <a> & b", &svg)
        .paragraph("T < 2 & α > 0.5")
        .preformatted("{\"classes\": \"<0-4>\"}");
    let html = page.render();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 1);
    assert!(html.contains("<figcaption>loss of &lt;a&gt; &amp; b</figcaption>"));
    assert!(html.contains("<td>&lt;m&gt; &amp; n</td>"));
    assert!(html.contains("<h2>results for &lt;student&gt; &amp; teacher</h2>"));
    assert!(
        html.contains("a &lt;b&gt; &amp; c"),
        "the series name is escaped in the SVG"
    );
    assert!(!html.contains("<m>") && !html.contains("<student>") && !html.contains("<0-4>"));
    for external in ["<script", "src=", "href=", "url(", "<link"] {
        assert!(!html.contains(external), "{external} in the page");
    }
    let dir = std::env::temp_dir().join(format!("distill-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.html");
    page.write(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), html);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn metrics_csv_parses_back_with_its_columns() {
    let rows: Vec<MetricsRow> = (1..=3)
        .map(|epoch| MetricsRow {
            job: "student, \"distilled\"".into(),
            epoch,
            loss: 1.0 / epoch as f32,
            ce: 0.5,
            kl: 0.25,
            test_errors: (epoch != 2).then_some(10 - epoch),
            seconds: 0.5,
        })
        .collect();
    let text = metrics_csv(&rows).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        &csv::StringRecord::from(METRICS_COLUMNS.to_vec())
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 3);
    assert_eq!(&records[0][0], "student, \"distilled\"");
    assert_eq!(&records[0][5], "9");
    assert_eq!(&records[1][5], "", "an unmeasured epoch has an empty cell");
    assert_eq!(
        distill_wgpu::report::parse_metrics_csv(&text).unwrap(),
        rows
    );
}

#[test]
fn test_diagnostics_agree_with_the_gpu_error_count() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(5);
        let data = Dataset::random(&mut rng, 300, 4, 4, 3);
        let device = DeviceDataset::new(ctx, &data, 3).unwrap();
        let model = Mlp::new(ctx, &MlpSpec::relu(&[16, 8, 3]).unwrap(), 7).unwrap();
        let d = TestDiagnostics::measure(ctx, &model, &device, 10).unwrap();
        let eval = evaluate(ctx, &model, &device, 64).unwrap();
        assert_eq!(d.class_errors.total(), eval.errors);
        assert_eq!(d.confusion.iter().sum::<usize>(), 300);
        let right: usize = (0..3).map(|c| d.confusion[c * 3 + c]).sum();
        assert_eq!(300 - right, eval.errors);
        assert_eq!(d.reliability.iter().map(|b| b.count).sum::<usize>(), 300);
        drawn(&d.confusion_heat_map("confusion").unwrap(), 0.3);
        drawn(&class_accuracy_chart("per class", &[("random", &d)]).unwrap(), 0.05);
        drawn(&reliability_diagram("random", &d.reliability).unwrap(), 0.05);
    });
}

#[test]
fn extreme_values_give_a_plot_or_an_error_never_a_panic() {
    let odd = [
        0.0,
        -0.0,
        1.0,
        f64::MAX,
        -f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        1e15,
        1.0 + 1e-15,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut drew = 0;
    for &a in &odd {
        for &b in &odd {
            let line = Series::new("s", vec![(a, b), (b, a), (1.0, a)]);
            let charts = [
                line_chart("odd", "x", "y", &[line]),
                bar_chart("odd", "y", &names(2), &[("s".into(), vec![a, b])]),
                heat_map("odd", "r", "c", &names(1), &names(2), &[a, b], 3),
            ];
            for svg in charts.into_iter().flatten() {
                // A valid SVG document (parsing is enough; the drawing tests render).
                usvg::Tree::from_str(&svg, &usvg::Options::default()).unwrap();
                drew += 1;
            }
        }
    }
    assert!(
        drew > 100,
        "only {drew} of {} plots drawn",
        odd.len() * odd.len() * 3
    );
}
