//! IDX reader (bundled files, gzip and raw, corrupt files) and safetensors model files (round
//! trip, PyTorch's `nn.Sequential` layout, corrupt files).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use distill_wgpu::data::{self, parse_idx, read_dir, Inputs};
use distill_wgpu::model::io;
use distill_wgpu::{cpu, Error, Mlp, MlpSpec};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distill-wgpu-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn idx_bytes(kind: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(body);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write_set(dir: &Path, images: &[u8], labels: &[u8], count: u32, gz: bool) {
    for (stem, bytes) in [
        (
            "train-images-idx3-ubyte",
            idx_bytes(8, &[count, 2, 3], images),
        ),
        ("train-labels-idx1-ubyte", idx_bytes(8, &[count], labels)),
        (
            "t10k-images-idx3-ubyte",
            idx_bytes(8, &[count, 2, 3], images),
        ),
        ("t10k-labels-idx1-ubyte", idx_bytes(8, &[count], labels)),
    ] {
        if gz {
            std::fs::write(dir.join(format!("{stem}.gz")), gzip(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(stem), bytes).unwrap();
        }
    }
}

#[test]
fn bundled_mnist_subset_reads_with_expected_counts() {
    let d = read_dir(&data::bundled_dir()).unwrap();
    assert_eq!((d.train.len(), d.test.len(), d.classes), (8004, 1996, 10));
    assert_eq!((d.train.height, d.train.width), (28, 28));
    let mut per_class = [0usize; 10];
    for &l in &d.test.labels {
        per_class[l as usize] += 1;
    }
    // The subset's README lists the per-class test counts.
    assert_eq!(
        per_class,
        [200, 225, 198, 206, 196, 172, 202, 214, 188, 195]
    );
    let Inputs::U8(pixels) = &d.train.inputs else {
        panic!("IDX images are bytes")
    };
    assert!(pixels.contains(&255) && pixels.contains(&0));
}

#[test]
fn raw_and_gzip_files_read_the_same_with_any_size_and_class_count() {
    let images: Vec<u8> = (0..24).map(|i| i * 10).collect();
    let labels = [0u8, 3, 1, 2];
    for gz in [false, true] {
        let dir = temp_dir(&format!("ok-{gz}"));
        write_set(&dir, &images, &labels, 4, gz);
        let d = read_dir(&dir).unwrap();
        assert_eq!((d.train.height, d.train.width, d.classes), (2, 3, 4));
        assert_eq!(d.train.inputs, Inputs::U8(images.clone()));
        assert_eq!(d.test.labels, labels);
        let x = d.train.inputs_f32(1..2);
        assert_eq!(x[0], 60.0 / 255.0);
    }
}

fn expect_format_error(result: distill_wgpu::Result<impl std::fmt::Debug>, needle: &str) {
    match result {
        Err(e @ Error::Format { .. }) => assert!(
            e.to_string().contains(needle),
            "message {e:?} lacks {needle:?}"
        ),
        other => panic!("expected a format error containing {needle:?}, got {other:?}"),
    }
}

/// What a browser fetches: gzip bytes parse like the files they came from, and two parsed
/// arrays make the same data set as `read_pair` (the page builds its data this way).
#[test]
fn gzip_bytes_parse_like_files_and_pair_into_the_same_data_set() {
    let dir = data::bundled_dir();
    let images = dir.join("t10k-images-idx3-ubyte.gz");
    let labels = dir.join("t10k-labels-idx1-ubyte.gz");
    let img_bytes = std::fs::read(&images).unwrap();
    let lab_bytes = std::fs::read(&labels).unwrap();
    let img = parse_idx(&images, &img_bytes).unwrap();
    let from_file = data::read_idx(&images).unwrap();
    assert_eq!((&img.dims, &img.data), (&from_file.dims, &from_file.data));
    let lab = parse_idx(&labels, &lab_bytes).unwrap();
    let paired = data::pair_dataset(&images, img, &labels, lab).unwrap();
    let read = data::read_pair(&images, &labels).unwrap();
    assert_eq!(
        (paired.len(), paired.labels.clone()),
        (read.len(), read.labels.clone())
    );
    assert_eq!(
        paired.inputs_f32(0..paired.len()),
        read.inputs_f32(0..read.len())
    );

    let p = Path::new("fetched.gz");
    let gz = gzip(&idx_bytes(8, &[4], &[0, 1, 2, 3]));
    expect_format_error(parse_idx(p, &gz[..gz.len() / 2]), "gzip");
    // A header promising 1000 bytes over 4 inflates no further than it promises.
    expect_format_error(
        parse_idx(p, &gzip(&idx_bytes(8, &[1000], &[7; 4]))),
        "need 1000 data bytes",
    );
    let swapped = data::pair_dataset(
        p,
        parse_idx(p, &gzip(&idx_bytes(8, &[4], &[0, 1, 2, 3]))).unwrap(),
        p,
        parse_idx(p, &gzip(&idx_bytes(8, &[1, 2, 2], &[0; 4]))).unwrap(),
    );
    expect_format_error(swapped, "rank 3");
}

#[test]
fn corrupt_idx_files_are_rejected_with_the_reason() {
    let p = Path::new("corrupt.idx");
    expect_format_error(parse_idx(p, &[0, 0, 8]), "too short");
    expect_format_error(parse_idx(p, &[1, 2, 8, 1, 0, 0, 0, 1, 5]), "bad IDX magic");
    expect_format_error(
        parse_idx(p, &idx_bytes(0x0d, &[1], &[0, 0, 0, 0])),
        "not unsigned byte",
    );
    expect_format_error(
        parse_idx(p, &idx_bytes(8, &[3, 2], &[1, 2, 3])),
        "need 6 data bytes, file has 3",
    );
    expect_format_error(parse_idx(p, &[0, 0, 8, 3, 0, 0]), "truncated IDX header");

    let dir = temp_dir("corrupt");
    // Counts that disagree between images and labels.
    write_set(&dir, &[0u8; 24], &[0, 1, 2, 3], 4, false);
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        idx_bytes(8, &[3], &[0, 1, 2]),
    )
    .unwrap();
    expect_format_error(read_dir(&dir), "3 labels for 4 images");
    // Truncated gzip.
    let gz = gzip(&idx_bytes(8, &[4], &[0, 1, 2, 3]));
    std::fs::write(dir.join("train-labels-idx1-ubyte"), &gz[..gz.len() / 2]).unwrap();
    expect_format_error(read_dir(&dir), "gzip");
    // Missing file.
    std::fs::remove_file(dir.join("train-labels-idx1-ubyte")).unwrap();
    let err = read_dir(&dir).unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("train-labels-idx1-ubyte"),
        "{err}"
    );
}

