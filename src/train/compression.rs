//! Compression while training: int8 quantization-aware training (the step's forward and
//! backward passes read fake-quantized weights, the optimizer updates the float master
//! weights) and pruned fine-tuning (weights that are zero when the trainer is built stay zero
//! after every update).

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::gpu::dispatch::{record, Dispatch};
use crate::gpu::GpuContext;
use crate::model::prune::{dense_layers, weight_ranges, Sparsity};
use crate::model::MlpSpec;
use crate::ops::fake_quant::{fake_quant_dispatches, scale_count};
use crate::ops::prune_mask::prune_mask_dispatches;

/// How weights are quantized during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantization {
    /// Symmetric int8 per output row: `s = max|w| / 127`, levels −127..=127
    /// ([`crate::ops::fake_quant`]); [`crate::model::int8`] writes the trained model so.
    Int8PerChannel,
}

/// What a [`crate::train::Trainer`] compresses: neither by default.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Compression {
    /// Fake-quantize the weights every step (straight-through gradient to the float weights).
    pub quantize: Option<Quantization>,
    /// Keep the student's pruned weights at zero: the weights that are exactly zero in the model
    /// the trainer is built with stay zero after every update. The sparsity is the target the
    /// model was pruned to ([`crate::model::prune::prune_magnitude`]; a
    /// [`crate::TrainingRun`] prunes its starting parameters to it); the trainer itself masks
    /// whatever zeros it finds.
    pub prune: Option<Sparsity>,
}

impl Compression {
    /// No compression.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether nothing is compressed.
    pub fn is_none(&self) -> bool {
        self.quantize.is_none() && self.prune.is_none()
    }
}

/// The buffers and dispatches of a trainer's compression.
#[derive(Debug)]
pub(super) struct CompressionPlan {
    /// The effective parameters (fake-quantized weights, copied biases) and the quantizing
    /// dispatches, recorded first in every step.
    quantized: Option<(wgpu::Buffer, Vec<Dispatch>)>,
    /// The masking dispatches, recorded after every update.
    mask: Vec<Dispatch>,
    /// The row scales and the parameters as built, bound by the dispatches.
    _buffers: Vec<wgpu::Buffer>,
}

impl CompressionPlan {
    /// The plan for `params` of `spec` (`None` when nothing is compressed). With pruning, the
    /// parameters are copied now: their zeros are the mask.
    pub fn new(
        ctx: &GpuContext,
        compression: Compression,
        spec: &MlpSpec,
        params: &wgpu::Buffer,
    ) -> Result<Option<Self>> {
        if compression.is_none() {
            return Ok(None);
        }
        let count = spec.parameter_count();
        let mut buffers = Vec::new();
        let quantized = match compression.quantize {
            Some(Quantization::Int8PerChannel) => {
                let layers = dense_layers(spec);
                let effective =
                    ctx.storage_buffer("effective (fake-quantized) parameters", count, None)?;
                let scales =
                    ctx.storage_buffer("fake-quant row scales", scale_count(&layers), None)?;
                let dispatches =
                    fake_quant_dispatches(ctx, (&layers, count), params, &effective, &scales)?;
                buffers.push(scales);
                Some((effective, dispatches))
            }
            None => None,
        };
        let mask = match compression.prune {
            Some(_) => {
                let snapshot = ctx.storage_buffer("pruned parameters as built", count, None)?;
                ctx.submit("copying the pruned parameters", |encoder| {
                    encoder.copy_buffer_to_buffer(params, 0, &snapshot, 0, spec.parameter_bytes());
                })?;
                let ranges = weight_ranges(spec);
                let dispatches = prune_mask_dispatches(ctx, (&ranges, count), params, &snapshot)?;
                buffers.push(snapshot);
                dispatches
            }
            None => Vec::new(),
        };
        Ok(Some(Self {
            quantized,
            mask,
            _buffers: buffers,
        }))
    }

    /// The buffer the step's forward and backward passes read: the effective parameters when
    /// quantizing, else `master`.
    pub fn forward_params<'a>(
        plan: Option<&'a Self>,
        master: &'a wgpu::Buffer,
    ) -> &'a wgpu::Buffer {
        plan.and_then(|p| p.quantized.as_ref())
            .map_or(master, |(effective, _)| effective)
    }

    /// Records the fake quantization (first in a step).
    pub fn record_quantize(&self, encoder: &mut wgpu::CommandEncoder) {
        if let Some((_, dispatches)) = &self.quantized {
            record(encoder, "fake quantization", dispatches);
        }
    }

    /// Records the prune mask (after the update).
    pub fn record_mask(&self, encoder: &mut wgpu::CommandEncoder) {
        if !self.mask.is_empty() {
            record(encoder, "prune mask", &self.mask);
        }
    }

    /// Kernel launches per step.
    pub fn dispatch_count(&self) -> usize {
        self.quantized.as_ref().map_or(0, |(_, d)| d.len()) + self.mask.len()
    }
}
