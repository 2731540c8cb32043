//! errno → JavaScript error, in exactly one place (STYLE.md §4).
//!
//! Names and messages come from libuv inside the `node` executable (`uv_err_name_r`,
//! `uv_strerror_r`, resolved at load time like the Node-API symbols), so they match
//! node:fs errors word for word ("ENOENT", "no such file or directory").

use std::ffi::{c_char, c_int, CStr};

use node_api::Error;

extern "C" {
    // uv.h (libuv >= 1.22, in every Node this package supports). libuv error codes are
    // negated errno values on Linux.
    fn uv_err_name_r(err: c_int, buf: *mut c_char, buflen: usize) -> *mut c_char;
    fn uv_strerror_r(err: c_int, buf: *mut c_char, buflen: usize) -> *mut c_char;
}

fn uv_text(
    f: unsafe extern "C" fn(c_int, *mut c_char, usize) -> *mut c_char,
    errno: i32,
) -> String {
    let mut buf = [0 as c_char; 128];
    // SAFETY: libuv writes at most `buf.len()` bytes, NUL-terminated, into our buffer.
    unsafe { f(errno.saturating_neg(), buf.as_mut_ptr(), buf.len()) };
    // SAFETY: the buffer is NUL-terminated (zeroed, and libuv truncates with a NUL).
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// The symbolic name of a positive errno ("ENOENT"); "UNKNOWN" for one libuv does not
/// know.
pub fn name(errno: i32) -> String {
    let n = uv_text(uv_err_name_r, errno);
    if n.starts_with('E')
        && n.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        n
    } else {
        "UNKNOWN".into()
    }
}

/// The lowercase description of a positive errno ("no such file or directory").
pub fn message(errno: i32) -> String {
    uv_text(uv_strerror_r, errno)
}

/// An `Error` shaped like node:fs's: `CODE: description, syscall`, with `.code` and
/// `.errno` (positive, per ARCHITECTURE.md §2).
pub fn error(errno: i32, syscall: &str) -> Error {
    let errno = errno.saturating_abs();
    let code = name(errno);
    Error::with_code(
        code.clone(),
        format!("{code}: {}, {syscall}", message(errno)),
    )
    .errno(errno)
}
