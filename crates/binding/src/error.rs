//! What a JavaScript caller sees when a call fails, made in exactly one place
//! (STYLE.md §4): the [`Failure`] every entry point returns, thrown by [`entry`] as a
//! `TypeError`/`RangeError`/`Error` with `.code` (and `.errno` for system errors), and
//! the panic guard that turns a Rust panic into an `Error` with code `ERR_IO_INTERNAL`
//! naming where it happened, instead of an abort.
//!
//! napi-rs throws an `Err` returned from a `#[napi]` function with `.code` = its status
//! name; our codes are Node's (`ERR_INVALID_ARG_TYPE`, `ENOENT`, …), so [`entry`] throws
//! the exception itself and hands napi-rs a `PendingException`, which it leaves alone.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use napi::bindgen_prelude::{JsObjectValue, Object, ToNapiValue};
use napi::{Env, JsError, JsRangeError, JsTypeError, Status};

use crate::errno;

/// Which constructor the thrown exception gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `Error`: runtime failures (system errors, closed engines, internal errors).
    Error,
    /// `TypeError`: an argument of the wrong type.
    TypeError,
    /// `RangeError`: an argument of the right type but outside its domain.
    RangeError,
    /// A JavaScript exception is already pending (a getter threw): it propagates as is.
    Pending,
}

/// A failed call, not yet thrown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    /// `.code` (`'ERR_INVALID_ARG_TYPE'`, `'ENOENT'`, …).
    pub code: String,
    pub message: String,
    /// `.errno`: a positive errno number (ARCHITECTURE.md §2).
    pub errno: Option<i32>,
    /// `.syscall` of a system error (node:fs's shape), when one is named.
    pub syscall: Option<&'static str>,
}

/// The result of everything an entry point calls.
pub type Outcome<T> = Result<T, Failure>;

impl Failure {
    fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            kind,
            code: code.into(),
            message: message.into(),
            errno: None,
            syscall: None,
        }
    }

    /// An `Error` with a `.code`.
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure::new(ErrorKind::Error, code, message)
    }

    /// A `TypeError` with a `.code`.
    pub fn type_error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure::new(ErrorKind::TypeError, code, message)
    }

    /// A `RangeError` with a `.code`.
    pub fn range_error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure::new(ErrorKind::RangeError, code, message)
    }

    /// `ERR_INVALID_ARG_TYPE`: `what` must be `expected`.
    #[cfg_attr(not(io_uring_engine), allow(dead_code))]
    pub fn arg_type(what: &str, expected: &str, received: &str) -> Self {
        Failure::type_error(
            "ERR_INVALID_ARG_TYPE",
            format!("{what} must be {expected}; received {received}"),
        )
    }

    /// A JavaScript exception is already pending.
    pub fn pending() -> Self {
        Failure::new(ErrorKind::Pending, "", "")
    }

    /// A system error shaped like node:fs's: `CODE: description, syscall`, with `.code`
    /// and a positive `.errno`.
    pub fn system(errno: i32, syscall: &'static str) -> Self {
        let errno = errno.saturating_abs();
        let code = errno::name(errno);
        let message = format!("{code}: {}, {syscall}", errno::message(errno));
        Failure {
            errno: Some(errno),
            syscall: Some(syscall),
            ..Failure::error(code, message)
        }
    }

    /// A bug inside the addon: a caught panic (`ERR_IO_INTERNAL`, DESIGN.md §3's table).
    pub fn internal(entry: &str, payload: &(dyn Any + Send)) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        let at = LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .map(|loc| format!(" at {loc}"))
            .unwrap_or_default();
        Failure::error(
            "ERR_IO_INTERNAL",
            format!("internal error in the native addon ({entry}{at}): {what}"),
        )
    }
}

/// A failed Node-API call made through napi-rs: a pending exception stays pending,
/// anything else names the status.
impl From<napi::Error> for Failure {
    fn from(e: napi::Error) -> Self {
        if e.status == Status::PendingException {
            return Failure::pending();
        }
        let mut message = format!("Node-API call failed: {}", e.status);
        if !e.reason.is_empty() {
            message.push_str(" (");
            message.push_str(&e.reason);
            message.push(')');
        }
        Failure::error("ERR_NAPI_CALL_FAILED", message)
    }
}

thread_local! {
    /// Where the last panic on this thread happened (`file:line:column`), recorded by
    /// the hook [`install_panic_hook`] sets, read by [`Failure::internal`].
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records each panic's location for [`Failure::internal`], then runs the previous hook
/// (std's default prints the message to stderr, as for any panic). The hook belongs to
/// this cdylib's own copy of std, so it sees only panics raised by this addon.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if let Some(loc) = info.location() {
                let at = format!("{}:{}:{}", loc.file(), loc.line(), loc.column());
                // try_with: a panic while the thread's locals are being destroyed.
                let _ = LAST_PANIC.try_with(|p| *p.borrow_mut() = Some(at));
            }
            previous(info);
        }));
    });
}

