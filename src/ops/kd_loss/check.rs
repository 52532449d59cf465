//! Validation of the fused KD loss against the reference: per-row CE and KL and the batch loss
//! to [`KD_RTOL`] relative, every gradient entry to [`KD_RTOL`] of the batch's largest
//! ([`check_kd_loss`]); at the edges (saturated rows, near-uniform rows at high T, wide mixed
//! rows, logits of ±1e4) also of its row's largest gradient term ([`check_kd_edges`]).

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::Comparison;
use crate::ops::kd_loss::{kd_loss, reference, KdBatch, KdConfig, KdOutput};
use crate::ops::logit_loss::check::{
    fixed_extreme_rows, largest_abs, random_rows, row_term_scales, LossCheck,
};
pub use crate::ops::logit_loss::check::{LossCase, Rows};
use crate::ops::softmax::check::EXTREME_TEMPERATURES;
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// The reference at the batch's logits and T, at mixing weight `alpha`.
fn reference_at(batch: &KdBatch<'_>, temperature: f32, alpha: f64) -> KdOutput<f64> {
    reference::kd_loss(
        &to_f64(batch.student),
        &to_f64(batch.teacher),
        batch.labels,
        batch.rows,
        batch.cols,
        temperature as f64,
        alpha,
    )
}

/// The KD loss's comparison names and tolerances.
const CHECK: LossCheck = LossCheck::new("kd", "kl", KD_RTOL, KD_FLOOR);

/// The gradient against the batch's largest |entry|, per-row CE and KL, and the batch loss.
fn compare_kd(label: &str, got: &KdOutput<f32>, e: &KdOutput<f64>) -> Vec<Comparison> {
    let mut out = vec![CHECK.grad(label, &got.grad, &e.grad, largest_abs(&e.grad))];
    out.extend(CHECK.terms(label, got, e));
    out
}

/// Checks the KD loss (gradient, per-row terms, batch loss) at one shape and setting.
#[maybe_async]
pub async fn check_kd_loss(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    kd: KdConfig,
) -> Result<Vec<Comparison>> {
    let got = kd_loss(ctx, batch, kd).await?;
    let e = reference_at(batch, kd.temperature, kd.alpha as f64);
    let label = format!(
        "{}x{} T={} α={}",
        batch.rows, batch.cols, kd.temperature, kd.alpha
    );
    Ok(compare_kd(&label, &got, &e))
}

/// Relative tolerance of the loss, the per-row CE and KL, and of every gradient entry against
/// the batch's (at the edges also its row's) largest gradient.
pub const KD_RTOL: f64 = 1e-5;

/// Absolute floor of the per-row CE and KL and of gradient entries: f32's smallest normal
/// number. Below it f32 has no relative precision left (subnormals keep fewer bits, and GPUs may
/// flush them to 0), while a row at logits of ±1e4 may hold a CE, KL or gradient of 1e-300 that
/// the reference resolves.
pub const KD_FLOOR: f64 = f32::MIN_POSITIVE as f64;

/// An owned KD-loss input at one setting (T and α), named for reports.
pub type KdCase = LossCase<KdConfig>;

fn uniform(rng: &mut SplitMix64, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.next_f64() as f32
}

/// Two classes per row, saturated: the student's logit gap is `gap ± 0.5`, the teacher's
/// `gap·[0.75, 1.25]` on the same class, the label that class (every eighth row the other,
/// whose CE is about `gap`). At T = 1 the CE is about `e^-gap` and `s[y] − 1` as small.
pub fn saturated_rows(rng: &mut SplitMix64, rows: usize, gap: f32) -> Rows {
    let (mut z, mut t, mut labels) = (vec![0.0; 2 * rows], vec![0.0; 2 * rows], Vec::new());
    for r in 0..rows {
        let top = rng.below(2);
        let (zt, tt) = (uniform(rng, -5.0, 5.0), uniform(rng, -5.0, 5.0));
        z[2 * r + top] = zt;
        z[2 * r + 1 - top] = zt - (gap + uniform(rng, -0.5, 0.5));
        t[2 * r + top] = tt;
        t[2 * r + 1 - top] = tt - gap * uniform(rng, 0.75, 1.25);
        labels.push(if r % 8 == 7 { 1 - top } else { top } as u32);
    }
    (z, t, labels)
}

