//! The generalized-JSD loss in f64, from the definition in trl's `generalized_jsd_loss`
//! (huggingface/trl, `trl/trainer/gkd_trainer.py`; see [`super`]): per row, with
//! `p = softmax(t/T)`, `q = softmax(z/T)` and `m = β·p + (1 − β)·q`,
//! `JSD_β = β·KL(p ‖ m) + (1 − β)·KL(q ‖ m)` for 0 < β < 1, `KL(p ‖ q)` at β = 0 and
//! `KL(q ‖ p)` at β = 1.
//!
//! The plain sums `Σ p (log p − log m)` cancel: a near-uniform or saturated row's JSD is far
//! smaller than its terms, and f64 then keeps too few digits to check an f32 kernel against. So
//! each KL is summed in its form of non-negative terms, `KL(p ‖ m) = Σ (p·log(p/m) − p + m) =
//! Σ p·(e^a − 1 − a)` with `a = log(m/p)` (the added `m − p` sum to 0). `x = log(q/p)` is the
//! difference of the log-probabilities `(x − max)/T − log Σ e^{(x − max)/T}` or, where that
//! rounds more (tied top classes), `(d − μ) − KL(p ‖ q)` from exact logit gaps `d`;
//! `a = log(β + (1 − β)·e^x)` and `b = log(m/q) = log((1 − β) + β·e^{−x})` are taken as
//! `log1p(·expm1)` near 0 and as a log-sum-exp elsewhere. At β = 0 the row is the KD loss's
//! (`kd_loss::reference::soft_row`).
//!
//! The gradient (`∂m/∂q = 1 − β` and `Σ ∂q = 0` leave `∂JSD/∂q_c = (1 − β)·log(q_c/m_c)`):
//! `T·∂JSD/∂z_c = (1 − β)·q_c·(log(q_c/m_c) − KL(q ‖ m))`, at β = 1
//! `q_c·(log(q_c/p_c) − KL(q ‖ p))`, at β = 0 `q_c − p_c`; where these differences cancel (a
//! sure student) they are taken as noted in [`row_jsd`].

use crate::ops::kd_loss::reference::{
    exp_minus_1_minus_x, row_softmax, soft_row, softened_loss, RowSoftmax,
};
use crate::ops::kd_loss::KdOutput;

/// `log(w_one + w_x·e^x)` with `w_one + w_x = 1`, both > 0: `log1p(w_x·expm1(x))` near `x = 0`,
/// else a log-sum-exp.
fn log_mix(x: f64, w_one: f64, w_x: f64) -> f64 {
    if x.abs() <= 1.0 {
        return (w_x * x.exp_m1()).ln_1p();
    }
    let (u, v) = (w_one.ln(), w_x.ln() + x);
    let (hi, lo) = if u > v { (u, v) } else { (v, u) };
    hi + (lo - hi).exp().ln_1p()
}

/// `KL(r ‖ m)` term `r·(e^g − 1 − g)` with `g = log(m/r)` and `m − r` given: the series near
/// `g = 0`, else `(m − r) − r·g` (where `r·e^g = m` and nothing cancels).
fn kl_term(r: f64, g: f64, m_minus_r: f64) -> f64 {
    if g.abs() <= 1.0 {
        r * exp_minus_1_minus_x(g)
    } else {
        m_minus_r - r * g
    }
}

/// One row's mixture terms: `log(m/q)` per class and `KL(p ‖ m)`, `KL(q ‖ m)`.
struct Mixture {
    log_m_over_q: Vec<f64>,
    to_teacher: f64,
    to_student: f64,
}

/// The mixture terms of one row from its softmaxes and `x = log(q/p)`.
fn mixture(q: &RowSoftmax, p: &RowSoftmax, x: &[f64], beta: f64) -> Mixture {
    let mut out = Mixture {
        log_m_over_q: Vec::with_capacity(q.prob.len()),
        to_teacher: 0.0,
        to_student: 0.0,
    };
    for (c, &xc) in x.iter().enumerate() {
        let (pc, qc) = (p.prob[c], q.prob[c]);
        let a = log_mix(xc, beta, 1.0 - beta);
        let b = log_mix(-xc, 1.0 - beta, beta);
        out.to_teacher += kl_term(pc, a, (1.0 - beta) * (qc - pc));
        out.to_student += kl_term(qc, b, beta * (pc - qc));
        out.log_m_over_q.push(b);
    }
    out
}

/// `x_c = log q_c − log p_c` of one row: from the log-probabilities, or, where that rounds less,
/// as `(d_c − μ) − KL(p ‖ q)` with `d_c = ((z_c − t_c) − (z_k − t_k))/T` (k the teacher's top
/// class) and `μ = Σ p d`: where several classes tie at the top, the log-probabilities round
/// away a difference that d keeps.
fn log_ratios(z: &[f64], t: &[f64], temperature: f64, q: &RowSoftmax, p: &RowSoftmax) -> Vec<f64> {
    let k = p.top;
    let d: Vec<f64> = (0..z.len())
        .map(|c| ((z[c] - t[c]) - (z[k] - t[k])) / temperature)
        .collect();
    let mu: f64 = (0..z.len()).map(|c| p.prob[c] * d[c]).sum();
    let spread: f64 = (0..z.len()).map(|c| p.prob[c] * d[c].abs()).sum();
    let kl = soft_row(z, t, temperature).0;
    (0..z.len())
        .map(|c| {
            let (lq, lp) = (q.log_prob[c], p.log_prob[c]);
            if d[c].abs() + spread + kl <= lq.abs() + lp.abs() {
                (d[c] - mu) - kl
            } else {
                lq - lp
            }
        })
        .collect()
}

