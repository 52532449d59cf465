//! Data: the IDX reader, the host data set, and the device-resident data set that batches are
//! gathered from on the GPU. Nothing here knows of models.

pub mod dataset;
pub mod device;
pub mod idx;
pub mod npy;

pub use dataset::{split_indices, Dataset};
pub(crate) use device::BatchBuffers;
pub use device::DeviceDataset;
pub use idx::{bundled_dir, parse_idx, read_dir, read_idx, read_pair, IdxArray, TrainTest};
