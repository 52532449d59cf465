//! Compression: the fake-quantization and prune-mask kernels against their references on named
//! edge shapes, the straight-through wiring of a quantized training step, the mask in a pruned
//! step, magnitude pruning, and int8 model files (export, dequantize on load, exact logits).

mod common;

use distill_wgpu::model::int8::{levels_name, Int8Model};
use distill_wgpu::model::io;
use distill_wgpu::model::prune::{
    dense_bytes, int8_bytes, prune_magnitude, sparse_bytes, weight_sparsity, Sparsity,
};
use distill_wgpu::ops::fake_quant::{self, reference as quant};
use distill_wgpu::ops::prune_mask;
use distill_wgpu::train::{Compression, Quantization};
use distill_wgpu::validate::{compare, random_vec, Tolerance};
use distill_wgpu::{
    cpu, Error, GpuContext, KdConfig, Mlp, MlpSpec, Optimizer, SplitMix64, StepBatch,
    TeacherSource, Trainer, TrainerConfig,
};

fn assert_all_pass(comparisons: &[distill_wgpu::ops::check::Comparison]) {
    assert!(!comparisons.is_empty());
    for c in comparisons {
        assert!(c.passed(), "{}", c.report());
    }
}

#[test]
fn fake_quant_kernel_matches_its_reference_on_every_edge_shape() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(11);
        assert_all_pass(&fake_quant::check::suite(ctx, &mut rng).unwrap());
    });
}

#[test]
fn prune_mask_kernel_matches_its_reference_exactly() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(12);
        assert_all_pass(&prune_mask::check::suite(ctx, &mut rng).unwrap());
    });
}

#[test]
fn the_quantizer_rounds_ties_to_even_and_keeps_zero_rows_zero() {
    // Scale 1 (max 127): halves go to the even level, −0.5 to 0.
    for (w, q) in [
        (0.5f32, 0i8),
        (1.5, 2),
        (2.5, 2),
        (-0.5, 0),
        (-1.5, -2),
        (126.5, 126),
    ] {
        assert_eq!(quant::level(w, 1.0), q, "{w}");
    }
    let (scale, levels) = quant::quantize_row(&[0.0, -0.0, 0.0]);
    assert_eq!((scale, levels), (1.0, vec![0, 0, 0]));
    // A subnormal-scale row is a zero row too.
    let (scale, levels) = quant::quantize_row(&[1e-37, -1e-37]);
    assert_eq!((scale, levels), (1.0, vec![0, 0]));
    // The row's largest magnitude is level ±127, never −128.
    let (scale, levels) = quant::quantize_row(&[-3.0, 1.0, 0.01]);
    assert_eq!(scale, (3.0f64 / 127.0) as f32);
    assert_eq!(levels, vec![-127, 42, 0]);
}

/// Inputs, labels and teacher logits of a 12-feature, 3-class batch.
fn batch(rows: usize, seed: u64) -> (Vec<f32>, Vec<u32>, Vec<f32>) {
    let mut rng = SplitMix64::new(seed);
    let inputs = random_vec(&mut rng, rows * 12, -1.0, 1.0);
    let labels = (0..rows).map(|_| rng.below(3) as u32).collect();
    let teacher = random_vec(&mut rng, rows * 3, -3.0, 3.0);
    (inputs, labels, teacher)
}

const LR: f32 = 0.1;

fn sgd_trainer(
    ctx: &GpuContext,
    spec: &MlpSpec,
    params: &[f32],
    rows: usize,
    compression: Compression,
) -> Trainer {
    let student = Mlp::from_parameters(ctx, spec, params).unwrap();
    let sgd = Optimizer::Sgd {
        lr: LR,
        momentum: 0.0,
        weight_decay: 0.0,
    };
    let config = TrainerConfig::new(rows, sgd)
        .kd(KdConfig {
            temperature: 3.0,
            alpha: 0.6,
        })
        .compression(compression);
    Trainer::new(ctx, student, &config).unwrap()
}

