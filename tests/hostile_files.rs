//! Hostile input for the readers: every row is a file (or a directory, FIFO, sparse file) and
//! the error it must give — never a panic, an abort, a hang or an allocation sized by a lie.
//! Library reads run on a thread with a deadline so a hang fails the test; a few rows also go
//! through the `distill` binary, which must exit non-zero with one `error:` line in time.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use distill_wgpu::data::{read_dir, read_idx, read_pair};
use distill_wgpu::model::io;
use distill_wgpu::Error;

/// Generous for a shared 2-core machine; a blocked read never finishes at all.
const DEADLINE: Duration = Duration::from_secs(30);

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distill-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn idx(kind: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(body);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A gzip stream inflating to `header` then `mib` MiB of zeros: one member for the header,
/// then the same 1 MiB member repeated, so a 4 GiB bomb costs 4 MB and no time to build.
fn gzip_bomb(header: &[u8], mib: usize) -> Vec<u8> {
    let member = gzip(&vec![0u8; 1 << 20]);
    let mut out = gzip(header);
    for _ in 0..mib {
        out.extend_from_slice(&member);
    }
    out
}

fn dtype_size(dtype: &str) -> usize {
    match dtype {
        "F64" | "I64" => 8,
        "F16" | "BF16" | "I16" => 2,
        "U8" | "I8" | "BOOL" => 1,
        _ => 4,
    }
}

/// A safetensors file: the 8-byte header length, the JSON header (padded), the data.
fn raw_safetensors(header: &str, body: &[u8]) -> Vec<u8> {
    let mut header = header.to_string();
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

/// A well-formed safetensors file with `metadata` and tensors `(name, dtype, shape, data)`.
fn safetensors_with(
    metadata: &[(&str, &str)],
    tensors: &[(String, &str, Vec<usize>, Vec<u8>)],
) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let meta: serde_json::Map<String, serde_json::Value> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect();
    header.insert("__metadata__".into(), meta.into());
    let mut body = Vec::new();
    for (name, dtype, shape, data) in tensors {
        let start = body.len();
        body.extend_from_slice(data);
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, body.len()]}),
        );
    }
    raw_safetensors(&serde_json::Value::Object(header).to_string(), &body)
}

/// As [`safetensors_with`], each tensor zero-filled to its shape.
fn safetensors(metadata: &[(&str, &str)], tensors: &[(&str, &str, &[usize])]) -> Vec<u8> {
    let full: Vec<_> = tensors
        .iter()
        .map(|&(name, dtype, shape)| {
            let len = shape.iter().product::<usize>() * dtype_size(dtype);
            (name.to_string(), dtype, shape.to_vec(), vec![0u8; len])
        })
        .collect();
    safetensors_with(metadata, &full)
}

/// A one-layer `[3] → [2]` model with `sizes` metadata.
fn one_layer(sizes: &str) -> Vec<u8> {
    safetensors(
        &[("distill_wgpu.sizes", sizes)],
        &[("0.weight", "F32", &[2, 3]), ("0.bias", "F32", &[2])],
    )
}

/// `n` weight tensors `0.weight, 2.weight, …` of shape [1, 1] and no bias: the layer scan
/// walks all of them before the missing bias is found.
fn many_names(n: usize) -> Vec<u8> {
    let tensors: Vec<_> = (0..n)
        .map(|l| {
            (
                format!("{}.weight", 2 * l),
                "F32",
                vec![1, 1],
                1f32.to_le_bytes().to_vec(),
            )
        })
        .collect();
    safetensors_with(&[], &tensors)
}

/// What a row is on disk.
enum Setup {
    Bytes(Vec<u8>),
    Directory,
    Fifo,
    Missing,
    /// A sparse file of this length holding these first bytes (no disk, no read).
    Sparse(Vec<u8>, u64),
}

/// What a row must give.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A format error containing the fragment.
    Format(&'static str),
    /// An I/O error.
    Io,
    /// Non-finite values.
    NonFinite,
    /// Success (sanity rows: the table is not rejecting everything).
    Ok,
}

