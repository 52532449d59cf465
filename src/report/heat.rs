//! Heat maps with the value written in each cell (confusion matrices, sweep grids), and grids
//! of pixel maps (saliency maps beside their images).

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

/// Shades a pixel map is drawn in: runs of equal shade along a row become one rectangle.
const PIXEL_SHADES: f64 = 24.0;
/// Pixels of one map cell in a [`pixel_maps`] figure.
const PIXEL: i32 = 4;
/// Room for the row names on the left of a [`pixel_maps`] figure.
const LEFT: i32 = 190;
/// Room for the title and column names on top.
const TOP: i32 = 56;
/// Space between panels.
const GAP: i32 = 10;

/// A grid of `height × width` maps (rows of `rows`, each `(name, maps)` with one map per
/// column of `columns`), each map shaded from white at 0 to dark blue at its own largest
/// value, as an SVG document; for images such as saliency maps beside their input. Maps of
/// another length, no maps, or a map without a positive finite value (then drawn blank) are
/// handled: the first two give [`Error::Report`](crate::Error::Report).
pub fn pixel_maps(
    title: &str,
    columns: &[String],
    rows: &[(String, Vec<&[f32]>)],
    height: usize,
    width: usize,
) -> Result<String> {
    if rows.is_empty() || columns.is_empty() || height == 0 || width == 0 {
        return Err(plot_error(
            title,
            "pixel maps need rows, columns and a size",
        ));
    }
    let pixels = height.checked_mul(width);
    if let Some((name, _)) = rows.iter().find(|(_, maps)| {
        maps.len() != columns.len() || maps.iter().any(|m| Some(m.len()) != pixels)
    }) {
        return Err(plot_error(
            title,
            format!(
                "row {name:?} does not hold {} maps of {height} × {width}",
                columns.len()
            ),
        ));
    }
    let side = |n: usize| i32::try_from(n).ok().and_then(|n| n.checked_mul(PIXEL));
    let (Some(panel_w), Some(panel_h)) = (side(width), side(height)) else {
        return Err(plot_error(title, "maps too large to draw"));
    };
    let extent = |origin: i32, panel: i32, count: usize| {
        (origin + (panel + GAP) * count as i32 + GAP).max(0) as u32
    };
    let size = (
        extent(LEFT, panel_w, columns.len()).max(320),
        extent(TOP, panel_h, rows.len()),
    );
    render_svg(title, size, |root| {
        let text = |s: &str, (x, y): (i32, i32), size: i32| {
            Text::new(
                s.to_string(),
                (x, y),
                (FONT, size).into_font().color(&BLACK),
            )
        };
        root.draw(&text(title, (GAP, 8), 18))?;
        for (c, name) in columns.iter().enumerate() {
            root.draw(&text(
                name,
                (LEFT + (panel_w + GAP) * c as i32, TOP - 20),
                13,
            ))?;
        }
        for (r, (name, maps)) in rows.iter().enumerate() {
            let y0 = TOP + (panel_h + GAP) * r as i32;
            root.draw(&text(name, (GAP, y0 + panel_h / 2 - 6), 13))?;
            for (c, map) in maps.iter().enumerate() {
                let x0 = LEFT + (panel_w + GAP) * c as i32;
                let largest = map
                    .iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(0.0f32, f32::max);
                let level = |v: f32| {
                    let t = if largest > 0.0 && v.is_finite() {
                        (v / largest).clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                    (t as f64 * PIXEL_SHADES).round()
                };
                root.draw(&Rectangle::new(
                    [(x0 - 1, y0 - 1), (x0 + panel_w, y0 + panel_h)],
                    BLACK.mix(0.3).stroke_width(1),
                ))?;
                for (py, line) in map.chunks_exact(width).enumerate() {
                    let y = y0 + PIXEL * py as i32;
                    let mut start = 0;
                    while start < width {
                        let shade_level = level(line[start]);
                        let mut end = start + 1;
                        while end < width && level(line[end]) == shade_level {
                            end += 1;
                        }
                        if shade_level > 0.0 {
                            let fill = shade(shade_level / PIXEL_SHADES).0;
                            let (xa, xb) = (x0 + PIXEL * start as i32, x0 + PIXEL * end as i32);
                            root.draw(&Rectangle::new([(xa, y), (xb, y + PIXEL)], fill.filled()))?;
                        }
                        start = end;
                    }
                }
            }
        }
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

    #[test]
    fn pixel_maps_draw_each_map_in_its_own_scale() {
        let (a, b) = ([0.0f32, 1.0, 2.0, 2.0], [0.0f32, 10.0, 20.0, 20.0]);
        let rows = vec![("digit".to_string(), vec![&a[..], &b[..]])];
        let svg = pixel_maps("maps", &names(2), &rows, 2, 2).unwrap();
        // Each map's largest value is the darkest shade; its last row is one merged run.
        let dark = format!("{:?}", shade(1.0).0);
        assert!(svg.contains("maps") && svg.contains("digit"));
        let darkest = svg.matches("fill=\"#08306B\"").count();
        assert_eq!(darkest, 2, "{dark}: {svg}");
        let blank = vec![(
            "blank".to_string(),
            vec![&[0.0f32; 4][..], &[f32::NAN; 4][..]],
        )];
        assert!(pixel_maps("blank", &names(2), &blank, 2, 2).is_ok());
        assert!(pixel_maps("t", &names(2), &rows, 3, 2).is_err());
        assert!(pixel_maps("t", &names(3), &rows, 2, 2).is_err());
        assert!(pixel_maps("t", &names(2), &[], 2, 2).is_err());
    }
}
