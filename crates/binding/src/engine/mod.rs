//! One engine per `createEngine()` call: the bookkeeping both drivers share ([`Book`]:
//! the requests in flight by id, the references that keep their buffers alive, the
//! registered-buffer table) and the [`Driver`] that moves requests through a ring —
//! [`thread::ThreadDriver`] (a ring thread, completions through a threadsafe function)
//! or [`inline::InlineDriver`] (the JavaScript thread submits and reaps; a libuv poll
//! handle on the ring fd). No globals: the addon is context-aware (engines of several
//! worker threads at once, each on its own env).
//!
//! Ownership: an engine is an `Rc<RefCell<Engine>>` (JavaScript thread only) held by
//! the engine's external ([`EngineHandle`]), by its asynchronous cleanup hook and, in
//! inline mode, by its poll handle until that handle's close callback. The thread
//! driver's threadsafe-function callback holds a `Weak` only. No JavaScript runs while
//! the `RefCell` is borrowed (completions are handed over after the borrow ends).
//!
//! Lifetime of a buffer: a reference ([`Pinned`]) is taken for every buffer that stays
//! in flight beyond the `submit` call (all of them in thread mode; in inline mode only
//! those whose operation did not complete inside the submit, and registrations, whose
//! reference moves to the registered table on success). It is deleted when the
//! completion is handed to JavaScript, or by [`close`] once the kernel is done with
//! every accepted request (`Worker::shutdown` / `InlineEngine::wait_all`). Registered
//! buffers stay referenced until their slot is unregistered or the ring is gone.

mod inline;
mod options;
mod thread;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem;
use std::rc::Rc;

use napi::bindgen_prelude::{External, Float64ArraySlice, FromNapiRef};
use napi::{Env, JsValue, Unknown};
use uring::{Completion, EngineConfig, Op, Request};

use crate::args::{self, describe};
use crate::cleanup::AsyncCleanupHook;
use crate::error::{guard_teardown, Failure, Outcome};
use crate::pin::Pinned;
use crate::protocol::{Extra, Kind};
use crate::validate::{self, OpDesc};

pub use options::engine_config;

/// How an engine drives its ring (`createEngine` option `mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A ring thread per engine; completions come back through a threadsafe function.
    Thread,
    /// The JavaScript thread submits and reaps; the event loop polls the ring fd.
    Inline,
}

/// Test hook `STREAMLINE_IO_TEST_PANIC` (README "Test hooks"), read at `createEngine`:
/// the engine panics where named, to show that a panic becomes a JavaScript error (or
/// an 'uncaughtException'), never an abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestPanic {
    Off,
    /// In `submit`, after the arguments were validated, before anything is accepted.
    Submit,
    /// Where completions are handed to JavaScript outside a call (the threadsafe
    /// function's callback; the inline engine's poll callback), before any is taken.
    Complete,
}

impl TestPanic {
    fn from_env() -> Outcome<TestPanic> {
        match std::env::var("STREAMLINE_IO_TEST_PANIC").as_deref() {
            Err(_) | Ok("") => Ok(TestPanic::Off),
            Ok("submit") => Ok(TestPanic::Submit),
            Ok("complete") => Ok(TestPanic::Complete),
            Ok(other) => Err(Failure::type_error(
                "ERR_INVALID_ARG_VALUE",
                format!(
                    "STREAMLINE_IO_TEST_PANIC must be 'submit' or 'complete'; received '{other}'"
                ),
            )),
        }
    }

