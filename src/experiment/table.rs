//! An experiment's results: one row per method, one column per metric, one value per seed in
//! each cell, shown as mean ± sample standard deviation.

use serde::Serialize;

/// A metric column and how many decimals its cells show.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// Header, e.g. "test errors".
    pub name: String,
    /// Decimals of the mean and standard deviation.
    pub decimals: usize,
}

/// One method's values: `values[column]` holds one number per seed (empty: not measured).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The method, e.g. "student, distilled".
    pub method: String,
    /// Per column, the value of each seed in seed order.
    pub values: Vec<Vec<f64>>,
}

/// A results table over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// The experiment's command name.
    pub experiment: String,
    /// One-line description of the setting.
    pub title: String,
    /// Metric columns.
    pub columns: Vec<Column>,
    /// Methods in the order first recorded.
    pub rows: Vec<Row>,
    /// Seeds run.
    pub seeds: Vec<u64>,
    /// Settings and choices that qualify the numbers (sizes, epochs, data).
    pub notes: Vec<String>,
}

/// Mean and sample standard deviation (n − 1; 0 for a single value). Empty: `None`.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = if values.len() > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Some((mean, std))
}

impl Table {
    /// An empty table with these `(name, decimals)` columns.
    pub fn new(experiment: &str, title: &str, columns: &[(&str, usize)]) -> Self {
        Self {
            experiment: experiment.into(),
            title: title.into(),
            columns: columns
                .iter()
                .map(|&(name, decimals)| Column {
                    name: name.into(),
                    decimals,
                })
                .collect(),
            rows: Vec::new(),
            seeds: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Records one seed's `value` of `method` in column `column` (a row is added the first
    /// time a method is seen).
    ///
    /// # Panics
    /// If `column` is not a column index (a programming error in an experiment).
    pub fn record(&mut self, method: &str, column: usize, value: f64) {
        assert!(column < self.columns.len(), "column {column} out of range");
        let index = match self.rows.iter().position(|r| r.method == method) {
            Some(i) => i,
            None => {
                self.rows.push(Row {
                    method: method.into(),
                    values: vec![Vec::new(); self.columns.len()],
                });
                self.rows.len() - 1
            }
        };
        self.rows[index].values[column].push(value);
    }

    /// The mean and standard deviation of a cell, if measured.
    pub fn cell(&self, method: &str, column: usize) -> Option<(f64, f64)> {
        let row = self.rows.iter().find(|r| r.method == method)?;
        mean_std(row.values.get(column)?)
    }

    /// A cell as shown: "mean ± std" with the column's decimals, the mean alone for one seed,
    /// "–" when not measured.
    pub fn cell_text(&self, row: &Row, column: usize) -> String {
        let decimals = self.columns.get(column).map_or(1, |c| c.decimals);
        let values = row.values.get(column).map_or(&[][..], |v| &v[..]);
        match mean_std(values) {
            None => "–".to_string(),
            Some((m, _)) if values.len() == 1 => format!("{m:.decimals$}"),
            Some((m, s)) => format!("{m:.decimals$} ± {s:.decimals$}"),
        }
    }

    /// The table in Markdown, with its title, seeds and notes.
    pub fn markdown(&self) -> String {
        let mut out = format!("### `{}`: {}\n\n", self.experiment, self.title);
        out.push_str("| method |");
        for c in &self.columns {
            out.push_str(&format!(" {} |", c.name));
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(self.columns.len()));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&format!("| {} |", row.method));
            for column in 0..self.columns.len() {
                out.push_str(&format!(" {} |", self.cell_text(row, column)));
            }
            out.push('\n');
        }
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        out.push_str(&format!(
            "\nMean ± sample std over seeds {}.\n",
            seeds.join(", ")
        ));
        for note in &self.notes {
            out.push_str(&format!("- {note}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[4.0]), Some((4.0, 0.0)));
        let (m, s) = mean_std(&[69.0, 69.0, 78.0]).unwrap();
        assert_eq!(m, 72.0);
        assert!((s - 27.0f64.sqrt()).abs() < 1e-12, "{s}");
    }

    #[test]
    fn rows_collect_seeds_and_render() {
        let mut t = Table::new("demo", "a demo", &[("errors", 1), ("shift", 2)]);
        t.seeds = vec![1, 2];
        t.record("scratch", 0, 10.0);
        t.record("distilled", 0, 8.0);
        t.record("scratch", 0, 12.0);
        t.record("distilled", 1, 3.5);
        t.notes.push("tiny".into());
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.cell("scratch", 0).unwrap().0, 11.0);
        let md = t.markdown();
        assert!(md.contains("| scratch | 11.0 ± 1.4 | – |"), "{md}");
        assert!(md.contains("| distilled | 8.0 | 3.50 |"), "{md}");
        assert!(md.contains("seeds 1, 2") && md.contains("- tiny"), "{md}");
    }
}
