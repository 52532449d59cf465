//! Small data sets written in every format `--data` reads: `.npy` arrays, `.npz` archives
//! (stored or deflated) and CSV files, from one seeded, learnable tabular problem.

use std::io::Write;
use std::path::Path;

use npyz::WriterBuilder;

/// `.npy` bytes of `data` with `shape` (C order).
pub fn npy<T: npyz::Serialize + npyz::AutoSerialize + Copy>(shape: &[u64], data: &[T]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut bytes)
        .begin_nd()
        .unwrap();
    writer.extend(data.iter().copied()).unwrap();
    writer.finish().unwrap();
    bytes
}

/// A zip archive of `members` (name, bytes), deflated or stored.
pub fn zip(members: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in members {
        out.start_file(*name, options).unwrap();
        out.write_all(bytes).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// A tabular problem: `classes` Gaussian-ish blobs in `features` dimensions, `count` samples,
/// seeded; features `[count, features]` and labels.
pub fn blobs(count: usize, features: usize, classes: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = distill_wgpu::SplitMix64::new(seed);
    let mut values = Vec::with_capacity(count * features);
    let mut labels = Vec::with_capacity(count);
    for i in 0..count {
        let class = i % classes;
        labels.push(class as u8);
        for f in 0..features {
            let centre = if f % classes == class { 3.0 } else { 0.0 };
            // A sum of uniforms: roughly normal noise of unit scale, plus an offset and scale
            // per feature so standardization has something to do.
            let noise: f64 = (0..4).map(|_| rng.next_f64() - 0.5).sum::<f64>() * 1.7;
            values.push(((centre + noise) * (1.0 + f as f64) + 10.0 * f as f64) as f32);
        }
    }
    (values, labels)
}

/// The four arrays of a blobs problem as `.npy` bytes (features float32 `[N, F]`, labels
/// int64 `[N]`), keyed by their `.npz` member names.
pub fn blob_arrays(train: usize, test: usize, features: usize) -> Vec<(&'static str, Vec<u8>)> {
    let (x_train, y_train) = blobs(train, features, 3, 1);
    let (x_test, y_test) = blobs(test, features, 3, 2);
    let labels = |y: &[u8]| y.iter().map(|&l| l as i64).collect::<Vec<_>>();
    vec![
        (
            "x_train.npy",
            npy(&[train as u64, features as u64], &x_train),
        ),
        ("y_train.npy", npy(&[train as u64], &labels(&y_train))),
        ("x_test.npy", npy(&[test as u64, features as u64], &x_test)),
        ("y_test.npy", npy(&[test as u64], &labels(&y_test))),
    ]
}

/// CSV text of `values` `[N, names.len()]` with the labels in a column named `label_name`
/// at position `label_at`.
pub fn csv_text(
    names: &[&str],
    values: &[f32],
    labels: &[u8],
    label_name: &str,
    label_at: usize,
) -> String {
    let mut header: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    header.insert(label_at, label_name.to_string());
    let mut text = header.join(",") + "\n";
    for (row, label) in values.chunks_exact(names.len()).zip(labels) {
        let mut fields: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        fields.insert(label_at, label.to_string());
        text += &(fields.join(",") + "\n");
    }
    text
}

/// Writes `bytes` to `dir/name`.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}
