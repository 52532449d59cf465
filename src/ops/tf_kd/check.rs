//! Validation of the Tf-KD loss against the reference: per-row CE and `KL / C` and the batch
//! loss to [`TF_KD_RTOL`] relative, every gradient entry to [`TF_KD_RTOL`] of its row's largest
//! gradient term `(1 − α)·|s − onehot(y)| + (α·m/C)·|s − π|` over B (the two may cancel to far
//! less than either, which f32 resolves only relative to the larger) ([`check_tf_kd`]).
//!
//! Every batch here carries NaN teacher logits: the kernel must not read them.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{random_vec, Comparison};
use crate::ops::kd_loss::check::{extreme_rows, mixed_rows};
use crate::ops::kd_loss::{KdBatch, KdOutput};
use crate::ops::logit_loss::check::{row_term_scales, LossCase, LossCheck};
use crate::ops::tf_kd::{reference, tf_kd, TfKdConfig};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// Relative tolerance of the loss and the per-row CE and `KL / C`, and of every gradient entry
/// against its row's largest gradient term: the KD loss's. Measured on lavapipe over the suite at
/// four seeds, the worst errors as a fraction of their scale: per-row KL 8.5e-7, gradient
/// 2.4e-7, per-row CE 2.2e-7, batch loss 3.8e-7.
pub const TF_KD_RTOL: f64 = 1e-5;

/// Absolute floor of the per-row terms and of the scaled gradient: f32's smallest normal number
/// (below it f32 keeps no relative precision, while the reference resolves terms of 1e-300).
pub const TF_KD_FLOOR: f64 = f32::MIN_POSITIVE as f64;

/// The Tf-KD loss's comparison names and tolerances.
const CHECK: LossCheck = LossCheck::new("tf-kd", "kl", TF_KD_RTOL, TF_KD_FLOOR);

/// The reference at `config` over `batch`'s student logits and labels.
pub fn reference_at(batch: &KdBatch<'_>, config: TfKdConfig) -> KdOutput<f64> {
    reference::tf_kd(
        &to_f64(batch.student),
        batch.labels,
        batch.rows,
        batch.cols,
        config.temperature as f64,
        config.alpha as f64,
        config.correct_prob as f64,
        config.multiplier as f64,
    )
}

/// Each row's largest gradient term, over B: the gradient's scale.
fn row_scales(batch: &KdBatch<'_>, config: TfKdConfig) -> Vec<f64> {
    // The gradient is linear in α: at α = 0 it is the hard term, at α = 1 the soft one.
    let at = |alpha: f32| reference_at(batch, TfKdConfig { alpha, ..config }).grad;
    row_term_scales(&at(0.0), &at(1.0), config.alpha as f64, batch.cols)
}

/// `"9x10 T=20 α=0.1 a=0.99 m=100"`.
fn describe(batch: &KdBatch<'_>, config: TfKdConfig) -> String {
    format!(
        "{}x{} T={} α={} a={} m={}",
        batch.rows,
        batch.cols,
        config.temperature,
        config.alpha,
        config.correct_prob,
        config.multiplier
    )
}

/// Checks the Tf-KD loss (gradient against its rows' scales, per-row terms, batch loss) at one
/// batch and setting; `name` says what the rows are.
#[maybe_async]
pub async fn check_tf_kd(
    ctx: &GpuContext,
    name: &str,
    batch: &KdBatch<'_>,
    config: TfKdConfig,
) -> Result<Vec<Comparison>> {
    let got = tf_kd(ctx, batch, config).await?;
    let e = reference_at(batch, config);
    let label = format!("{} ({name})", describe(batch, config));
    let scales = row_scales(batch, config);
    let mut out = vec![CHECK.grad_by_rows(&label, &got.grad, &e.grad, &scales, batch.cols)];
    out.extend(CHECK.terms(&label, &got, &e));
    Ok(out)
}

/// An owned Tf-KD input at one setting (T, α, a and m), named for reports; its teacher logits
/// are NaN.
pub type TfKdCase = LossCase<TfKdConfig>;

/// A case over `student` logits and `labels` (`rows = labels.len()`) with NaN teacher logits.
pub fn student_case(
    name: &str,
    cols: usize,
    config: TfKdConfig,
    (student, labels): (Vec<f32>, Vec<u32>),
) -> TfKdCase {
    let teacher = vec![f32::NAN; student.len()];
    TfKdCase::new(name, labels.len(), cols, config, (student, teacher, labels))
}

/// Student logits in [−6, 6) and random labels.
pub fn random_rows(rng: &mut SplitMix64, rows: usize, cols: usize) -> (Vec<f32>, Vec<u32>) {
    let z = random_vec(rng, rows * cols, -6.0, 6.0);
    (z, (0..rows).map(|_| rng.below(cols) as u32).collect())
}

/// Students at (`noise = 0`) or near their virtual teacher: `z = p_v / T + shift + noise·[−1, 1)`
/// with a random shift per row in [−5, 5), so `softmax(z) ≈ softmax(p_v / T)` and the KL is
/// about 0 (f32 rounding) or `noise²`.
pub fn virtual_teacher_rows(
    rng: &mut SplitMix64,
    rows: usize,
    cols: usize,
    config: TfKdConfig,
    noise: f32,
) -> (Vec<f32>, Vec<u32>) {
    let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
    let mut z = Vec::with_capacity(rows * cols);
    for &y in &labels {
        let shift = rng.next_f64() * 10.0 - 5.0;
        let p = reference::virtual_teacher_row(cols, y as usize, config.correct_prob as f64);
        for pc in p {
            let jitter = noise as f64 * (2.0 * rng.next_f64() - 1.0);
            z.push((pc / config.temperature as f64 + shift + jitter) as f32);
        }
    }
    (z, labels)
}

