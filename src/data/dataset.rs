//! A host data set: features (u8 images or f32 values) and labels.

use crate::classes::ClassSet;
use crate::error::{Error, Result};
use crate::ops::gather::Inputs;
use crate::rng::SplitMix64;
use crate::util::select_rows;

/// A classification data set in memory: features `[count, height·width]` and labels. Images
/// have a height; tabular samples are one row (`height` 1, `width` the feature count).
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Feature values, row-major per sample.
    pub inputs: Inputs,
    /// Class of each image.
    pub labels: Vec<u8>,
    /// Image height (1 for tabular data).
    pub height: usize,
    /// Image width (the feature count for tabular data).
    pub width: usize,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per sample (`height·width`); saturates rather than wrapping for a hand-built
    /// set whose product overflows (no file the readers accept has one).
    pub fn features(&self) -> usize {
        self.height.saturating_mul(self.width)
    }

    /// True for one-row samples (tabular data), which jitter cannot shift.
    pub fn is_tabular(&self) -> bool {
        self.height == 1
    }

    /// Value offset of sample `index`, checked.
    fn pixel_offset(&self, index: usize) -> Option<usize> {
        index.checked_mul(self.features())
    }

    /// One more than the largest label.
    pub fn classes(&self) -> usize {
        self.labels
            .iter()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1)
    }

    /// Inputs as the model sees them (bytes scaled to [0, 1], floats as they are) for samples
    /// `range` (for host-side use and tests).
    ///
    /// # Panics
    /// If `range` reaches past the data set.
    pub fn inputs_f32(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        self.pixel_offset(range.start)
            .zip(self.pixel_offset(range.end))
            .and_then(|(start, end)| self.inputs.values(start..end))
            .unwrap_or_else(|| {
                panic!(
                    "samples {range:?} are past the data set of {} samples",
                    self.len()
                )
            })
    }

    /// `count` random `height × width` images with random labels below `classes` (benchmarks).
    ///
    /// # Panics
    /// If `count·height·width` overflows `usize`.
    pub fn random(
        rng: &mut SplitMix64,
        count: usize,
        height: usize,
        width: usize,
        classes: usize,
    ) -> Dataset {
        let pixels = count
            .checked_mul(height)
            .and_then(|n| n.checked_mul(width))
            .unwrap_or_else(|| panic!("{count} images of {height}x{width} overflow usize"));
        Dataset {
            inputs: Inputs::U8((0..pixels).map(|_| rng.below(256) as u8).collect()),
            labels: (0..count).map(|_| rng.below(classes) as u8).collect(),
            height,
            width,
        }
    }

    /// The first `count` samples.
    pub fn head(&self, count: usize) -> Dataset {
        let count = count.min(self.len());
        let end = self
            .pixel_offset(count)
            .map_or(self.inputs.len(), |n| n.min(self.inputs.len()));
        Dataset {
            inputs: self.inputs.head(end),
            labels: self.labels[..count].to_vec(),
            height: self.height,
            width: self.width,
        }
    }

    /// The samples whose label is in `classes` (their order kept); errors if no sample is, or
    /// if the features do not hold `len × features` values.
    pub fn filter_classes(&self, classes: &ClassSet) -> Result<Dataset> {
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| classes.contains(self.labels[i] as usize))
            .collect();
        if keep.is_empty() {
            return Err(Error::InvalidConfig(format!(
                "no sample has a label in classes {classes}"
            )));
        }
        self.select(&keep)
    }

    /// The samples at `indices`, in that order; errors on an index past the end or if the
    /// features do not hold `len × features` values.
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        let features = self.features();
        if self.len().checked_mul(features) != Some(self.inputs.len()) {
            return Err(Error::ShapeMismatch {
                what: "data set features".into(),
                expected: self.len().saturating_mul(features),
                got: self.inputs.len(),
            });
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::InvalidConfig(format!(
                "sample {bad} is past the data set of {} samples",
                self.len()
            )));
        }
        Ok(Dataset {
            inputs: self.inputs.select_rows(features, indices),
            labels: select_rows(&self.labels, 1, indices),
            height: self.height,
            width: self.width,
        })
    }

    /// A seeded random split into (rest, held out) by [`split_indices`], each part in stored
    /// order.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        let (rest, held) = split_indices(self.len(), fraction, seed)?;
        Ok((self.select(&rest)?, self.select(&held)?))
    }
}

/// A seeded random split of `0..len` into (rest, held out), `ceil(fraction·len)` held out (at
/// least one, and at least one left), each part sorted. `fraction` must lie in (0, 1) and
/// `len` be at least 2.
pub fn split_indices(len: usize, fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::InvalidConfig(format!(
            "a held-out fraction must lie in (0, 1), got {fraction}"
        )));
    }
    if len < 2 {
        return Err(Error::InvalidConfig(format!(
            "cannot split a data set of {len} samples"
        )));
    }
    let held = ((len as f64 * fraction).ceil() as usize).clamp(1, len - 1);
    let mut order: Vec<usize> = (0..len).collect();
    SplitMix64::new(seed).shuffle(&mut order);
    let (mut out, mut rest) = (order[..held].to_vec(), order[held..].to_vec());
    out.sort_unstable();
    rest.sort_unstable();
    Ok((rest, out))
}