/// Puts the row's file at `path`; false when this system cannot make it (no `mkfifo`).
fn materialise(path: &Path, setup: &Setup) -> bool {
    match setup {
        Setup::Bytes(b) => std::fs::write(path, b).unwrap(),
        Setup::Directory => std::fs::create_dir(path).unwrap(),
        Setup::Missing => {}
        Setup::Fifo => {
            let made = Command::new("mkfifo").arg(path).status();
            if !made.is_ok_and(|s| s.success()) {
                eprintln!("skipped {}: mkfifo unavailable", path.display());
                return false;
            }
        }
        Setup::Sparse(head, len) => {
            let f = std::fs::File::create(path).unwrap();
            (&f).write_all(head).unwrap();
            f.set_len(*len).unwrap();
        }
    }
    true
}

/// Runs `read` on a thread and waits at most [`DEADLINE`]: a hang fails instead of blocking.
fn within_deadline<T: Send + 'static>(
    what: &str,
    read: impl FnOnce() -> T + Send + 'static,
) -> (T, Duration) {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(read());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(v) => (v, start.elapsed()),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: still reading after {DEADLINE:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the reader panicked"),
    }
}

fn check<T: std::fmt::Debug>(row: &str, path: &Path, result: Result<T, Error>, expect: Expect) {
    let name = path.file_name().unwrap().to_str().unwrap();
    match (expect, &result) {
        (Expect::Ok, Ok(_)) => {}
        (Expect::Format(fragment), Err(e @ Error::Format { .. })) => {
            let msg = e.to_string();
            assert!(msg.contains(fragment), "{row}: {msg:?} lacks {fragment:?}");
            assert!(msg.contains(name), "{row}: {msg:?} does not name the file");
        }
        (Expect::Io, Err(e @ Error::Io { .. })) => {
            assert!(
                e.to_string().contains(name),
                "{row}: {e} does not name the file"
            );
        }
        (Expect::NonFinite, Err(Error::NonFinite { .. })) => {}
        _ => panic!("{row}: expected {expect:?}, got {result:?}"),
    }
}

/// Runs each row through `read(path)`, also `parse(path, bytes)` for byte rows.
fn run_table<T: std::fmt::Debug + Send + 'static>(
    dir: &Path,
    rows: Vec<(&str, Setup, Expect)>,
    read: fn(&Path) -> distill_wgpu::Result<T>,
    parse: fn(&Path, &[u8]) -> distill_wgpu::Result<T>,
) {
    for (i, (row, setup, expect)) in rows.into_iter().enumerate() {
        let path = dir.join(format!("row{i}"));
        if !materialise(&path, &setup) {
            continue;
        }
        let p = path.clone();
        let (result, took) = within_deadline(row, move || read(&p));
        eprintln!("{row}: {took:?}");
        check(row, &path, result, expect);
        if let Setup::Bytes(bytes) = &setup {
            check(
                &format!("{row} (bytes)"),
                &path,
                parse(&path, bytes),
                expect,
            );
        }
        // The sparse rows claim gigabytes; leave nothing behind.
        let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir(&path));
    }
}

