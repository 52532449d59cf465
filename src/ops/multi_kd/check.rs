//! Validation of the multi-teacher KD loss against the reference: gradient, per-row CE and KL,
//! weights and batch loss, over 1 to 4 teachers, disjoint, overlapping, shared and full class
//! sets, every weight mode, both combines, and extreme logits; tolerances derived from the
//! logits' magnitude, T and the weights' own error.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::multi_kd::{
    multi_kd, reference, run_in_layout, Combine, MultiKdBatch, MultiKdConfig, MultiKdOutput,
    WeightMode,
};
use crate::ops::softmax::check::{EXTREME_LOGITS, EXTREME_TEMPERATURES};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// Every weight mode.
pub const WEIGHT_MODES: [WeightMode; 5] = [
    WeightMode::Uniform,
    WeightMode::Fixed,
    WeightMode::Accuracy,
    WeightMode::Confidence,
    WeightMode::Route,
];

/// How a case's teachers split the classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Masks {
    /// Every teacher knows every class.
    All,
    /// Class c < C − 1 belongs to teacher c mod K alone; class C − 1 to nobody.
    Disjoint,
    /// Random sets (each class with probability 1/2), teacher k always knowing class
    /// k mod (C − 1); class C − 1 known to nobody.
    Overlap,
    /// Every teacher knows classes 0 … C − 2 (the sets the logits combine needs).
    Shared,
}

impl Masks {
    /// The masks `[teachers, cols]`; all but [`Masks::All`] need `cols > teachers`.
    pub fn build(self, rng: &mut SplitMix64, teachers: usize, cols: usize) -> Vec<u32> {
        let mut known = vec![0u32; teachers * cols];
        for k in 0..teachers {
            for c in 0..cols {
                let last = c + 1 == cols;
                known[k * cols + c] = u32::from(match self {
                    Masks::All => true,
                    Masks::Disjoint => !last && c % teachers == k,
                    Masks::Overlap => !last && (c % (cols - 1) == k || rng.below(2) == 1),
                    Masks::Shared => !last,
                });
            }
        }
        known
    }
}

/// Random masks `[teachers, cols]`, each class known with probability `density`, every teacher
/// knowing at least one class.
pub fn random_masks(rng: &mut SplitMix64, teachers: usize, cols: usize, density: f64) -> Vec<u32> {
    let mut known: Vec<u32> = (0..teachers * cols)
        .map(|_| u32::from(rng.next_f64() < density))
        .collect();
    for k in 0..teachers {
        if !known[k * cols..(k + 1) * cols].contains(&1) {
            known[k * cols + rng.below(cols)] = 1;
        }
    }
    known
}

/// Largest |logit| of the batch, at least 1.
fn max_logit(values: &[f32]) -> f64 {
    values.iter().fold(1.0f64, |m, &v| m.max((v as f64).abs()))
}

/// Checks the loss (gradient, per-row terms, weights, batch loss) at one batch and setting.
#[maybe_async]
pub async fn check_multi_kd(
    ctx: &GpuContext,
    batch: &MultiKdBatch<'_>,
    config: MultiKdConfig,
) -> Result<Vec<Comparison>> {
    let got = multi_kd(ctx, batch, config).await?;
    Ok(compare_multi_kd(&got, batch, config))
}