#[test]
fn a_quantized_step_takes_the_gradient_at_the_quantized_weights_and_updates_the_float_ones() {
    with_gpu!(ctx => {
        let spec = MlpSpec::relu(&[12, 20, 9, 3]).unwrap();
        let rows = 16;
        let (inputs, labels, teacher) = batch(rows, 3);
        let params = spec.init_parameters(42);
        let int8 = Compression { quantize: Some(Quantization::Int8PerChannel), prune: None };
        let mut trainer = sgd_trainer(ctx, &spec, &params, rows, int8);
        trainer.step(ctx, &StepBatch { inputs: &inputs, labels: &labels, teacher: TeacherSource::Logits(&teacher) }).unwrap();
        let grads = trainer.read_gradients(ctx).unwrap();
        let updated = trainer.student().parameters(ctx).unwrap();
        // The reference: forward and backward at W_q, the update applied to W.
        let (quantized, _) = cpu::fake_quant_params(&distill_wgpu::model::prune::dense_layers(&spec), &params);
        assert_ne!(quantized, params);
        let x = cpu::to_f64(&inputs);
        let t = cpu::to_f64(&teacher);
        let (_, at_quantized) = cpu::kd_step_gradients(&spec, &cpu::to_f64(&quantized), &x, &labels, &t, rows, 3.0, 0.6);
        let (_, at_float) = cpu::kd_step_gradients(&spec, &cpu::to_f64(&params), &x, &labels, &t, rows, 3.0, 0.6);
        let tol = Tolerance::new(2e-6, 1e-4);
        compare("gradient at W_q", &grads, &at_quantized, tol).assert_ok();
        // The check can tell the two apart: the float weights' gradient is out of tolerance.
        assert!(!compare("gradient at W", &grads, &at_float, tol).passed());
        let expected: Vec<f64> = params.iter().zip(&at_quantized).map(|(&w, g)| w as f64 - LR as f64 * g).collect();
        compare("W − lr·∇(W_q)", &updated, &expected, Tolerance::new(1e-6, 1e-5)).assert_ok();
        // The master weights stay float: most are not on their row's int8 grid after the step.
        let (requantized, _) = cpu::fake_quant_params(&distill_wgpu::model::prune::dense_layers(&spec), &updated);
        let off_grid = requantized.iter().zip(&updated).filter(|(a, b)| a != b).count();
        assert!(off_grid > updated.len() / 2, "{off_grid}");
    });
}

#[test]
fn a_pruned_step_keeps_the_pruned_weights_at_zero_and_updates_the_rest() {
    with_gpu!(ctx => {
        let spec = MlpSpec::relu(&[12, 20, 9, 3]).unwrap();
        let rows = 16;
        let (inputs, labels, teacher) = batch(rows, 4);
        let sparsity = Sparsity::new(0.6).unwrap();
        let pruned = prune_magnitude(&spec, &spec.init_parameters(7), sparsity).unwrap();
        let params = pruned.params;
        let compression = Compression { quantize: None, prune: Some(sparsity) };
        let mut trainer = sgd_trainer(ctx, &spec, &params, rows, compression);
        let step = StepBatch { inputs: &inputs, labels: &labels, teacher: TeacherSource::Logits(&teacher) };
        trainer.step(ctx, &step).unwrap();
        let updated = trainer.student().parameters(ctx).unwrap();
        let (_, g) = cpu::kd_step_gradients(&spec, &cpu::to_f64(&params), &cpu::to_f64(&inputs), &labels, &cpu::to_f64(&teacher), rows, 3.0, 0.6);
        let stepped: Vec<f64> = params.iter().zip(&g).map(|(&w, g)| w as f64 - LR as f64 * g).collect();
        let ranges = distill_wgpu::model::prune::weight_ranges(&spec);
        let expected = cpu::prune_mask(&stepped, &cpu::to_f64(&params), &ranges);
        compare("pruned SGD step", &updated, &expected, Tolerance::new(1e-6, 1e-5)).assert_ok();
        // Pruned weights had nonzero gradients, so the mask did work; sparsity is unchanged.
        let moved = params.iter().zip(&g).filter(|(w, g)| **w == 0.0 && g.abs() > 1e-6).count();
        assert!(moved > 0);
        for _ in 0..5 {
            trainer.step(ctx, &step).unwrap();
        }
        let after = trainer.student().parameters(ctx).unwrap();
        assert_eq!(weight_sparsity(&spec, &after), weight_sparsity(&spec, &params));
        assert!((weight_sparsity(&spec, &params) - 0.6).abs() < 0.01);
    });
}

