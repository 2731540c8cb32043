//! One engine per `createEngine()` call: the ring [`Worker`], the threadsafe function
//! that carries completions to JavaScript, the references that keep in-flight buffers
//! alive, and the env cleanup hook. No globals: everything lives here, owned through an
//! `Rc` by three holders — the engine's external, the threadsafe function (as its
//! context) and the cleanup hook (as its argument) — so the addon is context-aware
//! (one engine per worker thread, or many, at once).
//!
//! Threads: only the sink closure runs on the ring thread; it touches nothing but the
//! `Mutex<Vec<Completion>>` and the threadsafe function. Everything else — the `Engine`
//! itself, its references, ref/unref — is touched on the JavaScript thread only, hence
//! `Rc<RefCell<…>>` rather than `Arc<Mutex<…>>`.
//!
//! Lifetime of a buffer: `submit` takes a reference (refcount 1) before the request
//! reaches the worker; the reference is deleted either when its completion is handed to
//! JavaScript (`call_js`) or by `close` after `Worker::shutdown` has waited for every
//! accepted request. The kernel is therefore never left writing into collected memory.
//!
//! Inline mode (`mode: 'inline'`) has no ring thread and no threadsafe function: the
//! JavaScript thread owns an [`InlineEngine`]. `submit` returns what completed inside
//! its io_uring_enter; the ring fd is watched by a libuv poll handle on the env's loop,
//! whose callback reaps the rest and calls `onComplete` through `napi_make_callback`.
//! The poll handle is ref'd only while something is in flight. Its memory and one
//! strong count of the engine live until its close callback; teardown goes through an
//! asynchronous cleanup hook, which keeps the loop running until that callback ran.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::{self, ManuallyDrop};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use node_api::{
    sys, uv, AsyncContext, CallInfo, Env, Error, HandleScope, Reference, Result,
    ThreadsafeFunction, TypeTag, Value, ValueType,
};
use uring::{Completion, EngineConfig, InlineEngine, Op, Request, Worker};

use crate::errno;
use crate::validate::{self, Extra, Kind, OpDesc, OutOfRange};

/// Marks externals made by this addon as engines (napi_type_tag_object), so that a
/// foreign external passed to `submit` is a TypeError, not a wild pointer.
static ENGINE_TAG: TypeTag = TypeTag::new(0x5f1c_2c1e_9a0b_4e37, 0xb2d4_1f60_7c88_e319);

/// Completions handed over by the ring thread, waiting for the JavaScript thread.
type Inbox = Arc<Mutex<Vec<Completion>>>;

fn lock(inbox: &Mutex<Vec<Completion>>) -> MutexGuard<'_, Vec<Completion>> {
    // Every update under this lock is a single append/swap, so a poisoned lock (a panic
    // elsewhere while holding it) still guards a consistent Vec.
    inbox.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hashes request ids (a counter from the TypeScript layer, not attacker-chosen) with one
/// multiplication (Fibonacci hashing): SipHash costs more than the rest of the table
/// operation on the submit/complete hot path.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// The JavaScript-thread state of one engine.
pub struct Engine {
    /// The environment this engine belongs to (valid until its cleanup hook has run).
    env: sys::napi_env,
    /// None once closed (or never started).
    worker: Option<Worker>,
    /// None once released.
    tsfn: Option<ThreadsafeFunction>,
    /// Whether the threadsafe function currently keeps the event loop alive.
    tsfn_refd: bool,
    inbox: Inbox,
    /// An empty Vec with capacity, swapped with the inbox so neither reallocates.
    spare: Vec<Completion>,
    /// Every request accepted and not yet delivered, by id, with the reference that
    /// keeps its buffer alive (read/write only). Its length is the in-flight count.
    inflight: IdMap<Option<Reference>>,
    /// Buffer-table updates among `inflight`, by id: what their completion changes.
    table_ops: IdMap<TableOp>,
    /// The registered buffers, by slot, each pinned by a reference until its
    /// unregistration completed or the ring is gone: the ring's table maps addresses,
    /// so the memory must not be collected and reused while registered.
    registered: HashMap<u32, Reference>,
    /// The cleanup hook's strong count (`Rc::into_raw`), while the hook is registered.
    hook_arg: Option<*const RefCell<Engine>>,
    /// Inline mode: the ring on this thread and its poll handle.
    inline: Option<Inline>,
    /// Inline mode: the asynchronous cleanup hook and its strong count, until the poll
    /// handle's close callback removes it.
    async_hook: Option<(sys::napi_async_cleanup_hook_handle, *const RefCell<Engine>)>,
    /// Completions taken from the inline ring, reused between calls.
    done: Vec<Completion>,
    closed: bool,
}

/// A buffer-table update in flight.
#[derive(Clone, Copy, Debug)]
enum TableOp {
    /// On success (result = slot) its buffer's reference moves to `registered`.
    Register,
    /// On completion the slot's reference is deleted.
    Unregister(u32),
}

