//! What the logit losses' check suites share: an owned, named input at one setting
//! ([`LossCase`]), generated rows, and the comparisons of a GPU result with the f64 reference
//! under one loss's names and tolerances ([`LossCheck`]).

use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::logit_loss::{KdBatch, KdOutput};
use crate::ops::softmax::check::EXTREME_LOGITS;
use crate::rng::SplitMix64;

/// Student logits, teacher logits and labels of one generated batch.
pub type Rows = (Vec<f32>, Vec<f32>, Vec<u32>);

/// An owned logit-loss input at one setting `config`, named for reports.
#[derive(Debug, Clone)]
pub struct LossCase<C> {
    /// What the rows are, e.g. `saturated gap 24`.
    pub name: String,
    /// Student logits `[rows, cols]`.
    pub student: Vec<f32>,
    /// Teacher logits `[rows, cols]`.
    pub teacher: Vec<f32>,
    /// Hard labels `[rows]`.
    pub labels: Vec<u32>,
    /// Rows B.
    pub rows: usize,
    /// Classes C.
    pub cols: usize,
    /// The loss's settings (`()` where a suite runs each case at several).
    pub config: C,
}

impl<C> LossCase<C> {
    /// A case from generated rows.
    pub fn new(
        name: &str,
        rows: usize,
        cols: usize,
        config: C,
        (student, teacher, labels): Rows,
    ) -> Self {
        Self {
            name: name.to_string(),
            student,
            teacher,
            labels,
            rows,
            cols,
            config,
        }
    }

    /// The batch view the kernel takes.
    pub fn batch(&self) -> KdBatch<'_> {
        KdBatch {
            student: &self.student,
            teacher: &self.teacher,
            labels: &self.labels,
            rows: self.rows,
            cols: self.cols,
        }
    }
}

/// Independent student and teacher logits in [−6, 6), then random labels.
pub fn random_rows(rng: &mut SplitMix64, rows: usize, cols: usize) -> Rows {
    let z = random_vec(rng, rows * cols, -6.0, 6.0);
    let t = random_vec(rng, rows * cols, -6.0, 6.0);
    let labels = (0..rows).map(|_| rng.below(cols) as u32).collect();
    (z, t, labels)
}

/// The teacher equal to the student, random ([`random_rows`]' student and labels).
pub fn same_rows(rng: &mut SplitMix64, rows: usize, cols: usize) -> Rows {
    let (z, _, labels) = random_rows(rng, rows, cols);
    (z.clone(), z, labels)
}

/// Two rows of four classes: the softmax check's [`EXTREME_LOGITS`] against a teacher of
/// ±1e4 and small logits, labels 1 and 2.
pub fn fixed_extreme_rows() -> Rows {
    let teacher = vec![-1e4f32, 1e4, 3.0, 0.0, 1e4, 1e4, -1e4, 2.0];
    (EXTREME_LOGITS.to_vec(), teacher, vec![1, 2])
}

/// Per row of `cols` entries, the largest `(1 − α)·|hard| + α·|soft|`: the scale of a gradient
/// linear in α whose hard and soft terms may cancel to far less than either, which f32
/// resolves only relative to the larger.
pub fn row_term_scales(hard: &[f64], soft: &[f64], alpha: f64, cols: usize) -> Vec<f64> {
    hard.chunks(cols)
        .zip(soft.chunks(cols))
        .map(|(h, s)| {
            h.iter().zip(s).fold(0.0f64, |m, (h, s)| {
                m.max((1.0 - alpha) * h.abs() + alpha * s.abs())
            })
        })
        .collect()
}

/// The largest |value|.
pub fn largest_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// One logit loss's comparison names and tolerances. Every comparison is named
/// `"{op} {what} {label}"`, so the kernel names `distill validate` prints are the op's.
#[derive(Debug, Clone, Copy)]
pub struct LossCheck {
    /// The loss's name in every comparison, e.g. `kd`, `logit mse`.
    pub op: &'static str,
    /// The name of its soft (second per-row) term, e.g. `kl`, `jsd`.
    pub soft: &'static str,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute floor: below it f32 keeps no relative precision.
    pub floor: f64,
}

