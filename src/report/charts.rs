//! Line charts (training curves) and grouped bar charts (per-class accuracy, experiment tables).

use plotters::prelude::*;

use crate::error::Result;
use crate::report::axes::{color, draw_legend, legend_width, plot_error, render_svg};
use crate::report::axes::{short_name, slot_name, styled_mesh, Axis, Swatch, FONT, SIZE};

/// A point `(x, y)`.
type Point = (f64, f64);

/// One named line of a [`line_chart`]: `(x, y)` points in drawing order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points; those with a non-finite coordinate are left out.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series named `name` with `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// Pixels per character of an axis label (12 px sans-serif, generously).
const LABEL_CHAR: usize = 7;
/// Width of a plot's area for category names beside the bars of a horizontal bar chart, most.
const MAX_NAME_AREA: u32 = 260;

/// A line chart of `series` (each a coloured line with a marker at every point, named in a
/// legend beside the plot) as an SVG document of 640 × 400. Points with a NaN or infinite
/// coordinate are left out; a series with none left is not drawn. No series with a finite
/// point, or values whose span f64 cannot hold, give [`Error::Report`](crate::Error::Report).
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<String> {
    // (series index, its finite points) of the series with any.
    let lines: Vec<(usize, Vec<Point>)> = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let finite = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect::<Vec<_>>();
            (i, finite)
        })
        .filter(|(_, points)| !points.is_empty())
        .collect();
    if lines.is_empty() {
        return Err(plot_error(title, "no series with a finite point to draw"));
    }
    let all = || lines.iter().flat_map(|(_, points)| points.iter());
    let x = Axis::fit(title, x_label, all().map(|p| p.0), false)?;
    let y = Axis::fit(title, y_label, all().map(|p| p.1), false)?;
    let legend: Vec<(&str, Swatch)> = lines
        .iter()
        .map(|(i, _)| (series[*i].name.as_str(), Swatch::Line(color(*i).to_rgba())))
        .collect();
    let side = legend_width(legend.iter().map(|(n, _)| *n));
    render_svg(title, SIZE, |root| {
        let body = root.titled(title, (FONT, 20))?;
        let (plot, key) = body.split_horizontally(SIZE.0 - side);
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x.clone(), y.clone())?;
        styled_mesh!(chart)
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|v| x.label(*v))
            .y_label_formatter(&|v| y.label(*v))
            .draw()?;
        for (i, points) in &lines {
            let style = color(*i).stroke_width(2);
            chart.draw_series(LineSeries::new(points.iter().copied(), style).point_size(3))?;
        }
        draw_legend(&key, &legend, false)
    })
}

