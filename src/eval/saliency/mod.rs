//! Input-gradient saliency (Simonyan et al. 2014): `|∂ z_y / ∂ x|`, how much each input feature
//! moves the logit of class y, computed on the GPU by the training step's backward matmuls
//! carried down to the input; and the Spearman rank correlation that compares two models'
//! maps of one sample.
//!
//! The pass per chunk of rows: the forward plan (one fused matmul per layer), the logits'
//! gradient seeded with a one-hot row at each row's target class, then per layer from the top
//! the input-gradient matmul `dX = dY·W` with the ReLU mask of the layer below in its epilogue
//! (layer 0's without a mask: its input is the data). The absolute value is taken on the host
//! as the gradient is read back.

use maybe_async::maybe_async;

pub mod reference;

use crate::data::Dataset;
use crate::error::{check_finite, check_len, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::GpuContext;
use crate::model::{Activation, ForwardPlan, Mlp};
use crate::ops::matmul::{self, matmul_dispatch, MatmulSpec};
use crate::ops::metrics::reference::argmax;

/// The buffers and dispatches of a saliency pass over `rows` rows of one model.
#[derive(Debug)]
pub struct SaliencyPlan {
    rows: usize,
    features: usize,
    classes: usize,
    inputs: wgpu::Buffer,
    /// The logits' gradient: one-hot rows at the targets.
    seed: wgpu::Buffer,
    input_grad: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
    // Kept alive for the dispatches that bind them.
    _forward: ForwardPlan,
    _hidden_grads: Vec<wgpu::Buffer>,
    _unused_aux: wgpu::Buffer,
}

/// `rows × width`, checked (`rows` comes from callers' data sizes).
fn elements(what: &str, rows: usize, width: usize) -> Result<usize> {
    rows.checked_mul(width).ok_or_else(|| {
        Error::InvalidConfig(format!(
            "{what}: {rows} rows of width {width} overflow the element count"
        ))
    })
}

impl SaliencyPlan {
    /// Builds the pass for `model` over chunks of `rows` rows (at least one).
    pub fn new(ctx: &GpuContext, model: &Mlp, rows: usize) -> Result<Self> {
        if rows == 0 {
            return Err(Error::EmptyBatch);
        }
        let spec = model.spec();
        let (features, classes) = (spec.inputs(), spec.classes());
        let params = model.params_buffer();
        let inputs = ctx.storage_buffer(
            "saliency inputs",
            elements("saliency inputs", rows, features)?,
            None,
        )?;
        let forward = ForwardPlan::new(ctx, spec, params, &inputs, rows, "saliency")?;
        let seed = ctx.storage_buffer(
            "saliency logit gradient",
            elements("saliency logit gradient", rows, classes)?,
            None,
        )?;
        let input_grad = ctx.storage_buffer(
            "saliency input gradient",
            elements("saliency input gradient", rows, features)?,
            None,
        )?;
        let unused_aux = ctx.storage_buffer("saliency unused aux", 1, None)?;
        let layers = spec.layers();
        // hidden_grads[l]: the gradient at layer l's output (pre-activation), l < last.
        let mut hidden_grads = Vec::with_capacity(layers.len() - 1);
        for (l, layer) in layers[..layers.len() - 1].iter().enumerate() {
            hidden_grads.push(ctx.storage_buffer(
                &format!("saliency layer {l} output gradient"),
                elements("saliency hidden gradient", rows, layer.outputs)?,
                None,
            )?);
        }
        let mut dispatches = forward.dispatches.clone();
        for l in (0..layers.len()).rev() {
            let layer = layers[l];
            let dy = if l + 1 == layers.len() {
                &seed
            } else {
                &hidden_grads[l]
            };
            let (mask, dx) = if l == 0 {
                (false, &input_grad)
            } else {
                let relu = spec.activation_after(l - 1) == Activation::Relu;
                (relu, &hidden_grads[l - 1])
            };
            let mm = MatmulSpec::input_grad(
                rows,
                layer.inputs,
                layer.outputs,
                layer.weight_offset,
                mask,
            );
            let variant = matmul::choose(ctx, &mm);
            // The mask is read from the layer below's output (zero where ReLU cut it).
            let aux = if l == 0 {
                &unused_aux
            } else {
                &forward.outputs[l - 1]
            };
            dispatches.push(matmul_dispatch(
                ctx,
                &format!("saliency layer {l} dX ({})", variant.name()),
                variant,
                &mm,
                dy,
                params,
                aux,
                dx,
            )?);
        }
        Ok(Self {
            rows,
            features,
            classes,
            inputs,
            seed,
            input_grad,
            dispatches,
            _forward: forward,
            _hidden_grads: hidden_grads,
            _unused_aux: unused_aux,
        })
    }

    /// Rows per chunk.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Saliency maps `[n, features]` of `n ≤ rows` rows of `inputs` `[n, features]` for the
    /// classes `targets` (`n` of them); rows beyond `n` are run on zeros and not read.
    #[maybe_async]
    pub async fn run(
        &self,
        ctx: &GpuContext,
        inputs: &[f32],
        targets: &[usize],
    ) -> Result<Vec<f32>> {
        let n = targets.len();
        if n == 0 {
            return Err(Error::EmptyBatch);
        }
        if n > self.rows {
            return Err(Error::InvalidConfig(format!(
                "a saliency pass built for {} rows was given {n}",
                self.rows
            )));
        }
        check_len(
            "saliency inputs",
            elements("saliency inputs", n, self.features)?,
            inputs.len(),
        )?;
        check_finite("saliency inputs", inputs)?;
        if let Some(r) = targets.iter().position(|&t| t >= self.classes) {
            return Err(Error::InvalidConfig(format!(
                "saliency target {} of row {r} is not one of the model's {} classes",
                targets[r], self.classes
            )));
        }
        let mut padded = inputs.to_vec();
        padded.resize(self.rows * self.features, 0.0);
        let mut seed = vec![0.0f32; self.rows * self.classes];
        for (r, &t) in targets.iter().enumerate() {
            seed[r * self.classes + t] = 1.0;
        }
        ctx.write(&self.inputs, 0, &padded);
        ctx.write(&self.seed, 0, &seed);
        ctx.run("saliency pass", &self.dispatches)?;
        let gradient = ctx
            .read_back(
                "saliency input gradient",
                &self.input_grad,
                0,
                n * self.features,
            )
            .await?;
        Ok(gradient.into_iter().map(f32::abs).collect())
    }
}

/// Which class a saliency map is taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SaliencyTarget {
    /// The sample's label: two models' maps then answer the same question.
    Label,
    /// The model's own top class (the first largest logit): where it looks for what it sees.
    Predicted,
}