/// `(JSD_β, T·∂JSD_β/∂z)` of one row at temperature T (the gradient before the loss's
/// `α·T/B`): β = 0 is `KL(p ‖ q)`, β = 1 `KL(q ‖ p)`, in between the mixture form.
pub fn row_jsd(z: &[f64], t: &[f64], temperature: f64, beta: f64) -> (f64, Vec<f64>) {
    if beta == 0.0 {
        return soft_row(z, t, temperature);
    }
    let q = row_softmax(z, temperature);
    let p = row_softmax(t, temperature);
    let cols = z.len();
    let x = log_ratios(z, t, temperature, &q, &p);
    if beta == 1.0 {
        let kl: f64 = (0..cols)
            .map(|c| kl_term(q.prob[c], -x[c], p.prob[c] - q.prob[c]))
            .sum();
        // log(q_c/p_c) − KL(q ‖ p) = Δ_c − Σ q Δ with Δ_c = x_c − x_j (j the student's top
        // class) taken from the logits, so where q_j is 1 and x_j equals the KL to many digits
        // the difference is still exact.
        let j = q.top;
        let delta: Vec<f64> = (0..cols)
            .map(|c| ((z[c] - t[c]) - (z[j] - t[j])) / temperature)
            .collect();
        let nu: f64 = (0..cols).map(|c| q.prob[c] * delta[c]).sum();
        let grad = (0..cols).map(|c| q.prob[c] * (delta[c] - nu)).collect();
        return (kl, grad);
    }
    let m = mixture(&q, &p, &x, beta);
    let jsd = beta * m.to_teacher + (1.0 - beta) * m.to_student;
    // T·∂JSD/∂z_c = (1 − β)·q_c·(log(q_c/m_c) − KL(q ‖ m)), log(q/m) = −b.
    let mut grad: Vec<f64> = (0..cols)
        .map(|c| -(1.0 - beta) * q.prob[c] * (m.log_m_over_q[c] + m.to_student))
        .collect();
    // Where the student is sure (q_j > 1/2), log(q_j/m_j) and the KL may agree to many digits
    // (saturated rows); the gradients sum to 0, so there it is minus the others'.
    let j = q.top;
    if q.prob[j] > 0.5 {
        grad[j] = -(0..cols).filter(|&c| c != j).map(|c| grad[c]).sum::<f64>();
    }
    (jsd, grad)
}

/// Each class's `T·∂JSD_β/∂z_c` as the parts f32 rounds it with, `(w_c, f_c)`: a probability
/// (or difference of two) and the factor it is multiplied by, `|g_c| ≤ w_c·f_c`. In the mixture
/// `(q_c, (1 − β)·(|log(q_c/m_c)| + KL(q ‖ m)))`: where teacher and student barely overlap,
/// `log(q/m)` is `log(1/(1 − β))` on most of the student's mass and the KL almost that, so the
/// gradient is far smaller than its parts. At β = 1 `(q_c, |log(q_c/p_c) − KL(q ‖ p)|)` (the
/// factor reaches `2·10⁴/T` at logits of ±1e4, so a probability below f32's normal range still
/// makes a gradient above it), at β = 0 `(|q_c − p_c|, 1)`.
pub fn row_grad_parts(z: &[f64], t: &[f64], temperature: f64, beta: f64) -> Vec<(f64, f64)> {
    let q = row_softmax(z, temperature);
    let p = row_softmax(t, temperature);
    if beta == 0.0 {
        return (0..z.len())
            .map(|c| ((q.prob[c] - p.prob[c]).abs(), 1.0))
            .collect();
    }
    let x = log_ratios(z, t, temperature, &q, &p);
    if beta == 1.0 {
        let kl: f64 = (0..z.len()).map(|c| q.prob[c] * x[c]).sum();
        return (0..z.len())
            .map(|c| (q.prob[c], (x[c] - kl).abs()))
            .collect();
    }
    let m = mixture(&q, &p, &x, beta);
    (0..z.len())
        .map(|c| {
            let factor = (1.0 - beta) * (m.log_m_over_q[c].abs() + m.to_student);
            (q.prob[c], factor)
        })
        .collect()
}

/// The generalized-JSD loss `(1 − α)·CE(y, softmax(z)) + α·T²·JSD_β(softmax(t/T), softmax(z/T))`,
/// batch-mean, with the per-row terms (`row_ce`, `row_kl` holding `JSD_β`) and
/// `dL/dz = (1/B)[(1 − α)(s − onehot(y)) + α·T·(T·∂JSD_β/∂z)]`.
#[allow(clippy::too_many_arguments)]
pub fn gjsd_loss(
    student: &[f64],
    teacher: &[f64],
    labels: &[u32],
    rows: usize,
    cols: usize,
    temperature: f64,
    alpha: f64,
    beta: f64,
) -> KdOutput<f64> {
    debug_assert_eq!(labels.len(), rows);
    softened_loss(
        student,
        teacher,
        labels,
        cols,
        temperature,
        alpha,
        |z, t| row_jsd(z, t, temperature, beta),
    )
}