#[test]
fn hostile_model_files_give_one_clear_error() {
    use Expect::*;
    use Setup::*;
    let dir = temp_dir("models");
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let two_layers = |w0: &[usize], w2: &[usize]| {
        safetensors(
            &[],
            &[
                ("0.weight", "F32", w0),
                ("0.bias", "F32", &w0[..1]),
                ("2.weight", "F32", w2),
                ("2.bias", "F32", &w2[..1]),
            ],
        )
    };
    let rows = vec![
        ("valid one-layer model", Bytes(one_layer("3,2")), Ok),
        (
            "valid model without metadata",
            Bytes(two_layers(&[4, 3], &[2, 4])),
            Ok,
        ),
        ("directory", Directory, Format("a directory")),
        ("FIFO", Fifo, Format("FIFO")),
        ("missing file", Missing, Io),
        (
            "empty file",
            Bytes(vec![]),
            Format("not a readable safetensors file"),
        ),
        (
            "4 bytes",
            Bytes(vec![1, 0, 0, 0]),
            Format("not a readable safetensors file"),
        ),
        (
            "header length 2^64-1",
            Bytes(u64::MAX.to_le_bytes().to_vec()),
            Format("not a readable safetensors file"),
        ),
        (
            "header length past the end",
            Bytes([&1000u64.to_le_bytes()[..], b"{}"].concat()),
            Format("not a readable safetensors file"),
        ),
        (
            "header not JSON",
            Bytes(raw_safetensors("{not json", &[])),
            Format("not a readable safetensors file"),
        ),
        (
            "header a JSON array",
            Bytes(raw_safetensors("[1,2]", &[])),
            Format("not a readable safetensors file"),
        ),
        (
            "overlapping data offsets",
            Bytes(raw_safetensors(
                r#"{"0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"0.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                &[0; 24],
            )),
            Format("not a readable safetensors file"),
        ),
        (
            "data offsets past the data",
            Bytes(raw_safetensors(
                r#"{"0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}"#,
                &[0; 8],
            )),
            Format("not a readable safetensors file"),
        ),
        (
            "shape product overflows",
            Bytes(raw_safetensors(
                r#"{"0.weight":{"dtype":"F32","shape":[9223372036854775808,4],"data_offsets":[0,0]}}"#,
                &[],
            )),
            Format("not a readable safetensors file"),
        ),
        (
            "9 GiB sparse file",
            Sparse(one_layer("3,2"), 9 << 30),
            Format("more than a model file may hold"),
        ),
        (
            "no tensors",
            Bytes(safetensors(&[("format", "pt")], &[])),
            Format("\"0.weight\" is missing"),
        ),
        (
            "sizes 3e11",
            Bytes(one_layer("300000000000,2")),
            Format("has shape [2, 3], expected [2, 300000000000]"),
        ),
        (
            "sizes 3e15",
            Bytes(one_layer("3000000000000000,2")),
            Format("has shape [2, 3], expected [2, 3000000000000000]"),
        ),
        (
            "hidden width 3e15",
            Bytes(safetensors(
                &[("distill_wgpu.sizes", "3,3000000000000000,2")],
                &[
                    ("0.weight", "F32", &[4, 3]),
                    ("0.bias", "F32", &[4]),
                    ("2.weight", "F32", &[2, 4]),
                    ("2.bias", "F32", &[2]),
                ],
            )),
            Format("\"0.weight\" has shape [4, 3], expected [3000000000000000, 3]"),
        ),
        (
            "widths 2^64-1",
            Bytes(one_layer("18446744073709551615,18446744073709551615")),
            Format("too many parameters"),
        ),
        (
            "hidden width 2^64-1",
            Bytes(one_layer("3,18446744073709551615,2")),
            Format("too many parameters"),
        ),
        (
            "byte size past 2^64",
            Bytes(one_layer("4611686018427387904,1")),
            Format("too many parameters"),
        ),
        (
            "negative sizes",
            Bytes(one_layer("-3,2")),
            Format("bad distill_wgpu.sizes metadata"),
        ),
        (
            "garbage sizes",
            Bytes(one_layer("abc")),
            Format("bad distill_wgpu.sizes metadata"),
        ),
        (
            "empty sizes",
            Bytes(one_layer("")),
            Format("bad distill_wgpu.sizes metadata"),
        ),
        (
            "fractional sizes",
            Bytes(one_layer("3.5,2")),
            Format("bad distill_wgpu.sizes metadata"),
        ),
        (
            "one size",
            Bytes(one_layer("3")),
            Format("at least input and output sizes"),
        ),
        ("zero width", Bytes(one_layer("3,0")), Format("zero")),
        (
            "sizes with more layers than weights",
            Bytes(one_layer("3,2,2")),
            Format("has 2 layers, file has 1 weights"),
        ),
        (
            "unknown activation",
            Bytes(safetensors(
                &[("distill_wgpu.activation", "tanh")],
                &[("0.weight", "F32", &[2, 3]), ("0.bias", "F32", &[2])],
            )),
            Format("unknown activation"),
        ),
        (
            "F16 weight beside an F32 bias (each tensor is read in its own dtype)",
            Bytes(safetensors(
                &[],
                &[("0.weight", "F16", &[2, 3]), ("0.bias", "F32", &[2])],
            )),
            Ok,
        ),
        (
            "F64 weight",
            Bytes(safetensors(
                &[],
                &[("0.weight", "F64", &[2, 3]), ("0.bias", "F32", &[2])],
            )),
            Format("\"0.weight\" has dtype F64"),
        ),
        (
            "I32 bias",
            Bytes(safetensors(
                &[],
                &[("0.weight", "F32", &[2, 3]), ("0.bias", "I32", &[2])],
            )),
            Format("\"0.bias\" has dtype I32"),
        ),
        (
            "layers that do not chain",
            Bytes(two_layers(&[4, 3], &[2, 5])),
            Format("\"2.weight\" has shape [2, 5], expected [2, 4]"),
        ),
        (
            "rank-3 weight",
            Bytes(safetensors(
                &[],
                &[("0.weight", "F32", &[2, 3, 1]), ("0.bias", "F32", &[2])],
            )),
            Format("expected [out, in]"),
        ),
        (
            "rank-1 weight with sizes",
            Bytes(safetensors(
                &[("distill_wgpu.sizes", "3,2")],
                &[("0.weight", "F32", &[6]), ("0.bias", "F32", &[2])],
            )),
            Format("has shape [6], expected [2, 3]"),
        ),
        (
            "bias missing",
            Bytes(safetensors(&[], &[("0.weight", "F32", &[2, 3])])),
            Format("\"0.bias\" is missing"),
        ),
        (
            "NaN parameter",
            Bytes(safetensors_with(
                &[],
                &[
                    ("0.weight".into(), "F32", vec![1, 1], f32s(&[f32::NAN])),
                    ("0.bias".into(), "F32", vec![1], f32s(&[0.0])),
                ],
            )),
            NonFinite,
        ),
    ];
    run_table(&dir, rows, io::load, io::from_safetensors);
}

