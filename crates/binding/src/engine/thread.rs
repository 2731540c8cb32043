//! The thread driver: a ring thread per engine ([`Worker`]) and a napi-rs
//! `ThreadsafeFunction` that carries completions to `onComplete`.
//!
//! Threads: only the sink closure runs on the ring thread; it touches nothing but the
//! inbox (`Mutex<Vec<Completion>>`) and the threadsafe function. Everything else runs on
//! the JavaScript thread.
//!
//! One threadsafe-function call per batch: the sink queues a call only when it finds
//! the inbox empty, so one call takes every completion that arrives before the
//! JavaScript thread gets to it. (A call can then find the inbox already emptied by
//! the one before; `onComplete` gets an empty array, which it iterates zero times.)
//!
//! The function is created weak (unref'd) and ref'd only while something is in flight,
//! so an idle engine does not keep the process alive.

use std::mem;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use napi::bindgen_prelude::{Float64ArraySlice, Function};
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode,
};
use napi::{Env, JsValue, Status, Unknown};
use uring::{Completion, EngineConfig, Request, Worker};

use super::{Book, Driver, Engine, EngineRc, TestPanic};
use crate::error::{guard_callback, Failure, Outcome};
use crate::validate::OpDesc;

/// Completions handed over by the ring thread, waiting for the JavaScript thread.
type Inbox = Arc<Mutex<Vec<Completion>>>;