/// Compares `got` with the reference of `batch` under `config`, with tolerances derived from
/// the logits' magnitude, T and the weights' own error.
pub fn compare_multi_kd(
    got: &MultiKdOutput<f32>,
    batch: &MultiKdBatch<'_>,
    config: MultiKdConfig,
) -> Vec<Comparison> {
    let (student, teachers, base) = (
        to_f64(batch.student),
        to_f64(batch.teachers),
        to_f64(batch.base_weights),
    );
    let gates = batch.gates.map(to_f64);
    let wide = MultiKdBatch {
        student: &student,
        teachers: &teachers,
        known: batch.known,
        base_weights: &base,
        labels: batch.labels,
        rows: batch.rows,
        cols: batch.cols,
        teacher_count: batch.teacher_count,
        gates: gates.as_deref(),
    };
    let MultiKdConfig {
        temperature,
        alpha,
        weights,
        combine,
    } = config;
    let e = reference::multi_kd(&wide, temperature as f64, alpha as f64, weights, combine);
    let (rows, k) = (batch.rows as f64, batch.teacher_count as f64);
    let label = format!(
        "{}x{} K={} {weights:?} {combine:?} T={temperature} α={alpha}{}",
        batch.rows,
        batch.cols,
        batch.teacher_count,
        if batch.gates.is_some() { " gated" } else { "" }
    );
    // Log-probabilities lose about ulp(|x|) each, x the logits fed to a softmax: z for the hard
    // term, z/T and t/T (or t̄/T) for the soft term, t at T = 1 for the confidence weights.
    let (lz, lt) = (max_logit(batch.student), max_logit(batch.teachers));
    let (t, a) = (temperature as f64, alpha as f64);
    let e_hard = 4e-7 * lz + 1e-6;
    // A weight is good to a few ulps; a confidence weight exp(log p_k(y) − max) inherits the
    // error of log p_k(y), about ulp(|log p_k(y)|), from the teachers that carry weight.
    let mut weight_err = 2.4e-7;
    if weights == WeightMode::Confidence {
        let log_p = (0..batch.rows).flat_map(|r| {
            let w = &e.weights[r * batch.teacher_count..(r + 1) * batch.teacher_count];
            let c = reference::log_confidences(&wide, r);
            c.into_iter()
                .zip(w)
                .filter(|&(_, &w)| w > 1e-7)
                .map(|(c, _)| c.abs())
                .collect::<Vec<_>>()
        });
        weight_err += 4e-7 * log_p.fold(0.0, f64::max);
    }
    let mut e_soft = 4e-7 * lz.max(lt) / t + 1e-6;
    if combine == Combine::Logits {
        // t̄ = Σ w_k t_k: the weights' errors and the sum's rounding move t̄ by up to K·|t|·err.
        e_soft += k * (weight_err + 1.2e-7) * lt / t;
    }
    let ce_tol = Tolerance::new(e_hard + 1e-5, 1e-4);
    // Each KL_k (up to about 2·|t|/T) is scaled by a weight off by weight_err.
    let kl_tol = Tolerance::new(e_soft + k * weight_err * lt / t + 1e-5, 1e-4);
    let weight_tol = Tolerance::new(weight_err, 1e-5);
    let grad_tol = Tolerance::new(
        ((1.0 - a) * e_hard + a * t * (2.0 * e_soft + k * weight_err)) / rows,
        1e-4,
    );
    let loss_tol = Tolerance::new(
        (1.0 - a) * ce_tol.atol + a * t * t * kl_tol.atol + ce_tol.atol,
        1e-4,
    );
    vec![
        compare(
            &format!("multi kd grad {label}"),
            &got.grad,
            &e.grad,
            grad_tol,
        ),
        compare(
            &format!("multi kd row ce {label}"),
            &got.row_ce,
            &e.row_ce,
            ce_tol,
        ),
        compare(
            &format!("multi kd row kl {label}"),
            &got.row_kl,
            &e.row_kl,
            kl_tol,
        ),
        compare(
            &format!("multi kd weights {label}"),
            &got.weights,
            &e.weights,
            weight_tol,
        ),
        compare(
            &format!("multi kd batch loss/ce/kl {label}"),
            &[got.loss, got.ce, got.kl],
            &[e.loss, e.ce, e.kl],
            loss_tol,
        ),
    ]
}

/// Checks one random batch: logits in ±6, labels random with row 0 on the last class (known to
/// nobody under every mask but [`Masks::All`]), base weights in [0, 1); `gated`: each
/// (row, teacher) gate open with probability ½, row 1's all shut.
#[maybe_async]
pub async fn check_random_case(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    (rows, cols, teachers): (usize, usize, usize),
    known: &[u32],
    config: MultiKdConfig,
    gated: bool,
) -> Result<Vec<Comparison>> {
    let z = random_vec(rng, rows * cols, -6.0, 6.0);
    let t = random_vec(rng, rows * teachers * cols, -6.0, 6.0);
    let base = random_vec(rng, teachers, 0.0, 1.0);
    let mut labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
    labels[0] = cols as u32 - 1;
    let gates: Vec<f32> = (0..rows * teachers)
        .map(|i| {
            if i / teachers == 1 {
                0.0
            } else {
                rng.below(2) as f32
            }
        })
        .collect();
    let batch = MultiKdBatch {
        student: &z,
        teachers: &t,
        known,
        base_weights: &base,
        labels: &labels,
        rows,
        cols,
        teacher_count: teachers,
        gates: gated.then_some(&gates[..]),
    };
    check_multi_kd(ctx, &batch, config).await
}

/// `(T, α)` over {1, 4, 20} × {0, 0.5, 1}; cases take them in turn.
const SETTINGS: [(f32, f32); 9] = [
    (1.0, 0.5),
    (4.0, 1.0),
    (20.0, 0.0),
    (1.0, 1.0),
    (4.0, 0.0),
    (20.0, 0.5),
    (1.0, 0.0),
    (4.0, 0.5),
    (20.0, 1.0),
];

