//! The ring thread.
//!
//! Requests reach the thread through a bounded queue (a `Mutex<VecDeque>`) and an
//! eventfd. The eventfd is read by an IORING_OP_READ kept armed in the ring itself, so
//! one blocking io_uring_enter waits for both new requests and completions. Each loop
//! iteration: take new requests → fill the SQ (what does not fit waits in the
//! `unqueued` FIFO, as in TigerBeetle's io/linux.zig) → one io_uring_enter → reap every
//! CQE (continuations go back to `unqueued`) → hand the iteration's completions to the
//! sink in one batch. The sink never runs while CQEs are being reaped.

use crate::fd::Fd;
use crate::files::FixedFiles;
use crate::probe;
use crate::ring::{self, Ring};
use crate::sys::{self, io_uring_cqe, io_uring_sqe};
use crate::{Completion, EngineConfig, Op, Request, RESULT_RING_FAILED};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// The most one SQE transfers: Linux caps a single read/write at 0x7ffff000 bytes
/// (MAX_RW_COUNT), so larger buffers are split and continued.
const MAX_RW_BYTES: usize = 0x7fff_f000;
/// user_data of the armed eventfd read; request slots use their index.
const WAKE_USER_DATA: u64 = u64::MAX;
/// Limits that keep the preallocated tables reasonable.
const MAX_SQ_ENTRIES: u32 = 32_768;
const MAX_CQ_ENTRIES: u32 = 65_536;
const MAX_QUEUE_CAPACITY: usize = 65_535;

/// What the ring thread's ring was created with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingInfo {
    pub sq_entries: u32,
    pub cq_entries: u32,
    /// IORING_SETUP_* bits actually used (after the EINVAL fallback).
    pub setup_flags: u32,
    /// io_uring_params.features.
    pub features: u32,
    /// `setup_flags` by name ("cqsize", "single_issuer", …).
    pub setup_flag_names: Vec<&'static str>,
    /// `features` by name ("nodrop", "ext_arg", …).
    pub feature_names: Vec<&'static str>,
    /// Registered fixed-file slots (0 when disabled or registration failed).
    pub fixed_file_slots: u32,
    /// Why fixed-file registration failed (errno), if it did.
    pub fixed_files_errno: Option<i32>,
    /// Whether `Op::Ftruncate` goes through IORING_OP_FTRUNCATE (Linux 6.9).
    pub ftruncate_op: bool,
}

/// The bounded queue shared by submitters and the ring thread.
struct Queue {
    pending: VecDeque<Request>,
    /// Accepted but not yet delivered as a Completion (queued + in flight).
    outstanding: usize,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    capacity: usize,
    /// Written by submitters (any thread) to wake the ring thread.
    wake: Fd,
    failed: AtomicBool,
    /// errno of a real fatal io_uring_enter failure (0 = none or the test hook).
    failed_errno: AtomicI32,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave Queue inconsistent (every update
        // is a single assignment or push), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        let one: u64 = 1;
        loop {
            // SAFETY: writes 8 bytes from a live u64 to the eventfd we own.
            let r = unsafe { sys::write(self.wake.raw(), (&one as *const u64).cast(), 8) };
            // EAGAIN cannot happen on a blocking eventfd short of a counter of
            // 2^64-2; EINTR is retried.
            if r >= 0 || sys::errno() != sys::EINTR {
                return;
            }
        }
    }
}

/// Owns the ring thread. Dropping it (or `shutdown`) stops accepting requests, waits for
/// every accepted one to complete and joins the thread.
pub struct Worker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    info: RingInfo,
}

type Sink = Box<dyn FnMut(&mut Vec<Completion>) + Send>;

