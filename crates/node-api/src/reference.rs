//! [`Reference`]: a strong `napi_ref` with RAII deletion.

use std::ptr;

use crate::env::{Env, Value};
use crate::error::Result;
use crate::sys;

thread_local! {
    /// One byte per thread; its address identifies the thread cheaply (cheaper than
    /// `thread::current()`, which touches an `Arc`, on the submit hot path).
    static THREAD_MARK: u8 = const { 0 };
}

fn thread_mark() -> usize {
    THREAD_MARK.with(|m| m as *const u8 as usize)
}

/// A strong reference (refcount 1): the value cannot be garbage-collected while this
/// lives. Dropping it deletes the reference — on the thread that created it only, which
/// must be the environment's JavaScript thread. (`Reference` is `!Send`, so safe code
/// cannot move it elsewhere; if unsafe code does, drop leaks the reference instead of
/// touching the environment from a foreign thread.)
///
/// The environment must still be alive at drop: drop references no later than in an
/// env cleanup hook, never after the environment was torn down.
pub struct Reference {
    env: sys::napi_env,
    raw: sys::napi_ref,
    thread: usize,
}

impl Reference {
    /// A strong reference to `value` (any object, function or external).
    pub fn new(env: Env, value: Value) -> Result<Reference> {
        let mut raw: sys::napi_ref = ptr::null_mut();
        // SAFETY: env is live and `value` is one of its handles; `raw` is an out-pointer.
        env.check(unsafe { sys::napi_create_reference(env.raw(), value.raw(), 1, &mut raw) })?;
        Ok(Reference {
            env: env.raw(),
            raw,
            thread: thread_mark(),
        })
    }

    /// The referenced value as a handle in the current scope.
    pub fn value(&self, env: Env) -> Result<Value> {
        let mut v: sys::napi_value = ptr::null_mut();
        // SAFETY: the reference is alive (owned by self) and belongs to env.
        env.check(unsafe { sys::napi_get_reference_value(env.raw(), self.raw, &mut v) })?;
        // SAFETY: Node just returned this handle for env.
        Ok(unsafe { Value::from_raw_unchecked(v) })
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        if self.thread != thread_mark() {
            // Not on the JavaScript thread: deleting here would race the engine. Leak.
            return;
        }
        // SAFETY: on the owning thread, the env is alive (type contract) and `raw` was
        // created on it and is deleted exactly once, here.
        unsafe { sys::napi_delete_reference(self.env, self.raw) };
    }
}
