//! Several frozen teachers' logits for one device data set, stacked sample-major `[N, K, C]` so
//! the batch gather copies a sample's K teachers as one row of K·C floats, and what the
//! multi-teacher objective needs besides: each teacher's known classes and base weight.

use crate::classes::ClassSet;
use crate::distill::TeacherLogits;
use crate::error::{check_len, Error, Result};
use crate::gpu::GpuContext;
use crate::ops::multi_kd::{MultiKdBatch, MultiKdConfig, MAX_TEACHERS};
use maybe_async::maybe_async;

/// K teachers' logits `[len, K, classes]` for every sample of one device data set, on the GPU;
/// tied to that data set like [`TeacherLogits`].
#[derive(Debug)]
pub struct TeacherEnsemble {
    pub(crate) buffer: wgpu::Buffer,
    pub(crate) dataset_id: u64,
    len: usize,
    classes: usize,
    teachers: usize,
    gated: bool,
}

impl TeacherLogits {
    /// Stacks 1 to [`MAX_TEACHERS`] teachers' logits computed for the same data set (read back,
    /// interleaved on the host and uploaded: once per run).
    #[maybe_async]
    pub async fn stack(ctx: &GpuContext, teachers: &[&TeacherLogits]) -> Result<TeacherEnsemble> {
        Self::stack_gated(ctx, teachers, None).await
    }

    /// As [`TeacherLogits::stack`], with per-sample gates `[len, K]`: teacher k gives sample n
    /// a KD term only when `gates[n·K + k]` is true (and it knows the label), so a sample
    /// whose teachers are all shut learns from its label alone.
    #[maybe_async]
    pub async fn stack_gated(
        ctx: &GpuContext,
        teachers: &[&TeacherLogits],
        gates: Option<&[bool]>,
    ) -> Result<TeacherEnsemble> {
        let k = teachers.len();
        if k == 0 || k > MAX_TEACHERS {
            return Err(Error::InvalidConfig(format!(
                "a teacher ensemble holds 1 to {MAX_TEACHERS} teachers, got {k}"
            )));
        }
        let first = teachers[0];
        if let Some(i) = teachers.iter().position(|t| {
            t.dataset_id != first.dataset_id
                || t.len() != first.len()
                || t.classes() != first.classes()
        }) {
            return Err(Error::InvalidConfig(format!(
                "teacher {i}'s logits were computed for another data set than teacher 0's"
            )));
        }
        let (len, classes) = (first.len(), first.classes());
        let mut rows: Vec<Vec<f32>> = Vec::with_capacity(k);
        for teacher in teachers {
            rows.push(teacher.read(ctx).await?);
        }
        if let Some(g) = gates {
            check_len("teacher gates", len * k, g.len())?;
        }
        let width = k * classes + if gates.is_some() { k } else { 0 };
        let mut stacked = Vec::with_capacity(len * width);
        for n in 0..len {
            for row in &rows {
                stacked.extend_from_slice(&row[n * classes..(n + 1) * classes]);
            }
            if let Some(g) = gates {
                stacked.extend(
                    g[n * k..(n + 1) * k]
                        .iter()
                        .map(|&open| f32::from(u8::from(open))),
                );
            }
        }
        Ok(TeacherEnsemble {
            buffer: ctx.upload("stacked teacher logits", &stacked)?,
            dataset_id: first.dataset_id,
            len,
            classes,
            teachers: k,
            gated: gates.is_some(),
        })
    }
}

impl TeacherEnsemble {
    /// Samples covered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no samples are covered (never, once constructed).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Classes per teacher.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Teachers K.
    pub fn teachers(&self) -> usize {
        self.teachers
    }

    /// Whether each sample's row ends with its K gates.
    pub fn is_gated(&self) -> bool {
        self.gated
    }

    /// Floats per sample: K·classes logits, plus K gates when gated.
    pub fn row_width(&self) -> usize {
        self.teachers * self.classes + if self.gated { self.teachers } else { 0 }
    }

    /// The stored rows `[len, row_width]` (logits `[K, classes]`, then gates if any), read back.
    #[maybe_async]
    pub async fn read(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        let n = self.len * self.row_width();
        ctx.read_back("stacked teacher logits", &self.buffer, 0, n)
            .await
    }
}

/// The teachers of a multi-teacher objective: their stacked logits, the classes each knows
/// (its softmax runs over those; a sample listens only to teachers that know its label) and
/// base weights (used by the fixed and accuracy weightings, checked always).
#[derive(Debug, Clone, Copy)]
pub struct Teachers<'a> {
    /// Stacked logits for the data set being trained on.
    pub logits: &'a TeacherEnsemble,
    /// Known classes, one set per teacher.
    pub known: &'a [ClassSet],
    /// Base weights ≥ 0, one per teacher.
    pub base_weights: &'a [f32],
}

impl Teachers<'_> {
    /// Checks counts against the ensemble and, through the loss's own validation, the masks,
    /// weights and (for the logits combine) equal class sets; returns the masks `[K, C]`.
    pub fn validate(&self, config: &MultiKdConfig) -> Result<Vec<u32>> {
        let (k, classes) = (self.logits.teachers, self.logits.classes);
        check_len("teacher known-class sets", k, self.known.len())?;
        check_len("teacher base weights", k, self.base_weights.len())?;
        if let Some(i) = self.known.iter().position(|s| s.universe() != classes) {
            return Err(Error::InvalidConfig(format!(
                "teacher {i}'s class set is over {} classes, the logits have {classes}",
                self.known[i].universe()
            )));
        }
        let known: Vec<u32> = self.known.iter().flat_map(ClassSet::mask).collect();
        // One made-up row runs every check the loss makes on its constant inputs.
        let (student, teachers) = (vec![0.0; classes], vec![0.0; k * classes]);
        MultiKdBatch {
            student: &student,
            teachers: &teachers,
            known: &known,
            base_weights: self.base_weights,
            labels: &[0],
            rows: 1,
            cols: classes,
            teacher_count: k,
            gates: None,
        }
        .validate(config)?;
        Ok(known)
    }
}
