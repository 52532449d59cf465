//! Data: the readers (IDX folders, NumPy `.npz`/`.npy`, CSV), the host data set, and the
//! device-resident data set that batches are gathered from on the GPU. Nothing here knows of
//! models.

#[cfg(not(target_arch = "wasm32"))]
pub mod arrays;
pub mod dataset;
pub mod device;
pub mod idx;
#[cfg(not(target_arch = "wasm32"))]
pub mod npy;
pub mod regression;
#[cfg(not(target_arch = "wasm32"))]
pub mod regression_files;
#[cfg(not(target_arch = "wasm32"))]
pub mod source;
#[cfg(not(target_arch = "wasm32"))]
pub mod table;

pub use crate::ops::gather::Inputs;
#[cfg(not(target_arch = "wasm32"))]
pub use arrays::{read_npz, read_npz_within, ArchiveLimits, MAX_NPZ_INFLATED_BYTES};
pub use dataset::{split_indices, Dataset};
pub(crate) use device::BatchBuffers;
pub use device::DeviceDataset;
#[cfg(not(target_arch = "wasm32"))]
pub use idx::{bundled_dir, read_dir, read_idx, read_pair};
pub use idx::{pair_dataset, parse_idx, IdxArray, TrainTest};
pub use regression::{friedman1, friedman1_splits, RegressionDataset, RegressionSplits};
#[cfg(not(target_arch = "wasm32"))]
pub use regression_files::{read_regression, write_regression_csv_dir, RegressionOptions};
#[cfg(not(target_arch = "wasm32"))]
pub use source::{read_data, standardize, DataFormat, DataOptions, Standardization};
