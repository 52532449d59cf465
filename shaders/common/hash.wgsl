// Shared by the kernels that draw counter-based random numbers (dropout, gather jitter):
// PCG-style integer hash (Jarzynski & Olano 2020). `ops::shared::pcg_hash` is its CPU twin.
fn hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

