//! The prune mask, plainly.

/// `weights` with every entry inside one of `ranges` (`(offset, count)`) whose `snapshot` entry
/// is zero set to zero.
pub fn prune_mask(weights: &[f64], snapshot: &[f64], ranges: &[(usize, usize)]) -> Vec<f64> {
    let mut out = weights.to_vec();
    for &(offset, count) in ranges {
        for i in offset..offset + count {
            if snapshot[i] == 0.0 {
                out[i] = 0.0;
            }
        }
    }
    out
}