#[test]
fn safetensors_round_trip_keeps_architecture_and_bits() {
    let spec = MlpSpec::relu(&[7, 5, 4, 3]).unwrap();
    let params = spec.init_parameters(3);
    let dir = temp_dir("roundtrip");
    let path = dir.join("m.safetensors");
    io::save(&path, &spec, &params, &[("note", "x".into())]).unwrap();
    assert!(!dir.join("m.safetensors.partial").exists());
    let (spec2, params2) = io::load(&path).unwrap();
    assert_eq!(spec2, spec);
    assert_eq!(params2, params);
}

/// Writes safetensors bytes the way `safetensors.torch.save_file(model.state_dict(), f)` does
/// for `nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, o))`: names `0.weight`,
/// `0.bias`, `2.weight`, `2.bias`, F32 little-endian, `{"format": "pt"}` metadata, no
/// architecture key.
fn pytorch_style_file(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = String::from("{\"__metadata__\":{\"format\":\"pt\"}");
    let mut body = Vec::new();
    for (name, shape, data) in tensors {
        let start = body.len();
        for v in data {
            body.extend_from_slice(&v.to_le_bytes());
        }
        let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
        header.push_str(&format!(
            ",\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{start},{}]}}",
            dims.join(","),
            body.len()
        ));
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&body);
    out
}

