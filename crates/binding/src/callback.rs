//! Raw Node-API where napi-rs has nothing of this shape: calling JavaScript from a libuv
//! callback as a top-level callback of an async context (`napi_async_init`,
//! `napi_make_callback`, `napi_async_destroy`). Unlike `Function::call`,
//! `napi_make_callback` runs the microtask queue and `process.nextTick` callbacks after
//! the function returns when it is the outermost JavaScript on the stack — which it is
//! in a poll callback (the inline engine's, pollWritable's), so promises resolved by
//! `onComplete` or a pollWritable callback settle before the loop goes on, as they do
//! after any libuv callback Node itself makes.
//! Also how such a callback reports what went wrong (`napi_fatal_exception`: there is no
//! JavaScript caller to throw to).

use std::ptr;

use napi::bindgen_prelude::ToNapiValue;
use napi::{sys, Env, JsValue, Status, Unknown};

/// An async context (`napi_async_context`) of one environment, destroyed on drop.
pub struct AsyncContext {
    env: sys::napi_env,
    raw: sys::napi_async_context,
}

impl AsyncContext {
    /// A context named `name` (what async_hooks shows as the resource type).
    pub fn new(env: &Env, name: &str) -> napi::Result<AsyncContext> {
        let name = env.create_string(name)?;
        let mut raw = ptr::null_mut();
        // SAFETY: `env` is live (we are inside a call Node made); `name` is its string
        // handle; a null resource object makes Node create one; `raw` is an out-pointer.
        let status = unsafe {
            sys::napi_async_init(
                env.raw(),
                ptr::null_mut(),
                ToNapiValue::to_napi_value(env.raw(), name)?,
                &mut raw,
            )
        };
        check(status)?;
        Ok(AsyncContext {
            env: env.raw(),
            raw,
        })
    }

    /// `func.call(recv, ...args)` through `napi_make_callback`. If it throws, the
    /// exception is taken and reported as Node reports one thrown from any callback it
    /// makes (`process.on('uncaughtException')`): there is no JavaScript caller here.
    pub fn make_callback(
        &self,
        env: &Env,
        recv: Unknown,
        func: Unknown,
        args: &[Unknown],
    ) -> napi::Result<()> {
        debug_assert_eq!(
            env.raw(),
            self.env,
            "an async context is used in its own env"
        );
        let argv: Vec<sys::napi_value> = args.iter().map(|a| a.raw()).collect();
        let mut result = ptr::null_mut();
        // SAFETY: `env` is this context's live environment and we are on its thread;
        // `recv` and `func` are its handles; `argv` holds `argv.len()` handles.
        let status = unsafe {
            sys::napi_make_callback(
                env.raw(),
                self.raw,
                recv.raw(),
                func.raw(),
                argv.len(),
                argv.as_ptr(),
                &mut result,
            )
        };
        if status == sys::Status::napi_pending_exception {
            report_pending(env);
            return Ok(());
        }
        check(status)
    }
}

/// Takes the pending exception, if any, and reports it as uncaught.
fn report_pending(env: &Env) {
    let mut exception = ptr::null_mut();
    // SAFETY: `env` is live and this is its thread; `exception` is an out-pointer.
    let status = unsafe { sys::napi_get_and_clear_last_exception(env.raw(), &mut exception) };
    if status == sys::Status::napi_ok && !exception.is_null() {
        // SAFETY: a live handle of `env`, just taken.
        report_uncaught(env, unsafe {
            Unknown::from_raw_unchecked(env.raw(), exception)
        });
    }
}

/// Reports `error` as an uncaught exception of `env` (`napi_fatal_exception`): for what
/// goes wrong where no JavaScript caller could catch it (a libuv callback, a
/// threadsafe-function call). Not fatal despite the name: 'uncaughtException'
/// handlers run, and without one Node exits as for any uncaught exception.
pub fn report_uncaught(env: &Env, error: Unknown) {
    // SAFETY: `env` is live and this is its thread; `error` is its handle.
    unsafe { sys::napi_fatal_exception(env.raw(), error.raw()) };
}

impl Drop for AsyncContext {
    fn drop(&mut self) {
        // SAFETY: made by `napi_async_init` on this env and destroyed once, here. The
        // owner (the inline engine, a pollWritable wait) drops it on the env's thread
        // while the env is alive (from destroy/pollClose, the poll callback, a finalizer
        // or the env's cleanup hook).
        unsafe { sys::napi_async_destroy(self.env, self.raw) };
    }
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    match status {
        sys::Status::napi_ok => Ok(()),
        other => Err(napi::Error::new(Status::from(other), String::new())),
    }
}
