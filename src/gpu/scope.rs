//! wgpu error scopes around an operation, turned into the crate's errors.

use crate::error::{Error, Result};

/// Runs `f` inside validation and out-of-memory error scopes of `device`.
pub(crate) fn scoped<T>(
    device: &wgpu::Device,
    operation: &str,
    f: impl FnOnce() -> T,
) -> Result<T> {
    let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let value = f();
    let validation_error = pollster::block_on(validation.pop());
    let oom_error = pollster::block_on(oom.pop());
    if let Some(e) = validation_error {
        return Err(Error::Gpu {
            operation: operation.to_string(),
            message: e.to_string(),
        });
    }
    if oom_error.is_some() {
        return Err(Error::OutOfMemory {
            operation: operation.to_string(),
        });
    }
    Ok(value)
}