/// Runs `f` (an entry point's body) under `catch_unwind`; a `Failure` or a panic is
/// thrown here, and napi-rs is told an exception is pending. (The first call installs
/// the panic hook: one atomic load after that.)
pub fn entry<T>(env: &Env, name: &'static str, f: impl FnOnce() -> Outcome<T>) -> napi::Result<T> {
    install_panic_hook();
    let outcome = panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(Failure::internal(name, &*payload)));
    outcome.map_err(|failure| throw(env, failure))
}

#[cfg(target_os = "linux")]
/// Runs `f` where no JavaScript caller can receive an exception (a libuv callback, a
/// threadsafe-function call, a cleanup hook, a finalizer): a panic is reported as an
/// uncaught exception (`process.on('uncaughtException')`), never an abort.
pub fn guard_callback(env: &Env, name: &'static str, f: impl FnOnce()) {
    install_panic_hook();
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
        let failure = Failure::internal(name, &*payload);
        // A payload whose Drop panics again must not unwind out of here either.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
        report_uncaught(env, failure);
    }
}

/// Like [`guard_callback`] where no environment is at hand (teardown): the panic's
/// message has been printed by the hook; nothing else can be told.
#[cfg(target_os = "linux")]
pub fn guard_teardown(f: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

/// Reports `failure` as Node reports an exception thrown from a callback.
#[cfg(target_os = "linux")]
fn report_uncaught(env: &Env, failure: Failure) {
    if let Ok(value) = error_value(env, &failure) {
        crate::callback::report_uncaught(env, value);
    }
}

/// The JavaScript error object for `failure` (not thrown). `Pending` never gets here.
fn error_value<'e>(env: &'e Env, failure: &Failure) -> napi::Result<napi::Unknown<'e>> {
    let e = napi::Error::new(failure.code.clone(), failure.message.clone());
    // SAFETY: `env` is the live environment of the current callback.
    let raw = unsafe {
        match failure.kind {
            ErrorKind::TypeError => JsTypeError::from(e).into_value(env.raw()),
            ErrorKind::RangeError => JsRangeError::from(e).into_value(env.raw()),
            ErrorKind::Error | ErrorKind::Pending => JsError::from(e).into_value(env.raw()),
        }
    };
    if raw.is_null() {
        return Err(napi::Error::from_reason("cannot create an error object"));
    }
    let mut obj = Object::from_raw(env.raw(), raw);
    if let Some(errno) = failure.errno {
        obj.set_named_property("errno", f64::from(errno))?;
    }
    if let Some(syscall) = failure.syscall {
        obj.set_named_property("syscall", syscall)?;
    }
    // SAFETY: `raw` is a live handle of `env`, made just above.
    Ok(unsafe {
        napi::Unknown::from_raw_unchecked(env.raw(), ToNapiValue::to_napi_value(env.raw(), obj)?)
    })
}

/// `failure` as a promise rejection (a napi-rs task's `resolve`/`reject`): the error
/// object is made here, on the JavaScript thread, and napi-rs rejects with that very
/// object (it keeps a reference to it), so it has our `.code`/`.errno`, not napi-rs's.
#[cfg(target_os = "linux")]
pub fn rejection(env: &Env, failure: &Failure) -> napi::Error {
    match error_value(env, failure) {
        Ok(value) => napi::Error::from(value),
        Err(e) => e,
    }
}

/// Throws `failure` and returns the marker napi-rs reads as "already thrown". When an
/// exception is already pending, `napi_throw` keeps it (the first one wins, as in
/// JavaScript) and so does napi-rs.
fn throw(env: &Env, failure: Failure) -> napi::Error {
    let pending = napi::Error::new(
        Status::PendingException,
        "ERR_IO_INTERNAL: a JavaScript exception was expected to be pending".to_string(),
    );
    if failure.kind == ErrorKind::Pending {
        return pending;
    }
    match error_value(env, &failure).and_then(|v| env.throw(v)) {
        Ok(()) => pending,
        // Not thrown: napi-rs throws this one itself, code ERR_IO_INTERNAL.
        Err(_) => napi::Error::new(
            Status::GenericFailure,
            format!(
                "ERR_IO_INTERNAL: cannot create the exception for: {}",
                failure.message
            ),
        ),
    }
}

// No test builds a `napi::Error`: its Drop references Node-API symbols, which only the
// `node` executable provides (a test binary would not link). The JS suites cover them.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_set_fields() {
        let e = Failure::range_error("ERR_OUT_OF_RANGE", "bad");
        assert_eq!(e.kind, ErrorKind::RangeError);
        assert_eq!(e.code, "ERR_OUT_OF_RANGE");
        let t = Failure::arg_type("The \"fd\" argument", "a number", "string");
        assert_eq!(
            t.message,
            "The \"fd\" argument must be a number; received string"
        );
    }

    #[test]
    fn a_panic_names_its_entry_point_and_place() {
        install_panic_hook();
        let payload = panic::catch_unwind(|| panic!("boom {}", 42)).unwrap_err();
        let e = Failure::internal("submit", &*payload);
        assert_eq!(e.code, "ERR_IO_INTERNAL");
        assert!(e
            .message
            .starts_with("internal error in the native addon (submit at "));
        assert!(e.message.contains("error.rs:"), "{}", e.message);
        assert!(e.message.ends_with("): boom 42"), "{}", e.message);
    }
}
