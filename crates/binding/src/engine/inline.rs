//! The inline driver: the JavaScript thread owns an [`InlineEngine`]. `submit` returns
//! what completed inside its io_uring_enter; the ring fd is watched by a libuv poll
//! handle on the env's loop ([`Poll`]), whose callback reaps the rest and calls
//! `onComplete` through `napi_make_callback` (so microtasks run after it). The poll
//! handle is ref'd only while something is in flight.
//!
//! Teardown (`close`, from destroy, the external's finalizer or the asynchronous
//! cleanup hook): wait for every in-flight CQE (blocking io_uring_enter), delete the
//! references, stop and close the poll handle, then drop the ring. The handle's close
//! callback, a later turn of the loop, removes the cleanup hook and gives back the
//! handle's strong count — Node keeps the loop running until then (a worker thread
//! closes its loop only after it).

use std::mem;
use std::rc::Rc;

use napi::{Env, JsValue, Unknown};
use uring::{Completion, EngineConfig, InlineEngine, Request};

use super::{Book, Driver, Engine, EngineRc, TestPanic};
use crate::callback::AsyncContext;
use crate::error::{guard_callback, Failure, Outcome};
use crate::pin::Pinned;
use crate::uv::Poll;
use crate::validate::OpDesc;

pub struct InlineDriver {
    /// Declared first: dropped before the ring whose fd it watches. Taken by `close`.
    poll: Option<Poll<EngineRc>>,
    ring: InlineEngine,
    /// Whether the poll handle keeps the loop alive (only while work is in flight).
    refd: bool,
    on_complete: Pinned,
    /// Shared with a poll callback that is calling into JavaScript, so `close` from
    /// inside `onComplete` cannot destroy it under that call.
    ctx: Rc<AsyncContext>,
    /// Completions taken from the ring, reused between calls.
    done: Vec<Completion>,
}

/// Creates the ring on this thread (SINGLE_ISSUER wants its only submitter to be its
/// creator) and starts watching its fd.
pub fn start(env: &Env, rc: &EngineRc, cfg: &EngineConfig, on_complete: &Unknown) -> Outcome<()> {
    let ring = InlineEngine::new(cfg).map_err(|e| Failure::system(e, "io_uring_setup"))?;
    let on_complete = Pinned::new(env, on_complete)?;
    let ctx = Rc::new(AsyncContext::new(env, "streamline-io:complete")?);
    let uv_loop = env.get_uv_event_loop()?;
    // SAFETY: `uv_loop` is this env's loop and this is its thread; the fd is the ring's,
    // which lives in this driver and is dropped only after the poll handle was stopped
    // (`close`; field order for a plain drop).
    let poll = unsafe { Poll::start(uv_loop, ring.poll_fd(), Rc::clone(rc), on_readable) }
        .map_err(|r| Failure::system(-r, "uv_poll_start"))?;
    rc.borrow_mut().driver = Some(Driver::Inline(Box::new(InlineDriver {
        poll: Some(poll),
        ring,
        refd: false,
        on_complete,
        ctx,
        done: Vec::new(),
    })));
    Ok(())
}

/// The ring fd is readable: reap, then call `onComplete` once with everything reaped.
fn on_readable(rc: &EngineRc) {
    let Some(env) = rc
        .try_borrow()
        .ok()
        .filter(|e| e.driver.is_some())
        .map(|e| e.env)
    else {
        return;
    };
    guard_callback(&env, "completion delivery (inline engine)", || {
        // A handle scope: this runs from libuv, outside any call Node made into us.
        let _ = env.run_in_scope(|| {
            let Some((results, func, ctx)) = reap(&env, rc) else {
                return Ok(());
            };
            let array = napi::bindgen_prelude::Float64ArraySlice::copy_from(&env, &results)?;
            // napi_make_callback converts `recv` to an object: undefined would throw.
            let global = env.get_global()?;
            ctx.make_callback(&env, global.to_unknown(), func, &[array.to_unknown()])
        });
    });
}