#[test]
fn a_header_with_100k_names_is_read_in_linear_time() {
    let bytes = many_names(100_000);
    let path = temp_dir("names").join("names.safetensors");
    std::fs::write(&path, &bytes).unwrap();
    let p = path.clone();
    let (result, took) = within_deadline("100k names", move || io::load(&p));
    eprintln!(
        "100k-name header: {} bytes, rejected in {took:?}",
        bytes.len()
    );
    check(
        "100k names",
        &path,
        result,
        Expect::Format("\"0.bias\" is missing"),
    );
    // Linear work is milliseconds; the quadratic scan took over a minute.
    assert!(took < Duration::from_secs(5), "100k names took {took:?}");
}

/// `parse_idx` takes raw IDX bytes only; gzip rows are covered by `read_idx` alone.
fn parse_idx_bytes(
    path: &Path,
    bytes: &[u8],
) -> distill_wgpu::Result<distill_wgpu::data::IdxArray> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        read_idx(path)
    } else {
        distill_wgpu::data::parse_idx(path, bytes)
    }
}

#[test]
fn hostile_idx_files_give_one_clear_error() {
    use Expect::*;
    use Setup::*;
    let dir = temp_dir("idx");
    let mib = vec![0u8; 1 << 20];
    let rows = vec![
        (
            "valid raw file",
            Bytes(idx(8, &[2, 3], &[1, 2, 3, 4, 5, 6])),
            Ok,
        ),
        (
            "valid gzip file",
            Bytes(gzip(&idx(8, &[2, 3], &[1, 2, 3, 4, 5, 6]))),
            Ok,
        ),
        ("directory", Directory, Format("a directory")),
        ("FIFO", Fifo, Format("FIFO")),
        ("missing file", Missing, Io),
        ("empty file", Bytes(vec![]), Format("0 bytes is too short")),
        (
            "3 bytes",
            Bytes(vec![0, 0, 8]),
            Format("3 bytes is too short"),
        ),
        (
            "bad magic",
            Bytes(vec![1, 2, 8, 1, 0, 0, 0, 1, 5]),
            Format("bad IDX magic"),
        ),
        (
            "float elements",
            Bytes(idx(0x0d, &[1], &[0; 4])),
            Format("not unsigned byte"),
        ),
        (
            "rank 0",
            Bytes(idx(8, &[], &[])),
            Format("rank 0 is not 1 to 4"),
        ),
        (
            "rank 5",
            Bytes(idx(8, &[1; 5], &[0])),
            Format("rank 5 is not 1 to 4"),
        ),
        (
            "truncated header",
            Bytes(vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0]),
            Format("truncated IDX header"),
        ),
        (
            "short body",
            Bytes(idx(8, &[3, 2], &[1, 2, 3])),
            Format("need 6 data bytes, file has 3"),
        ),
        (
            "trailing bytes",
            Bytes(idx(8, &[3, 2], &[0; 8])),
            Format("need 6 data bytes, file has 8"),
        ),
        (
            "dimensions overflow",
            Bytes(idx(8, &[u32::MAX; 4], &[])),
            Format("need more than the 4294967295 data bytes"),
        ),
        (
            "dimensions past the limit",
            Bytes(idx(8, &[65536, 65536, 2], &[0; 16])),
            Format("need more than the 4294967295 data bytes"),
        ),
        (
            "8 GiB sparse file, header promises 16",
            Sparse(idx(8, &[16], &[]), 8 << 30),
            Format("need 16 data bytes, file has 8589934584"),
        ),
        (
            "gzip bomb, header promises 16",
            Bytes(gzip_bomb(&idx(8, &[16], &[]), 4096)),
            Format("need 16 data bytes, the decompressed data has more"),
        ),
        (
            "gzip promising 3 GiB, holding 1 MiB",
            Bytes(gzip(&idx(8, &[3072, 1024, 1024], &mib))),
            Format("need 3221225472 data bytes, the decompressed data has 1048576"),
        ),
        (
            "gzip promising past the limit",
            Bytes(gzip_bomb(&idx(8, &[65536, 65536, 2], &[]), 4)),
            Format("need more than the 4294967295 data bytes"),
        ),
        (
            "gzip of nothing",
            Bytes(gzip(&[])),
            Format("0 bytes is too short"),
        ),
        (
            "gzip of a bare header",
            Bytes(gzip(&idx(8, &[2, 2, 2], &[]))),
            Format("need 8 data bytes, the decompressed data has 0"),
        ),
        (
            "truncated gzip",
            Bytes(gzip(&idx(8, &[64], &[7; 64]))[..20].to_vec()),
            Format("gzip"),
        ),
        (
            "gzip magic then garbage",
            Bytes(vec![0x1f, 0x8b, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0]),
            Format("gzip"),
        ),
        (
            "gzip with garbage after the stream",
            Bytes([gzip(&idx(8, &[2], &[1, 2])), vec![0xde, 0xad, 0xbe, 0xef]].concat()),
            Format("gzip"),
        ),
    ];
    let started = Instant::now();
    run_table(&dir, rows, read_idx, parse_idx_bytes);
    // The 4 GiB bomb and the sparse 8 GiB file are refused without reading them.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "IDX rows took {:?}",
        started.elapsed()
    );
}