impl Engine {
    /// Bookkeeping of one completion: deletes its buffer's reference (or moves it to the
    /// registered-buffer table).
    fn settle(&mut self, c: &Completion) {
        let pin = self.inflight.remove(&c.user_data).flatten();
        match self.table_ops.remove(&c.user_data) {
            Some(TableOp::Register) if c.result >= 0 => {
                if let Some(r) = pin {
                    self.registered.insert(c.result as u32, r);
                }
            }
            Some(TableOp::Unregister(slot)) if c.result >= 0 => {
                self.registered.remove(&slot);
            }
            _ => {}
        }
    }

    /// Settles every completion of `done` (emptied, capacity kept) and returns their
    /// `[id, result, …]` pairs for JavaScript. Ids are safe integers (validated) and
    /// results are byte counts, fds, sizes, slots or -errno / RESULT_RING_FAILED: all
    /// exact in an f64.
    fn settle_all(&mut self, done: &mut Vec<Completion>) -> Vec<f64> {
        let mut results = Vec::with_capacity(done.len() * 2);
        for c in done.drain(..) {
            self.settle(&c);
            results.push(c.user_data as f64);
            results.push(c.result as f64);
        }
        results
    }

    /// Reads and writes that used a registered buffer, on this engine's ring.
    pub fn fixed_ops(&self) -> u64 {
        match (&self.worker, &self.inline) {
            (Some(w), _) => w.fixed_ops(),
            (_, Some(i)) => i.ring.fixed_ops(),
            _ => 0,
        }
    }
}

/// The inline-mode half of an engine.
struct Inline {
    ring: InlineEngine,
    /// A started `uv_poll_t` on the ring fd, allocated by `alloc_poll`; freed by
    /// `on_poll_close` once `uv_close` is done with it.
    poll: *mut uv::uv_poll_t,
    /// Whether the poll handle keeps the loop alive (only while work is in flight).
    refd: bool,
    on_complete: Reference,
    ctx: AsyncContext,
}

/// How an engine drives its ring (`createEngine` option `mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A ring thread per engine; completions come back through a threadsafe function.
    Thread,
    /// The JavaScript thread submits and reaps; the event loop polls the ring fd.
    Inline,
}

type EngineRc = Rc<RefCell<Engine>>;

/// What the engine's external owns. Dropped by the external's finalizer (the object was
/// collected, or the environment is going away): closes the engine if nobody did.
struct EngineHandle(EngineRc);

impl Drop for EngineHandle {
    fn drop(&mut self) {
        close(&self.0, false);
    }
}

/// `createEngine(opts, onComplete)`.
pub fn create(env: Env, cfg: EngineConfig, mode: Mode, on_complete: Value) -> Result<Value> {
    if mode == Mode::Inline {
        return create_inline(env, cfg, on_complete);
    }
    let inbox: Inbox = Arc::new(Mutex::new(Vec::new()));
    let rc: EngineRc = Rc::new(RefCell::new(Engine {
        env: env.raw(),
        worker: None,
        tsfn: None,
        tsfn_refd: false,
        inbox: Arc::clone(&inbox),
        spare: Vec::new(),
        inflight: IdMap::default(),
        table_ops: IdMap::default(),
        registered: HashMap::new(),
        hook_arg: None,
        inline: None,
        async_hook: None,
        done: Vec::new(),
        closed: false,
    }));

    // The threadsafe function's context: one strong count, given back in tsfn_finalize.
    let ctx = Rc::into_raw(Rc::clone(&rc)) as *mut c_void;
    // SAFETY: `ctx` stays valid until `tsfn_finalize` reclaims it; `call_js` handles a
    // null env and never outlives the context (Node calls finalize after the last call).
    let created = unsafe {
        ThreadsafeFunction::new(
            env,
            on_complete,
            "streamline-io:complete",
            0,
            ctx,
            tsfn_finalize,
            call_js,
        )
    };
    let tsfn = match created {
        Ok(t) => t,
        Err(e) => {
            // SAFETY: creation failed, so the tsfn never took ownership of `ctx`.
            drop(unsafe { Rc::from_raw(ctx as *const RefCell<Engine>) });
            return Err(e);
        }
    };
    // An idle engine must not keep the event loop alive: ref'd only while busy.
    if let Err(e) = tsfn.unref(env) {
        // SAFETY: no copy of the handle has been handed out yet.
        unsafe { tsfn.release() };
        return Err(e);
    }

    let sink_inbox = inbox;
    let sink_tsfn = tsfn;
    let sink = Box::new(move |batch: &mut Vec<Completion>| {
        let was_empty = {
            let mut q = lock(&sink_inbox);
            let was_empty = q.is_empty();
            q.append(batch);
            was_empty
        };
        // A non-empty inbox means a call is already queued and will take everything,
        // so one threadsafe-function call carries all completions that arrive before
        // the JavaScript thread gets to it. Failure means the function is closing (the
        // environment is going away); `close` then drops what is left.
        if was_empty {
            let _ = sink_tsfn.call(false);
        }
    });
    let worker = match Worker::start(&cfg, sink) {
        Ok(w) => w,
        Err(e) => {
            // SAFETY: the only copy besides ours was in the sink, which `start` dropped.
            unsafe { tsfn.release() };
            return Err(errno::error(e, "io_uring_setup"));
        }
    };
    {
        let mut e = rc.borrow_mut();
        e.worker = Some(worker);
        e.tsfn = Some(tsfn);
    }

    // Added after the threadsafe function was created, so it runs before the function's
    // own teardown (cleanup hooks run in reverse order of adding).
    let hook_arg = Rc::into_raw(Rc::clone(&rc));
    // SAFETY: `hook_arg` is a strong count that stays alive until the hook runs or is
    // removed (both in `close`); the pointer is unique per engine.
    match unsafe { node_api::add_env_cleanup_hook(env, cleanup_hook, hook_arg as *mut c_void) } {
        Ok(()) => rc.borrow_mut().hook_arg = Some(hook_arg),
        Err(e) => {
            // SAFETY: the hook was not added; the count is still ours.
            drop(unsafe { Rc::from_raw(hook_arg) });
            close(&rc, false);
            return Err(e);
        }
    }

    env.create_external(EngineHandle(Rc::clone(&rc)), &ENGINE_TAG)
        .inspect_err(|_| close(&rc, false))
}