/// A grouped bar chart: one group per category, one coloured bar per series in each group
/// (`series[s].1[c]` is series s at category c), bars from 0, as an SVG document of
/// 640 × 400. Groups stand side by side, or, when the category names would not fit below
/// them, lie one below the other with the names beside them. Several series are named in a
/// legend. Non-finite values get no bar. No categories, no series, a series whose length
/// differs from the categories', or no finite value give [`Error::Report`](crate::Error::Report).
pub fn bar_chart(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<String> {
    if categories.is_empty() || series.is_empty() {
        return Err(plot_error(title, "a bar chart needs categories and series"));
    }
    if let Some((name, values)) = series.iter().find(|(_, v)| v.len() != categories.len()) {
        return Err(plot_error(
            title,
            format!(
                "series {name:?} has {} values for {} categories",
                values.len(),
                categories.len()
            ),
        ));
    }
    let values = Axis::fit(
        title,
        y_label,
        series.iter().flat_map(|(_, v)| v.iter().copied()),
        true,
    )?;
    let legend: Vec<(&str, Swatch)> = series
        .iter()
        .enumerate()
        .map(|(s, (name, _))| (name.as_str(), Swatch::Box(color(s).to_rgba())))
        .collect();
    let side = if series.len() > 1 {
        legend_width(legend.iter().map(|(n, _)| *n))
    } else {
        0
    };
    let longest = categories
        .iter()
        .map(|c| short_name(c).chars().count())
        .max()
        .unwrap_or(0);
    let across = longest * LABEL_CHAR * categories.len() <= (SIZE.0 - side - 100) as usize;
    let slots = Axis::slots(categories.len());
    // Across, category c is slot c; lying down, the first category is on top.
    let slot = |c: usize| if across { c } else { categories.len() - 1 - c };
    let names: Vec<String> = if across {
        categories.to_vec()
    } else {
        categories.iter().rev().cloned().collect()
    };
    let group = 0.8;
    let width = group / series.len() as f64;
    let bars = || {
        series.iter().enumerate().flat_map(move |(s, (_, v))| {
            v.iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(move |(c, &v)| {
                    let start = slot(c) as f64 - group / 2.0 + s as f64 * width;
                    (s, start, start + width, v)
                })
        })
    };
    render_svg(title, SIZE, |root| {
        let body = root.titled(title, (FONT, 20))?;
        let (plot, key) = body.split_horizontally(SIZE.0 - side);
        let name_area = (LABEL_CHAR * longest + 16).min(MAX_NAME_AREA as usize) as u32;
        let mut builder = ChartBuilder::on(&plot);
        builder.margin(12);
        if across {
            builder.x_label_area_size(44).y_label_area_size(70);
            let mut chart = builder.build_cartesian_2d(slots.clone(), values.clone())?;
            styled_mesh!(chart)
                .disable_x_mesh()
                .y_desc(y_label)
                .x_label_formatter(&|v| slot_name(&names, *v))
                .y_label_formatter(&|v| values.label(*v))
                .draw()?;
            chart.draw_series(
                bars().map(|(s, a, b, v)| Rectangle::new([(a, 0.0), (b, v)], color(s).filled())),
            )?;
        } else {
            builder.x_label_area_size(44).y_label_area_size(name_area);
            let mut chart = builder.build_cartesian_2d(values.clone(), slots.clone())?;
            styled_mesh!(chart)
                .disable_y_mesh()
                .x_desc(y_label)
                .y_label_formatter(&|v| slot_name(&names, *v))
                .x_label_formatter(&|v| values.label(*v))
                .draw()?;
            chart.draw_series(
                bars().map(|(s, a, b, v)| Rectangle::new([(0.0, a), (v, b)], color(s).filled())),
            )?;
        }
        if series.len() > 1 {
            draw_legend(&key, &legend, false)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_unplottable_input_is_an_error() {
        assert!(line_chart("t", "x", "y", &[]).is_err());
        let nan = Series::new("nan", vec![(f64::NAN, 1.0), (1.0, f64::INFINITY)]);
        let err = line_chart("t", "x", "y", &[nan]).unwrap_err().to_string();
        assert!(err.contains("no series"), "{err}");
        let names = vec!["a".to_string()];
        assert!(bar_chart("t", "y", &[], &[("s".into(), vec![])]).is_err());
        assert!(bar_chart("t", "y", &names, &[]).is_err());
        assert!(bar_chart("t", "y", &names, &[("s".into(), vec![1.0, 2.0])]).is_err());
        assert!(bar_chart("t", "y", &names, &[("s".into(), vec![f64::NAN])]).is_err());
    }

    #[test]
    fn odd_values_are_skipped_not_fatal() {
        let s = Series::new(
            "one <good> & one bad",
            vec![(1.0, 5.0), (2.0, f64::NAN), (3.0, 5.0)],
        );
        let svg = line_chart("flat", "epoch", "loss", &[s]).unwrap();
        assert!(svg.contains("one &lt;good&gt; &amp; one bad"), "{svg}");
        let single = Series::new("single", vec![(1.0, -1e-300)]);
        assert!(line_chart("single", "x", "y", &[single]).is_ok());
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let svg = bar_chart(
            "bars",
            "v",
            &names,
            &[("s".into(), vec![1.0, f64::NAN, -2.0])],
        )
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}
