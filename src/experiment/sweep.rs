//! Sweeps over the distillation settings users ask about — temperature, α, student size and
//! how much training data — with the teacher's logits computed once: every cell is a student
//! distilled from the same teacher, beside a scratch student of the same size on the same data
//! (α = 0 is that scratch student).

use serde::Serialize;

use crate::data::{split_indices, Dataset, TrainTest};
use crate::distill::{KdConfig, TeacherLogits};
use crate::error::{Error, Result};
use crate::eval::logits;
use crate::experiment::lab::{Lab, Objective};
use crate::experiment::table::mean_std;
use crate::experiment::{model_seed, Recipe, Scale};
use crate::gpu::GpuContext;
use crate::model::Mlp;
use crate::util::select_rows;

/// Most cells a sweep runs unless told to (`force`).
pub const MAX_CELLS: usize = 200;

/// The values each axis takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepGrid {
    /// Distillation temperatures.
    pub temperatures: Vec<f32>,
    /// Weights of the teacher term (0: the scratch student).
    pub alphas: Vec<f32>,
    /// Student hidden widths.
    pub hidden: Vec<Vec<usize>>,
    /// Shares of the training set (a seeded subset per seed; 1: all of it).
    pub train_fractions: Vec<f64>,
    /// Seeds: each cell is trained once per seed.
    pub seeds: Vec<u64>,
}

impl SweepGrid {
    /// Cells: one per (hidden, fraction, T, α), α = 0 counted once per (hidden, fraction).
    pub fn cells(&self) -> usize {
        let kd = self.alphas.iter().filter(|&&a| a > 0.0).count() * self.temperatures.len();
        self.hidden.len() * self.train_fractions.len() * (kd + 1)
    }

    /// Checks every axis is non-empty and valid, and the size (unless `force`).
    pub fn validate(&self, force: bool) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if self.temperatures.is_empty()
            || self.alphas.is_empty()
            || self.hidden.is_empty()
            || self.train_fractions.is_empty()
        {
            return bad("a sweep needs at least one value on every axis".into());
        }
        if self.seeds.is_empty() {
            return bad("a sweep needs at least one seed".into());
        }
        for &t in &self.temperatures {
            KdConfig {
                temperature: t,
                alpha: 0.5,
            }
            .validate()?;
        }
        for &alpha in &self.alphas {
            KdConfig {
                temperature: 1.0,
                alpha,
            }
            .validate()?;
        }
        if let Some(h) = self.hidden.iter().find(|h| h.contains(&0)) {
            return bad(format!("hidden widths {h:?} include a zero"));
        }
        if let Some(f) = self
            .train_fractions
            .iter()
            .find(|f| !(**f > 0.0 && **f <= 1.0))
        {
            return bad(format!("a training fraction must lie in (0, 1], got {f}"));
        }
        let cells = self.cells();
        if cells > MAX_CELLS && !force {
            return bad(format!(
                "{cells} cells (× {} seeds) is more than {MAX_CELLS}; pass --force to run them",
                self.seeds.len()
            ));
        }
        Ok(())
    }
}

/// One cell's results over the seeds.
#[derive(Debug, Clone, Serialize)]
pub struct SweepCell {
    /// Student hidden widths.
    pub hidden: Vec<usize>,
    /// Share of the training set.
    pub train_fraction: f64,
    /// Distillation temperature (`None` for the scratch student).
    pub temperature: Option<f32>,
    /// Teacher-term weight (0 for the scratch student).
    pub alpha: f32,
    /// Test errors, one per seed in seed order.
    pub test_errors: Vec<f64>,
}

/// A sweep's cells, with what produced them.
#[derive(Debug, Clone, Serialize)]
pub struct SweepResult {
    /// The grid.
    pub grid: SweepGrid,
    /// The teacher's test errors.
    pub teacher_errors: usize,
    /// Test samples.
    pub test_count: usize,
    /// Cells, scratch first within each (hidden, fraction).
    pub cells: Vec<SweepCell>,
}

impl SweepResult {
    /// The mean ± std table in Markdown, with the change against scratch of the same size and
    /// data.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "teacher: {} test errors of {}\n\n| hidden | train share | T | α | test errors | vs scratch |\n|---|---:|---:|---:|---:|---:|\n",
            self.teacher_errors, self.test_count
        );
        let mut scratch = 0.0;
        for c in &self.cells {
            let (m, s) = mean_std(&c.test_errors).unwrap_or((f64::NAN, 0.0));
            let delta = match c.temperature {
                None => {
                    scratch = m;
                    "–".to_string()
                }
                Some(_) => format!("{:+.1}", m - scratch),
            };
            let t = c.temperature.map_or("–".into(), |t| t.to_string());
            let hidden: Vec<String> = c.hidden.iter().map(usize::to_string).collect();
            out.push_str(&format!(
                "| {} | {} | {t} | {} | {m:.1} ± {s:.1} | {delta} |\n",
                hidden.join("-"),
                c.train_fraction,
                c.alpha
            ));
        }
        out
    }

    /// One CSV row per (cell, seed): hidden, train_fraction, temperature, alpha, seed,
    /// test_errors (temperature empty for scratch).
    pub fn csv_rows(&self) -> Vec<[String; 6]> {
        let mut rows = Vec::new();
        for c in &self.cells {
            for (seed, errors) in self.grid.seeds.iter().zip(&c.test_errors) {
                let hidden: Vec<String> = c.hidden.iter().map(usize::to_string).collect();
                rows.push([
                    hidden.join("-"),
                    c.train_fraction.to_string(),
                    c.temperature.map_or(String::new(), |t| t.to_string()),
                    c.alpha.to_string(),
                    seed.to_string(),
                    errors.to_string(),
                ]);
            }
        }
        rows
    }
}

