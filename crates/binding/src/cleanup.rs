//! Raw Node-API for environment teardown: an asynchronous cleanup hook
//! (`napi_add_async_cleanup_hook`, N-API 8) whose removal is ours to time.
//!
//! napi-rs has `Env::add_removable_async_cleanup_hook`, but its trampoline removes the
//! hook as soon as the callback returns. The inline engine must keep the hook until its
//! poll handle's close callback has run: while a started async hook is not removed,
//! Node keeps turning the event loop during teardown, and a worker thread closes its
//! loop only afterwards (with a poll handle still open, `uv_loop_close` would fail and
//! Node aborts). So the hook's removal is [`AsyncCleanupHook::remove`], called when the
//! work is really done — by the engine's close (thread driver) or by the poll handle's
//! close callback (inline driver, and pollWritable's wait). One mechanism for all;
//! napi-rs's own `add_env_cleanup_hook` is not used (its removal leaks the hook's box).
//!
//! Order: cleanup hooks, sync and async alike, run in reverse order of adding. An
//! engine adds its hook after its threadsafe function was created, so the hook runs
//! (and the ring thread is joined) before Node tears the threadsafe function down.

use std::ffi::c_void;
use std::ptr;

use napi::{sys, Env, Status};

/// The payload and callback behind a hook's data pointer.
struct HookData<T> {
    value: T,
    on_teardown: fn(T),
}

/// A registered asynchronous cleanup hook: at environment teardown Node calls
/// `on_teardown(value.clone())`, then waits (turning the loop) until
/// [`AsyncCleanupHook::remove`] is called. Not removing it is a leak and, at teardown,
/// a hang: whoever owns it must remove it once its work is done.
pub struct AsyncCleanupHook {
    handle: sys::napi_async_cleanup_hook_handle,
    data: *mut c_void,
    free: unsafe fn(*mut c_void),
}

impl AsyncCleanupHook {
    /// Registers the hook on `env`.
    pub fn add<T: Clone + 'static>(env: &Env, value: T, on_teardown: fn(T)) -> napi::Result<Self> {
        let data = Box::into_raw(Box::new(HookData { value, on_teardown })).cast::<c_void>();
        let mut handle = ptr::null_mut();
        // SAFETY: `env` is live (inside a call Node made); `data` stays valid until
        // `remove` frees it, after the hook can no longer run; `handle` is an out-pointer.
        let status = unsafe {
            sys::napi_add_async_cleanup_hook(env.raw(), Some(run::<T>), data, &mut handle)
        };
        if status != sys::Status::napi_ok {
            // SAFETY: not registered, so the box is still ours alone.
            drop(unsafe { Box::from_raw(data.cast::<HookData<T>>()) });
            return Err(napi::Error::new(
                Status::from(status),
                "napi_add_async_cleanup_hook".to_string(),
            ));
        }
        Ok(AsyncCleanupHook {
            handle,
            data,
            free: free::<T>,
        })
    }

    /// Removes the hook (before it ran, or when the work it started is done) and drops
    /// its payload. Needs no environment: it may run from a libuv close callback.
    pub fn remove(self) {
        // SAFETY: a handle from `napi_add_async_cleanup_hook`, removed once (consumed).
        unsafe { sys::napi_remove_async_cleanup_hook(self.handle) };
        // SAFETY: removed, so Node will not call `run` with `data` again; `run` itself
        // hands `on_teardown` a clone and never touches `data` after it returns.
        unsafe { (self.free)(self.data) };
    }
}

/// # Safety
/// `data` is a `HookData<T>` leaked by `add` and not yet freed.
unsafe fn free<T>(data: *mut c_void) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(data.cast::<HookData<T>>()) });
}

/// # Safety
/// Called by Node with the data given to `napi_add_async_cleanup_hook`.
unsafe extern "C" fn run<T: Clone + 'static>(
    _handle: sys::napi_async_cleanup_hook_handle,
    data: *mut c_void,
) {
    // `data` is alive until `remove`, which the callback may call: so take a clone of
    // the payload first and do not touch `data` once the callback started.
    let (value, on_teardown) = {
        // SAFETY: the HookData<T> leaked by `add`, not freed before `remove`.
        let d = unsafe { &*data.cast::<HookData<T>>() };
        (d.value.clone(), d.on_teardown)
    };
    crate::error::guard_teardown(move || on_teardown(value));
}
