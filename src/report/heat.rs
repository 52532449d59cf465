//! Heat maps with the value written in each cell: confusion matrices, sweep grids.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::Result;
use crate::report::axes::{plot_error, render_svg, slot_name, styled_mesh, Axis, FONT, SIZE};

/// Most decimals a cell shows.
const MAX_DECIMALS: usize = 12;

/// The fill for a share `t` in [0, 1] of the way from the smallest value to the largest
/// (white to dark blue), and whether text on it should be white.
fn shade(t: f64) -> (RGBColor, bool) {
    let (low, high) = ([0xf7, 0xfb, 0xff], [0x08, 0x30, 0x6b]);
    let mix = |c: usize| (low[c] as f64 + (high[c] as f64 - low[c] as f64) * t).round() as u8;
    (RGBColor(mix(0), mix(1), mix(2)), t > 0.55)
}

/// A heat map of `values` (row-major, `rows.len() × cols.len()`), the first row at the top,
/// each cell coloured by its value (white for the smallest, dark blue for the largest) and
/// showing it with `decimals` decimals (at most 12), as an SVG document of 640 × 400.
/// Non-finite cells are grey and blank. No rows or columns, a length that is not
/// rows × cols, or no finite value give [`Error::Report`](crate::Error::Report).
pub fn heat_map(
    title: &str,
    row_label: &str,
    col_label: &str,
    rows: &[String],
    cols: &[String],
    values: &[f64],
    decimals: usize,
) -> Result<String> {
    if rows.is_empty() || cols.is_empty() {
        return Err(plot_error(title, "a heat map needs rows and columns"));
    }
    if rows.len().checked_mul(cols.len()) != Some(values.len()) {
        return Err(plot_error(
            title,
            format!(
                "{} values for {} rows × {} columns",
                values.len(),
                rows.len(),
                cols.len()
            ),
        ));
    }
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi {
        return Err(plot_error(title, "no finite value to show"));
    }
    let share = |v: f64| {
        let t = (v - lo) / (hi - lo);
        if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.5
        }
    };
    let decimals = decimals.min(MAX_DECIMALS);
    let (x, y) = (Axis::slots(cols.len()), Axis::slots(rows.len()));
    // Row r is drawn at height rows − 1 − r, so the first row is on top.
    let top = rows.len() - 1;
    let row_names: Vec<String> = rows.iter().rev().cloned().collect();
    // Cell text shrinks to fit the cell (about 560 × 300 pixels of plot) and the widest number.
    let widest = values
        .iter()
        .map(|v| format!("{v:.decimals$}").chars().count())
        .max()
        .unwrap_or(1)
        .max(1);
    let cell_w = 560.0 / cols.len() as f64;
    let cell_h = 300.0 / rows.len() as f64;
    let font = (cell_w / (0.62 * widest as f64))
        .min(cell_h * 0.6)
        .clamp(4.0, 15.0);
    render_svg(title, SIZE, |root| {
        let body = root.titled(title, (FONT, 20))?;
        let mut chart = ChartBuilder::on(&body)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x, y)?;
        styled_mesh!(chart)
            .disable_mesh()
            .x_desc(col_label)
            .y_desc(row_label)
            .x_label_formatter(&|v| slot_name(cols, *v))
            .y_label_formatter(&|v| slot_name(&row_names, *v))
            .draw()?;
        let cells = values.iter().enumerate().map(|(i, &v)| {
            let (r, c) = (i / cols.len(), i % cols.len());
            let (x, y) = (c as f64, (top - r) as f64);
            (x, y, v)
        });
        let grey = RGBColor(0xdd, 0xdd, 0xdd);
        chart.draw_series(cells.clone().map(|(x, y, v)| {
            let fill = if v.is_finite() {
                shade(share(v)).0
            } else {
                grey
            };
            Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], fill.filled())
        }))?;
        chart.draw_series(cells.clone().map(|(x, y, _)| {
            Rectangle::new(
                [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                WHITE.stroke_width(1),
            )
        }))?;
        chart.draw_series(cells.filter(|(_, _, v)| v.is_finite()).map(|(x, y, v)| {
            let ink = if shade(share(v)).1 { WHITE } else { BLACK };
            let style = (FONT, font)
                .into_font()
                .color(&ink)
                .pos(Pos::new(HPos::Center, VPos::Center));
            Text::new(format!("{v:.decimals$}"), (x, y), style)
        }))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| i.to_string()).collect()
    }

    #[test]
    fn cells_show_their_values() {
        let svg = heat_map(
            "grid",
            "T",
            "α",
            &names(2),
            &names(3),
            &[1.0, 2.5, 3.0, 4.0, f64::NAN, 6.0],
            1,
        )
        .unwrap();
        for v in ["1.0", "2.5", "6.0"] {
            assert!(svg.contains(&format!(">\n{v}\n<")), "{v} missing");
        }
        assert!(!svg.contains("NaN"));
        let flat = heat_map("flat", "r", "c", &names(1), &names(1), &[7.0], 0).unwrap();
        assert!(flat.contains(">\n7\n<"));
    }

    #[test]
    fn bad_shapes_and_no_values_are_errors() {
        assert!(heat_map("t", "r", "c", &[], &names(1), &[], 0).is_err());
        assert!(heat_map("t", "r", "c", &names(2), &names(2), &[1.0; 3], 0).is_err());
        assert!(heat_map("t", "r", "c", &names(1), &names(1), &[f64::NAN], 0).is_err());
    }
}