#[test]
fn magnitude_pruning_is_global_exact_in_count_and_leaves_biases() {
    let spec = MlpSpec::relu(&[4, 3, 2]).unwrap();
    // 12 + 6 weights, biases 3 + 2.
    let mut params = vec![0.0f32; spec.parameter_count()];
    for (i, p) in params.iter_mut().enumerate() {
        *p = (i as f32 + 1.0) * if i % 2 == 0 { 1.0 } else { -1.0 };
    }
    let biases = [12, 13, 14, 21, 22];
    for b in biases {
        params[b] = 0.001;
    }
    let pruned = prune_magnitude(&spec, &params, Sparsity::new(0.5).unwrap()).unwrap();
    assert_eq!(pruned.weights, 18);
    assert_eq!(pruned.zeros, 9);
    // Global: the 9 smallest magnitudes are the first layer's first 9 weights.
    assert!(pruned.params[..9].iter().all(|w| *w == 0.0));
    assert!(pruned.params[9..12].iter().all(|w| *w != 0.0));
    for b in biases {
        assert_eq!(pruned.params[b], 0.001);
    }
    assert_eq!(pruned.threshold, 9.0);
    // Ties: equal magnitudes are pruned in order, so the count stays exact.
    let ties = vec![1.0f32; spec.parameter_count()];
    assert_eq!(
        prune_magnitude(&spec, &ties, Sparsity::new(0.25).unwrap())
            .unwrap()
            .zeros,
        5
    );
    assert_eq!(
        prune_magnitude(&spec, &ties, Sparsity::new(0.0).unwrap())
            .unwrap()
            .zeros,
        0
    );
    let huge = vec![f32::MAX; spec.parameter_count()];
    assert!(
        Int8Model::quantize(&spec, &huge).is_err(),
        "a level past f32::MAX is refused"
    );
    for bad in [1.5, -0.1, 1.0, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(Sparsity::new(bad), Err(Error::InvalidConfig(m)) if m.contains("sparsity")),
            "{bad}"
        );
    }
    // Sizes: CSR with u16 column indices for the nonzero half.
    assert_eq!(dense_bytes(&spec), 4 * 23);
    assert_eq!(int8_bytes(&spec), 18 + 8 * 5);
    let csr = 9 * 6 + 4 * (3 + 1 + 2 + 1) + 4 * 5;
    assert_eq!(sparse_bytes(&spec, &pruned.params), csr as u64);
}

#[test]
fn an_int8_file_reads_back_as_its_float_copy_and_gives_the_same_logits_bit_for_bit() {
    with_gpu!(ctx => {
        let spec = MlpSpec::relu(&[12, 20, 9, 3]).unwrap();
        let mut params = spec.init_parameters(5);
        params[20..32].fill(0.0); // a zero row
        let model = Int8Model::quantize(&spec, &params).unwrap();
        let bytes = model.to_safetensors(&[("note", "test".into())]).unwrap();
        let path = std::path::Path::new("int8.safetensors");
        let (read_spec, from_int8) = io::from_safetensors(path, &bytes).unwrap();
        assert_eq!(read_spec, spec);
        let float_copy = model.dequantized();
        let float_bytes = io::to_safetensors(&spec, &float_copy, &[]).unwrap();
        let (_, from_float) = io::from_safetensors(path, &float_bytes).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&from_int8), bits(&from_float));
        assert_eq!(Int8Model::from_safetensors(path, &bytes).unwrap(), model);
        let (inputs, _, _) = batch(7, 9);
        let logits = |p: &[f32]| Mlp::from_parameters(ctx, &spec, p).unwrap().logits(ctx, &inputs, 7).unwrap();
        assert_eq!(bits(&logits(&from_int8)), bits(&logits(&from_float)));
        // A byte per weight, and per row a scale and a bias.
        assert_eq!(model.tensor_bytes(), (12 * 20 + 20 * 9 + 9 * 3 + 8 * 32) as u64);
        // The quantized weights are the fake-quantized ones training used.
        let (fake, _) = cpu::fake_quant_params(&distill_wgpu::model::prune::dense_layers(&spec), &params);
        assert_eq!(bits(&fake), bits(&float_copy));
    });
}

#[test]
fn bad_int8_files_are_refused_by_name() {
    let spec = MlpSpec::relu(&[4, 3, 2]).unwrap();
    let model = Int8Model::quantize(&spec, &spec.init_parameters(1)).unwrap();
    let path = std::path::Path::new("bad.safetensors");
    let mut minus_128 = model.clone();
    minus_128.layers[0].levels[2] = i8::MIN;
    let mut zero_scale = model.clone();
    zero_scale.layers[1].scales[0] = 0.0;
    for (bad, says) in [(minus_128, "−128"), (zero_scale, "scale 0")] {
        let bytes = bad.to_safetensors(&[]).unwrap();
        match io::from_safetensors(path, &bytes) {
            Err(Error::Format { message, .. }) => assert!(message.contains(says), "{message}"),
            other => panic!("expected a format error, got {other:?}"),
        }
    }
    // An int8 tensor without the metadata that says how to read it.
    let levels = [1i8; 12];
    let view = safetensors::tensor::TensorView::new(
        safetensors::Dtype::I8,
        vec![3, 4],
        bytemuck::cast_slice(&levels),
    )
    .unwrap();
    let bytes = safetensors::serialize([(levels_name(0), view)], None).unwrap();
    assert!(matches!(
        io::from_safetensors(path, &bytes),
        Err(Error::Format { .. })
    ));
}
