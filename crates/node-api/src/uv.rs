//! The few libuv functions an addon needs to watch a file descriptor on its
//! environment's event loop, declared from Node 20's `uv.h` (libuv 1.4x). Like `sys`,
//! nothing is linked at build time: the `node` executable exports libuv's symbols.
#![allow(non_camel_case_types)]

use std::ffi::{c_int, c_void};

/// Opaque libuv types: pointers to incomplete C structs.
#[repr(C)]
pub struct uv_loop_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct uv_handle_t {
    _private: [u8; 0],
}
/// A `uv_poll_t` is a `uv_handle_t` with more fields; its size comes from
/// `uv_handle_size(UV_POLL)`, so the struct itself is never declared here.
pub type uv_poll_t = uv_handle_t;

/// `uv_handle_type`: UV_UNKNOWN_HANDLE = 0, then UV_HANDLE_TYPE_MAP in order (ASYNC,
/// CHECK, FS_EVENT, FS_POLL, HANDLE, IDLE, NAMED_PIPE, POLL, …).
pub type uv_handle_type = c_int;
pub const UV_POLL: uv_handle_type = 8;

/// `uv_poll_event`.
pub const UV_READABLE: c_int = 1;

pub type uv_poll_cb =
    Option<unsafe extern "C" fn(handle: *mut uv_poll_t, status: c_int, events: c_int)>;
pub type uv_close_cb = Option<unsafe extern "C" fn(handle: *mut uv_handle_t)>;

extern "C" {
    pub fn uv_handle_size(type_: uv_handle_type) -> usize;
    pub fn uv_poll_init(loop_: *mut uv_loop_t, handle: *mut uv_poll_t, fd: c_int) -> c_int;
    pub fn uv_poll_start(handle: *mut uv_poll_t, events: c_int, cb: uv_poll_cb) -> c_int;
    pub fn uv_poll_stop(handle: *mut uv_poll_t) -> c_int;
    pub fn uv_close(handle: *mut uv_handle_t, close_cb: uv_close_cb);
    pub fn uv_ref(handle: *mut uv_handle_t);
    pub fn uv_unref(handle: *mut uv_handle_t);
    pub fn uv_handle_set_data(handle: *mut uv_handle_t, data: *mut c_void);
    pub fn uv_handle_get_data(handle: *const uv_handle_t) -> *mut c_void;
}