#[test]
fn hostile_idx_pairs_and_folders_give_one_clear_error() {
    let dir = temp_dir("pairs");
    let pair = |name: &str, images: Vec<u8>, labels: Vec<u8>, fragment: &str| {
        let (i, l) = (
            dir.join(format!("{name}-images")),
            dir.join(format!("{name}-labels")),
        );
        std::fs::write(&i, images).unwrap();
        std::fs::write(&l, labels).unwrap();
        let (result, _) = within_deadline(name, move || read_pair(&i, &l));
        match result {
            Err(e @ Error::Format { .. }) => {
                assert!(e.to_string().contains(fragment), "{name}: {e}")
            }
            other => panic!("{name}: expected a format error with {fragment:?}, got {other:?}"),
        }
    };
    pair(
        "rank-1 images",
        idx(8, &[4], &[0; 4]),
        idx(8, &[4], &[0; 4]),
        "must have rank 3",
    );
    pair(
        "rank-2 labels",
        idx(8, &[1, 1, 1], &[0]),
        idx(8, &[1, 1], &[0]),
        "must have rank 1",
    );
    pair(
        "counts differ",
        idx(8, &[4, 1, 1], &[0; 4]),
        idx(8, &[3], &[0; 3]),
        "3 labels for 4 images",
    );
    pair(
        "no samples",
        idx(8, &[0, 2, 2], &[]),
        idx(8, &[0], &[]),
        "no samples",
    );
    pair(
        "no pixels",
        idx(8, &[2, 0, 3], &[]),
        idx(8, &[2], &[0; 2]),
        "have no pixels",
    );
    pair(
        "labels bomb",
        idx(8, &[1, 1, 1], &[0]),
        gzip_bomb(&idx(8, &[1], &[]), 64),
        "has more",
    );

    // A FIFO where the labels should be: refused, not waited on.
    let images = dir.join("fifo-images");
    std::fs::write(&images, idx(8, &[1, 1, 1], &[0])).unwrap();
    let labels = dir.join("fifo-labels");
    if materialise(&labels, &Setup::Fifo) {
        let (result, _) = within_deadline("FIFO labels", move || read_pair(&images, &labels));
        assert!(result.unwrap_err().to_string().contains("FIFO"));
    }
    // Folders: missing files, and test images of another size than the training images.
    let folder = temp_dir("folder");
    let f = folder.clone();
    let (result, _) = within_deadline("empty folder", move || read_dir(&f));
    let err = result.unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("train-images-idx3-ubyte"),
        "{err}"
    );
    for (stem, bytes) in [
        ("train-images-idx3-ubyte", idx(8, &[1, 2, 2], &[0; 4])),
        ("train-labels-idx1-ubyte", idx(8, &[1], &[0])),
        ("t10k-images-idx3-ubyte", idx(8, &[1, 3, 3], &[0; 9])),
        ("t10k-labels-idx1-ubyte", idx(8, &[1], &[0])),
    ] {
        std::fs::write(folder.join(stem), bytes).unwrap();
    }
    let f = folder.clone();
    let (result, _) = within_deadline("mixed image sizes", move || read_dir(&f));
    assert!(result
        .unwrap_err()
        .to_string()
        .contains("test samples are 3x3, training samples 2x2"));
    // A FIFO named like a data file is refused as one, not waited on or called missing.
    let labels = folder.join("t10k-labels-idx1-ubyte");
    std::fs::remove_file(&labels).unwrap();
    if materialise(&labels, &Setup::Fifo) {
        let f = folder.clone();
        let (result, _) = within_deadline("FIFO in a folder", move || read_dir(&f));
        let err = result.unwrap_err().to_string();
        assert!(err.contains("t10k-labels-idx1-ubyte: a FIFO"), "{err}");
    }
    let _ = std::fs::remove_file(&labels);
    std::fs::create_dir(folder.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let f = folder.clone();
    let (result, _) = within_deadline("folder in a folder", move || read_dir(&f));
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("t10k-labels-idx1-ubyte.gz: a directory"),
        "{err}"
    );
}

