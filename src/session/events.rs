//! What a [`crate::session::TrainingRun`] tells its app while it runs and when it ends:
//! progress events, the cancel token, and the outcome.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::model::Mlp;
use crate::train::{EpochLog, FitPosition};

/// One progress event, passed to the run's callback as it happens.
///
/// A callback (rather than an iterator) because the run borrows the GPU context and the data
/// for its whole length; an app with a UI thread forwards the events through a channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A training step was submitted.
    Step {
        /// Epoch, from 1.
        epoch: usize,
        /// Steps of this epoch done, from 1.
        step: usize,
        /// Steps in an epoch.
        steps_per_epoch: usize,
    },
    /// An epoch finished (its loss read back once).
    Epoch {
        /// The epoch's summary: mean loss (CE, KL), steps, wall time.
        log: EpochLog,
        /// Errors on the test set after it, when the run has one (`None` also when the model's
        /// outputs were not finite there).
        test_errors: Option<usize>,
        /// Epochs in the run.
        epochs: usize,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Where a resumed run starts.
        position: FitPosition,
    },
}

/// Stops a run at the next batch boundary. Clones share one flag: hand one to another thread
/// or to a Ctrl-C handler, or call [`CancelToken::cancel`] from the progress callback.
///
/// ```
/// use distill_wgpu::session::CancelToken;
/// let token = CancelToken::new();
/// let handle = token.clone();
/// std::thread::spawn(move || handle.cancel()).join().unwrap();
/// assert!(token.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every run holding a clone of this token to stop at its next batch boundary.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Clears the request, so the token can stop a later run.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.0
    }
}

/// A finished run's model and record.
#[derive(Debug)]
pub struct TrainedModel {
    /// The trained student.
    pub model: Mlp,
    /// Every epoch's summary, from epoch 1 (a resumed run's earlier epochs included).
    pub logs: Vec<EpochLog>,
    /// Test errors by epoch, when the run had a test set (kept beside the checkpoint, so a
    /// resumed run has the earlier epochs' too).
    pub test_errors: BTreeMap<usize, usize>,
    /// Wall time of this call's training, without the time spent testing, in seconds.
    pub seconds: f64,
}

/// How a run ended.
#[derive(Debug)]
pub enum RunOutcome {
    /// Every epoch ran.
    Finished(TrainedModel),
    /// The cancel token stopped it.
    Cancelled {
        /// Where a resumed run starts.
        position: FitPosition,
        /// The checkpoint written there, when the run has one.
        checkpoint: Option<PathBuf>,
        /// The epochs finished before it stopped.
        logs: Vec<EpochLog>,
    },
}

impl RunOutcome {
    /// The trained model, or `None` when the run was cancelled.
    pub fn finished(self) -> Option<TrainedModel> {
        match self {
            RunOutcome::Finished(trained) => Some(trained),
            RunOutcome::Cancelled { .. } => None,
        }
    }
}
