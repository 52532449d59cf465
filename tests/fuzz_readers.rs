//! A seeded mutation sweep over the IDX and safetensors readers. Valid files are truncated at
//! every header offset, have bytes flipped, dimensions and metadata rewritten, tensors renamed
//! or reshaped, or are replaced by random bytes. No input may panic (a panic fails the test and
//! the case is named), and every `Ok` must be self-consistent: sizes match the data, and the
//! readers agree (bytes and file, raw and gzip).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use distill_wgpu::data::{parse_idx, read_idx, IdxArray};
use distill_wgpu::model::io;
use distill_wgpu::{Activation, MlpSpec, SplitMix64};
use safetensors::SafeTensors;

/// Names the case being run when a reader panics inside it (and is silent otherwise).
struct Case(String);

impl Drop for Case {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("failing case: {}", self.0);
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distill-fuzz-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a fresh file: removing it first keeps ext4 from flushing a truncated file to disk
/// on every rewrite, which made the sweep disk-bound.
fn write_file(path: &Path, bytes: impl AsRef<[u8]>) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap();
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Values a hostile size takes: edges, small, large, random.
fn hostile_u64(rng: &mut SplitMix64) -> u64 {
    match rng.below(8) {
        0 => 0,
        1 => 1 + rng.below(8) as u64,
        2 => u64::MAX,
        3 => u64::MAX - rng.below(4) as u64,
        4 => 1 << (30 + rng.below(34)),
        5 => 300_000_000_000,
        6 => 3_000_000_000_000_000,
        _ => rng.next_u64() >> rng.below(64),
    }
}

/// The mutations every format shares: truncation at each offset below `header_end`, flips,
/// appended and random bytes.
fn byte_mutations(rng: &mut SplitMix64, valid: &[u8], header_end: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for cut in 0..header_end.min(valid.len()) {
        out.push((format!("truncated at {cut}"), valid[..cut].to_vec()));
    }
    for _ in 0..4 {
        let cut = rng.below(valid.len() + 1);
        out.push((format!("truncated at {cut}"), valid[..cut].to_vec()));
    }
    for _ in 0..40 {
        let mut m = valid.to_vec();
        let flips = 1 + rng.below(3);
        for _ in 0..flips {
            // Mostly in the header, where the sizes are.
            let at = if rng.below(4) > 0 {
                rng.below(header_end.min(m.len()).max(1))
            } else {
                rng.below(m.len())
            };
            m[at] = rng.below(256) as u8;
        }
        out.push((format!("{flips} byte flips"), m));
    }
    for _ in 0..5 {
        let mut m = valid.to_vec();
        m.extend((0..1 + rng.below(16)).map(|_| rng.below(256) as u8));
        out.push(("trailing bytes".into(), m));
    }
    for _ in 0..10 {
        let len = rng.below(96);
        let mut m: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        // Half of them start like the real thing.
        let keep = if rng.below(2) == 0 {
            valid.len().min(header_end).min(len)
        } else {
            0
        };
        m[..keep].copy_from_slice(&valid[..keep]);
        out.push((format!("{len} random bytes"), m));
    }
    out
}

fn idx_file(rng: &mut SplitMix64) -> Vec<u8> {
    let rank = 1 + rng.below(4);
    let dims: Vec<u32> = (0..rank).map(|_| rng.below(5) as u32).collect();
    let len: u32 = dims.iter().product();
    let mut v = vec![0, 0, 8, rank as u8];
    for d in &dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend((0..len).map(|_| rng.below(256) as u8));
    v
}

fn check_idx_ok(case: &str, bytes: &[u8], array: &IdxArray) {
    let header = 4 + 4 * array.dims.len();
    let len = array.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    assert_eq!(
        len,
        Some(array.data.len()),
        "{case}: dims {:?} for {} bytes",
        array.dims,
        array.data.len()
    );
    assert_eq!(bytes.len(), header + array.data.len(), "{case}");
    assert_eq!(
        &bytes[header..],
        &array.data[..],
        "{case}: data is not the file's body"
    );
}

/// Every reader of IDX content: bytes, raw file, the same content gzipped; all must agree.
/// Returns whether the content was accepted.
fn sweep_idx_case(dir: &Path, case: &str, bytes: &[u8]) -> bool {
    let _case = Case(case.to_string());
    let (raw, gz) = (dir.join("raw"), dir.join("gz"));
    write_file(&raw, bytes);
    write_file(&gz, gzip(bytes));
    let parsed = parse_idx(&raw, bytes);
    let read = read_idx(&raw);
    let inflated = read_idx(&gz);
    // A raw file starting with the gzip magic is read as gzip; not a case parse_idx knows.
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return false;
    }
    for (how, result) in [
        ("parse_idx", &parsed),
        ("read_idx", &read),
        ("read_idx of gzip", &inflated),
    ] {
        if let Ok(a) = result {
            check_idx_ok(&format!("{case} ({how})"), bytes, a);
        }
    }
    assert_eq!(
        parsed.is_ok(),
        read.is_ok(),
        "{case}: {parsed:?} vs {read:?}"
    );
    assert_eq!(
        parsed.is_ok(),
        inflated.is_ok(),
        "{case}: {parsed:?} vs {inflated:?}"
    );
    parsed.is_ok()
}