/// Runs `distill args…` with stderr in a file, killed after [`DEADLINE`].
fn distill_in_time(args: &[&str], log: &Path) -> (std::process::ExitStatus, String, Duration) {
    let start = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_distill"));
    // Without a runtime folder some Vulkan loaders print their own `error:` lines; give them
    // one, as a desktop session would, so only the binary's own errors are counted.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        let runtime = temp_dir("xdg-runtime");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        command.env("XDG_RUNTIME_DIR", runtime);
    }
    let mut child = command
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("failed to start distill");
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (
                status,
                std::fs::read_to_string(log).unwrap(),
                start.elapsed(),
            );
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("distill {args:?} still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_binary_refuses_hostile_models_and_widths_in_time() {
    with_gpu!(_ctx => {
        let dir = temp_dir("cli");
        let path = |name: &str, setup: Setup| {
            let p = dir.join(name);
            materialise(&p, &setup).then_some(p)
        };
        let mut cases: Vec<(Vec<String>, &str)> = Vec::new();
        let models = [
            (path("fifo.safetensors", Setup::Fifo), "FIFO"),
            (path("folder.safetensors", Setup::Directory), "a directory"),
            (path("sizes.safetensors", Setup::Bytes(one_layer("3000000000000000,2"))), "expected [2, 3000000000000000]"),
            (path("wide.safetensors", Setup::Bytes(one_layer("18446744073709551615,18446744073709551615"))), "too many parameters"),
            (path("names.safetensors", Setup::Bytes(many_names(100_000))), "\"0.bias\" is missing"),
        ];
        for (model, fragment) in models {
            if let Some(m) = model {
                cases.push((vec!["eval".into(), "--model".into(), m.display().to_string()], fragment));
            }
        }
        let out = dir.join("out").display().to_string();
        let widths = [
            ("18446744073709551615", "too many parameters"),
            ("4611686018427387904", "too many parameters"),
            // Countable, but past any adapter: refused before a host vector is sized by it.
            ("1099511627776", "past the adapter's limit"),
        ];
        for (hidden, fragment) in widths {
            cases.push((["train", "--epochs", "1", "--hidden", hidden, "--out", &out].map(String::from).to_vec(), fragment));
        }
        let data = temp_dir("cli-data");
        std::fs::write(data.join("train-images-idx3-ubyte.gz"), gzip_bomb(&idx(8, &[1, 1, 1], &[]), 4096)).unwrap();
        std::fs::write(data.join("train-labels-idx1-ubyte"), idx(8, &[1], &[0])).unwrap();
        std::fs::write(data.join("t10k-images-idx3-ubyte"), idx(8, &[1, 1, 1], &[0])).unwrap();
        std::fs::write(data.join("t10k-labels-idx1-ubyte"), idx(8, &[1], &[0])).unwrap();
        let d = data.display().to_string();
        cases.push((["train", "--epochs", "1", "--data", &d, "--out", &out].map(String::from).to_vec(), "the decompressed data has more"));

        for (i, (args, fragment)) in cases.iter().enumerate() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (status, stderr, took) = distill_in_time(&args, &dir.join(format!("stderr{i}")));
            eprintln!("distill {args:?}: {took:?}");
            assert!(!status.success(), "{args:?} succeeded");
            assert!(status.code().is_some(), "{args:?} was killed by a signal (abort?): {stderr}");
            assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
            let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
            assert_eq!(errors.len(), 1, "{args:?}: want one error line, got:\n{stderr}");
            assert!(errors[0].contains(fragment), "{args:?}: {:?} lacks {fragment:?}", errors[0]);
        }
    });
}