/// The bookkeeping half of `on_readable`; no JavaScript runs while the engine is
/// borrowed.
fn reap<'e>(env: &'e Env, rc: &EngineRc) -> Option<(Vec<f64>, Unknown<'e>, Rc<AsyncContext>)> {
    let mut guard = rc.try_borrow_mut().ok()?;
    let Engine {
        book,
        driver,
        test_panic,
        ..
    } = &mut *guard;
    test_panic.check(TestPanic::Complete);
    let Some(Driver::Inline(d)) = driver else {
        return None;
    };
    let mut done = mem::take(&mut d.done);
    d.ring.reap(&mut done);
    let results = book.settle_all(&mut done);
    d.done = done;
    d.unref_when_idle(book);
    if results.is_empty() {
        return None;
    }
    let func = d.on_complete.value(env).ok()?;
    Some((results, func, Rc::clone(&d.ctx)))
}

/// The poll handle's close callback: the engine's teardown is done.
fn on_poll_closed(rc: EngineRc) {
    let hook = rc.try_borrow_mut().ok().and_then(|mut e| e.hook.take());
    if let Some(h) = hook {
        h.remove();
    }
}

impl InlineDriver {
    /// Reads and writes that used a registered buffer.
    pub fn fixed_ops(&self) -> u64 {
        self.ring.fixed_ops()
    }

    pub fn send_stats(&self) -> uring::SendStats {
        self.ring.send_stats()
    }

    /// What the ring was set up with.
    pub fn info(&self) -> &uring::RingInfo {
        self.ring.info()
    }

    /// Lets the loop exit while nothing is in flight.
    fn unref_when_idle(&mut self, book: &Book) {
        if book.is_idle() && self.refd {
            if let Some(p) = &self.poll {
                p.set_ref(false);
            }
            self.refd = false;
        }
    }

    /// Submits an accepted batch and returns the `[id, result]` pairs that completed
    /// inside the call. Buffers of operations still in flight are pinned afterwards;
    /// until this call returns the caller's handles keep every buffer alive anyway.
    pub fn submit(
        &mut self,
        env: &Env,
        book: &mut Book,
        ops: &[OpDesc],
        buffers: &[Option<Unknown>],
        reqs: &mut Vec<Request>,
    ) -> Outcome<Vec<f64>> {
        if !self.refd {
            if let Some(p) = &self.poll {
                p.set_ref(true);
            }
            self.refd = true;
        }
        let mut done = mem::take(&mut self.done);
        // SAFETY: every Read/Write buffer is a live Uint8Array, alive through this call
        // (the caller's handles) and pinned below for as long as it stays in flight; a
        // reference is deleted only after its completion came back from the ring (here
        // or in `reap`) or after `wait_all` in `close`.
        let submitted = unsafe { self.ring.submit(reqs, &mut done) };
        if let Err(errno) = submitted {
            book.rollback(ops);
            self.done = done;
            self.unref_when_idle(book);
            return Err(Failure::system(errno, "io_uring_submit"));
        }
        let mut results = book.settle_all(&mut done);
        self.done = done;
        for (op, buffer) in ops.iter().zip(buffers) {
            let (Some(b), Some(slot @ None)) = (buffer, book.inflight.get_mut(&op.id)) else {
                continue;
            };
            match Pinned::new(env, b) {
                Ok(p) => *slot = Some(p),
                Err(_) => {
                    // Cannot pin the buffer beyond this call: wait here until the kernel
                    // is done with it (and everything else in flight).
                    let mut late = mem::take(&mut self.done);
                    self.ring.wait_all(&mut late);
                    results.extend(book.settle_all(&mut late));
                    self.done = late;
                    break;
                }
            }
        }
        self.unref_when_idle(book);
        Ok(results)
    }

    /// Teardown; the order is the point (module comment).
    pub fn close(mut self: Box<Self>, book: Book) {
        // Blocks this thread until the kernel is done with every in-flight buffer.
        let mut done = Vec::new();
        self.ring.wait_all(&mut done);
        let Book {
            inflight,
            registered,
            ..
        } = book;
        drop(inflight);
        if let Some(p) = self.poll.take() {
            p.close(on_poll_closed);
        }
        let InlineDriver {
            ring,
            on_complete,
            ctx,
            ..
        } = *self;
        drop(ctx);
        drop(on_complete);
        // The ring (and its buffer table) goes before the registered buffers may.
        drop(ring);
        drop(registered);
    }
}