/// The engine behind a JavaScript `engine` argument.
fn engine_arg(env: Env, v: Value) -> Result<EngineRc> {
    match env.get_external::<EngineHandle>(v, &ENGINE_TAG)? {
        Some(h) => Ok(Rc::clone(&h.0)),
        None => Err(Error::type_error(
            "ERR_INVALID_ARG_TYPE",
            format!(
                "The \"engine\" argument must be an engine returned by createEngine(); received {}",
                env.type_of(v)?.name()
            ),
        )),
    }
}

/// `fixedOps(engine)`: reads and writes that used a registered buffer (0 once closed).
pub fn fixed_ops(env: Env, engine: Value) -> Result<u64> {
    let rc = engine_arg(env, engine)?;
    let e = rc
        .try_borrow()
        .map_err(|_| Error::with_code("ERR_INTERNAL", "engine busy (re-entrant call)"))?;
    Ok(e.fixed_ops())
}

/// `destroy(engine)`: idempotent.
pub fn destroy(env: Env, engine: Value) -> Result<()> {
    let rc = engine_arg(env, engine)?;
    close(&rc, false);
    Ok(())
}

/// Stops the worker (waiting for every accepted request), drops what was not delivered,
/// deletes the references, releases the threadsafe function and removes the cleanup
/// hook. Idempotent. JavaScript thread only, with the environment alive: called from
/// `destroy`, the external's finalizer, the cleanup hook, or a failed `create`.
fn close(rc: &EngineRc, from_hook: bool) {
    let (worker, tsfn, refd, refs, registered, hook_arg, raw_env, inbox, inline) = {
        // Never borrowed while JavaScript runs, so this cannot fail in practice; if it
        // did, closing later (finalizer, hook) is still possible.
        let Ok(mut e) = rc.try_borrow_mut() else {
            return;
        };
        if e.closed {
            return;
        }
        e.closed = true;
        (
            e.worker.take(),
            e.tsfn.take(),
            mem::replace(&mut e.tsfn_refd, false),
            mem::take(&mut e.inflight),
            {
                e.table_ops.clear();
                mem::take(&mut e.registered)
            },
            e.hook_arg.take(),
            e.env,
            Arc::clone(&e.inbox),
            e.inline.take(),
        )
    };
    // SAFETY: `close` runs on the engine's JavaScript thread inside a call Node made into
    // the addon, before the environment's teardown completes (see above).
    let env = unsafe { Env::from_raw(raw_env) };
    // Order matters: the kernel may write into in-flight buffers until shutdown returns;
    // only then may their references go.
    if let Some(w) = worker {
        w.shutdown();
    }
    if let Some(mut inl) = inline {
        // Blocks this thread until the kernel is done with every in-flight buffer.
        let mut done = Vec::new();
        inl.ring.wait_all(&mut done);
        drop(refs);
        // SAFETY: the handle was initialised and started in `create_inline` and is
        // closed only here (`inline` is taken once); stopping before the ring fd is
        // closed keeps libuv's epoll set consistent. `on_poll_close` frees it.
        unsafe {
            uv::uv_poll_stop(inl.poll);
            uv::uv_close(inl.poll, Some(on_poll_close));
        }
        // SAFETY: created in `create_inline` on this env, destroyed once, here.
        unsafe { env.async_destroy(inl.ctx) };
        drop(inl.on_complete);
        // The ring (and its buffer table) goes before the registered buffers may.
        drop(inl.ring);
        drop(registered);
        return;
    }
    lock(&inbox).clear();
    drop(refs);
    // The worker's ring was dropped on its thread, joined by `shutdown` above.
    drop(registered);
    if let Some(t) = tsfn {
        if refd {
            let _ = t.unref(env);
        }
        // SAFETY: the sink's copy died with the ring thread (joined above); ours was
        // taken out of the engine, so no copy is used after this.
        unsafe { t.release() };
    }
    if let Some(arg) = hook_arg {
        if !from_hook {
            // SAFETY: the pair was added in `create` and has neither run nor been removed
            // (`hook_arg` is taken exactly once).
            let _ =
                unsafe { node_api::remove_env_cleanup_hook(env, cleanup_hook, arg as *mut c_void) };
        }
        // SAFETY: the hook's strong count, given back exactly once (hook_arg was taken).
        drop(unsafe { Rc::from_raw(arg) });
    }
}