/// Random logits with `gap` added at the label: ±40 saturates the student's softmax for or
/// against the label, ±1e4 makes it 1 or 0 in f32.
pub fn label_gap_rows(
    rng: &mut SplitMix64,
    rows: usize,
    cols: usize,
    gap: f32,
) -> (Vec<f32>, Vec<u32>) {
    let (mut z, labels) = random_rows(rng, rows, cols);
    for (r, &y) in labels.iter().enumerate() {
        z[r * cols + y as usize] += gap;
    }
    (z, labels)
}

/// The student half of a KD-loss generator's rows.
fn students((z, _, labels): (Vec<f32>, Vec<f32>, Vec<u32>)) -> (Vec<f32>, Vec<u32>) {
    (z, labels)
}

/// `TfKdConfig` from `(T, α, a, m)`.
pub fn config((temperature, alpha, correct_prob, multiplier): (f32, f32, f32, f32)) -> TfKdConfig {
    TfKdConfig {
        temperature,
        alpha,
        correct_prob,
        multiplier,
    }
}

/// The settings the suite runs: the authors' ResNet18, MobileNetV2 and ShuffleNetV2 ones, and
/// others over T from 0.5 to 100, α from 0.3 to 1, a below and above 1/C.
pub const SETTINGS: [(f32, f32, f32, f32); 6] = [
    (20.0, 0.1, 0.99, 100.0),
    (40.0, 0.95, 0.99, 1.0),
    (10.0, 0.95, 0.99, 1.0),
    (0.5, 0.5, 0.9, 10.0),
    (100.0, 1.0, 0.99, 1.0),
    (1.0, 0.7, 0.05, 5.0),
];

/// The edge cases, `rows` rows each: students at and near their virtual teacher (T = 0.5, 20,
/// 100), two classes with the label the teacher's top class and not, saturated students for
/// and against the label (gaps ±40, ±1e4), logits of ±1e4, 1000 mixed classes, a uniform
/// teacher (a = 1/C), a sharp teacher (T = 0.05), a near 1.
pub fn edge_cases(rng: &mut SplitMix64, rows: usize) -> Vec<TfKdCase> {
    let mut cases = Vec::new();
    for t in [0.5f32, 20.0, 100.0] {
        let c = config((t, 1.0, 0.99, 1.0));
        let at = virtual_teacher_rows(rng, rows, 10, c, 0.0);
        cases.push(student_case("student = virtual teacher", 10, c, at));
        let near = virtual_teacher_rows(rng, rows, 10, c, 1e-3);
        cases.push(student_case("student near virtual teacher", 10, c, near));
        let c = config((t, 0.5, 0.99, 10.0));
        cases.push(student_case(
            "mixed",
            1000,
            c,
            students(mixed_rows(rng, rows, 1000)),
        ));
        cases.push(student_case(
            "logits ±1e4",
            10,
            c,
            students(extreme_rows(rng, rows, 10)),
        ));
        for gap in [40.0f32, -40.0, 1e4, -1e4] {
            let name = format!("label gap {gap}");
            cases.push(student_case(
                &name,
                10,
                c,
                label_gap_rows(rng, rows, 10, gap),
            ));
        }
        for a in [0.3f32, 0.8] {
            let c = config((t, 0.5, a, 2.0));
            cases.push(student_case("two classes", 2, c, random_rows(rng, rows, 2)));
            let at = virtual_teacher_rows(rng, rows, 2, c, 0.0);
            cases.push(student_case(
                "two classes, student = virtual teacher",
                2,
                c,
                at,
            ));
        }
    }
    for (cols, a) in [(10, 0.1f32), (4, 0.25)] {
        let c = config((4.0, 0.5, a, 1.0));
        cases.push(student_case(
            "uniform teacher",
            cols,
            c,
            random_rows(rng, rows, cols),
        ));
    }
    for setting in [
        (0.05f32, 0.5f32, 0.99f32, 1.0f32),
        (1.0, 0.5, 0.999_999, 1.0),
    ] {
        let c = config(setting);
        cases.push(student_case(
            "sharp teacher",
            10,
            c,
            random_rows(rng, rows, 10),
        ));
        cases.push(student_case(
            "sharp teacher, logits ±1e4",
            10,
            c,
            students(extreme_rows(rng, rows, 10)),
        ));
    }
    cases
}

/// Random batches (one row of 2 and 10 classes, rows past a workgroup's width, 1000 classes) at
/// every one of [`SETTINGS`], then [`edge_cases`] of 32 rows.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for &(rows, cols) in &[(1, 2), (1, 10), (9, 10), (70, 10), (4, 1000)] {
        for setting in SETTINGS {
            let case = student_case(
                "random",
                cols,
                config(setting),
                random_rows(rng, rows, cols),
            );
            out.extend(check_tf_kd(ctx, &case.name, &case.batch(), case.config).await?);
        }
    }
    for case in edge_cases(rng, 32) {
        out.extend(check_tf_kd(ctx, &case.name, &case.batch(), case.config).await?);
    }
    Ok(out)
}