impl LossCheck {
    /// The names and tolerances of loss `op` whose soft term is called `soft`.
    pub const fn new(op: &'static str, soft: &'static str, rtol: f64, floor: f64) -> Self {
        Self {
            op,
            soft,
            rtol,
            floor,
        }
    }

    /// `floor + rtol·|expected|`, the per-row terms' and batch slots' tolerance.
    pub fn tolerance(&self) -> Tolerance {
        Tolerance::new(self.floor, self.rtol)
    }

    fn what(&self, what: &str, label: &str) -> String {
        format!("{} {what} {label}", self.op)
    }

    /// `"{op} grad {label}"`: every gradient entry to `rtol·largest + floor`, `largest` the
    /// batch's largest entry or gradient term.
    pub fn grad(&self, label: &str, got: &[f32], expected: &[f64], largest: f64) -> Comparison {
        let tolerance = Tolerance::new(self.rtol * largest + self.floor, 0.0);
        compare(&self.what("grad", label), got, expected, tolerance)
    }

    /// `"{op} {what} {label}"`: `got` and `expected` divided by their row's entry of `scales`
    /// (at least `floor / rtol`, so an error below f32's normal range passes; `per_row` values
    /// a row), to `rtol`.
    pub fn by_row_scale(
        &self,
        what: &str,
        label: &str,
        got: &[f32],
        expected: &[f64],
        scales: &[f64],
        per_row: usize,
    ) -> Comparison {
        let mut scaled_got = Vec::with_capacity(got.len());
        let mut scaled_expected = Vec::with_capacity(expected.len());
        for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
            let scale = scales[i / per_row].max(self.floor / self.rtol);
            scaled_got.push((g as f64 / scale) as f32);
            scaled_expected.push(e / scale);
        }
        let tolerance = Tolerance::new(self.rtol, 0.0);
        compare(
            &self.what(what, label),
            &scaled_got,
            &scaled_expected,
            tolerance,
        )
    }

    /// `"{op} grad by row terms {label}"`: [`LossCheck::by_row_scale`] of the gradient, `cols`
    /// entries a row.
    pub fn grad_by_rows(
        &self,
        label: &str,
        got: &[f32],
        expected: &[f64],
        scales: &[f64],
        cols: usize,
    ) -> Comparison {
        self.by_row_scale("grad by row terms", label, got, expected, scales, cols)
    }

    /// `"{op} row ce {label}"` to [`LossCheck::tolerance`].
    pub fn row_ce(&self, label: &str, got: &KdOutput<f32>, e: &KdOutput<f64>) -> Comparison {
        let what = self.what("row ce", label);
        compare(&what, &got.row_ce, &e.row_ce, self.tolerance())
    }

    /// `"{op} batch loss/ce/{soft} {label}"`: the three loss slots, to [`LossCheck::tolerance`].
    pub fn batch(&self, label: &str, got: &KdOutput<f32>, e: &KdOutput<f64>) -> Comparison {
        compare(
            &self.what(&format!("batch loss/ce/{}", self.soft), label),
            &[got.loss, got.ce, got.kl],
            &[e.loss, e.ce, e.kl],
            self.tolerance(),
        )
    }

    /// Per-row CE, per-row soft term (`"{op} row {soft} {label}"`) and the batch slots, each
    /// to [`LossCheck::tolerance`].
    pub fn terms(&self, label: &str, got: &KdOutput<f32>, e: &KdOutput<f64>) -> [Comparison; 3] {
        let soft = self.what(&format!("row {}", self.soft), label);
        [
            self.row_ce(label, got, e),
            compare(&soft, &got.row_kl, &e.row_kl, self.tolerance()),
            self.batch(label, got, e),
        ]
    }
}