    /// Panics (reporting the caller's location) when the hook names `at`.
    #[track_caller]
    fn check(self, at: TestPanic) {
        if self == at {
            panic!(
                "test hook STREAMLINE_IO_TEST_PANIC={}",
                if at == TestPanic::Submit {
                    "submit"
                } else {
                    "complete"
                }
            );
        }
    }
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

/// A buffer-table update in flight.
#[derive(Clone, Copy, Debug)]
enum TableOp {
    /// On success (result = slot) its buffer's reference moves to `registered`.
    Register,
    /// On completion the slot's reference is deleted.
    Unregister(u32),
}

/// What both drivers keep: the requests accepted and not yet delivered, and the
/// registered buffers.
#[derive(Default)]
pub struct Book {
    /// Every request accepted and not yet delivered, by id, with the reference that
    /// keeps its buffer alive (None: no buffer, or an inline submit has not pinned it
    /// yet). Its length is the in-flight count.
    inflight: IdMap<Option<Pinned>>,
    /// Buffer-table updates among `inflight`, by id: what their completion changes.
    table_ops: IdMap<TableOp>,
    /// The registered buffers, by slot, each pinned until its unregistration completed
    /// or the ring is gone: the ring's table maps addresses, so the memory must not be
    /// collected and reused while registered.
    registered: HashMap<u32, Pinned>,
}

impl Book {
    fn is_idle(&self) -> bool {
        self.inflight.is_empty()
    }