/// Saliency maps `[len, features]` of `model` for every sample of `data`, each at `target`,
/// in chunks of `chunk` rows.
#[maybe_async]
pub async fn dataset_saliency(
    ctx: &GpuContext,
    model: &Mlp,
    data: &Dataset,
    target: SaliencyTarget,
    chunk: usize,
) -> Result<Vec<f32>> {
    let spec = model.spec();
    if spec.inputs() != data.features() || spec.classes() < data.classes() {
        return Err(Error::InvalidConfig(format!(
            "model {:?} does not fit data with {} features and {} classes",
            spec.sizes,
            data.features(),
            data.classes()
        )));
    }
    if data.is_empty() {
        return Err(Error::EmptyBatch);
    }
    let plan = SaliencyPlan::new(ctx, model, chunk.clamp(1, data.len()))?;
    let mut maps = Vec::with_capacity(elements("saliency maps", data.len(), data.features())?);
    for start in (0..data.len()).step_by(plan.rows()) {
        let end = (start + plan.rows()).min(data.len());
        let inputs = data.inputs_f32(start..end);
        let targets: Vec<usize> = match target {
            SaliencyTarget::Label => data.labels[start..end]
                .iter()
                .map(|&y| y as usize)
                .collect(),
            SaliencyTarget::Predicted => {
                let logits = model.logits(ctx, &inputs, end - start).await?;
                logits.chunks_exact(spec.classes()).map(argmax).collect()
            }
        };
        let chunk = plan.run(ctx, &inputs, &targets).await?;
        maps.extend_from_slice(&chunk);
    }
    Ok(maps)
}

/// Ranks of `values` from 1, ties given the mean of the ranks they span.
fn ranks(values: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = mean_rank;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rank correlation of two maps of the same length: Pearson's correlation of their
/// ranks, ties ranked by their mean rank. `None` when either map is constant (or shorter than
/// two), where it is undefined.
pub fn spearman(a: &[f32], b: &[f32]) -> Result<Option<f64>> {
    check_len("second saliency map", a.len(), b.len())?;
    check_finite("saliency map", a)?;
    check_finite("saliency map", b)?;
    if a.len() < 2 {
        return Ok(None);
    }
    let (ra, rb) = (ranks(a), ranks(b));
    // Both rank vectors have the mean (n + 1) / 2.
    let mean = (a.len() as f64 + 1.0) / 2.0;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        let (dx, dy) = (x - mean, y - mean);
        cov += dx * dy;
        va += dx * dx;
        vb += dy * dy;
    }
    if va == 0.0 || vb == 0.0 {
        return Ok(None);
    }
    Ok(Some(cov / (va * vb).sqrt()))
}