/// 1 to 4 teachers × every mask kind × every weight mode × both combines (logits only with
/// equal sets), (T, α) in turn, every fourth case with per-sample gates; then C = 2 with single-class teachers and the extreme logits.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    let mut turn = 0;
    for (teachers, rows, cols) in [(1, 5, 7), (2, 9, 10), (3, 16, 12), (4, 33, 20)] {
        for masks in [Masks::All, Masks::Disjoint, Masks::Overlap, Masks::Shared] {
            let known = masks.build(rng, teachers, cols);
            for weights in WEIGHT_MODES {
                for combine in [Combine::Mixture, Combine::Logits] {
                    if combine == Combine::Logits && !matches!(masks, Masks::All | Masks::Shared) {
                        continue;
                    }
                    let (temperature, alpha) = SETTINGS[turn % SETTINGS.len()];
                    turn += 1;
                    let config = MultiKdConfig {
                        temperature,
                        alpha,
                        weights,
                        combine,
                    };
                    let shape = (rows, cols, teachers);
                    // Every fourth case (T cycling) gates some (row, teacher) pairs shut.
                    let gated = turn % 4 == 1;
                    out.extend(check_random_case(ctx, rng, shape, &known, config, gated).await?);
                }
            }
        }
    }
    // C = 2: teachers that know one class each (p = q = 1 there: no soft term), and a shared
    // single class for the logits combine.
    for (known, combine) in [
        (vec![1, 0, 0, 1], Combine::Mixture),
        (vec![1, 0, 1, 0], Combine::Logits),
    ] {
        for weights in WEIGHT_MODES {
            let config = MultiKdConfig {
                temperature: 4.0,
                alpha: 0.5,
                weights,
                combine,
            };
            out.extend(check_random_case(ctx, rng, (6, 2, 2), &known, config, false).await?);
        }
    }
    out.extend(extreme(ctx).await?);
    out.extend(teacher_major(ctx, rng).await?);
    Ok(out)
}

/// Random batches with the teachers laid out teacher-major (`[K, B, C]`, as a trainer copies
/// peers' or an EMA teacher's logits), every teacher knowing every class: the same reference.
#[maybe_async]
async fn teacher_major(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for (teachers, rows, cols) in [(1, 5, 7), (2, 9, 10), (3, 128, 10), (4, 33, 20)] {
        let known = vec![1u32; teachers * cols];
        for (weights, combine) in [
            (WeightMode::Uniform, Combine::Mixture),
            (WeightMode::Fixed, Combine::Mixture),
            (WeightMode::Fixed, Combine::Logits),
        ] {
            let config = MultiKdConfig {
                temperature: 4.0,
                alpha: 0.5,
                weights,
                combine,
            };
            let z = random_vec(rng, rows * cols, -6.0, 6.0);
            let t = random_vec(rng, rows * teachers * cols, -6.0, 6.0);
            let base = random_vec(rng, teachers, 0.0, 1.0);
            let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
            let batch = MultiKdBatch {
                student: &z,
                teachers: &t,
                known: &known,
                base_weights: &base,
                labels: &labels,
                rows,
                cols,
                teacher_count: teachers,
                gates: None,
            };
            let got = run_in_layout(ctx, &batch, config, true).await?;
            out.extend(
                compare_multi_kd(&got, &batch, config)
                    .into_iter()
                    .map(|mut c| {
                        c.what = format!("{} teacher-major", c.what);
                        c
                    }),
            );
        }
    }
    Ok(out)
}

/// Logits of ±1e4 and spreads of 1e4 for student and two teachers with overlapping sets, and a
/// shared set for the logits combine, at every extreme temperature.
#[maybe_async]
async fn extreme(ctx: &GpuContext) -> Result<Vec<Comparison>> {
    let teachers = [
        -1e4f32, 1e4, 3.0, 0.0, 1e4, 1e4, -1e4, 2.0, // row 0: teachers 0, 1
        2.0, -1e4, 1e4, 1e4, 0.0, 5e3, 1e4, -1e4, // row 1: teachers 0, 1
    ];
    let overlap = [1, 1, 1, 0, 0, 1, 1, 1];
    let shared = [1, 1, 1, 0, 1, 1, 1, 0];
    let mut out = Vec::new();
    for temperature in EXTREME_TEMPERATURES {
        for weights in WEIGHT_MODES {
            for (known, combine) in [(overlap, Combine::Mixture), (shared, Combine::Logits)] {
                let batch = MultiKdBatch {
                    student: &EXTREME_LOGITS,
                    teachers: &teachers,
                    known: &known,
                    base_weights: &[0.25, 0.75],
                    labels: &[1, 2],
                    rows: 2,
                    cols: 4,
                    teacher_count: 2,
                    gates: None,
                };
                let config = MultiKdConfig {
                    temperature,
                    alpha: 0.5,
                    weights,
                    combine,
                };
                out.extend(check_multi_kd(ctx, &batch, config).await?);
            }
        }
    }
    Ok(out)
}