    /// Records a batch (ids unique among in-flight requests). Buffers are pinned now
    /// unless `defer_pins` (inline mode pins after the submit, only what is still in
    /// flight); a registration is always pinned now (its reference outlives it). All or
    /// nothing: on failure nothing of the batch stays recorded.
    fn accept(
        &mut self,
        env: &Env,
        ops: &[OpDesc],
        buffers: &[Option<Unknown>],
        defer_pins: bool,
    ) -> Outcome<()> {
        for (i, (op, buffer)) in ops.iter().zip(buffers).enumerate() {
            let pin = if self.inflight.contains_key(&op.id) {
                Err(Failure::error(
                    "ERR_INVALID_ARG_VALUE",
                    format!("desc op {i}: id {} is already in flight", op.id),
                ))
            } else if defer_pins && op.kind != Kind::RegisterBuffer {
                Ok(None)
            } else {
                buffer
                    .as_ref()
                    .map(|b| Pinned::new(env, b))
                    .transpose()
                    .map_err(Failure::from)
            };
            let pin = match pin {
                Ok(p) => p,
                Err(e) => {
                    self.rollback(&ops[..i]);
                    return Err(e);
                }
            };
            self.inflight.insert(op.id, pin);
            match op.kind {
                Kind::RegisterBuffer => {
                    self.table_ops.insert(op.id, TableOp::Register);
                }
                Kind::UnregisterBuffer => {
                    self.table_ops
                        .insert(op.id, TableOp::Unregister(op.arg as u32));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Forgets `ops` (accepted, then refused by the driver).
    fn rollback(&mut self, ops: &[OpDesc]) {
        for op in ops {
            self.inflight.remove(&op.id);
            self.table_ops.remove(&op.id);
        }
    }

    /// Bookkeeping of one completion: deletes its buffer's reference, or moves it to the
    /// registered-buffer table.
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
}

/// The two ways to drive a ring. (The inline ring is boxed: it is the larger by far,
/// and an engine has one driver for its whole life.)
pub enum Driver {
    Thread(thread::ThreadDriver),
    Inline(Box<inline::InlineDriver>),
}

/// The JavaScript-thread state of one engine.
pub struct Engine {
    env: Env,
    book: Book,
    /// None once closed.
    driver: Option<Driver>,
    /// Registered until the engine's teardown is done: removed by [`close`] (thread) or
    /// by the poll handle's close callback (inline).
    hook: Option<AsyncCleanupHook>,
    test_panic: TestPanic,
}

type EngineRc = Rc<RefCell<Engine>>;

impl Engine {
    fn new(env: &Env) -> Outcome<EngineRc> {
        Ok(Rc::new(RefCell::new(Engine {
            env: *env,
            book: Book::default(),
            driver: None,
            hook: None,
            test_panic: TestPanic::from_env()?,
        })))
    }
}

/// What the engine's external owns. Dropped by the external's finalizer (the object was
/// collected, or the environment is going away): closes the engine if nobody did.
pub struct EngineHandle(EngineRc);

impl Drop for EngineHandle {
    fn drop(&mut self) {
        guard_teardown(|| close(&self.0));
    }
}

/// `createEngine(opts, onComplete)`: the engine's external.
pub fn create<'e>(
    env: &'e Env,
    cfg: EngineConfig,
    mode: Mode,
    on_complete: &Unknown<'e>,
) -> Outcome<Unknown<'e>> {
    let rc = Engine::new(env)?;
    match mode {
        Mode::Thread => thread::start(&rc, &cfg, on_complete)?,
        Mode::Inline => inline::start(env, &rc, &cfg, on_complete)?,
    }
    // Added after the threadsafe function / poll handle exist, so it runs before the
    // threadsafe function's own teardown (cleanup hooks run in reverse order of adding).
    match AsyncCleanupHook::add(env, Rc::clone(&rc), on_teardown) {
        Ok(h) => rc.borrow_mut().hook = Some(h),
        Err(e) => {
            close(&rc);
            return Err(e.into());
        }
    }
    External::new(EngineHandle(Rc::clone(&rc)))
        .into_unknown(env)
        .map_err(|e| {
            close(&rc);
            Failure::from(e)
        })
}

/// The asynchronous cleanup hook (process exit, worker-thread teardown): the same as
/// `destroy`, so the environment's memory is not freed under in-flight requests.
fn on_teardown(rc: EngineRc) {
    close(&rc);
}

/// The engine behind a JavaScript `engine` argument.
fn engine_arg(env: &Env, v: &Unknown) -> Outcome<EngineRc> {
    // SAFETY: `v` is a live handle of `env`; from_napi_ref checks that it is an
    // External made by this addon holding an EngineHandle before reading it.
    let handle =
        unsafe { <External<EngineHandle> as FromNapiRef>::from_napi_ref(env.raw(), v.raw()) };
    match handle {
        Ok(h) => Ok(Rc::clone(&h.0)),
        Err(_) => Err(Failure::type_error(
            "ERR_INVALID_ARG_TYPE",
            format!(
                "The \"engine\" argument must be an engine returned by createEngine(); received {}",
                args::type_name(args::type_of(v)?)
            ),
        )),
    }
}

fn closed_error() -> Failure {
    Failure::error(
        "ERR_IO_CLOSED",
        "the io_uring engine is closed (destroy() was called)",
    )
}

fn busy_error() -> Failure {
    Failure::error("ERR_IO_INTERNAL", "engine busy (re-entrant call)")
}

/// `fixedOps(engine)`: reads and writes that used a registered buffer (0 once closed).
pub fn fixed_ops(env: &Env, engine: &Unknown) -> Outcome<u64> {
    let rc = engine_arg(env, engine)?;
    let e = rc.try_borrow().map_err(|_| busy_error())?;
    Ok(match &e.driver {
        Some(Driver::Thread(t)) => t.fixed_ops(),
        Some(Driver::Inline(i)) => i.fixed_ops(),
        None => 0,
    })
}

/// `sendStats(engine)`: the counters of its splice transfers (None once closed).
pub fn send_stats(env: &Env, engine: &Unknown) -> Outcome<Option<uring::SendStats>> {
    let rc = engine_arg(env, engine)?;
    let e = rc.try_borrow().map_err(|_| busy_error())?;
    Ok(match &e.driver {
        Some(Driver::Thread(t)) => Some(t.send_stats()),
        Some(Driver::Inline(i)) => Some(i.send_stats()),
        None => None,
    })
}

/// `engineInfo(engine)`: what the engine's ring was set up with (None once closed).
pub fn info(env: &Env, engine: &Unknown) -> Outcome<Option<uring::RingInfo>> {
    let rc = engine_arg(env, engine)?;
    let e = rc.try_borrow().map_err(|_| busy_error())?;
    Ok(match &e.driver {
        Some(Driver::Thread(t)) => Some(t.info().clone()),
        Some(Driver::Inline(i)) => Some(i.info().clone()),
        None => None,
    })
}

/// `destroy(engine)`: idempotent.
pub fn destroy(env: &Env, engine: &Unknown) -> Outcome<()> {
    close(&engine_arg(env, engine)?);
    Ok(())
}

/// Stops the driver (waiting for every accepted request), drops what was not delivered,
/// deletes the references and lets go of the cleanup hook. Idempotent. JavaScript
/// thread only, with the environment alive: called from `destroy`, the external's
/// finalizer, the cleanup hook, or a failed `create`.
fn close(rc: &EngineRc) {
    let (driver, book, hook, env) = {
        // Never borrowed while JavaScript runs, so this cannot fail in practice; if it
        // did, closing later (finalizer, hook) is still possible.
        let Ok(mut e) = rc.try_borrow_mut() else {
            return;
        };
        let Some(driver) = e.driver.take() else {
            return;
        };
        // The inline driver's hook goes when its poll handle is closed (its callback).
        let hook = match driver {
            Driver::Thread(_) => e.hook.take(),
            Driver::Inline(_) => None,
        };
        (driver, mem::take(&mut e.book), hook, e.env)
    };
    match driver {
        Driver::Thread(t) => t.close(&env, book),
        Driver::Inline(i) => i.close(book),
    }
    if let Some(h) = hook {
        h.remove();
    }
}

/// `submit(engine, desc, extras)`: undefined, or in inline mode a Float64Array of the
/// `[id, result]` pairs that completed inside the submit (undefined when none).
pub fn submit<'e>(
    env: &'e Env,
    engine: &Unknown<'e>,
    desc: &Unknown<'e>,
    extras: &Unknown<'e>,
) -> Outcome<Option<Float64ArraySlice<'e>>> {
    let rc = engine_arg(env, engine)?;
    match rc.try_borrow() {
        Ok(e) if e.driver.is_some() => {}
        Ok(_) => return Err(closed_error()),
        Err(_) => return Err(busy_error()),
    }

