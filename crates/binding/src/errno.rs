//! errno names and messages, from libuv inside the `node` executable (`uv.rs`), so they
//! match node:fs errors word for word ("ENOENT", "no such file or directory"). The JS
//! error built from them is made in `error.rs` (`Failure::system`).

use crate::uv;

/// The symbolic name of a positive errno ("ENOENT"); "UNKNOWN" for one libuv does not
/// know.
pub fn name(errno: i32) -> String {
    let n = uv::err_name(errno);
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
    uv::strerror(errno)
}
