//! [`ThreadsafeFunction`]: how a non-JavaScript thread asks the JavaScript thread to run
//! a callback (`napi_create_threadsafe_function`, N-API 4).

use std::ffi::c_void;
use std::ptr;

use crate::env::{Env, Value};
use crate::error::Result;
use crate::sys;

/// The native half of a `call_js` callback: `(env, js_callback, context, data)`. `env`
/// is null when the function is being torn down and `data` only needs freeing.
pub type CallJs = unsafe extern "C" fn(sys::napi_env, sys::napi_value, *mut c_void, *mut c_void);

/// A threadsafe-function handle: `Copy`, `Send`, `Sync`.
///
/// Validity: a handle is valid from [`ThreadsafeFunction::new`] until
/// [`ThreadsafeFunction::release`] is called on it or on any copy; after that no copy may
/// be used (`release` is `unsafe` for exactly this reason).
#[derive(Clone, Copy, Debug)]
pub struct ThreadsafeFunction {
    raw: sys::napi_threadsafe_function,
}

// SAFETY: Node-API documents `napi_call_threadsafe_function` as callable from any
// thread; the JavaScript-thread-only calls (`ref`, `unref`, `release` by the owner)
// take an `Env`, which is `!Send`, or are `unsafe`.
unsafe impl Send for ThreadsafeFunction {}
// SAFETY: as above; the handle is an immutable pointer.
unsafe impl Sync for ThreadsafeFunction {}

/// What [`ThreadsafeFunction::call`] may report besides success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The queue is full (only with a bounded queue and a nonblocking call).
    QueueFull,
    /// The function is closing (released with abort, or the environment is going away).
    Closing,
    /// Any other status.
    Other(sys::napi_status),
}

impl ThreadsafeFunction {
    /// Creates a threadsafe function around `func` with `initial_thread_count` 1 and an
    /// unbounded queue when `max_queue_size` is 0.
    ///
    /// `context` is passed to `call_js` and, as `finalize_data`, to `finalize`.
    ///
    /// # Safety
    /// `context` must stay valid until `finalize` has run (Node calls it on the
    /// JavaScript thread once the function is released and drained); `call_js` must
    /// handle a null env.
    pub unsafe fn new(
        env: Env,
        func: Value,
        resource_name: &str,
        max_queue_size: usize,
        context: *mut c_void,
        finalize: unsafe extern "C" fn(sys::napi_env, *mut c_void, *mut c_void),
        call_js: CallJs,
    ) -> Result<Self> {
        let name = env.string(resource_name)?;
        let mut raw: sys::napi_threadsafe_function = ptr::null_mut();
        // SAFETY: env is live; `func` and `name` are its handles; the pointers' validity
        // is the caller's contract.
        let status = unsafe {
            sys::napi_create_threadsafe_function(
                env.raw(),
                func.raw(),
                ptr::null_mut(),
                name.raw(),
                max_queue_size,
                1,
                context,
                Some(finalize),
                context,
                Some(call_js),
                &mut raw,
            )
        };
        env.check(status)?;
        Ok(ThreadsafeFunction { raw })
    }

    /// Queues a call of `call_js` with a null `data`, from any thread. Nonblocking calls
    /// never wait (with an unbounded queue they never fail for lack of room).
    pub fn call(&self, blocking: bool) -> std::result::Result<(), CallError> {
        // SAFETY: a null `data` carries nothing for `call_js` to interpret or free.
        unsafe { self.call_with(ptr::null_mut(), blocking) }
    }

    /// Queues a call of `call_js` with `data`, from any thread.
    ///
    /// # Safety
    /// `call_js` must accept `data` (and free it, also when called with a null env); on
    /// `Err` the call was not queued and `data` still belongs to the caller.
    pub unsafe fn call_with(
        &self,
        data: *mut c_void,
        blocking: bool,
    ) -> std::result::Result<(), CallError> {
        let mode = if blocking {
            sys::napi_tsfn_blocking
        } else {
            sys::napi_tsfn_nonblocking
        };
        // SAFETY: the handle is valid (type invariant: not yet released).
        match unsafe { sys::napi_call_threadsafe_function(self.raw, data, mode) } {
            sys::napi_ok => Ok(()),
            sys::napi_queue_full => Err(CallError::QueueFull),
            sys::napi_closing => Err(CallError::Closing),
            other => Err(CallError::Other(other)),
        }
    }

    /// Makes the function keep the event loop alive (JavaScript thread only).
    pub fn ref_(&self, env: Env) -> Result<()> {
        // SAFETY: env is live (we are on its thread); the handle is valid.
        env.check(unsafe { sys::napi_ref_threadsafe_function(env.raw(), self.raw) })
    }

    /// Lets the event loop exit although the function exists (JavaScript thread only).
    pub fn unref(&self, env: Env) -> Result<()> {
        // SAFETY: as in `ref_`.
        env.check(unsafe { sys::napi_unref_threadsafe_function(env.raw(), self.raw) })
    }

    /// Gives up the creating thread's use of the function; once its queue drains Node
    /// destroys it and runs the finalizer.
    ///
    /// # Safety
    /// Neither this handle nor any copy may be used afterwards, and no other thread may be
    /// calling it concurrently.
    pub unsafe fn release(self) {
        // SAFETY: the caller's contract.
        unsafe { sys::napi_release_threadsafe_function(self.raw, sys::napi_tsfn_release) };
    }
}
