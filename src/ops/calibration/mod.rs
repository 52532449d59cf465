//! Temperature calibration (Guo et al. 2017) on the GPU: mean NLL of `softmax(z / T)` for many
//! candidate temperatures in one dispatch (a workgroup per candidate), the reliability
//! statistics (15 equal-width confidence bins, NLL, Brier score, accuracy) at one temperature,
//! and the fit of `T_cal` minimising NLL (convex in `β = 1/T`: three rounds of 64 candidates,
//! each bracketing the best of the last).

use maybe_async::maybe_async;
pub mod check;
pub mod reference;

use crate::error::{check_finite, check_labels, check_len, Error, Result};
use crate::gpu::dispatch::Dispatch;
use crate::gpu::{GpuContext, ShaderSource};

/// Uniform block of `shaders/calibration.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct CalibrationParams {
    pub rows: u32,
    pub cols: u32,
    pub candidates: u32,
    pub bins: u32,
    /// Always 0: the kernel reads it as the run-time zero its exact two-sums need.
    pub zero_bits: u32,
    pub pad: [u32; 3],
}

/// Mean NLL for each candidate temperature.
pub const NLL_SHADER: ShaderSource = shader_source! {
    name: "calibration_nll",
    entry_point: "nll_per_temperature",
    files: ["shaders/common/stable_math.wgsl", "shaders/calibration.wgsl"],
    uniform_size: std::mem::size_of::<CalibrationParams>(),
};

/// Reliability bins and totals at one temperature.
pub const RELIABILITY_SHADER: ShaderSource = shader_source! {
    name: "calibration_reliability",
    entry_point: "reliability",
    files: ["shaders/common/stable_math.wgsl", "shaders/calibration.wgsl"],
    uniform_size: std::mem::size_of::<CalibrationParams>(),
};

/// Confidence bins of the expected calibration error (Guo et al. 2017).
pub const ECE_BINS: usize = 15;
/// Most candidate temperatures one dispatch scores.
pub const MAX_CANDIDATES: usize = 4096;
/// Range `T_cal` is searched in.
pub const FIT_RANGE: (f32, f32) = (0.05, 50.0);
/// Candidates per round of the fit.
const FIT_CANDIDATES: usize = 64;
/// Rounds of the fit (each narrows the bracket about 30-fold).
const FIT_ROUNDS: usize = 3;

/// One confidence bin: rows whose confidence lies in `(lower, upper]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ReliabilityBin {
    /// Lower edge (exclusive, except 0 for the first bin).
    pub lower: f64,
    /// Upper edge (inclusive).
    pub upper: f64,
    /// Rows in the bin.
    pub count: usize,
    /// Their accuracy (0 when empty).
    pub accuracy: f64,
    /// Their mean confidence (0 when empty).
    pub confidence: f64,
}

/// Calibration of a set of logits at one temperature.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Calibration {
    /// The temperature the logits were divided by.
    pub temperature: f64,
    /// Mean negative log-likelihood of the labels.
    pub nll: f64,
    /// Expected calibration error over the bins.
    pub ece: f64,
    /// Mean Brier score `Σ_c (p_c − 1[c = y])²`.
    pub brier: f64,
    /// Fraction of rows whose argmax (first on ties) is the label.
    pub accuracy: f64,
    /// The reliability bins.
    pub bins: Vec<ReliabilityBin>,
}

impl Calibration {
    /// From per-bin `(count, Σ conf, Σ correct)` and totals `(Σ nll, Σ brier, Σ correct)`
    /// over `rows` rows.
    pub fn from_sums(temperature: f64, bins: &[[f64; 3]], totals: [f64; 3], rows: usize) -> Self {
        let n = rows.max(1) as f64;
        let m = bins.len();
        let ece = bins.iter().map(|b| (b[2] - b[1]).abs()).sum::<f64>() / n;
        Self {
            temperature,
            nll: totals[0] / n,
            ece,
            brier: totals[1] / n,
            accuracy: totals[2] / n,
            bins: bins
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let count = b[0].round() as usize;
                    let per = |s: f64| if count > 0 { s / b[0] } else { 0.0 };
                    ReliabilityBin {
                        lower: i as f64 / m as f64,
                        upper: (i + 1) as f64 / m as f64,
                        count,
                        accuracy: per(b[2]),
                        confidence: per(b[1]),
                    }
                })
                .collect(),
        }
    }
}

/// Logits and labels uploaded once, scored at any temperatures.
pub struct Calibrator {
    logits: wgpu::Buffer,
    labels: wgpu::Buffer,
    rows: usize,
    cols: usize,
}

