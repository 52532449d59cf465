//! Deep mutual learning (Zhang et al. 2018): N ≥ 2 students train together, each with the
//! labels' cross-entropy plus α·T²·(1/(N − 1))·Σ_{l≠k} KL(p_l ‖ p_k), the peers' softened
//! outputs of the same batch taken as fixed targets. One submit per step runs every student's
//! gather and forward pass, copies each student's logits into the others' teacher buffers
//! (teacher-major), then every loss, backward pass and update.

use crate::data::DeviceDataset;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::Mlp;
use crate::ops::kd_loss::KdConfig;
use crate::ops::multi_kd::{WeightMode, MAX_TEACHERS};
use crate::train::fit::{epoch_seed, EpochLog};
use crate::train::{Objective, Trainer, TrainerConfig, WindowLoss};
use maybe_async::maybe_async;

/// Several students learning from each other.
#[derive(Debug)]
pub struct MutualTrainer {
    students: Vec<Trainer>,
}

impl MutualTrainer {
    /// Trainers for `students` (2 to 9, any architectures with the same inputs and classes),
    /// all at `config`'s batch size, optimizer, dropout and KD T and α. `config` takes no
    /// other objective (teachers, DKD, hints, EMA).
    pub fn new(ctx: &GpuContext, students: Vec<Mlp>, config: &TrainerConfig) -> Result<Self> {
        let n = students.len();
        if !(2..=MAX_TEACHERS + 1).contains(&n) {
            return Err(Error::InvalidConfig(format!(
                "mutual learning takes 2 to {} students, got {n}",
                MAX_TEACHERS + 1
            )));
        }
        if !matches!(config.objective, Objective::Kd(_))
            || config.hint.is_some()
            || config.ema.is_some()
        {
            return Err(Error::InvalidConfig(
                "mutual learning's students learn from each other only: no teachers, DKD, hint \
                 or EMA teacher"
                    .into(),
            ));
        }
        let first = students[0].spec().clone();
        for s in &students[1..] {
            if s.spec().inputs() != first.inputs() || s.spec().classes() != first.classes() {
                return Err(Error::InvalidConfig(format!(
                    "mutual students {:?} and {:?} differ in inputs or classes",
                    first.sizes,
                    s.spec().sizes
                )));
            }
        }
        let students = students
            .into_iter()
            .map(|s| Trainer::build(ctx, s, config, n - 1))
            .collect::<Result<_>>()?;
        Ok(Self { students })
    }

    /// Binds `data` to every student (each gathers the same batches: same order, jitter and
    /// step) with each student's peers as its teachers.
    pub fn attach_dataset(
        &mut self,
        ctx: &GpuContext,
        data: &DeviceDataset,
        jitter: u32,
        seed: u32,
    ) -> Result<()> {
        let peers = self.students.len() - 1;
        for trainer in &mut self.students {
            trainer.bind_gather(ctx, data, None, jitter, seed)?;
            let shape = (trainer.config.batch_size, data.classes(), peers);
            let kd = trainer
                .config
                .kd_settings()
                .unwrap_or(KdConfig::cross_entropy());
            let uniform = vec![1.0; peers];
            trainer
                .plan
                .bind_teacher_major(ctx, shape, WeightMode::Uniform, &uniform, kd)?;
        }
        Ok(())
    }

    /// Kernel launches in one step of all the students (without their gathers).
    pub fn dispatches_per_step(&self) -> usize {
        self.students.iter().map(Trainer::dispatches_per_step).sum()
    }

    /// Batches per epoch of the attached data set.
    pub fn batches_per_epoch(&self) -> usize {
        self.students[0].batches_per_epoch()
    }

    /// One step of every student on batch `batch_index`, in one submit.
    pub fn step_on_dataset(&mut self, ctx: &GpuContext, batch_index: usize) -> Result<()> {
        let gathers = self
            .students
            .iter()
            .map(|t| t.stage_gather(ctx, batch_index))
            .collect::<Result<Vec<_>>>()?;
        for trainer in &mut self.students {
            trainer.stage_step(ctx)?;
        }
        let students = &self.students;
        ctx.submit("mutual learning step", |encoder| {
            for (trainer, gather) in students.iter().zip(&gathers) {
                trainer.record_front(encoder, Some(gather), false);
            }
            for (k, trainer) in students.iter().enumerate() {
                let bytes = trainer.plan.forward.logits().size();
                for (slot, peer) in students.iter().enumerate().filter(|&(l, _)| l != k) {
                    let slot = if slot > k { slot - 1 } else { slot };
                    encoder.copy_buffer_to_buffer(
                        peer.plan.forward.logits(),
                        0,
                        &trainer.plan.teacher_logits,
                        slot as u64 * bytes,
                        bytes,
                    );
                }
            }
            for trainer in students {
                trainer.record_back(encoder, false);
            }
        })
    }

    /// Each student's mean loss since the last call.
    #[maybe_async]
    pub async fn take_window_losses(&self, ctx: &GpuContext) -> Result<Vec<WindowLoss>> {
        let mut losses = Vec::with_capacity(self.students.len());
        for student in &self.students {
            losses.push(student.take_window_loss(ctx).await?);
        }
        Ok(losses)
    }

    /// The students.
    pub fn students(&self) -> impl Iterator<Item = &Mlp> {
        self.students.iter().map(Trainer::student)
    }

    /// Ends training and returns the students.
    pub fn into_students(self) -> Vec<Mlp> {
        self.students
            .into_iter()
            .map(Trainer::into_student)
            .collect()
    }
}

/// Trains the students for `epochs` epochs over `data` (attached beforehand), with the same
/// per-epoch shuffles as [`crate::train::fit()`] at `seed`; `on_epoch` runs after each epoch
/// with the trainer and every student's log. A non-finite loss stops the run with an error
/// naming the student, epoch and step.
#[maybe_async]
pub async fn fit_mutual(
    ctx: &GpuContext,
    trainer: &mut MutualTrainer,
    data: &DeviceDataset,
    (epochs, seed): (usize, u64),
    mut on_epoch: impl FnMut(&MutualTrainer, &[EpochLog]) -> Result<()>,
) -> Result<Vec<Vec<EpochLog>>> {
    if !trainer.students[0].is_attached_to(data) {
        return Err(Error::InvalidConfig(
            "fit_mutual needs the data set attached to the trainer".into(),
        ));
    }
    let mut logs = vec![Vec::new(); trainer.students.len()];
    // Start from clean accumulators.
    trainer.take_window_losses(ctx).await?;
    for epoch in 1..=epochs {
        let start = web_time::Instant::now();
        data.shuffle(ctx, epoch_seed(seed, epoch));
        for b in 0..trainer.batches_per_epoch() {
            trainer.step_on_dataset(ctx, b)?;
        }
        let mut epoch_logs = Vec::new();
        for (k, window) in trainer
            .take_window_losses(ctx)
            .await?
            .into_iter()
            .enumerate()
        {
            if let Some(step) = window.first_non_finite_step {
                return Err(Error::NonFiniteTraining {
                    what: format!("mutual student {}'s training loss", k + 1),
                    epoch,
                    step: step as usize,
                });
            }
            epoch_logs.push(EpochLog {
                epoch,
                loss: window.loss,
                steps: window.steps,
                seconds: start.elapsed().as_secs_f64(),
                hint_mse: None,
            });
        }
        on_epoch(trainer, &epoch_logs)?;
        for (all, log) in logs.iter_mut().zip(epoch_logs) {
            all.push(log);
        }
    }
    Ok(logs)
}
