//! The CPU reference in one place: every op's `reference.rs`, re-exported. Each is the op's
//! math written plainly in f64, the specification its kernel is tested against (and that
//! `distill validate` runs on a user's hardware); `tests/cpu_reference.rs` checks the
//! gradients among them by finite differences.

pub use crate::distill::reference::kd_step_gradients;
pub use crate::model::reference::{
    dense_backward, dense_forward, mlp_backward, mlp_backward_scaled, mlp_forward,
    mlp_forward_dropout, mlp_logits, relu_backward, DenseGrads,
};
pub use crate::ops::accumulate::reference::accumulate;
pub use crate::ops::bias_grad::reference::bias_grad;
pub use crate::ops::dkd::reference::{dkd_loss, dkd_parts, nckd, tckd, DkdParts};
pub use crate::ops::dropout::reference::{apply_dropout, dropout_keeps, pcg_hash};
pub use crate::ops::ema::reference::ema_update;
pub use crate::ops::fake_quant::reference::fake_quant_params;
pub use crate::ops::gather::reference::{gather, jitter_shift};
pub use crate::ops::gjsd::reference::gjsd_loss;
pub use crate::ops::hint::reference::hint_loss;
pub use crate::ops::hint::HintOutput;
pub use crate::ops::kd_loss::reference::kd_loss;
pub use crate::ops::kd_loss::KdOutput;
pub use crate::ops::logit_mse::reference::logit_mse;
pub use crate::ops::logit_std::reference::logit_std_loss;
pub use crate::ops::matmul::reference::matmul;
pub use crate::ops::metrics::reference::{argmax, count_errors};
pub use crate::ops::multi_kd::reference::{log_confidences, multi_kd, teacher_weights};
pub use crate::ops::multi_kd::MultiKdOutput;
pub use crate::ops::optim::reference::{adamw_step, optimizer_step, sgd_step};
pub use crate::ops::prune_mask::reference::prune_mask;
pub use crate::ops::reduce::reference::reduce_loss;
pub use crate::ops::regression_loss::reference::regression_loss;
pub use crate::ops::regression_loss::RegressionOutput;
pub use crate::ops::softmax::reference::{log_sum_exp, softmax};
pub use crate::ops::tf_kd::reference::tf_kd;
pub use crate::util::{to_f32, to_f64};