/// Runs at process exit / worker-thread teardown: the same as `destroy`, so the
/// environment's memory is not freed under in-flight requests.
///
/// # Safety
/// Called by Node with the argument given to `napi_add_env_cleanup_hook`.
unsafe extern "C" fn cleanup_hook(arg: *mut c_void) {
    // SAFETY: `arg` is the hook's strong count; ManuallyDrop leaves it for `close` to
    // give back, while our own clone keeps the engine alive during `close`.
    let hook_rc = ManuallyDrop::new(unsafe { Rc::from_raw(arg as *const RefCell<Engine>) });
    let rc = Rc::clone(&hook_rc);
    let _ = catch_unwind(AssertUnwindSafe(|| close(&rc, true)));
}

/// The threadsafe function's finalizer: gives back its strong count.
///
/// # Safety
/// Called by Node once, with the context given at creation.
unsafe extern "C" fn tsfn_finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the strong count leaked in `create` for the tsfn.
    drop(unsafe { Rc::from_raw(data as *const RefCell<Engine>) });
}

/// Runs on the JavaScript thread for each threadsafe-function call: takes every waiting
/// completion, deletes their buffer references, unrefs when idle, and calls
/// `onComplete(Float64Array [id, result, id, result, …])` once.
///
/// # Safety
/// Called by Node with the context given at creation (alive until `tsfn_finalize`).
unsafe extern "C" fn call_js(
    raw_env: sys::napi_env,
    js_cb: sys::napi_value,
    ctx: *mut c_void,
    _data: *mut c_void,
) {
    if raw_env.is_null() || js_cb.is_null() {
        return; // The function is being torn down; `data` is always null, nothing to free.
    }
    // SAFETY: Node passes the live env of this call.
    let env = unsafe { Env::from_raw(raw_env) };
    // SAFETY: the tsfn's strong count keeps the engine alive until `tsfn_finalize`, which
    // Node runs only after the last `call_js`.
    let cell = unsafe { &*(ctx as *const RefCell<Engine>) };
    // SAFETY: Node passes a live handle of this env.
    let js_cb = unsafe { Value::from_raw_unchecked(js_cb) };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if let Some(results) = take_results(env, cell) {
            deliver(env, js_cb, &results);
        }
    }));
}

/// The bookkeeping half of `call_js`; no JavaScript runs while the engine is borrowed.
fn take_results(env: Env, cell: &RefCell<Engine>) -> Option<Vec<f64>> {
    let mut guard = cell.try_borrow_mut().ok()?;
    let e = &mut *guard;
    if e.closed {
        return None;
    }
    mem::swap(&mut *lock(&e.inbox), &mut e.spare);
    if e.spare.is_empty() {
        return None; // An earlier call took these completions already.
    }
    let mut spare = mem::take(&mut e.spare);
    let results = e.settle_all(&mut spare);
    e.spare = spare;
    if e.inflight.is_empty() && e.tsfn_refd {
        if let Some(t) = e.tsfn {
            let _ = t.unref(env);
        }
        e.tsfn_refd = false;
    }
    Some(results)
}

fn deliver(env: Env, js_cb: Value, results: &[f64]) {
    let called = env.float64_array(results).and_then(|arr| {
        let this = env.undefined()?;
        env.call_function(this, js_cb, &[arr])
    });
    if let Err(e) = called {
        // onComplete threw (or the array could not be made): report it as Node reports
        // any exception thrown from a callback, through 'uncaughtException'.
        let exception = env.take_exception().or_else(|| env.error_value(&e).ok());
        if let Some(x) = exception {
            env.fatal_exception(x);
        }
    }
}