impl Worker {
    /// Spawns the ring thread, which creates the ring itself (SINGLE_ISSUER and
    /// DEFER_TASKRUN want the submitter to be the creator). Err(errno) when setup fails.
    ///
    /// The sink runs on the ring thread with a batch of completions; it must take what it
    /// wants (`std::mem::take`) and must not block. A panicking sink aborts the process:
    /// unwinding would free buffers the kernel may still be writing.
    pub fn start(cfg: &EngineConfig, sink: Sink) -> Result<Worker, i32> {
        if let Some(e) = cfg.test_setup_errno {
            return Err(e.abs().max(1));
        }
        if !cfg.sq_entries.is_power_of_two()
            || cfg.sq_entries > MAX_SQ_ENTRIES
            || cfg.queue_capacity == 0
            || cfg.queue_capacity > MAX_QUEUE_CAPACITY
        {
            return Err(sys::EINVAL);
        }
        let cq_entries = cfg
            .cq_entries
            .max(cfg.queue_capacity as u32 + 1)
            .max(cfg.sq_entries)
            .next_power_of_two();
        if cq_entries > MAX_CQ_ENTRIES {
            return Err(sys::EINVAL);
        }
        // A blocking eventfd on purpose: io_uring reads it with IOCB_NOWAIT and arms its
        // internal poll on EAGAIN (FEAT_FAST_POLL, 5.7), whereas an O_NONBLOCK fd would
        // complete the armed read with -EAGAIN immediately.
        // SAFETY: eventfd(2) takes no pointers.
        let efd = unsafe { sys::eventfd(0, sys::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(sys::errno());
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                pending: VecDeque::with_capacity(cfg.queue_capacity.min(4096)),
                outstanding: 0,
                closed: false,
            }),
            capacity: cfg.queue_capacity,
            wake: Fd::from_raw(efd),
            failed: AtomicBool::new(false),
            failed_errno: AtomicI32::new(0),
        });
        let (tx, rx) = mpsc::sync_channel::<Result<RingInfo, i32>>(1);
        let thread_shared = Arc::clone(&shared);
        let params = (cfg.sq_entries, cq_entries, cfg.clone());
        let thread = std::thread::Builder::new()
            .name("streamline-ring".into())
            .spawn(move || {
                let (sq, cq, cfg) = params;
                match Engine::new(sq, cq, &cfg, thread_shared, sink) {
                    Ok(mut engine) => {
                        let _ = tx.send(Ok(engine.info.clone()));
                        let guard = AbortOnUnwind;
                        engine.run();
                        std::mem::forget(guard);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| e.raw_os_error().unwrap_or(sys::EAGAIN))?;
        match rx.recv() {
            Ok(Ok(info)) => Ok(Worker {
                shared,
                thread: Some(thread),
                info,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(sys::EIO)
            }
        }
    }

    /// Queues `reqs` (all or nothing) and wakes the ring thread; on success `reqs` is
    /// left empty. Err(EAGAIN) with nothing queued when accepting them would exceed
    /// `queue_capacity` requests accepted but not completed (a batch larger than the
    /// capacity is never accepted: split it); Err(ESHUTDOWN) after shutdown began.
    ///
    /// # Safety
    /// Every buffer pointer in `reqs` stays valid, and is neither read nor written by
    /// anyone else (for `Read`) or written (for `Write`), until its Completion has been
    /// delivered to the sink.
    pub unsafe fn submit(&self, reqs: &mut Vec<Request>) -> Result<(), i32> {
        if reqs.is_empty() {
            return Ok(());
        }
        let was_empty = {
            let mut q = self.shared.lock();
            if q.closed {
                return Err(sys::ESHUTDOWN);
            }
            if q.outstanding + reqs.len() > self.shared.capacity {
                return Err(sys::EAGAIN);
            }
            q.outstanding += reqs.len();
            let was_empty = q.pending.is_empty();
            q.pending.extend(reqs.drain(..));
            was_empty
        };
        // The ring thread takes the whole queue each time it wakes, so a non-empty
        // queue means a wake-up is already on its way: one eventfd write per batch
        // that finds the queue empty is enough.
        if was_empty {
            self.shared.wake();
        }
        Ok(())
    }

    /// The setup flags actually used and the kernel's features.
    pub fn info(&self) -> &RingInfo {
        &self.info
    }

    /// Requests accepted and not yet completed.
    pub fn outstanding(&self) -> usize {
        self.shared.lock().outstanding
    }

    /// True once the ring has failed (or the failure test hook fired): from then on
    /// new requests complete with RESULT_RING_FAILED.
    pub fn ring_failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// The errno of the io_uring_enter failure that made the ring fail, if a real one
    /// did (None before a failure and for the test hook).
    pub fn ring_error(&self) -> Option<i32> {
        match self.shared.failed_errno.load(Ordering::Acquire) {
            0 => None,
            e => Some(e),
        }
    }

    /// Stops accepting requests, waits until every accepted one has been completed and
    /// delivered, and joins the ring thread. Requests that never complete (a read from
    /// an idle pipe) keep it waiting: files always complete. Called from inside the
    /// sink it cannot wait, and returns after stopping intake.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shared.lock().closed = true;
            self.shared.wake();
            // Dropped from inside the sink (on the ring thread itself): joining would
            // deadlock. The thread still finishes every accepted request and exits on
            // its own once the sink returns.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Aborts if the ring thread unwinds: the kernel may still be writing into buffers that
/// unwinding would let callers free.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        eprintln!(
            "streamline-uring: the ring thread panicked; aborting to protect in-flight buffers"
        );
        std::process::abort();
    }
}

