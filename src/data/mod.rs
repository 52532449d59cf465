//! Data: the readers (IDX folders, NumPy `.npz`/`.npy`, CSV), the host data set, and the
//! device-resident data set that batches are gathered from on the GPU. Nothing here knows of
//! models.

pub mod arrays;
pub mod dataset;
pub mod device;
pub mod idx;
pub mod npy;
pub mod source;
pub mod table;

pub use crate::ops::gather::Inputs;
pub use dataset::{split_indices, Dataset};
pub(crate) use device::BatchBuffers;
pub use device::DeviceDataset;
pub use idx::{bundled_dir, parse_idx, read_dir, read_idx, read_pair, IdxArray, TrainTest};
pub use source::{read_data, standardize, DataFormat, DataOptions, Standardization};
