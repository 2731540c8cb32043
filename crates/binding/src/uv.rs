//! Raw libuv, where napi-rs has nothing: a `uv_poll_t` that watches a descriptor on the
//! environment's event loop (`uv_poll_*`, `uv_handle_size`, `uv_close`) — the inline
//! ring's fd for readability, and a socket's dup for writability (`pollWritable`, the
//! standard backend's sendTo) — and libuv's errno names and messages (`uv_err_name_r`,
//! `uv_strerror_r`) so system errors read word for word like node:fs's. Declared from
//! Node 20's `uv.h` (libuv 1.4x); nothing is linked at build time: the `node` executable
//! exports libuv's symbols.
//!
//! [`Poll`] is the only way the rest of the addon touches a poll handle: it owns the
//! handle's memory (sized by `uv_handle_size(UV_POLL)`, so libuv's struct layout is
//! never written down here) and a boxed payload, and frees both in the close callback
//! — libuv may use the handle until then.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, CStr};

#[cfg(target_os = "linux")]
pub use poll::{Poll, UV_DISCONNECT, UV_WRITABLE};

extern "C" {
    // libuv >= 1.22. libuv error codes are negated errno values on Linux.
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

/// libuv's name of a positive errno ("ENOENT"), or whatever it prints for an unknown one.
pub fn err_name(errno: i32) -> String {
    uv_text(uv_err_name_r, errno)
}

/// libuv's description of a positive errno ("no such file or directory").
pub fn strerror(errno: i32) -> String {
    uv_text(uv_strerror_r, errno)
}

/// The poll handle (the inline engine's ring fd; pollWritable's socket dup).
#[cfg(target_os = "linux")]
mod poll {
    use std::cell::Cell;
    use std::ffi::{c_int, c_void};
    use std::marker::PhantomData;

    /// Opaque libuv types: pointers to incomplete C structs.
    #[repr(C)]
    pub struct uv_handle_t {
        _private: [u8; 0],
    }
    /// A `uv_poll_t` is a `uv_handle_t` with more fields; only its size is needed.
    type uv_poll_t = uv_handle_t;
    /// The loop type napi-rs's `Env::get_uv_event_loop` returns.
    pub use napi::sys::uv_loop_s;

    /// `uv_handle_type`: UV_UNKNOWN_HANDLE = 0, then UV_HANDLE_TYPE_MAP in order (ASYNC,
    /// CHECK, FS_EVENT, FS_POLL, HANDLE, IDLE, NAMED_PIPE, POLL, …).
    type uv_handle_type = c_int;
    const UV_POLL: uv_handle_type = 8;
    /// `uv_poll_event` bits.
    const UV_READABLE: c_int = 1;
    pub const UV_WRITABLE: c_int = 2;
    /// The peer hung up or the socket failed (EPOLLRDHUP, EPOLLHUP, EPOLLERR).
    pub const UV_DISCONNECT: c_int = 4;

    type uv_poll_cb =
        Option<unsafe extern "C" fn(handle: *mut uv_poll_t, status: c_int, events: c_int)>;
    type uv_close_cb = Option<unsafe extern "C" fn(handle: *mut uv_handle_t)>;

    extern "C" {
        fn uv_handle_size(type_: uv_handle_type) -> usize;
        fn uv_poll_init(loop_: *mut uv_loop_s, handle: *mut uv_poll_t, fd: c_int) -> c_int;
        fn uv_poll_start(handle: *mut uv_poll_t, events: c_int, cb: uv_poll_cb) -> c_int;
        fn uv_poll_stop(handle: *mut uv_poll_t) -> c_int;
        fn uv_close(handle: *mut uv_handle_t, close_cb: uv_close_cb);
        fn uv_ref(handle: *mut uv_handle_t);
        fn uv_unref(handle: *mut uv_handle_t);
        fn uv_handle_set_data(handle: *mut uv_handle_t, data: *mut c_void);
        fn uv_handle_get_data(handle: *const uv_handle_t) -> *mut c_void;
    }

    /// What a handle's data pointer points at: the payload and the two callbacks.
    struct PollData<T> {
        value: T,
        on_event: fn(&T),
        on_closed: Cell<Option<fn(T)>>,
    }

    /// A started `uv_poll_t` watching one fd for some of readability, writability and
    /// disconnection, carrying a `T` for its callbacks. Dropping it (or [`Poll::close`]) stops and closes the handle; the memory
    /// and the payload go in the close callback, after libuv is done with them.
    pub struct Poll<T: 'static> {
        handle: *mut uv_poll_t,
        _payload: PhantomData<T>,
    }

    fn poll_layout() -> std::alloc::Layout {
        // SAFETY: uv_handle_size is a pure function of the handle type.
        let size = unsafe { uv_handle_size(UV_POLL) };
        // 16: at least the alignment of any field libuv puts in a handle.
        std::alloc::Layout::from_size_align(size.max(1), 16).expect("uv_poll_t layout")
    }

    impl<T: 'static> Poll<T> {
        /// Starts watching `fd` for readability on `uv_loop`; `on_readable(&value)` runs on
        /// the loop's thread each time it is readable. The handle starts unref'd (it does
        /// not keep the loop alive until [`Poll::set_ref`]). Err(-errno) from libuv.
        ///
        /// # Safety
        /// As [`Poll::start_events`].
        #[cfg_attr(not(io_uring_engine), allow(dead_code))]
        pub unsafe fn start(
            uv_loop: *mut uv_loop_s,
            fd: i32,
            value: T,
            on_readable: fn(&T),
        ) -> Result<Poll<T>, i32> {
            // SAFETY: the caller's contract, which is start_events'.
            unsafe { Poll::start_events(uv_loop, fd, UV_READABLE, value, on_readable) }
        }

        /// Starts watching `fd` for `events` (`UV_READABLE`, [`UV_WRITABLE`],
        /// [`UV_DISCONNECT`], or'd) on `uv_loop`; `on_event(&value)` runs on the loop's
        /// thread each time one of them happens — also when libuv reports an error for the
        /// fd (the callback then finds the error itself, from the next call on the fd).
        /// The handle starts unref'd (it does not keep the loop alive until
        /// [`Poll::set_ref`]). Err(-errno) from libuv: `uv_poll_init` refuses a descriptor
        /// that is not open (EBADF), one epoll cannot watch (EPERM: a regular file) and
        /// one this loop already watches (EEXIST).
        ///
        /// # Safety
        /// `uv_loop` is the live loop of the calling thread (`napi_get_uv_event_loop`), and
        /// `fd` stays open until this `Poll` is closed or dropped (libuv keeps it in its
        /// epoll set until `uv_poll_stop`).
        pub unsafe fn start_events(
            uv_loop: *mut uv_loop_s,
            fd: i32,
            events: c_int,
            value: T,
            on_event: fn(&T),
        ) -> Result<Poll<T>, i32> {
            let layout = poll_layout();
            // SAFETY: a non-zero-sized layout.
            let handle = unsafe { std::alloc::alloc(layout) }.cast::<uv_poll_t>();
            if handle.is_null() {
                return Err(-libc::ENOMEM);
            }
            // SAFETY: `handle` is writable memory of uv_handle_size(UV_POLL) bytes; the loop
            // and fd are valid (caller's contract).
            let r = unsafe { uv_poll_init(uv_loop, handle, fd) };
            if r != 0 {
                // SAFETY: never initialised as a handle, so libuv does not know it; ours.
                unsafe { std::alloc::dealloc(handle.cast(), layout) };
                return Err(r);
            }
            let data = Box::into_raw(Box::new(PollData {
                value,
                on_event,
                on_closed: Cell::new(None),
            }));
            // SAFETY: an initialised handle; its data is read only by our callbacks below.
            unsafe { uv_handle_set_data(handle, data.cast()) };
            let poll = Poll {
                handle,
                _payload: PhantomData,
            };
            // SAFETY: an initialised handle; `on_poll::<T>` matches uv_poll_cb and reads the
            // data pointer set above.
            let r = unsafe { uv_poll_start(handle, events, Some(on_poll::<T>)) };
            // SAFETY: as above.
            unsafe { uv_unref(handle) };
            if r != 0 {
                drop(poll); // closes it: libuv knows the handle now
                return Err(r);
            }
            Ok(poll)
        }

        /// Whether the handle keeps the event loop alive.
        pub fn set_ref(&self, on: bool) {
            // SAFETY: a live handle (closed only by consuming `self`).
            unsafe {
                if on {
                    uv_ref(self.handle)
                } else {
                    uv_unref(self.handle)
                }
            }
        }

        /// Stops and closes the handle; `on_closed(value)` runs from the close callback,
        /// once libuv is done with the handle (on a later turn of the loop).
        pub fn close(self, on_closed: fn(T)) {
            // SAFETY: the data pointer set in `start`, alive until the close callback.
            let data = unsafe { &*uv_handle_get_data(self.handle).cast::<PollData<T>>() };
            data.on_closed.set(Some(on_closed));
            drop(self);
        }
    }

    impl<T: 'static> Drop for Poll<T> {
        fn drop(&mut self) {
            // SAFETY: an initialised handle, closed exactly once (here: `self` goes away);
            // stopping first takes the fd out of libuv's epoll set before its owner closes it.
            unsafe {
                uv_poll_stop(self.handle);
                uv_close(self.handle, Some(on_close::<T>));
            }
        }
    }

    /// # Safety
    /// Called by libuv on the loop's thread for a handle started in [`Poll::start`].
    unsafe extern "C" fn on_poll<T: 'static>(
        handle: *mut uv_poll_t,
        _status: c_int,
        _events: c_int,
    ) {
        // SAFETY: the data pointer set in `start`; freed only in `on_close`, which libuv
        // never runs while this callback is on the stack.
        let data = unsafe { &*uv_handle_get_data(handle).cast::<PollData<T>>() };
        // A panic must not unwind into libuv; the callback reports its own (guard_callback).
        crate::error::guard_teardown(|| (data.on_event)(&data.value));
    }

    /// # Safety
    /// Called by libuv once, after `uv_close` on a handle made by [`Poll::start`].
    unsafe extern "C" fn on_close<T: 'static>(handle: *mut uv_handle_t) {
        // SAFETY: the Box leaked in `start`, reclaimed once, here; libuv is done with it.
        let data = unsafe { Box::from_raw(uv_handle_get_data(handle).cast::<PollData<T>>()) };
        // SAFETY: allocated in `start` with this layout; libuv no longer uses the handle.
        unsafe { std::alloc::dealloc(handle.cast(), poll_layout()) };
        let PollData {
            value, on_closed, ..
        } = *data;
        crate::error::guard_teardown(move || match on_closed.get() {
            Some(f) => f(value),
            None => drop(value),
        });
    }
}