/// `submit(engine, desc, extras)`: undefined, or in inline mode a Float64Array of the
/// `[id, result]` pairs that completed inside the submit (undefined when none).
pub fn submit(env: Env, info: &CallInfo) -> Result<Option<Value>> {
    let rc = engine_arg(env, info.arg(0))?;
    ensure_open(&rc)?;

    // 1. The descriptor, copied out before any JavaScript can run (extras getters could
    //    otherwise detach it under us).
    let d = env
        .typedarray_info(info.arg(1))?
        .filter(|i| i.kind == sys::napi_float64_array)
        .ok_or_else(|| {
            Error::type_error(
                "ERR_INVALID_ARG_TYPE",
                "The \"desc\" argument must be a Float64Array",
            )
        })?;
    let mut desc = vec![0f64; d.length];
    if d.length > 0 {
        // SAFETY: a Float64Array of `length` elements starts at `data`; byte copy, so no
        // alignment assumption; `desc` is a separate allocation.
        unsafe {
            std::ptr::copy_nonoverlapping(d.data, desc.as_mut_ptr().cast::<u8>(), d.length * 8)
        };
    }
    let ops = validate::parse_desc(&desc).map_err(range_error)?;
    if ops.is_empty() {
        return Ok(None);
    }

    // 2. The extras values. Reading elements may run JavaScript (getters, proxies), so
    //    all of it happens before any buffer pointer is taken.
    let extras_v = info.arg(2);
    let extras: Vec<Option<Value>> = match env.type_of(extras_v)? {
        ValueType::Undefined | ValueType::Null => vec![None; ops.len()],
        ValueType::Object if env.is_array(extras_v)? => ops
            .iter()
            .enumerate()
            .map(|(i, op)| match op.kind.extra() {
                Extra::None => Ok(None),
                _ => env.get_element(extras_v, i as u32).map(Some),
            })
            .collect::<Result<_>>()?,
        other => {
            return Err(Error::type_error(
                "ERR_INVALID_ARG_TYPE",
                format!(
                    "The \"extras\" argument must be an Array; received {}",
                    other.name()
                ),
            ))
        }
    };

    // 3. Validate every operation and build its request; no JavaScript runs from here on.
    let mut reqs = Vec::with_capacity(ops.len());
    let mut buffers = Vec::with_capacity(ops.len());
    for (i, (op, extra)) in ops.iter().zip(&extras).enumerate() {
        let (req_op, buffer) = build_op(env, i, op, *extra)?;
        reqs.push(Request {
            user_data: op.id,
            op: req_op,
            link: op.link,
        });
        buffers.push(buffer);
    }

    // 4. Record the batch (ids unique among in-flight ops), referencing every buffer.
    let mut guard = rc
        .try_borrow_mut()
        .map_err(|_| Error::with_code("ERR_INTERNAL", "engine busy (re-entrant submit)"))?;
    let e = &mut *guard;
    if e.closed || (e.worker.is_none() && e.inline.is_none()) {
        return Err(closed_error()); // destroy() ran inside an extras getter.
    }
    let rollback = |e: &mut Engine, done: usize| {
        for op in &ops[..done] {
            e.inflight.remove(&op.id);
            e.table_ops.remove(&op.id);
        }
    };
    // Inline engines reference buffers only after the submit, and only those of
    // operations still in flight: most cached reads and writes complete inside it, and
    // until this call returns the `extras` handles keep every buffer alive anyway.
    let defer_refs = e.inline.is_some();
    for (i, (op, buffer)) in ops.iter().zip(&buffers).enumerate() {
        let entry = match e.inflight.contains_key(&op.id) {
            true => Err(Error::with_code(
                "ERR_INVALID_ARG_VALUE",
                format!("desc op {i}: id {} is already in flight", op.id),
            )),
            // A registration's reference is taken now in every mode: it outlives the
            // operation (moved to `registered` on success).
            false if defer_refs && op.kind != Kind::RegisterBuffer => Ok(None),
            false => buffer.map(|b| Reference::new(env, b)).transpose(),
        };
        match entry {
            Ok(r) => {
                e.inflight.insert(op.id, r);
                match op.kind {
                    Kind::RegisterBuffer => {
                        e.table_ops.insert(op.id, TableOp::Register);
                    }
                    Kind::UnregisterBuffer => {
                        e.table_ops
                            .insert(op.id, TableOp::Unregister(op.arg as u32));
                    }
                    _ => {}
                }
            }
            Err(err) => {
                rollback(e, i);
                return Err(err);
            }
        }
    }

    // 5. Keep the loop alive while anything is in flight, then hand the batch over.
    if let Some(inl) = e.inline.as_mut() {
        if !inl.refd {
            // SAFETY: a live, started poll handle (closed only when `inline` is taken).
            unsafe { uv::uv_ref(inl.poll) };
            inl.refd = true;
        }
        let mut done = mem::take(&mut e.done);
        // SAFETY: every Read/Write buffer is a live Uint8Array pinned by the reference
        // just stored in `inflight`; it is deleted only after its completion came back
        // from the ring (here or in `on_poll`) or after `wait_all` in `close`.
        let submitted = unsafe { inl.ring.submit(&mut reqs, &mut done) };
        if let Err(errno) = submitted {
            rollback(e, ops.len());
            e.done = done;
            idle_unref(e, env);
            return Err(errno::error(errno, "io_uring_submit"));
        }
        let mut results = settle_done(e, env, done);
        for (op, buffer) in ops.iter().zip(&buffers) {
            let (Some(b), Some(slot)) = (buffer, e.inflight.get_mut(&op.id)) else {
                continue;
            };
            match Reference::new(env, *b) {
                Ok(r) => *slot = Some(r),
                Err(_) => {
                    // Cannot pin the buffer beyond this call: wait here until the kernel
                    // is done with it (and everything else in flight).
                    let mut late = mem::take(&mut e.done);
                    if let Some(inl) = e.inline.as_mut() {
                        inl.ring.wait_all(&mut late);
                    }
                    results.extend(settle_done(e, env, late));
                    break;
                }
            }
        }
        return if results.is_empty() {
            Ok(None)
        } else {
            env.float64_array(&results).map(Some)
        };
    }
    if !e.tsfn_refd {
        if let Some(t) = e.tsfn {
            if let Err(err) = t.ref_(env) {
                rollback(e, ops.len());
                return Err(err);
            }
            e.tsfn_refd = true;
        }
    }
    let worker = e.worker.as_ref().expect("checked above");
    // SAFETY: every Read/Write buffer is a live Uint8Array pinned by the reference just
    // stored in `inflight`; it is deleted only after the completion was delivered
    // (`call_js`) or after `Worker::shutdown` returned (`close`). JavaScript owning code
    // must not touch a buffer in flight (the documented ownership model).
    let submitted = unsafe { worker.submit(&mut reqs) };
    if let Err(errno) = submitted {
        rollback(e, ops.len());
        if e.inflight.is_empty() && e.tsfn_refd {
            if let Some(t) = e.tsfn {
                let _ = t.unref(env);
            }
            e.tsfn_refd = false;
        }
        return Err(errno::error(errno, "io_uring_submit"));
    }
    Ok(None)
}

