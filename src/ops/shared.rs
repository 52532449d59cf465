//! CPU twins of the WGSL snippets in `ops/wgsl/` that several kernels share.

/// The hash `wgsl/hash.wgsl` defines (PCG-style, Jarzynski & Olano 2020), used by dropout and
/// the gather's jitter.
pub fn pcg_hash(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}
