//! A minimal safe wrapper over the Node-API C ABI, std only.
//!
//! - [`sys`]: the raw ABI, C names kept (the only module with them).
//! - [`Env`]: the environment handle of one JavaScript thread, with value helpers.
//!   Every method must be called on the thread that owns the environment, inside a
//!   callback Node made into the addon; an `Env` is `!Send`, so it cannot leave it.
//! - [`Error`] / [`Result`]: an `Err` returned from a [`Callback`] is thrown as a
//!   JavaScript exception (`Error`, `TypeError` or `RangeError` with `.code`/`.errno`).
//! - [`Reference`]: a strong reference that deletes itself on drop (JS thread only).
//! - [`ThreadsafeFunction`]: the handle other threads use to call into JavaScript.
//! - [`uv`]: the libuv calls that watch an fd on the environment's loop, and
//!   [`AsyncContext`] / [`HandleScope`] to call JavaScript from such a callback.
//!
//! Functions are exposed through [`register_module`], whose trampoline turns `Err` and
//! Rust panics into exceptions (a panic must never unwind into Node).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod sys;
pub mod uv;

mod env;
mod error;
mod reference;
mod tsfn;

pub use env::{
    AsyncContext, CallInfo, Callback, Env, HandleScope, TypeTag, TypedArrayInfo, Value, ValueType,
};
pub use error::{Error, ErrorKind, Result};
pub use reference::Reference;
pub use tsfn::{CallError, CallJs, ThreadsafeFunction};

use std::ffi::c_void;

/// Fills `exports` with one function per `(name, callback)` and returns it; the body of
/// `napi_register_module_v1`. On failure the exception is thrown and `exports` returned.
///
/// # Safety
/// `env` and `exports` must be the arguments Node passed to `napi_register_module_v1`,
/// and this must run inside that call.
pub unsafe fn register_module(
    env: sys::napi_env,
    exports: sys::napi_value,
    functions: &[(&str, Callback)],
) -> sys::napi_value {
    // SAFETY: the caller passes the live env of the current module-init call.
    let env = unsafe { Env::from_raw(env) };
    let exports = Value::from_raw(exports);
    let result = functions.iter().try_for_each(|(name, cb)| {
        let f = env.create_function(name, *cb)?;
        env.set_named(exports, name, f)
    });
    if let Err(e) = result {
        env.throw(&e);
    }
    exports.raw()
}

/// Adds a cleanup hook that Node runs (in reverse order of adding) when the environment
/// is torn down: at process exit or when a worker thread stops.
///
/// # Safety
/// `arg` must stay valid until the hook has run or has been removed with
/// [`remove_env_cleanup_hook`] with the same `(hook, arg)` pair, which must be unique.
pub unsafe fn add_env_cleanup_hook(
    env: Env,
    hook: unsafe extern "C" fn(*mut c_void),
    arg: *mut c_void,
) -> Result<()> {
    // SAFETY: env is live (an `Env` only exists inside a callback); arg validity is the
    // caller's contract.
    let status = unsafe { sys::napi_add_env_cleanup_hook(env.raw(), Some(hook), arg) };
    env.check(status)
}

/// Removes a hook added with [`add_env_cleanup_hook`] before it ran.
///
/// # Safety
/// `(hook, arg)` must be a pair added to this `env` that has not run nor been removed.
pub unsafe fn remove_env_cleanup_hook(
    env: Env,
    hook: unsafe extern "C" fn(*mut c_void),
    arg: *mut c_void,
) -> Result<()> {
    // SAFETY: env is live; the pair is registered (caller's contract).
    let status = unsafe { sys::napi_remove_env_cleanup_hook(env.raw(), Some(hook), arg) };
    env.check(status)
}

/// Adds an asynchronous cleanup hook (N-API 8): Node runs `hook(handle, arg)` when the
/// environment is torn down and keeps its event loop running until
/// [`remove_async_cleanup_hook`] is called with that handle — the way to close libuv
/// handles at teardown. Returns the handle (the same one the hook receives), which also
/// removes the hook before it ran.
///
/// # Safety
/// `arg` must stay valid until the hook has been removed.
pub unsafe fn add_async_cleanup_hook(
    env: Env,
    hook: unsafe extern "C" fn(sys::napi_async_cleanup_hook_handle, *mut c_void),
    arg: *mut c_void,
) -> Result<sys::napi_async_cleanup_hook_handle> {
    let mut handle: sys::napi_async_cleanup_hook_handle = std::ptr::null_mut();
    // SAFETY: env is live; `handle` is an out-pointer; arg validity is the caller's.
    let status =
        unsafe { sys::napi_add_async_cleanup_hook(env.raw(), Some(hook), arg, &mut handle) };
    env.check(status)?;
    Ok(handle)
}

/// Removes an asynchronous cleanup hook (before it ran, or once its asynchronous work
/// is done). No environment needed: this may run from a libuv close callback.
///
/// # Safety
/// `handle` came from [`add_async_cleanup_hook`] (or was passed to the hook) and is
/// removed exactly once.
pub unsafe fn remove_async_cleanup_hook(handle: sys::napi_async_cleanup_hook_handle) {
    // SAFETY: the caller's contract.
    unsafe { sys::napi_remove_async_cleanup_hook(handle) };
}
