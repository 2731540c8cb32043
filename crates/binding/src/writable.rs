//! `pollWritable(fd, cb)` / `pollClose(handle)`: a one-shot wait, on the event loop, for
//! a socket to become writable (or to fail), so the standard backend's sendTo continues
//! after EAGAIN without holding a thread-pool thread (docs/design/zero-copy.md §3.3, §4).
//!
//! A [`Poll`] (uv.rs) with `UV_WRITABLE | UV_DISCONNECT` on the caller's descriptor.
//! That descriptor must be a dup of the socket, never one libuv already watches: libuv
//! keeps one watcher per fd number, and epoll registers (file, fd) pairs, so a poll on a
//! dup leaves Node's own TCP handle on the original fd undisturbed (§4's table). The
//! caller stops the wait (`pollClose`) before it closes the dup — epoll would otherwise
//! keep reporting the socket under a closed number.
//!
//! Ownership, all on the JavaScript thread: a [`Wait`] is shared (`Rc<RefCell>`) by the
//! JavaScript handle object (an `External`), the poll handle's payload and the env
//! cleanup hook's payload. It owns the poll handle (`poll`; the handle's memory is freed
//! only in its close callback, by uv.rs), the callback and its async context (`call`),
//! and the cleanup hook. Whichever comes first — the event, `pollClose`, env teardown —
//! takes `poll` and `call` (so the callback runs at most once, and never after
//! `pollClose`) and closes the handle; the close callback, a later turn of the loop,
//! removes the cleanup hook. Node keeps turning the loop during teardown until then, so
//! a worker thread closes its loop only after the handle is gone. The handle keeps the
//! loop alive (ref'd) while it waits. Dropping the JavaScript handle object changes
//! nothing: the wait goes on, kept by the poll handle's payload.

use std::cell::RefCell;
use std::rc::Rc;

use napi::bindgen_prelude::{External, FromNapiRef};
use napi::{Env, JsValue, Unknown};

use crate::args;
use crate::callback::AsyncContext;
use crate::cleanup::AsyncCleanupHook;
use crate::error::{guard_callback, Failure, Outcome};
use crate::pin::Pinned;
use crate::uv::{Poll, UV_DISCONNECT, UV_WRITABLE};

/// One wait. Fields are emptied by [`close`] and the close callback, never refilled.
pub struct Wait {
    env: Env,
    /// Some while the handle is open and has not fired.
    poll: Option<Poll<WaitRc>>,
    /// The callback and the async context it is called in: Some until it is called or
    /// the wait is closed. Dropped on the JavaScript thread (their Drop calls Node-API).
    call: Option<(Pinned, AsyncContext)>,
    /// Registered until the handle's close callback has run.
    hook: Option<AsyncCleanupHook>,
}

type WaitRc = Rc<RefCell<Wait>>;

/// What the JavaScript handle object (an External) holds.
pub struct WaitHandle(WaitRc);

/// `pollWritable(fd, cb)`: starts the wait and returns its handle object.
pub fn start<'e>(env: &'e Env, fd: i32, cb: &Unknown<'e>) -> Outcome<Unknown<'e>> {
    let call = (
        Pinned::new(env, cb)?,
        AsyncContext::new(env, "streamline-io:writable")?,
    );
    let wait = Rc::new(RefCell::new(Wait {
        env: *env,
        poll: None,
        call: Some(call),
        hook: None,
    }));
    let uv_loop = env.get_uv_event_loop()?;
    // SAFETY: `uv_loop` is this env's loop and this is its thread. The fd belongs to the
    // caller, who keeps it open until the wait is over (it fired, or pollClose — which
    // stops the handle at once — returned): the export's documented contract.
    let poll = unsafe {
        Poll::start_events(
            uv_loop,
            fd,
            UV_WRITABLE | UV_DISCONNECT,
            Rc::clone(&wait),
            on_event,
        )
    }
    .map_err(|r| {
        // Dropped here, on this thread, not whenever the payload's last reference goes.
        drop(wait.borrow_mut().call.take());
        Failure::system(-r, "uv_poll_init")
    })?;
    poll.set_ref(true);
    wait.borrow_mut().poll = Some(poll);
    match AsyncCleanupHook::add(env, Rc::clone(&wait), close) {
        Ok(h) => wait.borrow_mut().hook = Some(h),
        Err(e) => {
            close(Rc::clone(&wait));
            return Err(e.into());
        }
    }
    External::new(WaitHandle(Rc::clone(&wait)))
        .into_unknown(env)
        .map_err(|e| {
            close(wait);
            Failure::from(e)
        })
}

/// `pollClose(handle)`: stops the wait if it has not fired; idempotent.
pub fn stop(env: &Env, handle: &Unknown) -> Outcome<()> {
    // SAFETY: `handle` is a live handle of `env`; from_napi_ref checks that it is an
    // External made by this addon holding a WaitHandle before reading it.
    let h =
        unsafe { <External<WaitHandle> as FromNapiRef>::from_napi_ref(env.raw(), handle.raw()) };
    match h {
        Ok(h) => {
            close(Rc::clone(&h.0));
            Ok(())
        }
        Err(_) => Err(Failure::arg_type(
            "The \"handle\" argument",
            "a handle returned by pollWritable()",
            args::type_name(args::type_of(handle)?),
        )),
    }
}

/// Ends the wait without calling back (pollClose, env teardown, a failed start): stops
/// and closes the handle, drops the callback. Nothing when it is over already.
fn close(wait: WaitRc) {
    let (poll, call) = {
        let mut w = wait.borrow_mut();
        (w.poll.take(), w.call.take())
    };
    if let Some(p) = poll {
        p.close(on_closed);
    }
    drop(call);
}

/// The socket is writable, or failed (a later send reports how): close the handle, then
/// call back once. No borrow is held while JavaScript runs, so the callback may call
/// pollClose (a no-op by then) or pollWritable again.
fn on_event(wait: &WaitRc) {
    let Ok(mut w) = wait.try_borrow_mut() else {
        return;
    };
    let Some(poll) = w.poll.take() else {
        return;
    };
    poll.close(on_closed);
    let env = w.env;
    let call = w.call.take();
    drop(w);
    let Some((cb, ctx)) = call else {
        return;
    };
    guard_callback(&env, "pollWritable callback", || {
        // A handle scope: this runs from libuv, outside any call Node made into us.
        let _ = env.run_in_scope(|| {
            let func = cb.value(&env)?;
            // napi_make_callback converts `recv` to an object: undefined would throw.
            let global = env.get_global()?;
            ctx.make_callback(&env, global.to_unknown(), func, &[])
        });
    });
    drop((cb, ctx));
}

/// The poll handle's close callback: libuv is done with it; the wait is over.
fn on_closed(wait: WaitRc) {
    let hook = wait.try_borrow_mut().ok().and_then(|mut w| w.hook.take());
    if let Some(h) = hook {
        h.remove();
    }
}
