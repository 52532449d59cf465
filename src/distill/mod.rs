//! Distillation: the objectives (CE + KD with [`KdConfig`]; several teachers over their known
//! classes with [`MultiKdConfig`]), where a step's teacher logits come from, and the caches of
//! frozen teachers' logits for a data set.

pub mod ensemble;
pub mod gating;
pub mod reference;
pub mod teacher;

pub use crate::ops::dkd::DkdConfig;
pub use crate::ops::kd_loss::KdConfig;
pub use crate::ops::multi_kd::{Combine, MultiKdConfig, WeightMode};
pub use ensemble::{TeacherEnsemble, Teachers};
pub use teacher::{TeacherLogits, TeacherSource};

/// Loss values of a step (or means over steps).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossReport {
    /// `(1 − α)·CE + α·T²·KL`.
    pub total: f32,
    /// Batch-mean cross-entropy with the labels.
    pub ce: f32,
    /// Batch-mean KL(teacher ‖ student) at temperature T.
    pub kl: f32,
}
