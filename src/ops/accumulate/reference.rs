//! The accumulation reference, in any precision: in f32 it is what the kernel must match bit
//! for bit (IEEE 754 addition is correctly rounded on the host and, by WGSL's and Vulkan's
//! precision rules, on the device).

use std::ops::Add;

/// `dst[i] + src[i]` element-wise.
pub fn accumulate<F: Copy + Add<Output = F>>(dst: &[F], src: &[F]) -> Vec<F> {
    dst.iter().zip(src).map(|(&d, &s)| d + s).collect()
}
