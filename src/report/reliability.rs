//! Calibration: reliability bins of a model's top-class probability, the expected calibration
//! error, and reliability diagrams.

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::eval::ClassErrors;
use crate::ops::calibration::reference;
use crate::report::axes::{color, draw_legend, plot_error, render_svg, styled_mesh};
use crate::report::axes::{Axis, Swatch, FONT};

/// Width and height of one diagram in [`reliability_diagrams`].
const PANEL: u32 = 400;
/// Height of the legend below the diagrams.
const LEGEND: u32 = 30;
/// Most diagrams side by side.
const MAX_PANELS: usize = 8;

pub use crate::ops::calibration::ReliabilityBin;

/// `bins` equal-width bins `((b)/bins, (b+1)/bins]` of the softmax top-class probability of
/// `logits` (`[labels.len(), classes]`, row-major) against `labels`, as the calibration
/// kernels bin them (computed here by their f64 reference); empty bins have count 0 and
/// accuracy and confidence 0. Errors on zero bins or classes, a length mismatch, a label out
/// of range or a non-finite logit.
pub fn reliability_bins(
    logits: &[f32],
    labels: &[u8],
    classes: usize,
    bins: usize,
) -> Result<Vec<ReliabilityBin>> {
    if bins == 0 || classes == 0 {
        return Err(Error::InvalidConfig(format!(
            "reliability bins need at least one bin and class, got {bins} bins and {classes} classes"
        )));
    }
    // Shapes, labels and finite values, checked once.
    ClassErrors::count(logits, labels, classes, &[])?;
    let labels: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    Ok(reference::calibration(logits, &labels, classes, 1.0, bins).bins)
}

/// The expected calibration error: the mean over samples of |accuracy − confidence| of their
/// bin. `None` when no bin holds a sample with finite values.
pub fn expected_calibration_error(bins: &[ReliabilityBin]) -> Option<f64> {
    let usable = bins
        .iter()
        .filter(|b| b.count > 0 && b.accuracy.is_finite() && b.confidence.is_finite());
    let (total, sum) = usable.fold((0usize, 0.0), |(n, s), b| {
        (
            n + b.count,
            s + b.count as f64 * (b.accuracy - b.confidence).abs(),
        )
    });
    (total > 0).then(|| sum / total as f64)
}

/// The bins worth drawing: those with samples and finite values; an edge or value outside
/// [0, 1] is an error.
fn drawable<'a>(title: &str, bins: &'a [ReliabilityBin]) -> Result<Vec<&'a ReliabilityBin>> {
    let mut shown = Vec::new();
    for b in bins {
        let values = [b.lower, b.upper, b.accuracy, b.confidence];
        if b.count == 0 || values.iter().any(|v| !v.is_finite()) {
            continue;
        }
        if values.iter().any(|v| !(0.0..=1.0).contains(v)) || b.lower >= b.upper {
            return Err(plot_error(
                title,
                format!("bin {b:?} is not an interval of [0, 1] with values in [0, 1]"),
            ));
        }
        shown.push(b);
    }
    if shown.is_empty() {
        return Err(plot_error(title, "no bin holds samples to draw"));
    }
    Ok(shown)
}

/// A reliability diagram, as an SVG document of 400 × 430: per confidence bin, a bar up to its
/// accuracy and a translucent red box for the gap to its mean confidence, with the diagonal of
/// perfect calibration; the title shows the expected calibration error and sample count. Bins
/// with no samples or a non-finite value are left out; no bin left, or an edge or value outside
/// [0, 1], give [`Error::Report`](crate::Error::Report).
pub fn reliability_diagram(title: &str, bins: &[ReliabilityBin]) -> Result<String> {
    reliability_diagrams(&[(title, bins)])
}