#[test]
fn pytorch_layout_file_loads_and_gives_the_same_logits() {
    let (i, h, o) = (6usize, 5usize, 3usize);
    let w0: Vec<f32> = (0..h * i)
        .map(|k| ((k * 7 % 11) as f32 - 5.0) / 10.0)
        .collect();
    let b0: Vec<f32> = (0..h).map(|k| k as f32 / 10.0 - 0.2).collect();
    let w2: Vec<f32> = (0..o * h)
        .map(|k| ((k * 5 % 9) as f32 - 4.0) / 8.0)
        .collect();
    let b2: Vec<f32> = vec![0.1, -0.1, 0.3];
    // PyTorch orders the header by name; order must not matter to the reader.
    let bytes = pytorch_style_file(&[
        ("2.weight", vec![o, h], w2.clone()),
        ("0.bias", vec![h], b0.clone()),
        ("0.weight", vec![h, i], w0.clone()),
        ("2.bias", vec![o], b2.clone()),
    ]);
    let dir = temp_dir("pytorch");
    let path = dir.join("teacher.safetensors");
    std::fs::write(&path, &bytes).unwrap();
    let (spec, params) = io::load(&path).unwrap();
    assert_eq!(spec.sizes, vec![i, h, o]);
    let x: Vec<f32> = (0..2 * i).map(|k| k as f32 / 12.0).collect();
    // What nn.Sequential computes: relu(x·W0ᵀ + b0)·W2ᵀ + b2.
    let hidden = cpu::dense_forward(
        &cpu::to_f64(&x),
        &cpu::to_f64(&w0),
        &cpu::to_f64(&b0),
        2,
        i,
        h,
        distill_wgpu::Activation::Relu,
    );
    let expected = cpu::dense_forward(
        &hidden,
        &cpu::to_f64(&w2),
        &cpu::to_f64(&b2),
        2,
        h,
        o,
        distill_wgpu::Activation::Identity,
    );
    let reference = cpu::mlp_logits(&spec, &cpu::to_f64(&params), &cpu::to_f64(&x), 2);
    for (a, b) in reference.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-12);
    }
    with_gpu!(ctx => {
        let model = Mlp::from_parameters(ctx, &spec, &params).unwrap();
        let logits = model.logits(ctx, &x, 2).unwrap();
        distill_wgpu::validate::compare("pytorch logits", &logits, &expected, distill_wgpu::validate::Tolerance::new(1e-5, 1e-5)).assert_ok();
    });
}

#[test]
fn corrupt_model_files_name_file_and_tensor() {
    let dir = temp_dir("badmodel");
    let path = dir.join("bad.safetensors");
    let good = pytorch_style_file(&[
        ("0.weight", vec![2, 3], vec![0.0; 6]),
        ("0.bias", vec![2], vec![0.0; 2]),
    ]);
    // Truncated.
    std::fs::write(&path, &good[..good.len() - 5]).unwrap();
    let err = io::load(&path).unwrap_err();
    assert!(err.to_string().contains("bad.safetensors"), "{err}");
    // Missing bias.
    std::fs::write(
        &path,
        pytorch_style_file(&[("0.weight", vec![2, 3], vec![0.0; 6])]),
    )
    .unwrap();
    let err = io::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("\"0.bias\" is missing") && err.contains("bad.safetensors"),
        "{err}"
    );
    // Wrong shape.
    std::fs::write(
        &path,
        pytorch_style_file(&[
            ("0.weight", vec![2, 3], vec![0.0; 6]),
            ("0.bias", vec![3], vec![0.0; 3]),
        ]),
    )
    .unwrap();
    let err = io::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("\"0.bias\" has shape [3], expected [2]"),
        "{err}"
    );
    // Wrong dtype: an F64 bias.
    let mut f64_file = pytorch_style_file(&[
        ("0.weight", vec![2, 3], vec![0.0; 6]),
        ("0.bias", vec![4], vec![0.0; 4]),
    ]);
    let from = b"\"0.bias\":{\"dtype\":\"F32\",\"shape\":[4]";
    let to = b"\"0.bias\":{\"dtype\":\"F64\",\"shape\":[2]";
    let at = f64_file
        .windows(from.len())
        .position(|w| w == from)
        .unwrap();
    f64_file[at..at + from.len()].copy_from_slice(to);
    std::fs::write(&path, &f64_file).unwrap();
    let err = io::load(&path).unwrap_err().to_string();
    assert!(err.contains("\"0.bias\" has dtype F64"), "{err}");
    // No tensors at all.
    std::fs::write(&path, pytorch_style_file(&[])).unwrap();
    assert!(io::load(&path)
        .unwrap_err()
        .to_string()
        .contains("0.weight"));
}
