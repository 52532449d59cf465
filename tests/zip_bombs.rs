//! `.npz` archives that inflate far past what they hold: each member is read no further than
//! its `.npy` header promises, the archive no further than its total bound, and both refusals
//! come quickly and without the memory the bomb asks for. Alone in its own test binary, so
//! the process's peak memory is this test's.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::cli::temp_dir;
use common::formats::{blob_arrays, npy};
use distill_wgpu::data::{read_npz, read_npz_within, ArchiveLimits};

/// Bytes the bombs inflate to: far more than the reads below may hold in memory.
const BOMB_BYTES: usize = 512 << 20;

/// A deflated zip whose members are the good blob arrays, except `bomb`, whose bytes are
/// `head` followed by `BOMB_BYTES` zeros, streamed (the archive is a few hundred KiB).
fn bomb_archive(path: &Path, bomb: &str, head: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut out = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for (name, bytes) in blob_arrays(8, 4, 3) {
        out.start_file(name, options).unwrap();
        if name == bomb {
            out.write_all(head).unwrap();
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..BOMB_BYTES >> 20 {
                out.write_all(&zeros).unwrap();
            }
        } else {
            out.write_all(&bytes).unwrap();
        }
    }
    out.finish().unwrap();
}

/// A version-1 `.npy` header for float32 data of `shape`, with no data after it.
fn f32_header(shape: &[u64]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let mut dict = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes
}

/// Rewrites every size field of the zip at `path` that holds `from` (local headers, the
/// central directory, zip64 extras) to `to`: an archive whose directory lies about a member.
fn patch_sizes(path: &Path, from: u64, to: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    let mut patched = 0;
    // Zip64 fields are 8 bytes, classic ones 4.
    for (old, new) in [
        (from.to_le_bytes().to_vec(), to.to_le_bytes().to_vec()),
        (
            (from as u32).to_le_bytes().to_vec(),
            (to as u32).to_le_bytes().to_vec(),
        ),
    ] {
        let width = old.len();
        for at in 0..bytes.len().saturating_sub(width) {
            if bytes[at..at + width] == old[..] {
                bytes[at..at + width].copy_from_slice(&new);
                patched += 1;
            }
        }
    }
    assert!(patched > 0, "no size field {from} in {}", path.display());
    std::fs::write(path, bytes).unwrap();
}

/// The process's peak resident memory so far, in bytes (Linux).
fn peak_resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

/// Reads `path`, which must fail within a few seconds, and returns the error.
fn refused_quickly(path: &Path, read: impl Fn(&Path) -> distill_wgpu::Result<()>) -> String {
    let start = Instant::now();
    let err = read(path).expect_err("a bomb was read").to_string();
    let took = start.elapsed();
    eprintln!("{}: refused in {took:?}: {err}", path.display());
    assert!(
        took < Duration::from_secs(20),
        "{}: refused only after {took:?}: {err}",
        path.display()
    );
    err
}

#[test]
#[cfg(target_os = "linux")]
fn zip_bombs_are_refused_by_their_headers_in_bounded_time_and_memory() {
    let dir = temp_dir("zip-bombs");
    let read = |p: &Path| read_npz(p).map(|_| ());

    // A member whose .npy header promises 96 data bytes ([8, 3] float32), followed by 512 MiB
    // of zeros: the directory tells the truth, so it is refused before inflating anything.
    let head = npy(&[8, 3], &[0.5f32; 24]);
    let honest = dir.join("honest-directory.npz");
    bomb_archive(&honest, "x_train.npy", &head);
    let err = refused_quickly(&honest, read);
    assert!(
        err.contains("x_train.npy") && err.contains("header promises"),
        "{err}"
    );

    // The same with the directory patched to agree with the header: the member is inflated
    // only one byte past the header's promise.
    let lying = dir.join("lying-directory.npz");
    bomb_archive(&lying, "x_train.npy", &head);
    patch_sizes(&lying, (head.len() + BOMB_BYTES) as u64, head.len() as u64);
    let err = refused_quickly(&lying, read);
    assert!(
        err.contains("x_train.npy") && (err.contains("inflates past") || err.contains("corrupt")),
        "{err}"
    );

    // A header that promises the whole 512 MiB, truthfully, past a member bound of 1 MiB.
    let big = f32_header(&[(BOMB_BYTES / 4) as u64, 1]);
    let small_limits = ArchiveLimits {
        member_bytes: 1 << 20,
        total_bytes: 4 << 20,
    };
    let promised = dir.join("promises-too-much.npz");
    bomb_archive(&promised, "x_train.npy", &big);
    let err = refused_quickly(&promised, |p| read_npz_within(p, &small_limits).map(|_| ()));
    assert!(err.contains("past the 1048576 one array may hold"), "{err}");

    let peak = peak_resident_bytes();
    assert!(
        peak < 192 << 20,
        "reading the bombs peaked at {} MiB resident",
        peak >> 20
    );
}

#[test]
fn the_archive_total_is_bounded_as_well_as_each_member() {
    let dir = temp_dir("zip-total");
    let path = dir.join("four-members.npz");
    let members = blob_arrays(64, 64, 16);
    std::fs::write(&path, common::formats::zip(&members, true)).unwrap();
    let sizes: Vec<u64> = members.iter().map(|(_, b)| b.len() as u64).collect();
    let largest = *sizes.iter().max().unwrap();
    let total: u64 = sizes.iter().sum();

    // Every member fits its bound, the four together do not.
    let limits = ArchiveLimits {
        member_bytes: largest,
        total_bytes: total - 1,
    };
    let err = read_npz_within(&path, &limits).unwrap_err().to_string();
    assert!(err.contains("an archive may inflate to"), "{err}");
    let limits = ArchiveLimits {
        member_bytes: largest,
        total_bytes: total,
    };
    read_npz_within(&path, &limits).expect("the same archive within its exact bounds");
}