#[test]
fn idx_reader_survives_seeded_mutations() {
    let start = Instant::now();
    let dir = temp_dir("idx");
    let mut rng = SplitMix64::new(0x1D);
    let (mut cases, mut accepted) = (0, 0);
    for seed in 0..48 {
        let valid = idx_file(&mut rng);
        let header_end = 4 + 4 * valid[3] as usize;
        let mut mutated = byte_mutations(&mut rng, &valid, header_end + 1);
        for _ in 0..20 {
            let mut m = valid.clone();
            let (what, at, value) = match rng.below(3) {
                0 => (
                    "dimension",
                    4 + 4 * rng.below(valid[3] as usize),
                    hostile_u64(&mut rng) as u32,
                ),
                1 => ("rank", 3, rng.below(256) as u32),
                _ => ("type", 2, rng.below(256) as u32),
            };
            if what == "dimension" {
                m[at..at + 4].copy_from_slice(&value.to_be_bytes());
            } else {
                m[at] = value as u8;
            }
            mutated.push((format!("{what} at {at} set to {value}"), m));
        }
        assert!(sweep_idx_case(&dir, &format!("seed file {seed}"), &valid));
        for (what, bytes) in &mutated {
            let case = format!("seed file {seed}, {what}");
            accepted += usize::from(sweep_idx_case(&dir, &case, bytes));
        }
        // Mutations of the compressed stream itself.
        let gz = gzip(&valid);
        for (what, bytes) in byte_mutations(&mut rng, &gz, 24) {
            let case = Case(format!("seed file {seed} gzipped, {what}"));
            let path = dir.join("gz-mutated");
            write_file(&path, &bytes);
            if let Ok(a) = read_idx(&path) {
                let len = a.dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
                assert_eq!(len, Some(a.data.len()), "{}: dims {:?}", case.0, a.dims);
            }
            cases += 1;
        }
        cases += 1 + mutated.len();
    }
    eprintln!(
        "IDX sweep: {cases} cases ({accepted} mutants accepted) in {:?}",
        start.elapsed()
    );
    assert!(cases > 5000);
    // Body flips keep a file valid: the consistency checks did run on accepted mutants.
    assert!(accepted > 100, "only {accepted} mutants accepted");
}

/// Rewrites the JSON header of a safetensors file, keeping its data section.
fn rewrite_header(
    bytes: &[u8],
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut text = serde_json::Value::Object(header).to_string();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// The file with its header keys (and metadata keys) sorted: the writer's order comes from a
/// hash map, and the same seed must give the same bytes to mutate.
fn canonical(bytes: &[u8]) -> Vec<u8> {
    fn sorted(map: &mut serde_json::Map<String, serde_json::Value>) {
        let mut entries: Vec<_> = std::mem::take(map).into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, mut v) in entries {
            if let Some(inner) = v.as_object_mut() {
                sorted(inner);
            }
            map.insert(k, v);
        }
    }
    rewrite_header(bytes, sorted)
}

