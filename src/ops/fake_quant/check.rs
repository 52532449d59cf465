//! Validation of the int8 fake quantization against its reference.
//!
//! The reference rounds the scale, the quotient `w / s` and the product `q·s` to f32 once each,
//! as the kernel does. WGSL allows a division 2.5 ULP off, so a GPU's scale may differ by that
//! much and its products by about one ULP more: dequantized weights are compared within 3 ULP
//! (`rtol = 3·2⁻²³`), scales within 3 ULP. A quotient within 4 ULP of a rounding tie may also
//! land on the other level on such a GPU: there either neighbouring level is accepted. Any real
//! error — a wrong level elsewhere, a wrong row, clamp or rounding mode — is off by a whole
//! step `s ≥ |w_q| / 127`, far outside. The tie cases use power-of-two scales (quotients exact)
//! and accept only the even level.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::fake_quant::reference::{fake_quant_params, row_scale, LEVELS};
use crate::ops::fake_quant::{fake_quant, DenseLayer};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

/// 3 ULP of f32, relative.
const THREE_ULP: f64 = 3.0 * f32::EPSILON as f64;

/// One dense layer `[outputs, inputs]` at offset 0, its bias after it.
pub fn single_layer(outputs: usize, inputs: usize) -> DenseLayer {
    DenseLayer {
        inputs,
        outputs,
        weight_offset: 0,
        bias_offset: inputs * outputs,
    }
}

/// The layers of an MLP with widths `sizes`, packed as the model packs them.
pub fn packed_layers(sizes: &[usize]) -> Vec<DenseLayer> {
    let mut offset = 0;
    sizes
        .windows(2)
        .map(|w| {
            let layer = DenseLayer {
                inputs: w[0],
                outputs: w[1],
                weight_offset: offset,
                bias_offset: offset + w[0] * w[1],
            };
            offset = layer.bias_offset + w[1];
            layer
        })
        .collect()
}

/// Total parameters of packed `layers`.
fn parameter_count(layers: &[DenseLayer]) -> usize {
    layers.last().map_or(0, |l| l.bias_offset + l.outputs)
}

/// The expected effective parameters: the reference's, except that where `ties_may_flip` and
/// the exact quotient is within 4 ULP of a tie, the neighbouring level nearer to what the GPU
/// returned is expected instead.
fn expected_effective(
    layers: &[DenseLayer],
    params: &[f32],
    got: &[f32],
    ties_may_flip: bool,
) -> Vec<f64> {
    let (effective, _) = fake_quant_params(layers, params);
    let mut expected = to_f64(&effective);
    if !ties_may_flip {
        return expected;
    }
    for layer in layers {
        for row in 0..layer.outputs {
            let start = layer.weight_offset + row * layer.inputs;
            let weights = &params[start..start + layer.inputs];
            let scale = row_scale(weights.iter().fold(0.0f32, |m, w| m.max(w.abs())));
            for (j, &w) in weights.iter().enumerate() {
                let quotient = w as f64 / scale as f64;
                let from_tie = (quotient - quotient.floor() - 0.5).abs();
                if from_tie <= 4.0 * f32::EPSILON as f64 * quotient.abs().max(1.0) {
                    let candidates = [quotient.floor(), quotient.ceil()]
                        .map(|q| q.clamp(-LEVELS, LEVELS) * scale as f64);
                    let g = got.get(start + j).copied().unwrap_or(f32::NAN) as f64;
                    let nearer = if (candidates[0] - g).abs() <= (candidates[1] - g).abs() {
                        candidates[0]
                    } else {
                        candidates[1]
                    };
                    expected[start + j] = nearer;
                }
            }
        }
    }
    expected
}

/// Runs the kernel over `params` laid out as `layers` and compares the effective parameters
/// and the scales with the reference.
#[maybe_async]
pub async fn check_fake_quant(
    ctx: &GpuContext,
    what: &str,
    layers: &[DenseLayer],
    params: &[f32],
    ties_may_flip: bool,
) -> Result<Vec<Comparison>> {
    let (got, scales) = fake_quant(ctx, layers, params).await?;
    let expected = expected_effective(layers, params, &got, ties_may_flip);
    let (_, expected_scales) = fake_quant_params(layers, params);
    Ok(vec![
        compare(
            &format!("fake quant {what}: weights"),
            &got,
            &expected,
            Tolerance::new(0.0, THREE_ULP),
        ),
        compare(
            &format!("fake quant {what}: scales"),
            &scales,
            &to_f64(&expected_scales),
            Tolerance::new(0.0, THREE_ULP),
        ),
    ])
}