impl Calibrator {
    /// Uploads `logits` `[labels.len(), cols]` (finite) and labels (below `cols`).
    pub fn new(ctx: &GpuContext, logits: &[f32], labels: &[u32], cols: usize) -> Result<Self> {
        let rows = labels.len();
        if rows == 0 || cols == 0 {
            return Err(Error::EmptyBatch);
        }
        let len = rows.checked_mul(cols).ok_or_else(|| {
            Error::InvalidConfig(format!("{rows} rows of {cols} logits overflow"))
        })?;
        check_len("calibration logits", len, logits.len())?;
        check_finite("calibration logits", logits)?;
        check_labels(labels, cols)?;
        if u32::try_from(len).is_err() {
            return Err(Error::InvalidConfig(format!(
                "{len} logits pass the kernel's 32-bit indices"
            )));
        }
        Ok(Self {
            logits: ctx.upload("calibration logits", logits)?,
            labels: ctx.upload("calibration labels", labels)?,
            rows,
            cols,
        })
    }

    fn params(&self, candidates: usize, bins: usize) -> CalibrationParams {
        CalibrationParams {
            rows: self.rows as u32,
            cols: self.cols as u32,
            candidates: candidates as u32,
            bins: bins as u32,
            zero_bits: 0,
            pad: [0; 3],
        }
    }

    #[maybe_async]
    async fn dispatch(
        &self,
        ctx: &GpuContext,
        shader: &ShaderSource,
        params: CalibrationParams,
        temperatures: &[f32],
        outputs: usize,
        groups: usize,
    ) -> Result<Vec<f32>> {
        if let Some(t) = temperatures.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
            return Err(Error::InvalidTemperature(*t));
        }
        let uniform = ctx.uniform_buffer("calibration params", &params)?;
        let temps = ctx.upload("calibration temperatures", temperatures)?;
        let out = ctx.nan_buffer("calibration output", outputs)?;
        let d = Dispatch::new(
            ctx,
            shader.name,
            ctx.pipeline(shader)?,
            &[&uniform, &self.logits, &self.labels, &temps, &out],
            ctx.check_grid(shader.name, groups, 1)?,
        )?;
        ctx.run(shader.name, &[d])?;
        ctx.read_back("calibration output", &out, 0, outputs).await
    }

    /// Mean NLL at each of 1 to [`MAX_CANDIDATES`] temperatures, in one dispatch.
    #[maybe_async]
    pub async fn nll(&self, ctx: &GpuContext, temperatures: &[f32]) -> Result<Vec<f32>> {
        let k = temperatures.len();
        if k == 0 || k > MAX_CANDIDATES {
            return Err(Error::InvalidConfig(format!(
                "score 1 to {MAX_CANDIDATES} temperatures at a time, got {k}"
            )));
        }
        self.dispatch(ctx, &NLL_SHADER, self.params(k, 0), temperatures, k, k)
            .await
    }

    /// NLL, ECE over `bins` equal-width confidence bins, Brier score and accuracy at
    /// `temperature`.
    #[maybe_async]
    pub async fn calibration(
        &self,
        ctx: &GpuContext,
        temperature: f32,
        bins: usize,
    ) -> Result<Calibration> {
        if bins == 0 || bins > MAX_CANDIDATES {
            return Err(Error::InvalidConfig(format!(
                "1 to {MAX_CANDIDATES} confidence bins, got {bins}"
            )));
        }
        let out = self
            .dispatch(
                ctx,
                &RELIABILITY_SHADER,
                self.params(1, bins),
                &[temperature],
                3 * (bins + 1),
                bins + 1,
            )
            .await?;
        let sums: Vec<[f64; 3]> = out
            .chunks_exact(3)
            .map(|c| [c[0] as f64, c[1] as f64, c[2] as f64])
            .collect();
        Ok(Calibration::from_sums(
            temperature as f64,
            &sums[..bins],
            sums[bins],
            self.rows,
        ))
    }

    /// The temperature in [`FIT_RANGE`] that minimises the mean NLL: 64 candidates spaced
    /// geometrically, then two rounds of 64 spaced evenly in `β = 1/T` between the neighbours
    /// of the best so far (NLL is convex in β, so the bracket holds the minimum).
    #[maybe_async]
    pub async fn fit_temperature(&self, ctx: &GpuContext) -> Result<f32> {
        let (lo, hi) = FIT_RANGE;
        let ratio = (hi / lo).powf(1.0 / (FIT_CANDIDATES - 1) as f32);
        let mut betas: Vec<f32> = (0..FIT_CANDIDATES)
            .map(|i| 1.0 / (lo * ratio.powi(i as i32)))
            .collect();
        let mut best = 1.0 / lo;
        for round in 0..FIT_ROUNDS {
            let temps: Vec<f32> = betas.iter().map(|b| 1.0 / b).collect();
            let nll = self.nll(ctx, &temps).await?;
            let i = (0..nll.len())
                .min_by(|&a, &b| nll[a].total_cmp(&nll[b]))
                .unwrap_or(0);
            best = betas[i];
            if round + 1 < FIT_ROUNDS {
                let (a, b) = (
                    betas[i.saturating_sub(1)],
                    betas[(i + 1).min(betas.len() - 1)],
                );
                let step = (b - a) / (FIT_CANDIDATES - 1) as f32;
                betas = (0..FIT_CANDIDATES).map(|j| a + step * j as f32).collect();
            }
        }
        Ok((1.0 / best).clamp(lo, hi))
    }
}