fn hostile_sizes(rng: &mut SplitMix64, sizes: &[usize]) -> String {
    match rng.below(6) {
        0 => ["", "-1,2", "abc", "3,", ",", "1e3,2", " 3 , 2 ", "3;2"][rng.below(8)].to_string(),
        1 => {
            let mut s = sizes.to_vec();
            let i = rng.below(s.len());
            s[i] = s[i].wrapping_add(if rng.below(2) == 0 { 1 } else { usize::MAX });
            s.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
        }
        2 => {
            let mut s = sizes.to_vec();
            s.insert(rng.below(s.len() + 1), hostile_u64(rng) as usize);
            s.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
        }
        _ => (0..1 + rng.below(5))
            .map(|_| hostile_u64(rng).to_string())
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// Structured rewrites of the header: metadata, shapes, dtypes, offsets, names.
fn header_mutations(rng: &mut SplitMix64, valid: &[u8], spec: &MlpSpec) -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = SafeTensors::deserialize(valid)
        .unwrap()
        .names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    // Header order is a hash map's; sorted, the same seed makes the same cases.
    names.sort();
    let mut out = Vec::new();
    for _ in 0..60 {
        let name = names[rng.below(names.len())].clone();
        let choice = rng.below(7);
        let sizes = hostile_sizes(rng, &spec.sizes);
        let dims: Vec<u64> = (0..rng.below(4))
            .map(|_| {
                if rng.below(2) == 0 {
                    rng.below(8) as u64
                } else {
                    hostile_u64(rng)
                }
            })
            .collect();
        let dtype = ["F16", "F64", "I32", "U8", "BOOL", "BF16", "F32"][rng.below(7)];
        let offsets = [hostile_u64(rng) % 4096, hostile_u64(rng)];
        let activation = ["identity", "relu", "tanh", ""][rng.below(4)];
        let (what, m) = match choice {
            0 => (
                format!("sizes {sizes:?}"),
                rewrite_header(valid, |h| {
                    h["__metadata__"]["distill_wgpu.sizes"] = sizes.clone().into();
                }),
            ),
            1 => (
                format!("{name} shape {dims:?}"),
                rewrite_header(valid, |h| h[&name]["shape"] = dims.clone().into()),
            ),
            2 => (
                format!("{name} dtype {dtype}"),
                rewrite_header(valid, |h| h[&name]["dtype"] = dtype.into()),
            ),
            3 => (
                format!("{name} offsets {offsets:?}"),
                rewrite_header(valid, |h| {
                    h[&name]["data_offsets"] = offsets.to_vec().into()
                }),
            ),
            4 => (
                format!("{name} removed"),
                rewrite_header(valid, |h| {
                    h.remove(&name);
                }),
            ),
            5 => (
                format!("no metadata, activation {activation:?}"),
                rewrite_header(valid, |h| {
                    if rng.below(2) == 0 {
                        h.remove("__metadata__");
                    } else {
                        h["__metadata__"] =
                            serde_json::json!({ "distill_wgpu.activation": activation });
                    }
                }),
            ),
            _ => {
                let renamed = format!("{}.{}", rng.below(8), ["weight", "bias"][rng.below(2)]);
                (
                    format!("{name} renamed {renamed}"),
                    rewrite_header(valid, |h| {
                        if let Some(v) = h.remove(&name) {
                            h.insert(renamed.clone(), v);
                        }
                    }),
                )
            }
        };
        out.push((what, m));
    }
    out
}

fn check_model_ok(case: &str, bytes: &[u8], spec: &MlpSpec, params: &[f32]) {
    spec.validate()
        .unwrap_or_else(|e| panic!("{case}: accepted an invalid spec: {e}"));
    assert_eq!(params.len(), spec.parameter_count(), "{case}");
    assert!(
        params.len() * 4 <= bytes.len(),
        "{case}: more parameters than the file holds"
    );
    assert!(params.iter().all(|p| p.is_finite()), "{case}");
    // Each layer's slice of the parameters is that tensor's data in the file.
    let file = SafeTensors::deserialize(bytes).unwrap();
    for (l, layer) in spec.layers().iter().enumerate() {
        let w = file.tensor(&io::weight_name(l)).unwrap();
        let b = file.tensor(&io::bias_name(l)).unwrap();
        let got: &[u8] =
            bytemuck::cast_slice(&params[layer.weight_offset..layer.bias_offset + layer.outputs]);
        assert_eq!(got, [w.data(), b.data()].concat(), "{case}: layer {l}");
    }
}

/// Returns whether the file was accepted.
fn sweep_model_case(path: &Path, case: &str, bytes: &[u8]) -> bool {
    let _case = Case(case.to_string());
    write_file(path, bytes);
    let parsed = io::from_safetensors(path, bytes);
    let loaded = io::load(path);
    if let Ok((spec, params)) = &parsed {
        check_model_ok(case, bytes, spec, params);
    }
    match (&parsed, &loaded) {
        (Ok(a), Ok(b)) => assert!(
            a.0 == b.0
                && a.1
                    .iter()
                    .zip(&b.1)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{case}"
        ),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{case}"),
        _ => panic!("{case}: bytes gave {parsed:?}, the file {loaded:?}"),
    }
    parsed.is_ok()
}

#[test]
fn safetensors_reader_survives_seeded_mutations() {
    let start = Instant::now();
    let path = temp_dir("safetensors").join("m.safetensors");
    let mut rng = SplitMix64::new(0x5AFE);
    let (mut cases, mut accepted) = (0, 0);
    for seed in 0..24 {
        let sizes: Vec<usize> = (0..2 + rng.below(3)).map(|_| 1 + rng.below(5)).collect();
        let mut spec = MlpSpec::relu(&sizes).unwrap();
        if rng.below(3) == 0 {
            spec.activation = Activation::Identity;
        }
        let valid =
            canonical(&io::to_safetensors(&spec, &spec.init_parameters(seed), &[]).unwrap());
        let header_end = 8 + u64::from_le_bytes(valid[..8].try_into().unwrap()) as usize;
        let (loaded, _) = io::from_safetensors(&path, &valid).unwrap();
        assert_eq!(loaded, spec);
        let mut mutated = byte_mutations(&mut rng, &valid, header_end + 1);
        mutated.extend(header_mutations(&mut rng, &valid, &spec));
        assert!(sweep_model_case(
            &path,
            &format!("seed model {seed}"),
            &valid
        ));
        for (what, bytes) in &mutated {
            let case = format!("seed model {seed} {:?}, {what}", spec.sizes);
            accepted += usize::from(sweep_model_case(&path, &case, bytes));
        }
        cases += 1 + mutated.len();
    }
    eprintln!(
        "safetensors sweep: {cases} cases ({accepted} mutants accepted) in {:?}",
        start.elapsed()
    );
    assert!(cases > 5000);
    assert!(accepted > 100, "only {accepted} mutants accepted");
}