/// A layer `[outputs, inputs]` of random weights in ±`scale` and random biases, checked.
#[maybe_async]
pub async fn check_random_layer(
    ctx: &GpuContext,
    rng: &mut SplitMix64,
    (outputs, inputs): (usize, usize),
    scale: f32,
) -> Result<Vec<Comparison>> {
    let layer = single_layer(outputs, inputs);
    let params = random_vec(rng, parameter_count(&[layer]), -scale, scale);
    let what = format!("{outputs}x{inputs} |w| ≤ {scale:e}");
    check_fake_quant(ctx, &what, &[layer], &params, true).await
}

/// Rows of exact ties at scale 1 (`max = 127`) and scale 2 (`max = 254`): `k + ½` must go to
/// the even level, `−½` to −0.
fn tie_rows() -> Vec<f32> {
    let halves = [
        0.5f32, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 63.5, 64.5, 125.5, 126.5, -126.5,
    ];
    let mut params = Vec::new();
    for scale in [1.0f32, 2.0] {
        params.push(127.0 * scale);
        params.extend(halves.iter().map(|h| h * scale));
    }
    params
}

/// Named edge shapes — zero rows (±0), a single huge weight beside ordinary ones, 3e38, a
/// row whose scale would be subnormal, exact ties at .5, 1-column and wide layers, rows past a
/// workgroup, an MLP's packed layers with offsets, rows past one grid row — and a seeded sweep.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    // Zero rows among ordinary ones: scale 1, all levels 0, biases still copied.
    let layer = single_layer(5, 40);
    let mut params = random_vec(rng, parameter_count(&[layer]), -1.0, 1.0);
    params[..40].fill(0.0);
    params[120..160].fill(-0.0);
    out.extend(check_fake_quant(ctx, "5x40 zero rows", &[layer], &params, true).await?);
    // One huge weight per row: the rest of the row quantizes to 0.
    let layer = single_layer(4, 100);
    let mut params = random_vec(rng, parameter_count(&[layer]), -1.0, 1.0);
    params[7] = 1e30;
    params[100 + 99] = -1e30;
    // Near f32::MAX (above 127·fl32(MAX / 127) ≈ MAX the product would round to infinity).
    params[200 + 50] = 3e38;
    params[300] = -3e38;
    out.extend(check_fake_quant(ctx, "4x100 single huge weight", &[layer], &params, true).await?);
    // Rows whose scale would be subnormal: treated as zero rows.
    let layer = single_layer(3, 10);
    let mut params = random_vec(rng, parameter_count(&[layer]), -1e-37, 1e-37);
    params[20..30].copy_from_slice(&random_vec(rng, 10, -1.0, 1.0));
    out.extend(check_fake_quant(ctx, "3x10 subnormal-scale rows", &[layer], &params, true).await?);
    // Exact ties go to even levels.
    let ties = tie_rows();
    let layer = single_layer(2, ties.len() / 2);
    let mut params = ties.clone();
    params.extend([0.25f32, -0.75]);
    out.extend(check_fake_quant(ctx, "2x13 ties at .5", &[layer], &params, false).await?);
    // 1-column layers (each weight its row's maximum) and wide layers around the workgroup.
    for (outputs, inputs) in [(7, 1), (1, 63), (2, 64), (3, 65), (3, 5000), (1, 100_000)] {
        out.extend(check_random_layer(ctx, rng, (outputs, inputs), 1.0).await?);
    }
    out.extend(check_random_layer(ctx, rng, (300, 784), 0.05).await?);
    out.extend(check_random_layer(ctx, rng, (70_000, 1), 1.0).await?);
    // An MLP's packed layers: offsets and scale offsets per layer.
    let layers = packed_layers(&[50, 33, 17, 5]);
    let params = random_vec(rng, parameter_count(&layers), -0.3, 0.3);
    out.extend(check_fake_quant(ctx, "MLP 50-33-17-5", &layers, &params, true).await?);
    for _ in 0..6 {
        let outputs = 1 + rng.below(300);
        let inputs = 1 + rng.below(1000);
        let scale = [1e-3f32, 1.0, 1e3][rng.below(3)];
        out.extend(check_random_layer(ctx, rng, (outputs, inputs), scale).await?);
    }
    // The levels themselves: every one of 255 levels is reached exactly once at scale 1.
    let levels: Vec<f32> = (-127..=127).map(|q| q as f32).collect();
    let layer = single_layer(1, levels.len());
    let mut params = levels.clone();
    params.push(0.5);
    out.extend(check_fake_quant(ctx, "1x255 every level", &[layer], &params, false).await?);
    Ok(out)
}
