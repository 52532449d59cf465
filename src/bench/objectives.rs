//! The step benchmarks of the objectives beyond the logits' KL: DKD, a hint, an EMA teacher
//! and mutual learning, at batch 128 beside the plain KD step.

use std::time::Instant;

use crate::bench::{median_of_3, KdStepWorkload, StepBench, StepTeacher};
use crate::distill::KdConfig;
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::model::Mlp;
use crate::ops::optim::Optimizer;
use crate::train::{DkdSchedule, EmaConfig, HintConfig, MutualTrainer, Trainer, TrainerConfig};

impl KdStepWorkload {
    /// A trainer at `batch` with `objective` (see [`StepBench::objective`]) beside the cached
    /// logits.
    pub fn objective_trainer(
        &self,
        ctx: &GpuContext,
        batch: usize,
        objective: &str,
    ) -> Result<Trainer> {
        let student = Mlp::new(ctx, &self.student_spec, 1)?;
        let kd = KdConfig {
            temperature: 4.0,
            alpha: 0.9,
        };
        let base = TrainerConfig::new(batch, Optimizer::adam(1e-3)).kd(kd);
        let config = match objective {
            "dkd" => base.dkd(DkdSchedule {
                warmup_epochs: 0,
                ..DkdSchedule::paper()
            }),
            "kd + hint 2:2" => base.hint(HintConfig {
                teacher_layer: 2,
                student_layer: 2,
                weight: 1.0,
                stage_epochs: 0,
            }),
            "kd + ema teacher" => base.ema(EmaConfig {
                warmup_epochs: 0,
                ..EmaConfig::new(0.999)
            }),
            _ => base,
        };
        let mut trainer = Trainer::new(ctx, student, &config)?;
        trainer.attach_dataset(ctx, &self.dataset, Some(&self.teacher_logits), 0, 0)?;
        if config.hint.is_some() {
            trainer.attach_hint_teacher(ctx, &self.teacher, 3)?;
        }
        Ok(trainer)
    }
}

/// Seconds per step of `step`, after one warm-up step: the median of three rounds of `steps`.
fn time_steps(
    ctx: &GpuContext,
    steps: usize,
    mut step: impl FnMut(usize) -> Result<()>,
) -> Result<f64> {
    step(0)?;
    ctx.wait()?;
    median_of_3(|| {
        let start = Instant::now();
        for s in 0..steps {
            step(s)?;
        }
        ctx.wait()?;
        Ok(start.elapsed().as_secs_f64() / steps as f64)
    })
}

/// The DKD, hint, EMA-teacher and mutual-learning steps at batch 128 (784-800-800-10
/// students; the hint's and EMA teacher's forward passes run in the step).
pub(super) fn bench_objective_steps(
    ctx: &GpuContext,
    workload: &KdStepWorkload,
    quick: bool,
    say: &mut impl FnMut(String),
) -> Result<Vec<StepBench>> {
    let batch = 128;
    let steps = if quick { 3 } else { 8 };
    let mut out = Vec::new();
    let mut record = |objective: &'static str, secs: f64, dispatches: usize| {
        let sps = batch as f64 / secs;
        say(format!(
            "{objective:<18} step 784-800-800-10 batch {batch:>4} {:>9.1} ms/step {:>9.0} samples/s",
            secs * 1e3,
            sps
        ));
        out.push(StepBench {
            objective,
            student: workload.student_spec.sizes.clone(),
            batch,
            teacher: StepTeacher::Cached("cached"),
            seconds_per_step: secs,
            samples_per_second: sps,
            dispatches_per_step: dispatches,
            submits_per_step: 1,
        });
    };
    for objective in ["dkd", "kd + hint 2:2", "kd + ema teacher"] {
        let mut trainer = workload.objective_trainer(ctx, batch, objective)?;
        let batches = trainer.batches_per_epoch().max(1);
        let secs = time_steps(ctx, steps, |s| {
            trainer.step_on_dataset(ctx, s % batches, None)
        })?;
        record(objective, secs, trainer.dispatches_per_step());
    }
    let students = (0..2)
        .map(|k| Mlp::new(ctx, &workload.student_spec, 10 + k))
        .collect::<Result<Vec<_>>>()?;
    let config = TrainerConfig::new(batch, Optimizer::adam(1e-3)).kd(KdConfig {
        temperature: 1.0,
        alpha: 0.5,
    });
    let mut mutual = MutualTrainer::new(ctx, students, &config)?;
    mutual.attach_dataset(ctx, &workload.dataset, 0, 0)?;
    let batches = mutual.batches_per_epoch().max(1);
    let secs = time_steps(ctx, steps, |s| mutual.step_on_dataset(ctx, s % batches))?;
    record("mutual (2 students)", secs, mutual.dispatches_per_step());
    Ok(out)
}
