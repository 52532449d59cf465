//! Model files in float16 (how the bundled teacher ships) and bfloat16: each weight read back
//! is the stored value widened exactly, files halve, and weights f16 cannot hold are refused.

use std::path::Path;

use distill_wgpu::model::io::{
    from_safetensors, to_safetensors, to_safetensors_as, WeightPrecision,
};
use distill_wgpu::{MlpSpec, SplitMix64};

fn weights(count: usize) -> Vec<f32> {
    let mut rng = SplitMix64::new(7);
    (0..count)
        .map(|_| ((rng.next_f64() - 0.5) * 0.2) as f32)
        .collect()
}

#[test]
fn float16_files_hold_each_weight_rounded_to_nearest_and_are_half_the_size() {
    let spec = MlpSpec::relu(&[20, 16, 3]).unwrap();
    let params = weights(spec.parameter_count());
    let full = to_safetensors(&spec, &params, &[]).unwrap();
    let half_file = to_safetensors_as(&spec, &params, &[], WeightPrecision::F16).unwrap();
    // The data section halves; the header differs only in the dtype names and offsets.
    let saved = full.len() - half_file.len();
    assert!(
        saved >= spec.parameter_count() * 2 - 64,
        "{} vs {} bytes",
        half_file.len(),
        full.len()
    );

    let (read_spec, read) = from_safetensors(Path::new("half.safetensors"), &half_file).unwrap();
    assert_eq!(read_spec, spec);
    for (i, (&stored, &original)) in read.iter().zip(&params).enumerate() {
        let expected = half::f16::from_f32(original).to_f32();
        assert_eq!(stored.to_bits(), expected.to_bits(), "parameter {i}");
        assert!(
            (stored - original).abs() <= original.abs() * 2f32.powi(-11) + 6e-8,
            "parameter {i}"
        );
    }
    // Round trip: saving what was read in f16 gives the same bytes.
    let again = to_safetensors_as(&spec, &read, &[], WeightPrecision::F16).unwrap();
    assert_eq!(
        from_safetensors(Path::new("again"), &again).unwrap().1,
        read
    );
}

#[test]
fn bfloat16_files_are_read_and_weights_past_float16_are_refused() {
    let spec = MlpSpec::relu(&[4, 2]).unwrap();
    let params = weights(spec.parameter_count());
    let as_bf16: Vec<half::bf16> = params.iter().map(|&v| half::bf16::from_f32(v)).collect();
    let bytes: &[u8] = bytemuck::cast_slice(&as_bf16);
    let w =
        safetensors::tensor::TensorView::new(safetensors::Dtype::BF16, vec![2, 4], &bytes[..16])
            .unwrap();
    let b = safetensors::tensor::TensorView::new(safetensors::Dtype::BF16, vec![2], &bytes[16..])
        .unwrap();
    let file = safetensors::serialize(vec![("0.weight", w), ("0.bias", b)], None).unwrap();
    let (_, read) = from_safetensors(Path::new("bf16.safetensors"), &file).unwrap();
    let expected: Vec<f32> = as_bf16.iter().map(|v| v.to_f32()).collect();
    assert_eq!(read, expected);

    let mut big = params.clone();
    big[3] = 70000.0;
    let err = to_safetensors_as(&spec, &big, &[], WeightPrecision::F16)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("parameter 3") && err.contains("65504"),
        "{err}"
    );
}
