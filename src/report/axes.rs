//! What every plot shares: the canvas, the colours, axis ranges and ticks chosen here from the
//! finite values only (so no value makes the drawing backend loop or divide by a zero span),
//! and turning a drawing into an SVG string.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// Width and height of a plot, in SVG user units (pixels).
pub(crate) const SIZE: (u32, u32) = (640, 400);
/// Font family of every text.
pub(crate) const FONT: &str = "sans-serif";
/// Longest category or series name shown on an axis, in characters (longer ones end in "…").
const MAX_NAME: usize = 36;
/// Most ticks an axis gets.
const MAX_TICKS: usize = 40;

/// Colours of successive series (Tableau 10), reused in turn past ten.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];

/// The colour of series `i`.
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The error for the plot titled `title`.
pub(crate) fn plot_error(title: &str, message: impl std::fmt::Display) -> Error {
    Error::Report(format!("plot {title:?}: {message}"))
}

/// `name` cut to [`MAX_NAME`] characters.
pub(crate) fn short_name(name: &str) -> String {
    if name.chars().count() <= MAX_NAME {
        name.to_string()
    } else {
        let mut cut: String = name.chars().take(MAX_NAME - 1).collect();
        cut.push('…');
        cut
    }
}

/// What a drawing closure returns.
pub(crate) type Drawn = std::result::Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Runs `draw` on a white canvas of `size` and returns the SVG document.
pub(crate) fn render_svg<F>(title: &str, size: (u32, u32), draw: F) -> Result<String>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(title, e))?;
        draw(&root).map_err(|e| plot_error(title, e))?;
        root.present().map_err(|e| plot_error(title, e))?;
    }
    Ok(svg)
}

/// The mesh every chart shares: light grid, 13 px tick labels, 14 px axis descriptions.
macro_rules! styled_mesh {
    ($chart:expr) => {
        $chart
            .configure_mesh()
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .bold_line_style(BLACK.mix(0.12))
    };
}
pub(crate) use styled_mesh;

/// The area a plot draws on.
pub(crate) type Canvas<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// How a legend entry is marked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Swatch {
    /// A line, as of a line series.
    Line(RGBAColor),
    /// A dashed line.
    Dashed(RGBAColor),
    /// A filled box, as of a bar.
    Box(RGBAColor),
}

/// Width in pixels of a legend column for `names`.
pub(crate) fn legend_width<'a>(names: impl IntoIterator<Item = &'a str>) -> u32 {
    let longest = names
        .into_iter()
        .map(|n| short_name(n).chars().count())
        .max()
        .unwrap_or(0);
    (36 + 7 * longest as u32).clamp(110, 230)
}

/// Draws a legend on `area` (its own corner of the canvas, so it never hides data): the
/// entries one below the other, or side by side if `across`.
pub(crate) fn draw_legend(area: &Canvas<'_>, entries: &[(&str, Swatch)], across: bool) -> Drawn {
    let font = (FONT, 13)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let (mut x, mut y) = (8, 18);
    for (name, swatch) in entries {
        match *swatch {
            Swatch::Line(c) => {
                area.draw(&PathElement::new([(x, y), (x + 18, y)], c.stroke_width(2)))?;
            }
            Swatch::Dashed(c) => {
                for start in [x, x + 11] {
                    area.draw(&PathElement::new(
                        [(start, y), (start + 7, y)],
                        c.stroke_width(1),
                    ))?;
                }
            }
            Swatch::Box(c) => {
                area.draw(&Rectangle::new(
                    [(x + 3, y - 6), (x + 15, y + 6)],
                    c.filled(),
                ))?;
            }
        }
        let name = short_name(name);
        let advance = 24 + 7 * name.chars().count() as i32 + 16;
        area.draw(&Text::new(name, (x + 24, y), font.clone()))?;
        if across {
            x += advance;
        } else {
            y += 20;
        }
    }
    Ok(())
}

/// A numeric axis: its range, tick positions and how many decimals tick labels show. It is a
/// plotters coordinate itself, with these ticks and no finer grid.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    /// Lower end.
    pub lo: f64,
    /// Upper end (above `lo`).
    pub hi: f64,
    /// Tick positions within `lo..=hi`.
    pub ticks: Vec<f64>,
    decimals: usize,
}

impl Axis {
    /// An axis over `values`, of which the non-finite ones are ignored, widened to round tick
    /// steps (whole ones if every value is whole) and to take in 0 if `from_zero`. `what` names the values in errors: none finite,
    /// or a span beyond f64.
    pub fn fit(
        title: &str,
        what: &str,
        values: impl IntoIterator<Item = f64>,
        from_zero: bool,
    ) -> Result<Self> {
        let (mut lo, mut hi, whole) = values.into_iter().filter(|v| v.is_finite()).fold(
            (f64::INFINITY, f64::NEG_INFINITY, true),
            |(lo, hi, whole), v| (lo.min(v), hi.max(v), whole && v.fract() == 0.0),
        );
        if lo > hi {
            return Err(plot_error(title, format!("no finite {what} to plot")));
        }
        if from_zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        // A span too small for f64 to tell the ends apart is widened around their middle.
        let scale = lo.abs().max(hi.abs());
        let least = if scale == 0.0 { 1.0 } else { scale * 1e-6 };
        if hi - lo < least {
            let mid = lo / 2.0 + hi / 2.0;
            lo = if from_zero && lo >= 0.0 {
                lo
            } else {
                mid - least
            };
            hi = if from_zero && hi <= 0.0 {
                hi
            } else {
                mid + least
            };
        }
        // Whole numbers (epochs, counts) get whole ticks.
        let step = match nice_step(hi - lo, 8) {
            step if whole => step.max(1.0),
            step => step,
        };
        let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
        if !(step.is_finite() && step > 0.0 && lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(plot_error(
                title,
                format!("{what} span more than a plot can show ({lo} to {hi})"),
            ));
        }
        Ok(Self::with_step(lo, hi, step))
    }

