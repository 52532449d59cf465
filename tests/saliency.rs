//! Input-gradient saliency: the f64 reference's gradient against finite differences of the
//! target logit, the GPU pass against the reference on small random MLPs (deep, one layer,
//! chunks with padded rows, a linear stack), the dataset pass at labels and at predictions,
//! Spearman's rank correlation on known cases, and typed errors for bad input.

mod common;

use common::{numeric_grad, random};
use distill_wgpu::data::Dataset;
use distill_wgpu::eval::saliency::reference::{input_gradient, saliency};
use distill_wgpu::eval::saliency::{dataset_saliency, spearman, SaliencyPlan, SaliencyTarget};
use distill_wgpu::model::reference::mlp_logits;
use distill_wgpu::model::{Activation, MlpSpec};
use distill_wgpu::ops::check::{compare, Tolerance};
use distill_wgpu::{Error, Mlp, SplitMix64};

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// A spec, its f32-representable parameters and inputs.
fn setup(sizes: &[usize], rows: usize, seed: u64) -> (MlpSpec, Vec<f64>, Vec<f64>) {
    let spec = MlpSpec::relu(sizes).unwrap();
    let mut rng = SplitMix64::new(seed);
    let params = f64s(&spec.init_parameters(seed));
    let x = f64s(&f32s(&random(&mut rng, rows * sizes[0], 1.0)));
    (spec, params, x)
}

#[test]
fn the_reference_gradient_matches_finite_differences() {
    for (sizes, relu) in [
        (&[5, 7, 6, 4][..], true),
        (&[3, 4][..], true),
        (&[4, 6, 3][..], false),
    ] {
        let (mut spec, params, x) = setup(sizes, 3, 11);
        if !relu {
            spec.activation = Activation::Identity;
        }
        let targets = [0, 2, 1];
        let got = input_gradient(&spec, &params, &x, &targets);
        let features = sizes[0];
        for (r, &t) in targets.iter().enumerate() {
            let row = &x[r * features..(r + 1) * features];
            let numeric = numeric_grad(row, |xr| mlp_logits(&spec, &params, xr, 1)[t]);
            for (i, n) in numeric.iter().enumerate() {
                let g = got[r * features + i];
                assert!(
                    (g - n).abs() < 1e-6 * (1.0 + n.abs()),
                    "{sizes:?} row {r} feature {i}: {g} vs {n}"
                );
            }
        }
        let abs = saliency(&spec, &params, &x, &targets);
        assert!(abs.iter().zip(&got).all(|(a, g)| *a == g.abs()));
        // Not all zero: the check above compared something.
        assert!(got.iter().any(|g| g.abs() > 1e-3), "{got:?}");
    }
}

/// f32 saliency against the f64 reference: each element's error is a sum of products of
/// f32-rounded weights, so the tolerance follows the largest map value.
fn check_gpu(ctx: &distill_wgpu::GpuContext, spec: &MlpSpec, rows: usize, chunk: usize, seed: u64) {
    let (_, params, x) = setup(&spec.sizes, rows, seed);
    let model = Mlp::from_parameters(ctx, spec, &f32s(&params)).unwrap();
    let classes = spec.classes();
    let targets: Vec<usize> = (0..rows).map(|r| (r * 7 + 3) % classes).collect();
    let expected = saliency(spec, &params, &x, &targets);
    let plan = SaliencyPlan::new(ctx, &model, chunk).unwrap();
    let features = spec.inputs();
    let mut got = Vec::new();
    for start in (0..rows).step_by(chunk) {
        let end = (start + chunk).min(rows);
        let inputs = f32s(&x[start * features..end * features]);
        got.extend(plan.run(ctx, &inputs, &targets[start..end]).unwrap());
    }
    let largest = expected.iter().cloned().fold(0.0, f64::max);
    let c = compare(
        &format!("saliency {:?}", spec.sizes),
        &got,
        &expected,
        Tolerance::new(2e-6 * largest.max(1.0), 1e-4),
    );
    assert!(c.passed(), "{c:?}");
    assert!(largest > 1e-3);
}