/// An operation in flight (or waiting in `unqueued`), by slot index.
struct InFlight {
    user_data: u64,
    op: Op,
    /// Bytes transferred so far by a read or write.
    done_bytes: u64,
    /// Where IORING_OP_STATX writes for `Op::Size`.
    statx: Option<Box<sys::statx>>,
}

struct Engine {
    /// Dropped after `run` has reaped every in-flight request (see `Ring`).
    ring: Ring,
    files: FixedFiles,
    shared: Arc<Shared>,
    sink: Sink,
    info: RingInfo,
    /// Preallocated: one entry per request that may be outstanding.
    slots: Vec<Option<InFlight>>,
    free_slots: Vec<u32>,
    /// Slots waiting for SQ space, in order.
    unqueued: VecDeque<u32>,
    /// Swapped with the shared queue, so both keep their allocation.
    incoming: VecDeque<Request>,
    completions: Vec<Completion>,
    /// Target of the armed eventfd read; boxed so its address is stable.
    wake_buf: Box<u64>,
    wake_armed: bool,
    has_ftruncate: bool,
    /// No new work goes to the kernel (fatal enter error or the test hook).
    failed: bool,
    /// Set by the test hook: fail after the next enter.
    fail_pending: bool,
    /// io_uring_enter keeps failing: the ring cannot even be reaped.
    broken: bool,
    fail_after: Option<u64>,
    taken_total: u64,
    /// Reused buffer for one reap's CQEs.
    scratch: Vec<io_uring_cqe>,
}

/// What a CQE means for its request.
enum Next {
    /// Submit again (continuation or EAGAIN/EINTR).
    Retry,
    Finish(i64),
    /// An open returned this fd; check and register it.
    Opened(i32),
}

impl Engine {
    fn new(
        sq_entries: u32,
        cq_entries: u32,
        cfg: &EngineConfig,
        shared: Arc<Shared>,
        sink: Sink,
    ) -> Result<Engine, i32> {
        let ring = Ring::new(sq_entries, cq_entries)?;
        let supported = probe::supported_opcodes(&ring)?;
        if probe::REQUIRED_OPCODES
            .iter()
            .any(|&op| !supported[op as usize])
        {
            return Err(sys::EOPNOTSUPP);
        }
        let has_ftruncate = supported[sys::IORING_OP_FTRUNCATE as usize];
        let (files, files_errno) = FixedFiles::register(&ring, cfg.fixed_file_slots);
        let info = RingInfo {
            sq_entries: ring.sq_entries(),
            cq_entries: ring.cq_entries(),
            setup_flags: ring.flags(),
            features: ring.features(),
            setup_flag_names: ring::setup_flag_names(ring.flags()),
            feature_names: ring::feature_names(ring.features()),
            fixed_file_slots: files.slots(),
            fixed_files_errno: files_errno,
            ftruncate_op: has_ftruncate,
        };
        let cap = cfg.queue_capacity;
        Ok(Engine {
            ring,
            files,
            shared,
            sink,
            info,
            slots: (0..cap).map(|_| None).collect(),
            free_slots: (0..cap as u32).rev().collect(),
            unqueued: VecDeque::with_capacity(cap),
            incoming: VecDeque::new(),
            completions: Vec::with_capacity(cap),
            wake_buf: Box::new(0),
            wake_armed: false,
            has_ftruncate,
            failed: false,
            fail_pending: false,
            broken: false,
            fail_after: cfg.test_fail_after_submits,
            taken_total: 0,
            scratch: Vec::with_capacity(cq_entries as usize),
        })
    }