/// A student near its teacher: `z ∈ [−6, 6)`, `t = z + offset + [−0.25, 0.25)`, random labels.
/// At T = 20 the distributions are near-uniform and KL is about 2e-5.
pub fn near_uniform_rows(rng: &mut SplitMix64, rows: usize, cols: usize, offset: f32) -> Rows {
    let z = rng.uniform_vec(rows * cols, -6.0, 6.0);
    let t = z
        .iter()
        .map(|&v| v + offset + uniform(rng, -0.25, 0.25))
        .collect();
    let labels = (0..rows).map(|_| rng.below(cols) as u32).collect();
    (z, t, labels)
}

/// Rows of four kinds in turn: independent logits in [−8, 8); a student within 0.5 of its
/// teacher; both saturated on one class (+30 and +25..35), labelled with it; a saturated
/// student against a near-uniform teacher.
pub fn mixed_rows(rng: &mut SplitMix64, rows: usize, cols: usize) -> Rows {
    let (mut z, mut t, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rows {
        let top = rng.below(cols);
        let (mut zr, mut tr) = match r % 4 {
            0 => (
                rng.uniform_vec(cols, -8.0, 8.0),
                rng.uniform_vec(cols, -8.0, 8.0),
            ),
            1 => {
                let tr = rng.uniform_vec(cols, -8.0, 8.0);
                (
                    tr.iter().map(|&v| v + uniform(rng, -0.5, 0.5)).collect(),
                    tr,
                )
            }
            2 => (
                rng.uniform_vec(cols, -3.0, 3.0),
                rng.uniform_vec(cols, -3.0, 3.0),
            ),
            _ => (
                rng.uniform_vec(cols, -3.0, 3.0),
                rng.uniform_vec(cols, -1.0, 1.0),
            ),
        };
        if r % 4 >= 2 {
            zr[top] += 30.0;
        }
        if r % 4 == 2 {
            tr[top] += uniform(rng, 25.0, 35.0);
        }
        labels.push(if r % 4 >= 2 { top } else { rng.below(cols) } as u32);
        z.extend(zr);
        t.extend(tr);
    }
    (z, t, labels)
}

/// Logits of ±1e4, four kinds of row in turn: all within 40 below 1e4 with the teacher within 2
/// of the student; independent rows within 40 above −1e4; entries drawn from ±1e4 and
/// [−1e4, 1e4); a class at 1e4 with the others 20..40 below it (labelled with it).
pub fn extreme_rows(rng: &mut SplitMix64, rows: usize, cols: usize) -> Rows {
    let (mut z, mut t, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    let wide = |rng: &mut SplitMix64| match rng.below(3) {
        0 => 1e4,
        1 => -1e4,
        _ => uniform(rng, -1e4, 1e4),
    };
    for r in 0..rows {
        let top = rng.below(cols);
        let (zr, tr): (Vec<f32>, Vec<f32>) = match r % 4 {
            0 => {
                let zr: Vec<f32> = (0..cols).map(|_| 1e4 - uniform(rng, 0.0, 40.0)).collect();
                let tr = zr.iter().map(|&v| v + uniform(rng, -2.0, 2.0)).collect();
                (zr, tr)
            }
            1 => (
                (0..cols).map(|_| -1e4 + uniform(rng, 0.0, 40.0)).collect(),
                (0..cols).map(|_| -1e4 + uniform(rng, 0.0, 40.0)).collect(),
            ),
            2 => (
                (0..cols).map(|_| wide(rng)).collect(),
                (0..cols).map(|_| wide(rng)).collect(),
            ),
            _ => {
                let row = |rng: &mut SplitMix64| -> Vec<f32> {
                    (0..cols)
                        .map(|c| {
                            if c == top {
                                1e4
                            } else {
                                1e4 - uniform(rng, 20.0, 40.0)
                            }
                        })
                        .collect()
                };
                (row(rng), row(rng))
            }
        };
        labels.push(if r % 4 == 1 || r % 4 == 2 {
            rng.below(cols)
        } else {
            top
        } as u32);
        z.extend(zr);
        t.extend(tr);
    }
    (z, t, labels)
}

/// Checks one edge case: [`check_kd_loss`]'s comparisons and every gradient entry to
/// [`KD_RTOL`] of its row's largest gradient term: the largest
/// `(1 − α)·|s − onehot(y)| + α·T·|q − p|` over the row's entries, over B (at least
/// [`KD_FLOOR`] / [`KD_RTOL`], so an error below f32's normal range passes). For α ∈ {0, 1}
/// that is the row's largest |gradient|; in between, the hard and soft terms may cancel to a
/// gradient far smaller than either, which f32 cannot resolve relative to itself.
#[maybe_async]
pub async fn check_kd_edges(ctx: &GpuContext, case: &KdCase) -> Result<Vec<Comparison>> {
    let batch = case.batch();
    let got = kd_loss(ctx, &batch, case.config).await?;
    let alpha = case.config.alpha as f64;
    let e = reference_at(&batch, case.config.temperature, alpha);
    // The gradient is linear in α: at α = 0 it is the hard term, at α = 1 the soft one.
    let hard = reference_at(&batch, case.config.temperature, 0.0).grad;
    let soft = reference_at(&batch, case.config.temperature, 1.0).grad;
    let label = format!(
        "{}x{} T={} α={} ({})",
        case.rows, case.cols, case.config.temperature, case.config.alpha, case.name
    );
    let scales = row_term_scales(&hard, &soft, alpha, case.cols);
    let mut out = vec![CHECK.grad_by_rows(&label, &got.grad, &e.grad, &scales, case.cols)];
    out.extend(compare_kd(&label, &got, &e));
    Ok(out)
}

/// The edge cases `distill validate` runs: saturated two-class rows (gaps 16 to 40, T = 1),
/// near-uniform rows at T = 20 and 10, mixed rows of 1000 classes, logits of ±1e4; each at
/// α ∈ {0, 0.5, 1}, `rows` rows (at most 128 is the goal's range).
pub fn edge_cases(rng: &mut SplitMix64, rows: usize) -> Vec<KdCase> {
    let mut cases = Vec::new();
    for alpha in [0.0f32, 0.5, 1.0] {
        let mut push = |name: &str, cols: usize, temperature: f32, data: Rows| {
            let kd = KdConfig { temperature, alpha };
            cases.push(KdCase::new(name, rows, cols, kd, data));
        };
        for gap in [16.0f32, 24.0, 32.0, 40.0] {
            let name = format!("saturated gap {gap}");
            push(&name, 2, 1.0, saturated_rows(rng, rows, gap));
        }
        for t in [20.0, 10.0] {
            push("near-uniform", 10, t, near_uniform_rows(rng, rows, 10, 0.0));
        }
        for t in [1.0, 4.0, 20.0] {
            push("mixed", 1000, t, mixed_rows(rng, rows, 1000));
        }
        for t in [0.5, 1.0, 20.0] {
            push("logits ±1e4", 10, t, extreme_rows(rng, rows, 10));
        }
    }
    cases
}

/// Random batches at several shapes and (T, α), the extreme logits, then [`edge_cases`] of 32
/// rows.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for &(rows, cols) in &[(1, 2), (9, 10), (4, 1000)] {
        for &(t, alpha) in &[(1.0f32, 0.0f32), (4.0, 0.9), (20.0, 1.0), (0.5, 0.5)] {
            let kd = KdConfig {
                temperature: t,
                alpha,
            };
            let case = KdCase::new("random", rows, cols, kd, random_rows(rng, rows, cols));
            out.extend(check_kd_loss(ctx, &case.batch(), kd).await?);
        }
    }
    for t in EXTREME_TEMPERATURES {
        let kd = KdConfig {
            temperature: t,
            alpha: 0.5,
        };
        let case = KdCase::new("extreme logits", 2, 4, kd, fixed_extreme_rows());
        out.extend(check_kd_loss(ctx, &case.batch(), kd).await?);
    }
    for case in edge_cases(rng, 32) {
        out.extend(check_kd_edges(ctx, &case).await?);
    }
    Ok(out)
}