#[test]
fn widths_whose_sizes_overflow_are_refused_before_anything_is_allocated() {
    use distill_wgpu::{Mlp, MlpSpec};
    let max = usize::MAX;
    for sizes in [
        vec![max, max],
        vec![3, max, 2],
        vec![784, 18446744073709551615 / 784 + 1, 10],
        // The count fits usize, its byte size does not fit u64.
        vec![1 << 62, 1],
        vec![1 << 31, 1 << 31],
    ] {
        match MlpSpec::relu(&sizes) {
            Err(e @ Error::InvalidConfig(_)) => assert!(
                e.to_string().contains("too many parameters"),
                "{sizes:?}: {e}"
            ),
            other => panic!("{sizes:?}: expected a refusal, got {other:?}"),
        }
    }
    // A spec built by hand past validation reports a saturated count and offsets that never
    // wrap back to small numbers.
    let unchecked = MlpSpec {
        sizes: vec![3, max, 2],
        activation: distill_wgpu::Activation::Relu,
    };
    assert_eq!(unchecked.checked_parameter_count(), None);
    assert_eq!(unchecked.parameter_count(), max);
    assert_eq!(unchecked.parameter_bytes(), u64::MAX);
    let layers = unchecked.layers();
    assert!(layers
        .windows(2)
        .all(|w| w[1].weight_offset >= w[0].bias_offset));
    assert_eq!(
        MlpSpec::relu(&[784, 800, 10]).unwrap().parameter_count(),
        784 * 800 + 800 + 800 * 10 + 10
    );

    // Countable but past the adapter: Mlp::new refuses before sizing the host initial values.
    with_gpu!(ctx => {
        let spec = MlpSpec::relu(&[1 << 30, 1 << 30]).unwrap();
        assert_eq!(spec.parameter_bytes(), ((1u64 << 60) + (1 << 30)) * 4);
        let (result, took) = within_deadline("Mlp::new", move || Mlp::new(ctx, &spec, 0).map(|_| ()));
        assert!(matches!(result, Err(Error::ExceedsLimit { .. })), "{result:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    });
}