    // 1. The descriptor, borrowed (no copy, no reference) and parsed whole before any
    //    JavaScript can run: extras getters could otherwise detach it under us.
    // SAFETY: `desc` is a live handle of `env`; from_napi_value checks it is a
    // Float64Array (a Float64Array's data is 8-aligned by construction).
    let d = unsafe {
        <Float64ArraySlice as napi::bindgen_prelude::FromNapiValue>::from_napi_value(
            env.raw(),
            desc.raw(),
        )
    }
    .map_err(|_| {
        Failure::type_error(
            "ERR_INVALID_ARG_TYPE",
            "The \"desc\" argument must be a Float64Array",
        )
    })?;
    let ops = validate::parse_desc(&d).map_err(args::range)?;
    if ops.is_empty() {
        return Ok(None);
    }

    // 2. The extras values. Reading elements may run JavaScript (getters, proxies), so
    //    all of it happens before any buffer pointer is taken.
    let extras = extras_values(env, extras, &ops)?;

    // 3. Validate every operation and build its request; no JavaScript runs from here on.
    let mut reqs = Vec::with_capacity(ops.len());
    let mut buffers = Vec::with_capacity(ops.len());
    for (i, (op, extra)) in ops.iter().zip(&extras).enumerate() {
        let (req_op, buffer) = build_op(env, i, op, extra.as_ref())?;
        reqs.push(Request {
            user_data: op.id,
            op: req_op,
            link: op.link,
        });
        buffers.push(buffer);
    }

    // 4. Record the batch and hand it to the driver.
    let mut guard = rc.try_borrow_mut().map_err(|_| busy_error())?;
    let e = &mut *guard;
    e.test_panic.check(TestPanic::Submit);
    let results = match e.driver.as_mut() {
        None => return Err(closed_error()), // destroy() ran inside an extras getter
        Some(Driver::Thread(t)) => {
            e.book.accept(env, &ops, &buffers, false)?;
            t.submit(env, &mut e.book, &ops, &mut reqs)?;
            return Ok(None);
        }
        Some(Driver::Inline(i)) => {
            e.book.accept(env, &ops, &buffers, true)?;
            i.submit(env, &mut e.book, &ops, &buffers, &mut reqs)?
        }
    };
    drop(guard);
    if results.is_empty() {
        Ok(None)
    } else {
        Ok(Some(Float64ArraySlice::copy_from(env, &results)?))
    }
}

/// `extras[i]` for every operation that takes one (undefined/null extras: none).
fn extras_values<'e>(
    env: &'e Env,
    extras: &Unknown<'e>,
    ops: &[OpDesc],
) -> Outcome<Vec<Option<Unknown<'e>>>> {
    use napi::bindgen_prelude::JsObjectValue;
    match args::type_of(extras)? {
        napi::ValueType::Undefined | napi::ValueType::Null => Ok(vec![None; ops.len()]),
        napi::ValueType::Object if extras.is_array()? => {
            let arr = napi::bindgen_prelude::Object::from_raw(env.raw(), extras.raw());
            ops.iter()
                .enumerate()
                .map(|(i, op)| match op.kind.extra() {
                    Extra::None => Ok(None),
                    _ => Ok(Some(arr.get_element::<Unknown>(i as u32)?)),
                })
                .collect()
        }
        other => Err(Failure::type_error(
            "ERR_INVALID_ARG_TYPE",
            format!(
                "The \"extras\" argument must be an Array; received {}",
                args::type_name(other)
            ),
        )),
    }
}