fn closed_error() -> Error {
    Error::with_code(
        "ERR_IO_CLOSED",
        "the io_uring engine is closed (destroy() was called)",
    )
}

fn ensure_open(rc: &EngineRc) -> Result<()> {
    match rc.try_borrow() {
        Ok(e) if !e.closed && (e.worker.is_some() || e.inline.is_some()) => Ok(()),
        Ok(_) => Err(closed_error()),
        Err(_) => Err(Error::with_code(
            "ERR_INTERNAL",
            "engine busy (re-entrant call)",
        )),
    }
}

fn range_error(e: OutOfRange) -> Error {
    Error::range_error("ERR_OUT_OF_RANGE", e.0)
}

/// The uring operation for one validated descriptor, and the buffer to pin if any.
fn build_op(env: Env, i: usize, op: &OpDesc, extra: Option<Value>) -> Result<(Op, Option<Value>)> {
    let fd = op.fd;
    Ok(match op.kind {
        Kind::Read | Kind::Write | Kind::RegisterBuffer => {
            let v = extra.expect("fetched for buffer kinds");
            let info = env
                .typedarray_info(v)?
                .filter(|t| t.kind == sys::napi_uint8_array)
                .ok_or_else(|| {
                    Error::type_error(
                        "ERR_INVALID_ARG_TYPE",
                        format!(
                            "extras[{i}] must be a Uint8Array (Buffer) for a {}; received {}",
                            op.kind.name(),
                            describe(env, v)
                        ),
                    )
                })?;
            let byte_length = info.byte_length() as u64;
            if op.len > byte_length {
                return Err(range_error(OutOfRange(format!(
                    "desc op {i}: len {} exceeds the byte length {byte_length} of extras[{i}]",
                    op.len
                ))));
            }
            // A detached or empty view has a null data pointer; with len 0 nothing is
            // transferred, but the pointer must still be non-null and aligned.
            let data = if info.data.is_null() {
                std::ptr::NonNull::dangling().as_ptr()
            } else {
                info.data
            };
            let len = op.len as usize;
            let req = if op.kind == Kind::RegisterBuffer {
                // The engine refuses an empty range (EINVAL); the reference taken for
                // this op keeps the memory alive while registered (`registered`).
                Op::RegisterBuffer { buf: data, len }
            } else if op.kind == Kind::Read {
                Op::Read {
                    fd,
                    buf: data,
                    len,
                    offset: op.offset,
                }
            } else {
                Op::Write {
                    fd,
                    buf: data.cast_const(),
                    len,
                    offset: op.offset,
                }
            };
            (req, Some(v))
        }
        Kind::Open => {
            let v = extra.expect("fetched for open");
            if env.type_of(v)? != ValueType::String {
                return Err(Error::type_error(
                    "ERR_INVALID_ARG_TYPE",
                    format!(
                        "extras[{i}] must be a string (the path) for an open; received {}",
                        describe(env, v)
                    ),
                ));
            }
            let path = CString::new(env.get_string(v)?).map_err(|_| {
                Error::type_error(
                    "ERR_INVALID_ARG_VALUE",
                    format!("extras[{i}]: the path must not contain null bytes"),
                )
            })?;
            (
                Op::Open {
                    path,
                    flags: op.arg,
                    mode: op.len as u32,
                },
                None,
            )
        }
        Kind::Fsync => (
            Op::Fsync {
                fd,
                datasync: false,
            },
            None,
        ),
        Kind::Fdatasync => (Op::Fsync { fd, datasync: true }, None),
        Kind::Fallocate => (
            Op::Fallocate {
                fd,
                mode: op.arg,
                offset: op.offset,
                len: op.len,
            },
            None,
        ),
        Kind::Ftruncate => (Op::Ftruncate { fd, len: op.len }, None),
        Kind::Size => (Op::Size { fd }, None),
        Kind::Close => (Op::Close { fd }, None),
        Kind::Nop => (Op::Nop, None),
        Kind::UnregisterBuffer => (
            Op::UnregisterBuffer {
                slot: op.arg as u32,
            },
            None,
        ),
    })
}

