//! The logit-standardization KD reference in f64, written from the formula:
//! `Z(x) = (x − mean(x)) / (σ(x) + ε)` with the sample standard deviation, the KD row terms of
//! the standardized rows from the KD-loss reference's accurate `soft_row`, and the gradient
//! through the standardization of the student's row (the module docs of
//! [`crate::ops::logit_std`] derive it).

use crate::ops::kd_loss::reference::{soft_row, softened_loss};
use crate::ops::kd_loss::KdOutput;

/// One row standardized: `z = c / (σ + ε)`, `c = x − mean(x)`.
#[derive(Debug, Clone)]
pub struct Standardized {
    /// `c = x − mean(x)`.
    pub centred: Vec<f64>,
    /// The sample standard deviation `σ = sqrt(Σ c² / (C − 1))`.
    pub sigma: f64,
    /// `σ + ε`, what `c` is divided by.
    pub scale: f64,
    /// `Z(x) = c / (σ + ε)`.
    pub z: Vec<f64>,
}

/// `Z(x)` of one row of at least two entries: mean, then `Σ (x − mean)²` (two passes), the
/// sample standard deviation (`torch.std`'s default, divided by C − 1) and `ε` added to it. A
/// row of equal entries gives `c = 0` exactly (the f64 sum of C copies of an f32 is exact), so
/// `Z = 0` there.
pub fn standardize(row: &[f64], epsilon: f64) -> Standardized {
    let n = row.len() as f64;
    let mean = row.iter().sum::<f64>() / n;
    let centred: Vec<f64> = row.iter().map(|&x| x - mean).collect();
    let sigma = (centred.iter().map(|c| c * c).sum::<f64>() / (n - 1.0)).sqrt();
    let scale = sigma + epsilon;
    let z = centred.iter().map(|&c| c / scale).collect();
    Standardized {
        centred,
        sigma,
        scale,
        z,
    }
}

/// The soft (KD) part of one row.
#[derive(Debug, Clone)]
pub struct SoftRow {
    /// The student's row standardized, `u = Z(z)`.
    pub student: Standardized,
    /// The teacher's row standardized, `v = Z(t)`.
    pub teacher: Standardized,
    /// `KL(softmax(v/T) ‖ softmax(u/T))`.
    pub kl: f64,
    /// `q − p = softmax(u/T) − softmax(v/T)`, i.e. `T·∂KL/∂u`.
    pub diff: Vec<f64>,
    /// `T·∂KL/∂z`: `(q − p − mean(q − p) − c·Σ(q − p)·u / ((C − 1)·σ)) / (σ + ε)`, the last
    /// term 0 where σ = 0 (its limit: it is quadratic in c).
    pub grad: Vec<f64>,
}

/// The KD term on the standardized logits of one row (`z` the student's, `t` the teacher's).
pub fn soft_row_std(z: &[f64], t: &[f64], temperature: f64, epsilon: f64) -> SoftRow {
    let student = standardize(z, epsilon);
    let teacher = standardize(t, epsilon);
    let (kl, diff) = soft_row(&student.z, &teacher.z, temperature);
    let n = z.len() as f64;
    let mean_diff = diff.iter().sum::<f64>() / n;
    let along_u: f64 = diff.iter().zip(&student.z).map(|(d, u)| d * u).sum();
    let through_sigma = if student.sigma > 0.0 {
        along_u / ((n - 1.0) * student.sigma)
    } else {
        0.0
    };
    let grad = diff
        .iter()
        .zip(&student.centred)
        .map(|(&d, &c)| (d - mean_diff - c * through_sigma) / student.scale)
        .collect();
    SoftRow {
        student,
        teacher,
        kl,
        diff,
        grad,
    }
}

/// The logit-standardization KD loss
/// `(1 − α)·CE(y, softmax(z)) + α·T²·KL(softmax(Z(t)/T) ‖ softmax(Z(z)/T))`, batch-mean, and
/// its gradient `(1/B)[(1 − α)(s − onehot(y)) + α·T·(T·∂KL/∂z)]`. Rows need at least two
/// classes.
#[allow(clippy::too_many_arguments)]
pub fn logit_std_loss(
    student: &[f64],
    teacher: &[f64],
    labels: &[u32],
    rows: usize,
    cols: usize,
    temperature: f64,
    alpha: f64,
    epsilon: f64,
) -> KdOutput<f64> {
    debug_assert_eq!(labels.len(), rows);
    softened_loss(
        student,
        teacher,
        labels,
        cols,
        temperature,
        alpha,
        |z, t| {
            let soft = soft_row_std(z, t, temperature, epsilon);
            (soft.kl, soft.grad)
        },
    )
}