    fn in_flight(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    fn run(&mut self) {
        loop {
            let closing = self.take_incoming();
            self.prep();
            if closing && self.in_flight() == 0 && self.completions.is_empty() {
                break;
            }
            // Block only when nothing is ready to be handed out or submitted, and only
            // with the eventfd read armed: otherwise new requests could not wake us.
            // (A broken ring polls instead, see `enter_broken`.)
            let can_block = self.completions.is_empty()
                && self.unqueued.is_empty()
                && (self.wake_armed || self.broken);
            self.enter(can_block);
            self.reap();
            self.deliver();
        }
        self.disarm_wake();
    }

    /// Moves the shared queue into this thread; returns whether shutdown began.
    fn take_incoming(&mut self) -> bool {
        let closing = {
            let mut q = self.shared.lock();
            std::mem::swap(&mut q.pending, &mut self.incoming);
            q.closed
        };
        while let Some(req) = self.incoming.pop_front() {
            if let Some(limit) = self.fail_after {
                if self.taken_total >= limit {
                    self.fail_pending = true;
                }
            }
            self.taken_total += 1;
            if self.failed || self.fail_pending {
                self.ring_failed_request(req);
            } else {
                self.start(req);
            }
        }
        closing
    }

    fn complete(&mut self, user_data: u64, result: i64) {
        self.completions.push(Completion { user_data, result });
    }

    /// A request that will not run here. A Close still releases its fixed slot (the
    /// caller closes the fd elsewhere, and the table must not keep the file open).
    fn ring_failed_request(&mut self, req: Request) {
        if let Op::Close { fd } = req.op {
            if !self.broken {
                self.files.remove(&self.ring, fd);
            }
        }
        self.complete(req.user_data, RESULT_RING_FAILED);
    }

    /// Starts a request: completes it on the spot when no SQE is needed, else gives it
    /// a slot and queues it for the SQ.
    fn start(&mut self, req: Request) {
        match req.op {
            Op::Read { len: 0, .. } | Op::Write { len: 0, .. } => {
                return self.complete(req.user_data, 0);
            }
            Op::Ftruncate { fd, len } if !self.has_ftruncate => {
                // IORING_OP_FTRUNCATE arrived in Linux 6.9; before that the ring thread
                // does it synchronously (it is rare: WAL/segment rolls and recovery).
                let r = sys::ftruncate_fd(fd, len).map_or_else(|e| -(e as i64), |()| 0);
                return self.complete(req.user_data, r);
            }
            _ => {}
        }
        let slot = self
            .free_slots
            .pop()
            .expect("more requests in flight than queue_capacity");
        let statx = matches!(req.op, Op::Size { .. }).then(|| Box::new(sys::statx::default()));
        self.slots[slot as usize] = Some(InFlight {
            user_data: req.user_data,
            op: req.op,
            done_bytes: 0,
            statx,
        });
        self.unqueued.push_back(slot);
    }

    fn finish(&mut self, slot: u32, result: i64) {
        let op = self.slots[slot as usize]
            .take()
            .expect("finish on an empty slot");
        self.free_slots.push(slot);
        self.complete(op.user_data, result);
    }

    /// Fills the SQ: the eventfd read first (so it is always armed), then `unqueued`.
    fn prep(&mut self) {
        if self.failed {
            // Continuations and retries of requests the kernel already ran part of
            // cannot be submitted any more either; the caller redoes them elsewhere.
            while let Some(slot) = self.unqueued.pop_front() {
                self.finish(slot, RESULT_RING_FAILED);
            }
        }
        if self.broken {
            return;
        }
        if !self.wake_armed {
            let sqe = io_uring_sqe {
                opcode: sys::IORING_OP_READ,
                fd: self.shared.wake.raw(),
                addr: &mut *self.wake_buf as *mut u64 as u64,
                len: 8,
                user_data: WAKE_USER_DATA,
                ..Default::default()
            };
            // SAFETY: wake_buf is heap memory owned by the engine, which only frees it
            // after the read's CQE was reaped (disarm_wake); nothing else touches it.
            if unsafe { self.ring.push(&sqe) } {
                self.wake_armed = true;
            }
        }
        if self.failed {
            return;
        }
        while let Some(&slot) = self.unqueued.front() {
            if let Some(Op::Close { fd }) = self.slots[slot as usize].as_ref().map(|s| &s.op) {
                // Free the fd's fixed slot before closing: the table holds its own
                // reference to the file, so closing only the fd would keep it open.
                // Only once every SQE already in the SQ was consumed: an unconsumed one
                // may name the slot, and a later open could reuse the slot for another
                // file before the kernel reads that SQE.
                if self.ring.sq_pending() > 0 {
                    break;
                }
                let fd = *fd;
                self.files.remove(&self.ring, fd);
            }
            let sqe = self.build_sqe(slot);
            // SAFETY: the SQE points at the caller's buffer (kept valid by `submit`'s
            // contract until the completion is delivered, which happens only after the
            // CQE is reaped) or at the slot's own path/statx allocation, which stays in
            // `slots` until `finish`, also after the CQE is reaped.
            if !unsafe { self.ring.push(&sqe) } {
                break;
            }
            self.unqueued.pop_front();
        }
    }

    /// The fd field and flags for a request on `fd`: the fixed slot when it has one.
    fn target(&self, fd: i32) -> (i32, u8) {
        match self.files.lookup(fd) {
            Some(slot) => (slot as i32, sys::IOSQE_FIXED_FILE),
            None => (fd, 0),
        }
    }

    fn build_sqe(&self, slot: u32) -> io_uring_sqe {
        let st = self.slots[slot as usize]
            .as_ref()
            .expect("unqueued slot is empty");
        let mut sqe = io_uring_sqe {
            user_data: slot as u64,
            ..Default::default()
        };
        match &st.op {
            Op::Read {
                fd,
                buf,
                len,
                offset,
            } => {
                let (f, flags) = self.target(*fd);
                let done = st.done_bytes as usize;
                sqe.opcode = sys::IORING_OP_READ;
                sqe.fd = f;
                sqe.flags = flags;
                sqe.addr = buf.wrapping_add(done) as u64;
                sqe.len = (len - done).min(MAX_RW_BYTES) as u32;
                sqe.off = offset.wrapping_add(st.done_bytes);
            }
            Op::Write {
                fd,
                buf,
                len,
                offset,
            } => {
                let (f, flags) = self.target(*fd);
                let done = st.done_bytes as usize;
                sqe.opcode = sys::IORING_OP_WRITE;
                sqe.fd = f;
                sqe.flags = flags;
                sqe.addr = buf.wrapping_add(done) as u64;
                sqe.len = (len - done).min(MAX_RW_BYTES) as u32;
                sqe.off = offset.wrapping_add(st.done_bytes);
            }
            Op::Fsync { fd, datasync } => {
                let (f, flags) = self.target(*fd);
                sqe.opcode = sys::IORING_OP_FSYNC;
                sqe.fd = f;
                sqe.flags = flags;
                sqe.op_flags = if *datasync {
                    sys::IORING_FSYNC_DATASYNC
                } else {
                    0
                };
            }
            Op::Fallocate {
                fd,
                mode,
                offset,
                len,
            } => {
                // IORING_OP_FALLOCATE (5.6) takes the length in addr and the mode in len.
                let (f, flags) = self.target(*fd);
                sqe.opcode = sys::IORING_OP_FALLOCATE;
                sqe.fd = f;
                sqe.flags = flags;
                sqe.off = *offset;
                sqe.addr = *len;
                sqe.len = *mode as u32;
            }
            Op::Ftruncate { fd, len } => {
                // IORING_OP_FTRUNCATE (6.9) takes the new length in off.
                let (f, flags) = self.target(*fd);
                sqe.opcode = sys::IORING_OP_FTRUNCATE;
                sqe.fd = f;
                sqe.flags = flags;
                sqe.off = *len;
            }
            Op::Size { fd } => {
                // STATX is path-based: the fd is a dirfd and cannot be a fixed file,
                // so the plain fd goes in with an empty path and AT_EMPTY_PATH.
                let statx = st.statx.as_ref().expect("Size without a statx buffer");
                sqe.opcode = sys::IORING_OP_STATX;
                sqe.fd = *fd;
                sqe.addr = c"".as_ptr() as u64;
                sqe.len = sys::STATX_SIZE;
                sqe.op_flags = sys::AT_EMPTY_PATH;
                sqe.off = &**statx as *const sys::statx as u64;
            }
            Op::Open { path, flags, mode } => {
                sqe.opcode = sys::IORING_OP_OPENAT;
                sqe.fd = sys::AT_FDCWD;
                sqe.addr = path.as_ptr() as u64;
                sqe.len = *mode;
                sqe.op_flags = (*flags | sys::O_CLOEXEC) as u32;
            }
            Op::Close { fd } => {
                // The slot was freed in `prep`; close the plain fd (file_index 0).
                sqe.opcode = sys::IORING_OP_CLOSE;
                sqe.fd = *fd;
            }
            Op::Nop => sqe.opcode = sys::IORING_OP_NOP,
        }
        sqe
    }

    /// One io_uring_enter: submit everything in the SQ, wait for one CQE if `block`.
    fn enter(&mut self, block: bool) {
        if self.broken {
            return self.enter_broken(block);
        }
        let min_complete = u32::from(block);
        match self.ring.enter(min_complete) {
            Ok(_) => {}
            // Interrupted by a signal: the loop comes back here.
            Err(sys::EINTR) => {}
            // EBUSY: the CQ overflowed (older kernels refuse to submit until the
            // overflow list is flushed); EAGAIN: the kernel could not allocate request
            // memory. Either way reap (flushing the overflow list) and submit again on
            // the next iteration; yield so memory pressure can clear.
            Err(sys::EBUSY) | Err(sys::EAGAIN) => {
                self.flush_overflow();
                std::thread::yield_now();
            }
            Err(e) => self.fail_fatal(e),
        }
        if self.fail_pending {
            self.fail_pending = false;
            self.set_failed();
        }
    }

    /// Runs task work and moves overflowed CQEs into the CQ without submitting.
    fn flush_overflow(&mut self) {
        // SAFETY: submits nothing (to_submit = 0); only waits for / flushes CQEs.
        let _ = unsafe { sys::io_uring_enter(self.ring.fd(), 0, 0, sys::IORING_ENTER_GETEVENTS) };
    }

    fn set_failed(&mut self) {
        self.failed = true;
        self.shared.failed.store(true, Ordering::Release);
    }

    /// io_uring_enter failed for good: SQEs the kernel did not consume are taken back
    /// and complete with RESULT_RING_FAILED; what was consumed is still reaped.
    fn fail_fatal(&mut self, errno: i32) {
        if self.failed {
            // Even the eventfd re-arm cannot be submitted: stop using the ring.
            self.broken = true;
        }
        if self.shared.failed_errno.load(Ordering::Relaxed) == 0 {
            self.shared.failed_errno.store(errno, Ordering::Release);
        }
        self.set_failed();
        let mut rolled_back = Vec::new();
        self.ring
            .rollback_unsubmitted(|sqe| rolled_back.push(sqe.user_data));
        for ud in rolled_back {
            if ud == WAKE_USER_DATA {
                self.wake_armed = false;
            } else {
                self.finish(ud as u32, RESULT_RING_FAILED);
            }
        }
    }

    /// The ring cannot be entered: poll for completions of what was in flight (a ring
    /// without DEFER_TASKRUN posts them without our help) and sleep briefly instead of
    /// blocking in the kernel.
    fn enter_broken(&mut self, block: bool) {
        if self.in_flight() > 0 || self.wake_armed {
            self.flush_overflow();
            if block {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        } else if block {
            // Nothing of ours is in the kernel: wait for a submitter on the eventfd.
            let mut v = 0u64;
            // SAFETY: reads 8 bytes into a live u64 from our eventfd; no armed ring
            // read competes (wake_armed is false).
            unsafe { sys::read(self.shared.wake.raw(), (&mut v as *mut u64).cast(), 8) };
        }
    }

    /// Reaps every available CQE first, then processes them (continuations, opens).
    fn reap(&mut self) {
        let mut cqes = std::mem::take(&mut self.scratch);
        self.ring.reap(|cqe| cqes.push(cqe));
        // IORING_SQ_CQ_OVERFLOW: CQEs wait in the kernel's overflow list (kept, not
        // dropped, with IORING_FEAT_NODROP since 5.5). Entering with GETEVENTS moves
        // them into the space just freed; repeat until the flag clears.
        while !self.broken && self.ring.sq_flags() & sys::IORING_SQ_CQ_OVERFLOW != 0 {
            self.flush_overflow();
            if self.ring.reap(|cqe| cqes.push(cqe)) == 0 {
                break;
            }
        }
        for &cqe in &cqes {
            self.on_cqe(cqe);
        }
        cqes.clear();
        self.scratch = cqes;
    }

    fn on_cqe(&mut self, cqe: io_uring_cqe) {
        if cqe.user_data == WAKE_USER_DATA {
            // New requests (or shutdown): the next iteration takes them and re-arms.
            self.wake_armed = false;
            return;
        }
        let slot = cqe.user_data as u32;
        let res = cqe.res;
        let err = i64::from(res.min(0));
        let retryable = res == -sys::EAGAIN || res == -sys::EINTR;
        let st = self.slots[slot as usize]
            .as_mut()
            .expect("CQE for an empty slot");
        let next = match st.op {
            Op::Read { .. } | Op::Write { .. } | Op::Size { .. } if retryable => Next::Retry,
            Op::Read { .. } | Op::Write { .. } | Op::Size { .. } if res < 0 => Next::Finish(err),
            // End of file: the read is done with what it has.
            Op::Read { .. } if res == 0 => Next::Finish(st.done_bytes as i64),
            // No progress with bytes left: retrying could spin forever.
            Op::Write { .. } if res == 0 => Next::Finish(-i64::from(sys::EIO)),
            Op::Read { len, .. } | Op::Write { len, .. } => {
                st.done_bytes += res as u64;
                if st.done_bytes >= len as u64 {
                    Next::Finish(len as i64)
                } else {
                    Next::Retry
                }
            }
            Op::Size { .. } => Next::Finish(st.statx.as_ref().map_or(0, |s| s.stx_size as i64)),
            // Not retried: repeating an O_CREAT|O_EXCL open could report EEXIST for a
            // file this very request created.
            Op::Open { .. } if res < 0 => Next::Finish(err),
            Op::Open { .. } => Next::Opened(res),
            // Never retried: Linux frees the fd even when close reports an error, and a
            // second close could hit a reused fd number.
            Op::Close { .. } => Next::Finish(err),
            Op::Fsync { .. } | Op::Fallocate { .. } | Op::Ftruncate { .. } | Op::Nop => {
                if retryable {
                    Next::Retry
                } else {
                    Next::Finish(err)
                }
            }
        };
        match next {
            Next::Retry => self.unqueued.push_back(slot),
            Next::Finish(r) => self.finish(slot, r),
            Next::Opened(fd) => {
                let r = self.opened(fd);
                self.finish(slot, r);
            }
        }
    }

    /// A successful open: refuse directories, then register the fd in a fixed slot.
    fn opened(&mut self, fd: i32) -> i64 {
        match sys::fstat_fd(fd) {
            Err(e) => {
                let _ = sys::close_fd(fd);
                -(e as i64)
            }
            Ok(st) if st.st_mode & sys::S_IFMT == sys::S_IFDIR => {
                let _ = sys::close_fd(fd);
                -(sys::EISDIR as i64)
            }
            Ok(_) => {
                // A full table is fine: the fd is then used without IOSQE_FIXED_FILE.
                let _ = self.files.insert(&self.ring, fd);
                fd as i64
            }
        }
    }

    /// Releases the queue capacity of this iteration's completions, then hands them to
    /// the sink in one call. Capacity goes first: the sink wakes JavaScript, which may
    /// submit new requests the moment it sees these completions, and its own count of
    /// operations in flight must never be ahead of ours (else a spurious EAGAIN).
    /// Their request slots were already freed when the CQEs were reaped.
    fn deliver(&mut self) {
        let n = self.completions.len();
        if n == 0 {
            return;
        }
        self.shared.lock().outstanding -= n;
        (self.sink)(&mut self.completions);
        self.completions.clear();
    }

    /// Before the engine (and `wake_buf`) is dropped, the armed eventfd read must have
    /// completed: write the eventfd ourselves and reap until its CQE arrives.
    fn disarm_wake(&mut self) {
        if !self.wake_armed {
            return;
        }
        self.shared.wake();
        for _ in 0..1000 {
            if self.broken {
                break;
            }
            let _ = self.ring.enter(1);
            self.reap();
            if !self.wake_armed {
                // Completions cannot appear now (nothing else is in flight), but
                // deliver for symmetry should one have been produced.
                self.deliver();
                return;
            }
        }
        // The read could not be reaped (the ring is broken): leak its buffer rather
        // than let the kernel write into freed memory.
        std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Worker>();
        check::<RingInfo>();
    }

    fn nops(ids: std::ops::Range<u64>) -> Vec<Request> {
        ids.map(|user_data| Request {
            user_data,
            op: Op::Nop,
        })
        .collect()
    }

    /// An engine on the test thread, its shared queue and what its sink received.
    fn engine() -> (Engine, Arc<Shared>, Arc<Mutex<Vec<Completion>>>) {
        // SAFETY: eventfd(2) takes no pointers.
        let efd = unsafe { sys::eventfd(0, sys::EFD_CLOEXEC) };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                pending: VecDeque::new(),
                outstanding: 0,
                closed: false,
            }),
            capacity: 8,
            wake: Fd::from_raw(efd),
            failed: AtomicBool::new(false),
            failed_errno: AtomicI32::new(0),
        });
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink_got = Arc::clone(&got);
        let cfg = EngineConfig {
            queue_capacity: 8,
            ..EngineConfig::default()
        };
        let sink: Sink = Box::new(move |batch: &mut Vec<Completion>| {
            sink_got.lock().unwrap().append(batch);
        });
        let engine = Engine::new(8, 16, &cfg, Arc::clone(&shared), sink).unwrap();
        (engine, shared, got)
    }

    fn accept(shared: &Shared, reqs: Vec<Request>) {
        let mut q = shared.lock();
        q.outstanding += reqs.len();
        q.pending.extend(reqs);
    }

    /// A real fatal io_uring_enter error: SQEs the kernel never saw are taken back and
    /// complete with RESULT_RING_FAILED, later requests too, and shutdown still ends.
    #[test]
    fn fatal_enter_error_fails_unsubmitted_requests() {
        let (mut e, shared, got) = engine();
        accept(&shared, nops(0..3));
        e.take_incoming();
        e.prep();
        assert_eq!(e.ring.sq_pending(), 4, "the eventfd read and three NOPs");
        e.fail_fatal(sys::EFAULT); // as if io_uring_enter had returned -EFAULT
        assert!(!e.wake_armed && !e.broken);
        assert_eq!(e.ring.sq_pending(), 0);
        e.deliver();
        assert_eq!(shared.failed_errno.load(Ordering::Relaxed), sys::EFAULT);
        accept(&shared, nops(3..5));
        shared.lock().closed = true;
        e.run();
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|c| c.result == RESULT_RING_FAILED));
        assert_eq!(shared.lock().outstanding, 0);
    }

    /// A ring that cannot even be entered any more still answers every request and
    /// shuts down.
    #[test]
    fn broken_ring_still_answers_and_shuts_down() {
        let (mut e, shared, got) = engine();
        e.prep();
        e.fail_fatal(sys::EFAULT);
        e.prep();
        e.fail_fatal(sys::EFAULT);
        assert!(e.broken && !e.wake_armed);
        accept(&shared, nops(0..4));
        shared.lock().closed = true;
        e.run();
        assert_eq!(got.lock().unwrap().len(), 4);
    }

    /// The armed eventfd read wakes a blocked io_uring_enter when a request arrives.
    #[test]
    fn eventfd_read_wakes_the_ring() {
        let (mut e, shared, got) = engine();
        e.prep();
        e.enter(false);
        assert!(e.wake_armed);
        let s2 = Arc::clone(&shared);
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            accept(&s2, nops(7..8));
            s2.wake();
        });
        e.enter(true); // blocks until the eventfd read completes
        e.reap();
        assert!(!e.wake_armed);
        t.join().unwrap();
        shared.lock().closed = true;
        e.run();
        assert_eq!(
            *got.lock().unwrap(),
            vec![Completion {
                user_data: 7,
                result: 0
            }]
        );
    }

    /// Before Linux 6.9 Ftruncate runs as ftruncate(2) on the ring thread.
    #[test]
    fn ftruncate_without_the_opcode_is_synchronous() {
        use std::os::fd::AsRawFd;
        let (mut e, shared, got) = engine();
        e.has_ftruncate = false;
        let path =
            std::env::temp_dir().join(format!("streamline-uring-ftrunc-{}", std::process::id()));
        let f = std::fs::File::create(&path).unwrap();
        let fd = f.as_raw_fd();
        accept(
            &shared,
            vec![Request {
                user_data: 1,
                op: Op::Ftruncate { fd, len: 4321 },
            }],
        );
        e.take_incoming();
        assert!(e.unqueued.is_empty(), "completed without an SQE");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4321);
        accept(
            &shared,
            vec![Request {
                user_data: 2,
                op: Op::Ftruncate { fd: -1, len: 1 },
            }],
        );
        shared.lock().closed = true;
        e.run();
        assert_eq!(
            *got.lock().unwrap(),
            vec![
                Completion {
                    user_data: 1,
                    result: 0
                },
                Completion {
                    user_data: 2,
                    result: -9
                }
            ]
        );
        drop(f);
        std::fs::remove_file(&path).unwrap();
    }

    /// A Close waits until the SQ is drained before it frees its fixed slot, so no
    /// unconsumed SQE can name a slot that a later open reuses.
    #[test]
    fn close_waits_for_an_empty_sq() {
        let (mut e, shared, got) = engine();
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(f);
        assert!(e.files.insert(&e.ring, fd).is_some());
        accept(&shared, nops(0..2));
        accept(
            &shared,
            vec![Request {
                user_data: 9,
                op: Op::Close { fd },
            }],
        );
        e.take_incoming();
        e.prep();
        assert_eq!(e.unqueued.len(), 1, "the close waits");
        assert!(e.files.lookup(fd).is_some());
        e.enter(false);
        e.prep();
        assert!(e.unqueued.is_empty());
        assert!(e.files.lookup(fd).is_none());
        shared.lock().closed = true;
        e.run();
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|c| c.result == 0), "{got:?}");
    }
}
