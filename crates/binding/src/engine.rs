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

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::{self, ManuallyDrop};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use node_api::{
    sys, CallInfo, Env, Error, Reference, Result, ThreadsafeFunction, TypeTag, Value, ValueType,
};
use uring::{Completion, EngineConfig, Op, Request, Worker};

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
    /// The cleanup hook's strong count (`Rc::into_raw`), while the hook is registered.
    hook_arg: Option<*const RefCell<Engine>>,
    closed: bool,
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
pub fn create(env: Env, cfg: EngineConfig, on_complete: Value) -> Result<Value> {
    let inbox: Inbox = Arc::new(Mutex::new(Vec::new()));
    let rc: EngineRc = Rc::new(RefCell::new(Engine {
        env: env.raw(),
        worker: None,
        tsfn: None,
        tsfn_refd: false,
        inbox: Arc::clone(&inbox),
        spare: Vec::new(),
        inflight: IdMap::default(),
        hook_arg: None,
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
    let (worker, tsfn, refd, refs, hook_arg, raw_env, inbox) = {
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
            e.hook_arg.take(),
            e.env,
            Arc::clone(&e.inbox),
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
    lock(&inbox).clear();
    drop(refs);
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
    let mut results = Vec::with_capacity(e.spare.len() * 2);
    for c in e.spare.drain(..) {
        e.inflight.remove(&c.user_data); // Deletes the buffer's reference, if any.
                                         // Ids are safe integers (validated) and results are byte counts, fds, sizes or
                                         // -errno / RESULT_RING_FAILED: all exact in an f64.
        results.push(c.user_data as f64);
        results.push(c.result as f64);
    }
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

/// `submit(engine, desc, extras)`.
pub fn submit(env: Env, info: &CallInfo) -> Result<()> {
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
        return Ok(());
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
        });
        buffers.push(buffer);
    }

    // 4. Record the batch (ids unique among in-flight ops), referencing every buffer.
    let mut guard = rc
        .try_borrow_mut()
        .map_err(|_| Error::with_code("ERR_INTERNAL", "engine busy (re-entrant submit)"))?;
    let e = &mut *guard;
    if e.closed || e.worker.is_none() {
        return Err(closed_error()); // destroy() ran inside an extras getter.
    }
    let rollback = |e: &mut Engine, done: usize| {
        for op in &ops[..done] {
            e.inflight.remove(&op.id);
        }
    };
    for (i, (op, buffer)) in ops.iter().zip(&buffers).enumerate() {
        let entry = match e.inflight.contains_key(&op.id) {
            true => Err(Error::with_code(
                "ERR_INVALID_ARG_VALUE",
                format!("desc op {i}: id {} is already in flight", op.id),
            )),
            false => buffer.map(|b| Reference::new(env, b)).transpose(),
        };
        match entry {
            Ok(r) => {
                e.inflight.insert(op.id, r);
            }
            Err(err) => {
                rollback(e, i);
                return Err(err);
            }
        }
    }

    // 5. Keep the loop alive while anything is in flight, then hand the batch over.
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
    Ok(())
}

fn closed_error() -> Error {
    Error::with_code(
        "ERR_IO_CLOSED",
        "the io_uring engine is closed (destroy() was called)",
    )
}

fn ensure_open(rc: &EngineRc) -> Result<()> {
    match rc.try_borrow() {
        Ok(e) if !e.closed && e.worker.is_some() => Ok(()),
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
        Kind::Read | Kind::Write => {
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
            let req = if op.kind == Kind::Read {
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