/// "string", "undefined", "a typed array of another type", … for messages.
fn describe(env: Env, v: Value) -> String {
    match env.typedarray_info(v) {
        Ok(Some(_)) => "a typed array other than Uint8Array".into(),
        _ => env
            .type_of(v)
            .map(|t| t.name().to_string())
            .unwrap_or_else(|_| "an unknown value".into()),
    }
}

// ---------------------------------------------------------------------------------------
// Inline mode.

/// Deletes the references of `done`'s completions, unrefs when idle, and returns the
/// `[id, result, …]` pairs for JavaScript; `done` goes back to the engine, emptied.
fn settle_done(e: &mut Engine, env: Env, mut done: Vec<Completion>) -> Vec<f64> {
    let results = e.settle_all(&mut done);
    e.done = done;
    idle_unref(e, env);
    results
}

/// Lets the loop exit while nothing is in flight (inline mode).
fn idle_unref(e: &mut Engine, _env: Env) {
    if !e.inflight.is_empty() {
        return;
    }
    if let Some(inl) = e.inline.as_mut() {
        if inl.refd {
            // SAFETY: a live, started poll handle (closed only when `inline` is taken).
            unsafe { uv::uv_unref(inl.poll) };
            inl.refd = false;
        }
    }
}

/// The memory layout of a `uv_poll_t` on this libuv.
fn poll_layout() -> std::alloc::Layout {
    // SAFETY: uv_handle_size is a pure function of the handle type.
    let size = unsafe { uv::uv_handle_size(uv::UV_POLL) };
    // 16: at least the alignment of any field libuv puts in a handle.
    std::alloc::Layout::from_size_align(size.max(1), 16).expect("uv_poll_t layout")
}

fn create_inline(env: Env, cfg: EngineConfig, on_complete: Value) -> Result<Value> {
    // The ring is created here, on the JavaScript thread: SINGLE_ISSUER wants its only
    // submitter to be its creator.
    let ring = InlineEngine::new(&cfg).map_err(|e| errno::error(e, "io_uring_setup"))?;
    let poll_fd = ring.poll_fd();
    let on_complete = Reference::new(env, on_complete)?;
    let uv_loop = env.uv_loop()?;
    let ctx = env.async_init("streamline-io:complete")?;
    let layout = poll_layout();
    // SAFETY: a non-zero-sized layout.
    let poll = unsafe { std::alloc::alloc(layout) } as *mut uv::uv_poll_t;
    if poll.is_null() {
        // SAFETY: created above, not used elsewhere.
        unsafe { env.async_destroy(ctx) };
        return Err(errno::error(12, "uv_poll_init"));
    }
    // SAFETY: `poll` is writable memory of uv_handle_size(UV_POLL) bytes; `uv_loop` is
    // this env's loop; the fd is the ring's, open until the ring is dropped in `close`
    // (after uv_poll_stop).
    let r = unsafe { uv::uv_poll_init(uv_loop, poll, poll_fd) };
    if r != 0 {
        // SAFETY: never initialised as a handle, so libuv does not know it; ours to free.
        unsafe {
            std::alloc::dealloc(poll.cast(), layout);
            env.async_destroy(ctx);
        }
        return Err(errno::error(-r, "uv_poll_init"));
    }
    let rc: EngineRc = Rc::new(RefCell::new(Engine {
        env: env.raw(),
        worker: None,
        tsfn: None,
        tsfn_refd: false,
        inbox: Arc::new(Mutex::new(Vec::new())),
        spare: Vec::new(),
        inflight: IdMap::default(),
        table_ops: IdMap::default(),
        registered: HashMap::new(),
        hook_arg: None,
        inline: Some(Inline {
            ring,
            poll,
            refd: false,
            on_complete,
            ctx,
        }),
        async_hook: None,
        done: Vec::new(),
        closed: false,
    }));
    // The poll handle's strong count, given back in `on_poll_close`.
    // SAFETY: `poll` is an initialised handle; the data pointer is only read by our
    // callbacks, which run while the handle (and so this count) is alive.
    unsafe { uv::uv_handle_set_data(poll, Rc::into_raw(Rc::clone(&rc)) as *mut c_void) };
    // SAFETY: an initialised poll handle; `on_poll` matches uv_poll_cb.
    let r = unsafe { uv::uv_poll_start(poll, uv::UV_READABLE, Some(on_poll)) };
    // SAFETY: as above. Idle until something is submitted.
    unsafe { uv::uv_unref(poll) };
    if r != 0 {
        close(&rc, false);
        return Err(errno::error(-r, "uv_poll_start"));
    }
    let hook_arg = Rc::into_raw(Rc::clone(&rc));
    // SAFETY: `hook_arg` is a strong count that stays alive until `on_poll_close`
    // removes the hook and gives it back.
    match unsafe {
        node_api::add_async_cleanup_hook(env, async_cleanup_hook, hook_arg as *mut c_void)
    } {
        Ok(h) => rc.borrow_mut().async_hook = Some((h, hook_arg)),
        Err(e) => {
            // SAFETY: the hook was not added; the count is still ours.
            drop(unsafe { Rc::from_raw(hook_arg) });
            close(&rc, false);
            return Err(e);
        }
    }
    env.create_external(EngineHandle(Rc::clone(&rc)), &ENGINE_TAG)
        .inspect_err(|_| close(&rc, false))
}

