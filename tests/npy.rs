//! Teacher logits from `.npy` files: the one shape and dtype accepted, and a named error for
//! every other file.

use std::path::{Path, PathBuf};

use distill_wgpu::data::npy::{parse_f32_matrix, read_f32_matrix};
use distill_wgpu::Error;
use npyz::WriterBuilder;

fn npy<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
    shape: &[u64],
    data: &[T],
    fortran: bool,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    let options = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut bytes);
    let options = if fortran {
        options.order(npyz::Order::Fortran)
    } else {
        options
    };
    let mut writer = options.begin_nd().unwrap();
    writer.extend(data.iter().copied()).unwrap();
    writer.finish().unwrap();
    bytes
}

fn err(bytes: &[u8], rows: usize, cols: usize) -> String {
    parse_f32_matrix(Path::new("t.npy"), bytes, rows, cols)
        .unwrap_err()
        .to_string()
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("distill-npy-{}-{name}", std::process::id()))
}

#[test]
fn a_c_order_float32_matrix_reads_back_exactly() {
    let values: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 3.0).collect();
    let bytes = npy(&[4, 3], &values, false);
    assert_eq!(
        parse_f32_matrix(Path::new("t.npy"), &bytes, 4, 3).unwrap(),
        values
    );
    let path = temp("ok.npy");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(read_f32_matrix(&path, 4, 3).unwrap(), values);
}

#[test]
fn every_other_file_gets_a_named_error() {
    let values = vec![1.0f32; 12];
    assert!(err(&npy(&[3, 4], &values, false), 4, 3).contains("shape [3, 4]"));
    assert!(err(&npy(&[12], &values, false), 4, 3).contains("shape [12]"));
    assert!(err(&npy(&[4, 3], &[1.0f64; 12], false), 4, 3).contains("float32"));
    assert!(err(&npy(&[4, 3], &[1i32; 12], false), 4, 3).contains("float32"));
    assert!(err(&npy(&[4, 3], &values, true), 4, 3).contains("Fortran"));
    let good = npy(&[4, 3], &values, false);
    assert!(err(&good[..good.len() - 4], 4, 3).contains("data bytes"));
    assert!(err(&[good.as_slice(), &[0; 4]].concat(), 4, 3).contains("data bytes"));
    assert!(err(b"not numpy at all", 4, 3).contains("not a readable .npy"));
    let mut bad = values.clone();
    bad[7] = f32::NAN;
    let e = parse_f32_matrix(Path::new("t.npy"), &npy(&[4, 3], &bad, false), 4, 3).unwrap_err();
    assert!(matches!(e, Error::NonFinite { index: 7, .. }), "{e}");
    // Reads are bounded by the expected shape, and only regular files are read.
    let big = temp("big.npy");
    std::fs::write(&big, vec![0u8; 2 << 20]).unwrap();
    assert!(read_f32_matrix(&big, 4, 3)
        .unwrap_err()
        .to_string()
        .contains("more than"));
    assert!(read_f32_matrix(&std::env::temp_dir(), 4, 3)
        .unwrap_err()
        .to_string()
        .contains("regular file"));
    assert!(read_f32_matrix(&big, usize::MAX, 3)
        .unwrap_err()
        .to_string()
        .contains("overflows"));
}