/// Runs `grid` on `data` with `teacher`, students trained with `scale`'s student recipe
/// (epochs, dropout, jitter), batch size and learning rate; progress lines go to `progress`.
pub fn run_sweep(
    ctx: &GpuContext,
    data: &TrainTest,
    teacher: &Mlp,
    grid: &SweepGrid,
    scale: &Scale,
    force: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<SweepResult> {
    grid.validate(force)?;
    scale.validate()?;
    let mut lab = Lab {
        ctx,
        scale,
        progress,
    };
    let train = lab.upload(&data.train, data.classes)?;
    let test = lab.upload(&data.test, data.classes)?;
    let teacher_errors = lab.errors(teacher, &test)?.total();
    // The teacher's logits over the whole training set, once; subsets pick their rows.
    let all_logits = logits(ctx, teacher, &train, 512)?;
    let mut cells: Vec<SweepCell> = Vec::new();
    let kd_pairs: Vec<(f32, f32)> = grid
        .temperatures
        .iter()
        .flat_map(|&t| {
            grid.alphas
                .iter()
                .filter(|&&a| a > 0.0)
                .map(move |&a| (t, a))
        })
        .collect();
    for hidden in &grid.hidden {
        let recipe = Recipe {
            hidden: hidden.clone(),
            ..scale.student.clone()
        };
        for &fraction in &grid.train_fractions {
            let first = cells.len();
            cells.push(SweepCell {
                hidden: hidden.clone(),
                train_fraction: fraction,
                temperature: None,
                alpha: 0.0,
                test_errors: Vec::new(),
            });
            for &(t, a) in &kd_pairs {
                cells.push(SweepCell {
                    hidden: hidden.clone(),
                    train_fraction: fraction,
                    temperature: Some(t),
                    alpha: a,
                    test_errors: Vec::new(),
                });
            }
            for &seed in &grid.seeds {
                let (subset, rows) = subset(&data.train, fraction, seed)?;
                let device = lab.upload(&subset, data.classes)?;
                let picked = select_rows(&all_logits, data.classes, &rows);
                let teacher_logits = TeacherLogits::from_host(ctx, &device, &picked)?;
                let init = model_seed(seed, 1);
                let scratch_kd = KdConfig::cross_entropy();
                let model = lab.train_recipe(
                    "scratch",
                    &recipe,
                    &device,
                    Objective::CrossEntropy,
                    init,
                    scratch_kd,
                )?;
                cells[first]
                    .test_errors
                    .push(lab.errors(&model, &test)?.total() as f64);
                for (i, &(temperature, alpha)) in kd_pairs.iter().enumerate() {
                    let kd = KdConfig { temperature, alpha };
                    let what = format!("T = {temperature}, α = {alpha}");
                    let model = lab.train_recipe(
                        &what,
                        &recipe,
                        &device,
                        Objective::Kd(&teacher_logits),
                        init,
                        kd,
                    )?;
                    cells[first + 1 + i]
                        .test_errors
                        .push(lab.errors(&model, &test)?.total() as f64);
                }
            }
        }
    }
    Ok(SweepResult {
        grid: grid.clone(),
        teacher_errors,
        test_count: test.len(),
        cells,
    })
}

/// A seeded `fraction` of `train` (all of it at 1) and the rows it took.
fn subset(train: &Dataset, fraction: f64, seed: u64) -> Result<(Dataset, Vec<usize>)> {
    if fraction >= 1.0 {
        return Ok((train.clone(), (0..train.len()).collect()));
    }
    let (_, rows) = split_indices(train.len(), fraction, model_seed(seed, 0))?;
    Ok((train.select(&rows)?, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> SweepGrid {
        SweepGrid {
            temperatures: vec![1.0, 4.0, 20.0],
            alphas: vec![0.0, 0.5, 1.0],
            hidden: vec![vec![30], vec![100, 100]],
            train_fractions: vec![0.1, 1.0],
            seeds: vec![1, 2],
        }
    }

    #[test]
    fn cells_count_scratch_once_per_size_and_share() {
        // 2 sizes × 2 shares × (3 T × 2 non-zero α + 1 scratch).
        assert_eq!(grid().cells(), 28);
        assert!(grid().validate(false).is_ok());
    }

    #[test]
    fn empty_bad_and_oversized_grids_are_refused() {
        let refuse = |g: SweepGrid, needle: &str| {
            let e = g.validate(false).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        refuse(
            SweepGrid {
                temperatures: vec![],
                ..grid()
            },
            "every axis",
        );
        refuse(
            SweepGrid {
                seeds: vec![],
                ..grid()
            },
            "seed",
        );
        refuse(
            SweepGrid {
                train_fractions: vec![0.0],
                ..grid()
            },
            "(0, 1]",
        );
        refuse(
            SweepGrid {
                train_fractions: vec![1.5],
                ..grid()
            },
            "(0, 1]",
        );
        refuse(
            SweepGrid {
                hidden: vec![vec![0]],
                ..grid()
            },
            "zero",
        );
        assert!(SweepGrid {
            alphas: vec![1.5],
            ..grid()
        }
        .validate(false)
        .is_err());
        assert!(SweepGrid {
            temperatures: vec![-1.0],
            ..grid()
        }
        .validate(false)
        .is_err());
        let big = SweepGrid {
            temperatures: (1..=10).map(|t| t as f32).collect(),
            alphas: (1..=10).map(|a| a as f32 / 10.0).collect(),
            hidden: vec![vec![8], vec![16], vec![32]],
            ..grid()
        };
        assert!(big.cells() > MAX_CELLS);
        refuse(big.clone(), "--force");
        assert!(big.validate(true).is_ok());
    }
}