    /// The axis `lo..=hi` with ticks every `step` (`lo < hi`, `step > 0`, all finite).
    pub fn with_step(lo: f64, hi: f64, step: f64) -> Self {
        let first = (lo / step).ceil();
        let ticks: Vec<f64> = (0..MAX_TICKS)
            .map(|k| (first + k as f64) * step)
            .take_while(|&t| t <= hi + step * 1e-9)
            .map(|t| if t.abs() < step * 1e-9 { 0.0 } else { t })
            .collect();
        let decimals = (-step.log10() - 1e-9).ceil().clamp(0.0, 12.0) as usize;
        Self {
            lo,
            hi,
            ticks,
            decimals,
        }
    }

    /// The category axis of `count` slots centred on 0, 1, …, one tick each.
    pub fn slots(count: usize) -> Self {
        Self {
            lo: -0.5,
            hi: count as f64 - 0.5,
            ticks: (0..count).map(|i| i as f64).collect(),
            decimals: 0,
        }
    }

    /// The label of tick `v`.
    pub fn label(&self, v: f64) -> String {
        let size = v.abs();
        if size != 0.0 && !(1e-4..1e6).contains(&size) {
            format!("{v:.2e}")
        } else {
            format!("{v:.*}", self.decimals)
        }
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value - self.lo) / (self.hi - self.lo);
        let pixels = (limit.1 - limit.0) as f64 * share;
        // `as` saturates, so a value far outside the axis lands on the canvas edge.
        limit.0.saturating_add(pixels.round() as i32)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// A round step (1, 2 or 5 times a power of ten) that cuts `span` into about `parts` pieces.
fn nice_step(span: f64, parts: usize) -> f64 {
    let raw = span / parts.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// The name of the slot at tick `v` (empty between slots or past the end).
pub(crate) fn slot_name(names: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    names
        .get(i as usize)
        .map(|n| short_name(n))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round_and_cover_the_finite_values() {
        let a = Axis::fit("t", "y", [0.13, f64::NAN, 0.92, f64::INFINITY], false).unwrap();
        assert!(a.lo <= 0.13 && a.hi >= 0.92, "{a:?}");
        assert!(a.ticks.len() >= 3 && a.ticks.len() <= 12, "{a:?}");
        assert_eq!(a.label(0.5), "0.5");
        assert_eq!(Axis::with_step(0.0, 1.0, 0.05).label(0.15), "0.15");
        assert_eq!(Axis::with_step(0.0, 100.0, 20.0).label(40.0), "40");
        let epochs = Axis::fit("t", "epoch", [1.0, 2.0], false).unwrap();
        assert_eq!(epochs.ticks, [1.0, 2.0]);
        assert_eq!(epochs.label(2.0), "2");
        let zero = Axis::fit("t", "y", [3.0, 7.0], true).unwrap();
        assert_eq!(zero.lo, 0.0);
        assert!(zero.ticks.contains(&0.0));
    }

    #[test]
    fn flat_tiny_and_huge_spans_still_make_axes() {
        for values in [
            vec![5.0, 5.0],
            vec![0.0],
            vec![1.0, 1.0 + 1e-15],
            vec![1e300, 1.1e300],
            vec![-1e-300, 1e-300],
        ] {
            let a = Axis::fit("t", "y", values.clone(), false).unwrap();
            assert!(a.lo < a.hi && !a.ticks.is_empty(), "{values:?}: {a:?}");
            assert!(a.ticks.len() <= MAX_TICKS);
        }
        assert!(Axis::fit("t", "y", [f64::NAN], false).is_err());
        assert!(Axis::fit("t", "y", [-f64::MAX, f64::MAX], false).is_err());
        assert!(Axis::fit("t", "y", [f64::MAX], false).is_err());
    }

    #[test]
    fn names_are_shortened_and_slots_named() {
        assert_eq!(short_name("abc"), "abc");
        let long = "x".repeat(40);
        assert_eq!(short_name(&long).chars().count(), MAX_NAME);
        let slots = Axis::slots(2);
        assert_eq!(
            (slots.lo, slots.hi, slots.ticks.clone()),
            (-0.5, 1.5, vec![0.0, 1.0])
        );
        assert_eq!(slots.map(&0.5, (0, 100)), 50);
        assert_eq!(slots.map(&1e300, (0, 100)), i32::MAX);
        let names = vec!["a".to_string(), "b".to_string()];
        assert_eq!(slot_name(&names, 1.0), "b");
        assert_eq!(slot_name(&names, 0.5), "");
        assert_eq!(slot_name(&names, 2.0), "");
        assert_eq!(slot_name(&names, -1.0), "");
    }
}
