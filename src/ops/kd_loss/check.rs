//! Validation of the fused KD loss against the reference: gradient, per-row CE and KL, and
//! batch loss, with tolerances derived from the logits' magnitude and T.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::kd_loss::{kd_loss, reference, KdBatch, KdConfig};
use crate::ops::softmax::check::{EXTREME_LOGITS, EXTREME_TEMPERATURES};
use crate::rng::SplitMix64;
use crate::util::to_f64;

/// Checks the KD loss (gradient, per-row terms, batch loss) at one shape and setting.
pub fn check_kd_loss(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    kd: KdConfig,
) -> Result<Vec<Comparison>> {
    let got = kd_loss(ctx, batch, kd)?;
    let KdBatch {
        student,
        teacher,
        labels,
        rows,
        cols,
    } = *batch;
    let KdConfig { temperature, alpha } = kd;
    let e = reference::kd_loss(
        &to_f64(student),
        &to_f64(teacher),
        labels,
        rows,
        cols,
        temperature as f64,
        alpha as f64,
    );
    let label = format!("{rows}x{cols} T={temperature} α={alpha}");
    // Log-probability differences lose about ulp(|x|) each, x the logits fed to the softmax:
    // z for the hard term, z/T and t/T for the soft term.
    let max_logit = student
        .iter()
        .chain(teacher)
        .fold(1.0f64, |m, &v| m.max((v as f64).abs()));
    let t = temperature as f64;
    let ce_tol = Tolerance::new(4e-7 * max_logit + 1e-5, 1e-4);
    let kl_tol = Tolerance::new(4e-7 * max_logit / t.min(1.0).max(t) + 1e-5, 1e-4);
    let grad_tol = Tolerance::new(2e-6 / rows as f64 * (1.0 + t), 1e-4);
    let a = alpha as f64;
    let loss_tol = Tolerance::new(
        (1.0 - a) * ce_tol.atol + a * t * t * kl_tol.atol + ce_tol.atol,
        1e-4,
    );
    Ok(vec![
        compare(&format!("kd grad {label}"), &got.grad, &e.grad, grad_tol),
        compare(
            &format!("kd row ce {label}"),
            &got.row_ce,
            &e.row_ce,
            ce_tol,
        ),
        compare(
            &format!("kd row kl {label}"),
            &got.row_kl,
            &e.row_kl,
            kl_tol,
        ),
        compare(
            &format!("kd batch loss/ce/kl {label}"),
            &[got.loss, got.ce, got.kl],
            &[e.loss, e.ce, e.kl],
            loss_tol,
        ),
    ])
}

/// Random batches at several shapes and (T, α), then the extreme logits.
pub fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for &(rows, cols) in &[(1, 2), (9, 10), (4, 1000)] {
        for &(t, alpha) in &[(1.0f32, 0.0f32), (4.0, 0.9), (20.0, 1.0), (0.5, 0.5)] {
            let z = random_vec(rng, rows * cols, -6.0, 6.0);
            let tl = random_vec(rng, rows * cols, -6.0, 6.0);
            let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
            let batch = KdBatch {
                student: &z,
                teacher: &tl,
                labels: &labels,
                rows,
                cols,
            };
            let kd = KdConfig {
                temperature: t,
                alpha,
            };
            out.extend(check_kd_loss(ctx, &batch, kd)?);
        }
    }
    let teacher = [-1e4f32, 1e4, 3.0, 0.0, 1e4, 1e4, -1e4, 2.0];
    for t in EXTREME_TEMPERATURES {
        let batch = KdBatch {
            student: &EXTREME_LOGITS,
            teacher: &teacher,
            labels: &[1, 2],
            rows: 2,
            cols: 4,
        };
        let kd = KdConfig {
            temperature: t,
            alpha: 0.5,
        };
        out.extend(check_kd_loss(ctx, &batch, kd)?);
    }
    Ok(out)
}