#[test]
fn the_gpu_pass_matches_the_reference() {
    with_gpu!(ctx => {
        check_gpu(ctx, &MlpSpec::relu(&[37, 29, 23, 10]).unwrap(), 19, 19, 1);
        // Chunks with a partial last one (its rows beyond the data run on zeros).
        check_gpu(ctx, &MlpSpec::relu(&[37, 29, 23, 10]).unwrap(), 19, 8, 2);
        // One layer: no mask, straight to the input.
        check_gpu(ctx, &MlpSpec::relu(&[64, 10]).unwrap(), 5, 5, 3);
        // Widths the matmul tiles do not divide, and a linear stack (no mask between layers).
        check_gpu(ctx, &MlpSpec::relu(&[131, 67, 3]).unwrap(), 33, 16, 4);
        let linear = MlpSpec { activation: Activation::Identity, ..MlpSpec::relu(&[20, 12, 4]).unwrap() };
        check_gpu(ctx, &linear, 7, 7, 5);
    });
}

#[test]
fn dataset_saliency_at_labels_and_at_predictions() {
    with_gpu!(ctx => {
        let data = Dataset::random(&mut SplitMix64::new(9), 10, 4, 4, 3);
        let spec = MlpSpec::relu(&[16, 12, 3]).unwrap();
        let model = Mlp::new(ctx, &spec, 5).unwrap();
        let params = f64s(&model.parameters(ctx).unwrap());
        let x = f64s(&data.inputs_f32(0..data.len()));
        let labels: Vec<usize> = data.labels.iter().map(|&y| y as usize).collect();
        let at_labels = dataset_saliency(ctx, &model, &data, SaliencyTarget::Label, 4).unwrap();
        let expected = saliency(&spec, &params, &x, &labels);
        let c = compare("labels", &at_labels, &expected, Tolerance::new(1e-6, 1e-4));
        assert!(c.passed(), "{c:?}");
        let logits = mlp_logits(&spec, &params, &x, data.len());
        let predicted: Vec<usize> = logits.chunks(3).map(|r| (0..3).fold(0, |b, c| if r[c] > r[b] { c } else { b })).collect();
        let at_predictions = dataset_saliency(ctx, &model, &data, SaliencyTarget::Predicted, 3).unwrap();
        let expected = saliency(&spec, &params, &x, &predicted);
        let c = compare("predictions", &at_predictions, &expected, Tolerance::new(1e-6, 1e-4));
        assert!(c.passed(), "{c:?}");
    });
}

#[test]
fn bad_input_is_a_typed_error() {
    with_gpu!(ctx => {
        let model = Mlp::new(ctx, &MlpSpec::relu(&[4, 5, 3]).unwrap(), 1).unwrap();
        assert!(matches!(SaliencyPlan::new(ctx, &model, 0), Err(Error::EmptyBatch)));
        let plan = SaliencyPlan::new(ctx, &model, 2).unwrap();
        let err = plan.run(ctx, &[0.0; 8], &[0, 3]).unwrap_err().to_string();
        assert!(err.contains("target 3"), "{err}");
        assert!(plan.run(ctx, &[0.0; 7], &[0, 1]).is_err());
        assert!(plan.run(ctx, &[0.0; 12], &[0, 1, 2]).is_err());
        assert!(matches!(plan.run(ctx, &[], &[]), Err(Error::EmptyBatch)));
        assert!(plan.run(ctx, &[f32::NAN, 0.0, 0.0, 0.0], &[0]).is_err());
        let wide = Dataset::random(&mut SplitMix64::new(1), 3, 3, 3, 3);
        assert!(dataset_saliency(ctx, &model, &wide, SaliencyTarget::Label, 8).is_err());
    });
}

#[test]
fn spearman_on_known_cases() {
    let rho = |a: &[f32], b: &[f32]| spearman(a, b).unwrap();
    assert_eq!(
        rho(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]),
        Some(1.0)
    );
    assert_eq!(
        rho(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 0.5, 0.1]),
        Some(-1.0)
    );
    // Monotone but not linear: still 1.
    assert_eq!(rho(&[1.0, 2.0, 3.0], &[1.0, 100.0, 1e4]), Some(1.0));
    // Ties take their mean rank: ranks (1.5, 1.5, 3) against (1, 2, 3) give √3 / 2.
    let r = rho(&[5.0, 5.0, 7.0], &[1.0, 2.0, 3.0]).unwrap();
    assert!((r - 3f64.sqrt() / 2.0).abs() < 1e-12, "{r}");
    // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) = 0.8207826816681233.
    let r = rho(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]).unwrap();
    assert!((r - 0.8207826816681233).abs() < 1e-12, "{r}");
    // Undefined for a constant map or a single element.
    assert_eq!(rho(&[2.0, 2.0], &[1.0, 3.0]), None);
    assert_eq!(rho(&[1.0], &[1.0]), None);
    assert!(spearman(&[1.0, 2.0], &[1.0]).is_err());
    assert!(spearman(&[1.0, f32::NAN], &[1.0, 2.0]).is_err());
}