fn lock(inbox: &Mutex<Vec<Completion>>) -> MutexGuard<'_, Vec<Completion>> {
    // Every update under this lock is a single append/swap, so a poisoned lock (a panic
    // elsewhere while holding it) still guards a consistent Vec.
    inbox.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `onComplete` as a threadsafe function: called with no value (the inbox carries the
/// data), not error-first, weak (unref'd until something is in flight).
type Tsfn = ThreadsafeFunction<(), Unknown<'static>, Unknown<'static>, Status, false, true>;

/// The threadsafe function, shared by the ring thread's sink (which calls it) and the
/// JavaScript thread (which refs and unrefs it); napi-rs's handle is not `Clone`, and
/// ref/unref want `&mut`. The last holder to drop it releases it.
type SharedTsfn = Arc<Mutex<Tsfn>>;

pub struct ThreadDriver {
    /// Declared first: dropped (joined) before the threadsafe function it calls.
    worker: Worker,
    tsfn: SharedTsfn,
    /// Whether the threadsafe function currently keeps the event loop alive.
    refd: bool,
    inbox: Inbox,
    /// An empty Vec with capacity, swapped with the inbox so neither reallocates.
    spare: Vec<Completion>,
}

/// Starts the ring thread of `rc` (which creates the ring itself: SINGLE_ISSUER wants
/// the submitter to be the creator).
pub fn start(rc: &EngineRc, cfg: &EngineConfig, on_complete: &Unknown) -> Outcome<()> {
    // SAFETY: createEngine checked that `on_complete` is a function of `env`.
    let func: Function<Unknown<'static>, Unknown<'static>> = unsafe { on_complete.cast() }?;
    let weak = Rc::downgrade(rc);
    let tsfn: Tsfn = func
        .build_threadsafe_function::<()>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(move |ctx: ThreadsafeCallContext<()>| deliver(&ctx.env, &weak))?;
    let tsfn: SharedTsfn = Arc::new(Mutex::new(tsfn));
    let inbox: Inbox = Arc::new(Mutex::new(Vec::new()));

    let sink_inbox = Arc::clone(&inbox);
    let sink_tsfn = Arc::clone(&tsfn);
    let sink = Box::new(move |batch: &mut Vec<Completion>| {
        let was_empty = {
            let mut q = lock(&sink_inbox);
            let was_empty = q.is_empty();
            q.append(batch);
            was_empty
        };
        // A non-empty inbox means a call is already queued and will take everything.
        // Failure means the function is closing (the environment is going away);
        // `close` then drops what is left.
        if was_empty {
            let t = sink_tsfn.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = t.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    });
    let worker = Worker::start(cfg, sink).map_err(|e| Failure::system(e, "io_uring_setup"))?;
    rc.borrow_mut().driver = Some(Driver::Thread(ThreadDriver {
        worker,
        tsfn,
        refd: false,
        inbox,
        spare: Vec::new(),
    }));
    Ok(())
}

/// The threadsafe function's callback (JavaScript thread): the `[id, result, …]` array
/// `onComplete` is called with.
fn deliver(env: &Env, weak: &Weak<std::cell::RefCell<Engine>>) -> napi::Result<Unknown<'static>> {
    let mut results = Vec::new();
    guard_callback(env, "completion delivery (thread engine)", || {
        if let Some(rc) = weak.upgrade() {
            results = take_results(env, &rc);
        }
    });
    let array = Float64ArraySlice::copy_from(env, &results)?;
    // SAFETY: the handle lives in the current handle scope, which napi-rs keeps open
    // until it has passed the value to `onComplete`; 'static is only the type napi-rs's
    // callback signature asks for.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), array.raw()) })
}

/// Takes every waiting completion, deletes their buffer references and unrefs when idle.
fn take_results(env: &Env, rc: &EngineRc) -> Vec<f64> {
    let Ok(mut guard) = rc.try_borrow_mut() else {
        return Vec::new();
    };
    let Engine {
        book,
        driver,
        test_panic,
        ..
    } = &mut *guard;
    test_panic.check(TestPanic::Complete);
    let Some(Driver::Thread(t)) = driver else {
        return Vec::new(); // closed: `close` dropped what was waiting
    };
    mem::swap(&mut *lock(&t.inbox), &mut t.spare);
    let mut batch = mem::take(&mut t.spare);
    let results = book.settle_all(&mut batch);
    t.spare = batch;
    t.unref_when_idle(env, book);
    results
}

impl ThreadDriver {
    /// Reads and writes that used a registered buffer.
    pub fn fixed_ops(&self) -> u64 {
        self.worker.fixed_ops()
    }

    pub fn send_stats(&self) -> uring::SendStats {
        self.worker.send_stats()
    }

    /// What the ring was set up with.
    pub fn info(&self) -> &uring::RingInfo {
        self.worker.info()
    }

    fn unref_when_idle(&mut self, env: &Env, book: &Book) {
        if book.is_idle() && self.refd {
            #[allow(deprecated)] // the loop ref, not the thread count `clone` replaces
            let _ = self
                .tsfn
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .unref(env);
            self.refd = false;
        }
    }

    /// Hands an accepted batch to the ring thread; on failure the batch is forgotten.
    pub fn submit(
        &mut self,
        env: &Env,
        book: &mut Book,
        ops: &[OpDesc],
        reqs: &mut Vec<Request>,
    ) -> Outcome<()> {
        if !self.refd {
            #[allow(deprecated)] // the loop ref, not the thread count `clone` replaces
            let refd = self
                .tsfn
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .refer(env);
            if let Err(e) = refd {
                book.rollback(ops);
                return Err(e.into());
            }
            self.refd = true;
        }
        // SAFETY: every Read/Write buffer is a live Uint8Array pinned by the reference
        // just stored in `book`; it is deleted only after the completion was delivered
        // (`take_results`) or after `Worker::shutdown` returned (`close`). JavaScript
        // must not touch a buffer in flight (the documented ownership model).
        let submitted = unsafe { self.worker.submit(reqs) };
        if let Err(errno) = submitted {
            book.rollback(ops);
            self.unref_when_idle(env, book);
            return Err(Failure::system(errno, "io_uring_submit"));
        }
        Ok(())
    }

    /// Teardown, in this order: the ring thread waits for every accepted request and is
    /// joined (the kernel may write into in-flight buffers until then; the ring is
    /// dropped on its thread), then undelivered completions and the references go, then
    /// the threadsafe function is unref'd and released (its last holder is ours: the
    /// sink died with the ring thread).
    pub fn close(self, env: &Env, book: Book) {
        let ThreadDriver {
            worker,
            tsfn,
            refd,
            inbox,
            ..
        } = self;
        worker.shutdown();
        lock(&inbox).clear();
        drop(book);
        if refd {
            #[allow(deprecated)] // the loop ref, not the thread count `clone` replaces
            let _ = tsfn
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .unref(env);
        }
        drop(tsfn);
    }
}