/// The ring fd is readable: reap, then call `onComplete` once with everything reaped.
///
/// # Safety
/// Called by libuv on the env's thread for a handle started in `create_inline`, whose
/// data is the engine's strong count (alive until `on_poll_close`).
unsafe extern "C" fn on_poll(handle: *mut uv::uv_poll_t, _status: i32, _events: i32) {
    // SAFETY: the data pointer set in `create_inline`, kept alive by the handle's count.
    let cell = unsafe { &*(uv::uv_handle_get_data(handle) as *const RefCell<Engine>) };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let Some(raw_env) = cell.try_borrow().ok().filter(|e| !e.closed).map(|e| e.env) else {
            return;
        };
        // SAFETY: the handle is open, so `close` has not run and the env is alive; this
        // is its JavaScript thread (the loop's thread), outside any JavaScript.
        let env = unsafe { Env::from_raw(raw_env) };
        // SAFETY: on the env's thread; dropped before this callback returns.
        let Ok(_scope) = (unsafe { HandleScope::open(env) }) else {
            return;
        };
        let Some((results, func, ctx)) = reap_inline(env, cell) else {
            return;
        };
        let called = env.float64_array(&results).and_then(|arr| {
            // napi_make_callback converts `recv` to an object: undefined would throw.
            let this = env.global()?;
            env.make_callback(ctx, this, func, &[arr])
        });
        if let Err(e) = called {
            // onComplete threw: report it as Node reports any exception thrown from a
            // callback, through 'uncaughtException'.
            let exception = env.take_exception().or_else(|| env.error_value(&e).ok());
            if let Some(x) = exception {
                env.fatal_exception(x);
            }
        }
    }));
}

/// The bookkeeping half of `on_poll`; no JavaScript runs while the engine is borrowed.
fn reap_inline(env: Env, cell: &RefCell<Engine>) -> Option<(Vec<f64>, Value, AsyncContext)> {
    let mut guard = cell.try_borrow_mut().ok()?;
    let e = &mut *guard;
    if e.closed {
        return None;
    }
    let mut done = mem::take(&mut e.done);
    let inl = e.inline.as_mut()?;
    inl.ring.reap(&mut done);
    let func = inl.on_complete.value(env).ok();
    let ctx = inl.ctx;
    let results = settle_done(e, env, done);
    if results.is_empty() {
        return None;
    }
    Some((results, func?, ctx))
}

/// Frees the poll handle, removes the asynchronous cleanup hook (letting a teardown
/// that waits for us finish) and gives back the strong counts of both.
///
/// # Safety
/// Called by libuv once, after `uv_close` on a handle made by `create_inline`.
unsafe extern "C" fn on_poll_close(handle: *mut uv::uv_handle_t) {
    // SAFETY: the handle's strong count, set in `create_inline`, given back once here.
    let rc = unsafe { Rc::from_raw(uv::uv_handle_get_data(handle) as *const RefCell<Engine>) };
    // SAFETY: libuv is done with the handle; allocated with this layout.
    unsafe { std::alloc::dealloc(handle.cast(), poll_layout()) };
    let hook = rc
        .try_borrow_mut()
        .ok()
        .and_then(|mut e| e.async_hook.take());
    if let Some((h, arg)) = hook {
        // SAFETY: added in `create_inline` and removed exactly once (taken above); the
        // hook's strong count is given back after it can no longer run.
        unsafe {
            node_api::remove_async_cleanup_hook(h);
            drop(Rc::from_raw(arg));
        }
    }
    drop(rc);
}

/// Environment teardown (process exit, worker-thread stop) for an inline engine: the
/// same as `destroy`; Node keeps the loop running until `on_poll_close` removes us.
///
/// # Safety
/// Called by Node with the argument given to `napi_add_async_cleanup_hook`.
unsafe extern "C" fn async_cleanup_hook(
    _handle: sys::napi_async_cleanup_hook_handle,
    arg: *mut c_void,
) {
    // SAFETY: `arg` is the hook's strong count; ManuallyDrop leaves it for
    // `on_poll_close` to give back, while our own clone keeps the engine alive here.
    let hook_rc = ManuallyDrop::new(unsafe { Rc::from_raw(arg as *const RefCell<Engine>) });
    let rc = Rc::clone(&hook_rc);
    let _ = catch_unwind(AssertUnwindSafe(|| close(&rc, true)));
}
