//! The multi-teacher KD-loss reference in f64: per teacher, softmaxes over its known classes
//! (log-sum-exp from the softmax reference), per-sample weights over the eligible teachers,
//! per-row terms, the batch reduction from the reduce reference, and the gradient.

use crate::ops::multi_kd::{Combine, MultiKdBatch, MultiKdOutput, WeightMode};
use crate::ops::reduce::reference::reduce_loss;
use crate::ops::softmax::reference::{log_sum_exp, softmax};

/// The weights of one sample over `K` teachers: `eligible[k]` when teacher k knows the label,
/// `base` the base weights, `confidence[k] = log p_k(y)` at T = 1 over `S_k` (read only for
/// eligible teachers). Renormalised over the eligible teachers; all 0 when none is eligible or
/// their raw weights are all 0. Confidence weights are `exp(log p_k(y) − max)`, the same ratios
/// as `p_k(y)` without underflowing to all zeros.
pub fn teacher_weights(
    mode: WeightMode,
    eligible: &[bool],
    base: &[f64],
    confidence: &[f64],
) -> Vec<f64> {
    let mut top: Option<usize> = None;
    for k in (0..eligible.len()).filter(|&k| eligible[k]) {
        if top.is_none_or(|t| confidence[k] > confidence[t]) {
            top = Some(k);
        }
    }
    let raw: Vec<f64> = (0..eligible.len())
        .map(|k| match (eligible[k], mode, top) {
            (false, _, _) | (_, _, None) => 0.0,
            (true, WeightMode::Uniform, _) => 1.0,
            (true, WeightMode::Fixed | WeightMode::Accuracy, _) => base[k],
            (true, WeightMode::Confidence, Some(t)) => (confidence[k] - confidence[t]).exp(),
            (true, WeightMode::Route, Some(t)) => f64::from(u8::from(k == t)),
        })
        .collect();
    let total: f64 = raw.iter().sum();
    raw.iter()
        .map(|&r| if total > 0.0 { r / total } else { 0.0 })
        .collect()
}

/// `log p_k(y_b)` at T = 1 over `S_k` for each teacher k of row `row` (−∞ where teacher k
/// does not know the label): what the confidence and route weights rank.
pub fn log_confidences(batch: &MultiKdBatch<'_, f64>, row: usize) -> Vec<f64> {
    let (cols, teachers) = (batch.cols, batch.teacher_count);
    let y = batch.labels[row] as usize;
    (0..teachers)
        .map(|k| {
            let known = batch.known_row(k);
            let start = (row * teachers + k) * cols;
            if known[y] == 0 {
                return f64::NEG_INFINITY;
            }
            masked_log_softmax(&batch.teachers[start..start + cols], known, 1.0)[y]
        })
        .collect()
}

/// Log-softmax of `x / T` over the classes `known` marks, 0 elsewhere (never read there).
fn masked_log_softmax(x: &[f64], known: &[u32], temperature: f64) -> Vec<f64> {
    let subset: Vec<f64> = x
        .iter()
        .zip(known)
        .filter(|(_, &m)| m != 0)
        .map(|(&v, _)| v)
        .collect();
    let lse = log_sum_exp(&subset, temperature);
    x.iter()
        .zip(known)
        .map(|(&v, &m)| if m != 0 { v / temperature - lse } else { 0.0 })
        .collect()
}

/// Adds one teacher's term over its known classes: `weight·KL(p ‖ q)` to `kl` and
/// `weight·(q − p)` to `soft`, from the log-probabilities.
fn add_teacher(
    weight: f64,
    known: &[u32],
    log_p: &[f64],
    log_q: &[f64],
    kl: &mut f64,
    soft: &mut [f64],
) {
    for c in (0..known.len()).filter(|&c| known[c] != 0) {
        let (p, q) = (log_p[c].exp(), log_q[c].exp());
        if p > 0.0 {
            *kl += weight * (p * (log_p[c] - log_q[c]));
        }
        soft[c] += weight * (q - p);
    }
}

/// The multi-teacher KD loss, batch-mean, and its gradient
/// `(1/B)[(1 − α)(s − onehot(y)) + α·T·Σ_k w_k·1[c ∈ S_k]·(q_k − p_k)]` (mixture), or the
/// single-teacher loss of `t̄ = Σ_k w_k t_k` over the shared class set (logits).
pub fn multi_kd(
    batch: &MultiKdBatch<'_, f64>,
    temperature: f64,
    alpha: f64,
    mode: WeightMode,
    combine: Combine,
) -> MultiKdOutput<f64> {
    let (rows, cols, teachers) = (batch.rows, batch.cols, batch.teacher_count);
    let (s, log_s) = softmax(batch.student, rows, cols, 1.0);
    let inv_b = 1.0 / rows as f64;
    let mut out = MultiKdOutput {
        loss: 0.0,
        ce: 0.0,
        kl: 0.0,
        row_ce: vec![0.0; rows],
        row_kl: vec![0.0; rows],
        grad: vec![0.0; rows * cols],
        weights: vec![0.0; rows * teachers],
    };
    for r in 0..rows {
        let y = batch.labels[r] as usize;
        let z = &batch.student[r * cols..(r + 1) * cols];
        let t_row =
            |k: usize| &batch.teachers[(r * teachers + k) * cols..(r * teachers + k + 1) * cols];
        let eligible: Vec<bool> = (0..teachers)
            .map(|k| batch.known_row(k)[y] != 0 && batch.gate_open(r, k))
            .collect();
        let confidence = log_confidences(batch, r);
        let w = teacher_weights(mode, &eligible, batch.base_weights, &confidence);
        let mut kl = 0.0;
        let mut soft = vec![0.0; cols];
        match combine {
            Combine::Mixture => {
                for (k, &wk) in w.iter().enumerate().filter(|(_, &wk)| wk > 0.0) {
                    let known = batch.known_row(k);
                    let log_p = masked_log_softmax(t_row(k), known, temperature);
                    let log_q = masked_log_softmax(z, known, temperature);
                    add_teacher(wk, known, &log_p, &log_q, &mut kl, &mut soft);
                }
            }
            Combine::Logits if w.iter().any(|&wk| wk > 0.0) => {
                let known = batch.known_row(0);
                let t_bar: Vec<f64> = (0..cols)
                    .map(|c| (0..teachers).map(|k| w[k] * t_row(k)[c]).sum())
                    .collect();
                let log_p = masked_log_softmax(&t_bar, known, temperature);
                let log_q = masked_log_softmax(z, known, temperature);
                add_teacher(1.0, known, &log_p, &log_q, &mut kl, &mut soft);
            }
            Combine::Logits => {}
        }
        out.row_ce[r] = -log_s[r * cols + y];
        out.row_kl[r] = kl;
        out.weights[r * teachers..(r + 1) * teachers].copy_from_slice(&w);
        for (c, soft_c) in soft.into_iter().enumerate() {
            let i = r * cols + c;
            let onehot = if c == y { 1.0 } else { 0.0 };
            out.grad[i] = inv_b * ((1.0 - alpha) * (s[i] - onehot) + alpha * temperature * soft_c);
        }
    }
    [out.loss, out.ce, out.kl] = reduce_loss(&out.row_ce, &out.row_kl, temperature, alpha);
    out
}