/// The uring operation for one validated descriptor, and the buffer to pin if any.
fn build_op<'e>(
    env: &'e Env,
    i: usize,
    op: &OpDesc,
    extra: Option<&Unknown<'e>>,
) -> Outcome<(Op, Option<Unknown<'e>>)> {
    let fd = op.fd;
    Ok(match op.kind {
        Kind::Read | Kind::Write | Kind::RegisterBuffer => {
            let v = extra.expect("fetched for buffer kinds");
            let mut view = args::uint8_array(env, v).ok_or_else(|| {
                Failure::type_error(
                    "ERR_INVALID_ARG_TYPE",
                    format!(
                        "extras[{i}] must be a Uint8Array (Buffer) for a {}; received {}",
                        op.kind.name(),
                        describe(v)
                    ),
                )
            })?;
            let byte_length = view.len() as u64;
            if op.len > byte_length {
                return Err(args::range(validate::OutOfRange(format!(
                    "desc op {i}: len {} exceeds the byte length {byte_length} of extras[{i}]",
                    op.len
                ))));
            }
            // The kernel, not Rust, writes through this pointer (and only while the
            // buffer is pinned); no Rust reference to the bytes outlives this statement.
            // An empty view gives a dangling, non-null, aligned pointer.
            // SAFETY: a live Uint8Array of `env`, viewed for this call only.
            let data = unsafe { view.as_mut() }.as_mut_ptr();
            let len = op.len as usize;
            let req = match op.kind {
                // The engine refuses an empty range (EINVAL); the reference taken for
                // this op keeps the memory alive while registered.
                Kind::RegisterBuffer => Op::RegisterBuffer { buf: data, len },
                Kind::Read => Op::Read {
                    fd,
                    buf: data,
                    len,
                    offset: op.offset,
                },
                _ => Op::Write {
                    fd,
                    buf: data.cast_const(),
                    len,
                    offset: op.offset,
                },
            };
            (req, Some(*v))
        }
        Kind::Open => {
            let v = extra.expect("fetched for open");
            let path = args::string(v)?.ok_or_else(|| {
                Failure::type_error(
                    "ERR_INVALID_ARG_TYPE",
                    format!(
                        "extras[{i}] must be a string (the path) for an open; received {}",
                        describe(v)
                    ),
                )
            })?;
            let path = CString::new(path).map_err(|_| {
                Failure::type_error(
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
        Kind::SendFile => {
            // Dup now, on the JavaScript thread, in the call that read the fd: Node may
            // close the fd and reuse its number the moment we return; the dup pins the
            // socket for the kernel, and the engine closes it when the op finishes. A
            // failed dup (EBADF: not open; EMFILE) throws a system error (code, errno,
            // syscall 'dup') and nothing of the batch is accepted — the dups already
            // made for earlier ops of it close when their requests drop.
            let sock =
                uring::sockets::dup_cloexec(op.arg).map_err(|e| Failure::system(e, "dup"))?;
            (
                Op::SendFile {
                    file: fd,
                    offset: op.offset,
                    len: op.len,
                    sock,
                },
                None,
            )
        }
        Kind::Cancel => (Op::Cancel { target: op.offset }, None),
    })
}