/// Several reliability diagrams side by side (e.g. before and after distillation), each with
/// its own title, as one SVG document 430 high and 400 wide per diagram, with one legend. As
/// [`reliability_diagram`] for each; no diagrams, or more than 8, are an error too.
pub fn reliability_diagrams(panels: &[(&str, &[ReliabilityBin])]) -> Result<String> {
    let name = panels
        .iter()
        .map(|(t, _)| *t)
        .collect::<Vec<_>>()
        .join(" | ");
    if panels.is_empty() || panels.len() > MAX_PANELS {
        return Err(plot_error(
            &name,
            format!(
                "{} reliability diagrams (1 to {MAX_PANELS} fit side by side)",
                panels.len()
            ),
        ));
    }
    let shown = panels
        .iter()
        .map(|(title, bins)| drawable(title, bins))
        .collect::<Result<Vec<_>>>()?;
    let unit = Axis::with_step(0.0, 1.0, 0.2);
    let (bar, gap, diagonal) = (color(0), RED.mix(0.3), BLACK.mix(0.6));
    let legend = [
        ("accuracy", Swatch::Box(bar.to_rgba())),
        ("gap to mean confidence", Swatch::Box(gap)),
        ("perfect calibration", Swatch::Dashed(diagonal)),
    ];
    let width = PANEL * panels.len() as u32;
    render_svg(&name, (width, PANEL + LEGEND), |root| {
        let (diagrams, key) = root.split_vertically(PANEL);
        let areas = diagrams.split_evenly((1, panels.len()));
        for ((area, (title, bins)), bars) in areas.iter().zip(panels).zip(&shown) {
            let samples: usize = bars.iter().map(|b| b.count).sum();
            let caption = match expected_calibration_error(bins) {
                Some(ece) => format!("{title} (ECE {ece:.3}, n = {samples})"),
                None => title.to_string(),
            };
            let mut chart = ChartBuilder::on(area)
                .caption(caption, (FONT, 16))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(52)
                .build_cartesian_2d(unit.clone(), unit.clone())?;
            styled_mesh!(chart)
                .x_desc("confidence")
                .y_desc("accuracy")
                .x_label_formatter(&|v| unit.label(*v))
                .y_label_formatter(&|v| unit.label(*v))
                .draw()?;
            chart
                .draw_series(bars.iter().map(|b| {
                    Rectangle::new([(b.lower, 0.0), (b.upper, b.accuracy)], bar.filled())
                }))?;
            chart.draw_series(bars.iter().map(|b| {
                Rectangle::new(
                    [(b.lower, b.accuracy), (b.upper, b.confidence)],
                    gap.filled(),
                )
            }))?;
            chart.draw_series(bars.iter().map(|b| {
                Rectangle::new(
                    [(b.lower, b.accuracy), (b.upper, b.confidence)],
                    RED.stroke_width(1),
                )
            }))?;
            chart.draw_series(bars.iter().map(|b| {
                Rectangle::new(
                    [(b.lower, 0.0), (b.upper, b.accuracy)],
                    WHITE.stroke_width(1),
                )
            }))?;
            chart.draw_series(DashedLineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                6,
                4,
                diagonal.stroke_width(1),
            ))?;
        }
        draw_legend(&key, &legend, true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_from_logits_count_confidence_and_accuracy() {
        // Sample 0: confident and right; sample 1: even odds, wrong; sample 2: confident, wrong.
        let logits = [10.0, 0.0, 0.0, 0.0, 10.0, 0.0];
        let bins = reliability_bins(&logits, &[0, 1, 1], 2, 4).unwrap();
        // Bins are (lower, upper]: confidence ½ falls in (¼, ½].
        assert_eq!(
            bins.iter().map(|b| b.count).collect::<Vec<_>>(),
            [0, 1, 0, 2]
        );
        assert_eq!(bins[1].accuracy, 0.0);
        assert!((bins[1].confidence - 0.5).abs() < 1e-12);
        assert_eq!(bins[3].accuracy, 0.5);
        let ece = expected_calibration_error(&bins).unwrap();
        // (1 × 0.5 + 2 × |0.5 − 0.99995|) / 3
        assert!(
            (ece - (0.5 + 2.0 * (0.999_954_6 - 0.5)) / 3.0).abs() < 1e-4,
            "{ece}"
        );
        assert!(reliability_bins(&logits, &[0, 1, 2], 2, 4).is_err());
        assert!(reliability_bins(&logits, &[0, 1], 2, 4).is_err());
        assert!(reliability_bins(&logits, &[0, 1, 1], 2, 0).is_err());
        let nan = [f32::NAN, 0.0];
        assert!(matches!(
            reliability_bins(&nan, &[0], 2, 2),
            Err(Error::NonFiniteOutput { .. })
        ));
    }

    #[test]
    fn unusable_bins_are_errors_or_skipped() {
        let bin = |lower, upper, count, accuracy, confidence| ReliabilityBin {
            lower,
            upper,
            count,
            accuracy,
            confidence,
        };
        assert!(reliability_diagram("none", &[]).is_err());
        assert!(reliability_diagram("empty", &[bin(0.0, 1.0, 0, 0.0, 0.0)]).is_err());
        assert!(reliability_diagram("range", &[bin(0.0, 1.0, 3, 1.5, 0.5)]).is_err());
        assert!(reliability_diagram("inverted", &[bin(0.6, 0.4, 3, 0.5, 0.5)]).is_err());
        let mixed = [bin(0.0, 0.5, 3, f64::NAN, 0.2), bin(0.5, 1.0, 4, 0.7, 0.8)];
        assert!(reliability_diagram("mixed", &mixed).is_ok());
        assert!(reliability_diagrams(&[]).is_err());
        assert_eq!(expected_calibration_error(&mixed[..1]), None);
    }
}
