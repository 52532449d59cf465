//! wgpu error scopes around an operation, turned into the crate's errors, and `resolve`:
//! how the crate waits for one of wgpu's futures on each platform.
//!
//! Natively every GPU call is checked where it happens: its error scopes are popped at once.
//! In a browser nothing may block, so scopes are not pushed there; the device's
//! uncaptured-error handler keeps the first error and the next checked call reports it (at the
//! latest the next read-back, which is awaited).

use crate::error::Result;

/// Waits for `future`: natively by blocking (pollster); on the web this is an `async fn`, so
/// code written once with `resolve(f).await` under `#[maybe_async]` blocks natively and
/// awaits in the browser.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn resolve<F: std::future::Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

/// Waits for `future` (the browser's form: see the native one).
#[cfg(target_arch = "wasm32")]
pub(crate) async fn resolve<F: std::future::Future>(future: F) -> F::Output {
    future.await
}

/// Runs `f` inside validation and out-of-memory error scopes of `device`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn scoped<T>(
    device: &wgpu::Device,
    operation: &str,
    f: impl FnOnce() -> T,
) -> Result<T> {
    use crate::error::Error;
    let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let value = f();
    let validation_error = resolve(validation.pop());
    let oom_error = resolve(oom.pop());
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

/// Runs `f`; in a browser its errors reach the uncaptured-error handler instead (see the
/// module notes).
#[cfg(target_arch = "wasm32")]
pub(crate) fn scoped<T>(
    _device: &wgpu::Device,
    _operation: &str,
    f: impl FnOnce() -> T,
) -> Result<T> {
    Ok(f())
}
