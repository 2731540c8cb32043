//! The operation state machine both engine modes drive: the ring thread ([`Worker`],
//! `worker.rs`) and the caller's own thread ([`InlineEngine`], `inline.rs`).
//!
//! It owns the ring and turns requests into SQEs, continues short reads and writes,
//! retries EAGAIN/EINTR, checks opens (EISDIR, fixed slots), and implements linked
//! chains (IOSQE_IO_LINK). It never blocks except inside [`Engine::enter`] with
//! `block`, and never calls out: completions collect in `completions` for the caller to
//! hand over after reaping (the sink never runs while CQEs are being reaped).
//!
//! # Linked chains
//! A request with `link` is linked to the next request of the same submit (the last
//! request of a submit is never linked). The chain is pushed to the SQ contiguously —
//! what does not fit waits for the next enter, it is never split across an SQ-full
//! boundary — with IOSQE_IO_LINK on every SQE but the last, so the kernel runs its
//! members one after another and fails the rest with -ECANCELED when one fails.
//!
//! The kernel also counts a *short* read or write as a failure, which our semantics do
//! not (reads stop at end-of-file, short transfers are continued). So when a member
//! comes back short (or with EAGAIN/EINTR), the members after it come back with
//! -ECANCELED; they are not completed but taken back, and once no member of the chain
//! is in the kernel any more the chain is pushed again from its first unfinished
//! member: the continuation linked to the rest. A member that fails for real completes
//! with its error and every member after it with -ECANCELED, in the kernel or not.
//!
//! A chain is cut (the rest waits for the cut member to complete, then goes on as the
//! same chain) where one SQE cannot finish a member (a read/write over MAX_RW_BYTES),
//! before a Close (no SQE in the SQ may name its fixed slot, see `prep`), before an Ftruncate that
//! runs synchronously, and after `sq_entries` members.
//!
//! [`Worker`]: crate::Worker
//! [`InlineEngine`]: crate::InlineEngine

use crate::buffers::FixedBuffers;
use crate::files::FixedFiles;
use crate::probe;
use crate::ring::{self, Ring};
use crate::sys::{self, io_uring_cqe, io_uring_sqe};
use crate::worker::RingInfo;
use crate::{Completion, EngineConfig, Op, Request, RESULT_RING_FAILED};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;

/// The most one SQE transfers: Linux caps a single read/write at 0x7ffff000 bytes
/// (MAX_RW_COUNT), so larger buffers are split and continued.
pub(crate) const MAX_RW_BYTES: usize = 0x7fff_f000;
/// user_data of the armed eventfd read (thread mode); request slots use their index.
pub(crate) const WAKE_USER_DATA: u64 = u64::MAX;
/// The plain and registered-buffer opcodes of a read and of a write.
const RW_READ: (u8, u8) = (sys::IORING_OP_READ, sys::IORING_OP_READ_FIXED);
const RW_WRITE: (u8, u8) = (sys::IORING_OP_WRITE, sys::IORING_OP_WRITE_FIXED);
/// Limits that keep the preallocated tables reasonable.
pub(crate) const MAX_SQ_ENTRIES: u32 = 32_768;
pub(crate) const MAX_CQ_ENTRIES: u32 = 65_536;
pub(crate) const MAX_QUEUE_CAPACITY: usize = 65_535;
/// Reads and writes on O_DIRECT files go to the kernel at most this many per
/// io_uring_enter. io_uring plugs the block layer when one enter submits more than two
/// SQEs, and on this machine's virtio disk a plugged batch of 32 random 4 KiB O_DIRECT
/// reads came back together, so a QD 32 loop waited for the slowest of each batch.
/// Measured with W5 through the library (fio 81–86k in the same minutes): 61–63k reads/s
/// unsplit, 68–69k at 8 per enter, 73k at 4, 74–77k at 2, 73–74k at 1. Cached I/O
/// completes inside the enter and is not split.
const DIRECT_SQES_PER_ENTER: usize = 2;

/// Checks `cfg` and returns the CQ size to ask for. Err(errno).
pub(crate) fn checked_cq_entries(cfg: &EngineConfig) -> Result<u32, i32> {
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
    Ok(cq_entries)
}

/// Ring failure state, readable from any thread.
#[derive(Default)]
pub(crate) struct RingStatus {
    pub(crate) failed: AtomicBool,
    /// errno of a real fatal io_uring_enter failure (0 = none or the test hook).
    pub(crate) failed_errno: AtomicI32,
    /// Reads and writes that went to the kernel as READ_FIXED/WRITE_FIXED (first SQE of
    /// each request), for the registered-buffer hit counter.
    pub(crate) fixed_ops: AtomicU64,
}

impl RingStatus {
    pub(crate) fn ring_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    pub(crate) fn ring_error(&self) -> Option<i32> {
        match self.failed_errno.load(Ordering::Acquire) {
            0 => None,
            e => Some(e),
        }
    }

    pub(crate) fn fixed_ops(&self) -> u64 {
        self.fixed_ops.load(Ordering::Relaxed)
    }
}

/// An operation in flight (or waiting for the SQ), by slot index.
struct InFlight {
    user_data: u64,
    op: Op,
    /// Bytes transferred so far by a read or write.
    done_bytes: u64,
    /// Where IORING_OP_STATX writes for `Op::Size`.
    statx: Option<Box<sys::statx>>,
    /// The unfinished chain members before and after this one.
    prev: Option<u32>,
    next: Option<u32>,
    /// An SQE of this slot is in the SQ or the kernel (its CQE has not been reaped).
    in_kernel: bool,
    /// `len` of that SQE (read/write): a CQE with less is a short transfer, which the
    /// kernel counts as a failure that breaks the chain.
    sqe_len: u32,
    /// An earlier member broke the chain in the kernel: an -ECANCELED from this one
    /// means "not run", to be pushed again.
    expect_cancel: bool,
    /// An earlier member failed for real: this one completes with -ECANCELED when its
    /// CQE (the kernel's cancellation) arrives.
    doomed: bool,
    /// This slot heads a chain waiting in `unqueued`.
    queued: bool,
}

/// The optional eventfd read kept armed in the ring (thread mode), so a blocking
/// io_uring_enter also wakes up for new requests.
struct Wake {
    fd: i32,
    /// Target of the read; boxed so its address is stable.
    buf: Box<u64>,
    armed: bool,
}

pub(crate) struct Engine {
    /// Dropped only after every in-flight request has been reaped (see `Ring`).
    pub(crate) ring: Ring,
    pub(crate) files: FixedFiles,
    /// Open fds of ours opened with O_DIRECT (see DIRECT_SQES_PER_ENTER).
    direct_fds: HashSet<i32>,
    /// Registered buffers; `build_sqe` turns reads/writes inside them into *_FIXED.
    bufs: FixedBuffers,
    pub(crate) info: RingInfo,
    pub(crate) status: Arc<RingStatus>,
    /// Preallocated: one entry per request that may be outstanding.
    slots: Vec<Option<InFlight>>,
    free_slots: Vec<u32>,
    /// Chain heads (a single request is a chain of one) waiting for SQ space, in order.
    pub(crate) unqueued: VecDeque<u32>,
    /// Finished requests not yet handed over.
    pub(crate) completions: Vec<Completion>,
    wake: Option<Wake>,
    pub(crate) has_ftruncate: bool,
    /// No new work goes to the kernel (fatal enter error or the test hook).
    pub(crate) failed: bool,
    /// Set by the test hook: fail after the next enter.
    fail_pending: bool,
    /// io_uring_enter keeps failing: the ring cannot even be reaped.
    pub(crate) broken: bool,
    fail_after: Option<u64>,
    taken_total: u64,
    /// SQEs of requests pushed and not yet reaped.
    in_kernel: usize,
    /// The previous accepted request's slot when it asked to be linked to the next.
    link_from: Option<u32>,
    /// Buffer-table updates completed since the owner last took this count: they take
    /// no request slot, so the worker does not count them against its capacity.
    pub(crate) table_done: usize,
    /// Reused buffers: one reap's CQEs, one chain segment.
    scratch: Vec<io_uring_cqe>,
    segment: Vec<u32>,
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
    /// Creates the ring (trying `attempts`, see `ring::SETUP_ATTEMPTS`), probes the
    /// opcodes, registers the fixed-file table. `wake_fd`: an eventfd to keep a read
    /// armed on (thread mode).
    pub(crate) fn new(
        cfg: &EngineConfig,
        cq_entries: u32,
        attempts: &[u32],
        wake_fd: Option<i32>,
    ) -> Result<Engine, i32> {
        // SQPOLL is a preference: a kernel that refuses it (EPERM for unprivileged
        // users before 5.11, EINVAL for flag combinations) gets an ordinary ring.
        let ring = match cfg.sqpoll {
            true => Ring::with_attempts(cfg.sq_entries, cq_entries, &ring::with_sqpoll(attempts))
                .or_else(|_| Ring::with_attempts(cfg.sq_entries, cq_entries, attempts))?,
            false => Ring::with_attempts(cfg.sq_entries, cq_entries, attempts)?,
        };
        let supported = probe::supported_opcodes(&ring)?;
        if probe::REQUIRED_OPCODES
            .iter()
            .any(|&op| !supported[op as usize])
        {
            return Err(sys::EOPNOTSUPP);
        }
        let has_ftruncate = supported[sys::IORING_OP_FTRUNCATE as usize];
        let (files, files_errno) = FixedFiles::register(&ring, cfg.fixed_file_slots);
        let (bufs, bufs_errno) = FixedBuffers::register(&ring, cfg.fixed_buffer_slots);
        let info = RingInfo {
            sq_entries: ring.sq_entries(),
            cq_entries: ring.cq_entries(),
            setup_flags: ring.flags(),
            features: ring.features(),
            setup_flag_names: ring::setup_flag_names(ring.flags()),
            feature_names: ring::feature_names(ring.features()),
            fixed_file_slots: files.slots(),
            fixed_files_errno: files_errno,
            fixed_buffer_slots: bufs.slots(),
            fixed_buffers_errno: bufs_errno,
            ftruncate_op: has_ftruncate,
        };
        let cap = cfg.queue_capacity;
        Ok(Engine {
            ring,
            files,
            direct_fds: HashSet::new(),
            bufs,
            info,
            status: Arc::new(RingStatus::default()),
            slots: (0..cap).map(|_| None).collect(),
            free_slots: (0..cap as u32).rev().collect(),
            unqueued: VecDeque::with_capacity(cap),
            completions: Vec::with_capacity(cap),
            wake: wake_fd.map(|fd| Wake {
                fd,
                buf: Box::new(0),
                armed: false,
            }),
            has_ftruncate,
            failed: false,
            fail_pending: false,
            broken: false,
            fail_after: cfg.test_fail_after_submits,
            taken_total: 0,
            in_kernel: 0,
            link_from: None,
            table_done: 0,
            scratch: Vec::with_capacity(cq_entries as usize),
            segment: Vec::new(),
        })
    }

    /// Requests accepted and not finished (in the kernel, waiting, or held).
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    /// Whether SQEs of ours are in the kernel (their CQEs will come).
    pub(crate) fn has_in_kernel(&self) -> bool {
        self.in_kernel > 0
    }

    pub(crate) fn wake_armed(&self) -> bool {
        self.wake.as_ref().is_some_and(|w| w.armed)
    }

    /// Takes one request (the test hook may turn it into RESULT_RING_FAILED). The
    /// caller has checked capacity and cleared `link` on the last request of a submit.
    pub(crate) fn accept(&mut self, req: Request) {
        if let Some(limit) = self.fail_after {
            if self.taken_total >= limit {
                self.fail_pending = true;
            }
        }
        self.taken_total += 1;
        if req.op.is_table_update() {
            self.table_done += 1; // completes within this call, whatever happens below
        }
        if self.failed || self.fail_pending {
            self.ring_failed_request(req);
        } else {
            self.start(req);
        }
    }

    fn complete(&mut self, user_data: u64, result: i64) {
        self.completions.push(Completion { user_data, result });
    }

    /// A request that will not run here. A Close still releases its fixed slot (the
    /// caller closes the fd elsewhere, and the table must not keep the file open).
    fn ring_failed_request(&mut self, req: Request) {
        self.link_from = None;
        if let Op::Close { fd } = req.op {
            self.forget_fd(fd);
        }
        self.complete(req.user_data, RESULT_RING_FAILED);
    }

    /// A Close is under way: the fd leaves the fixed-file table (unless the ring is
    /// broken and cannot be told) and the O_DIRECT set.
    fn forget_fd(&mut self, fd: i32) {
        self.direct_fds.remove(&fd);
        if !self.broken {
            self.files.remove(&self.ring, fd);
        }
    }

    fn slot(&self, slot: u32) -> &InFlight {
        self.slots[slot as usize].as_ref().expect("empty slot")
    }

    fn slot_mut(&mut self, slot: u32) -> &mut InFlight {
        self.slots[slot as usize].as_mut().expect("empty slot")
    }

    /// Starts a request: completes it on the spot when no SQE is needed (outside
    /// chains), else gives it a slot, joins it to its chain and queues chain heads.
    fn start(&mut self, req: Request) {
        // Buffer-table updates need no SQE: done here, in submission order, so every
        // later read or write of the same submit already sees them. They stand outside
        // chains (the binding refuses a link on them); `link_from` passes over them.
        match req.op {
            Op::RegisterBuffer { buf, len } => {
                // SAFETY: `Op::RegisterBuffer`'s contract (the submitter keeps the
                // memory allocated until the slot is emptied or the engine dropped).
                let r = unsafe { self.bufs.insert(&self.ring, buf as usize, len) };
                return self.complete(req.user_data, r.map_or_else(|e| -i64::from(e), i64::from));
            }
            Op::UnregisterBuffer { slot } => {
                let r = self.bufs.remove(&self.ring, slot);
                return self.complete(req.user_data, r.map_or_else(|e| -i64::from(e), |()| 0));
            }
            _ => {}
        }
        let chained = req.link || self.link_from.is_some();
        if !chained {
            match req.op {
                Op::Read { len: 0, .. } | Op::Write { len: 0, .. } => {
                    return self.complete(req.user_data, 0);
                }
                Op::Ftruncate { fd, len } if !self.has_ftruncate => {
                    return self.complete(req.user_data, sync_ftruncate(fd, len));
                }
                _ => {}
            }
        }
        let slot = self
            .free_slots
            .pop()
            .expect("more requests in flight than queue_capacity");
        let statx = matches!(req.op, Op::Size { .. }).then(|| Box::new(sys::statx::default()));
        let prev = self.link_from.take();
        self.slots[slot as usize] = Some(InFlight {
            user_data: req.user_data,
            op: req.op,
            done_bytes: 0,
            statx,
            prev,
            next: None,
            in_kernel: false,
            sqe_len: 0,
            expect_cancel: false,
            doomed: false,
            queued: prev.is_none(),
        });
        match prev {
            Some(p) => self.slot_mut(p).next = Some(slot),
            None => self.unqueued.push_back(slot),
        }
        if req.link {
            self.link_from = Some(slot);
        }
    }

    /// Completes `slot` and unlinks it from its chain; a successor that now heads the
    /// chain and is out of the kernel is queued.
    fn finish(&mut self, slot: u32, result: i64) {
        let st = self.slots[slot as usize]
            .take()
            .expect("finish on an empty slot");
        self.free_slots.push(slot);
        if st.in_kernel {
            self.in_kernel -= 1;
        }
        self.complete(st.user_data, result);
        if let Some(p) = st.prev {
            self.slot_mut(p).next = st.next;
        }
        if let Some(n) = st.next {
            self.slot_mut(n).prev = st.prev;
            if st.prev.is_none() {
                self.settle(n);
            }
        }
    }

    /// Queues the chain of `slot` from its first unfinished member once none of its
    /// members is in the kernel (and it is not queued already).
    fn settle(&mut self, slot: u32) {
        let mut head = slot;
        while let Some(p) = self.slot(head).prev {
            head = p;
        }
        if self.slot(head).queued {
            return;
        }
        let mut s = Some(head);
        while let Some(x) = s {
            let st = self.slot(x);
            if st.in_kernel {
                return;
            }
            s = st.next;
        }
        self.slot_mut(head).queued = true;
        self.unqueued.push_back(head);
    }

    /// `slot` failed: every member after it completes with -ECANCELED — now if it is
    /// out of the kernel, else when the kernel's cancellation arrives (or, when the
    /// kernel did not see a failure and runs them, with their own result).
    fn doom_successors(&mut self, slot: u32, kernel_broke: bool) {
        let mut s = self.slot_mut(slot).next.take();
        let mut now = Vec::new();
        while let Some(x) = s {
            let st = self.slot_mut(x);
            s = st.next.take();
            st.prev = None;
            if st.in_kernel {
                st.doomed = kernel_broke;
            } else {
                now.push(x);
            }
        }
        for x in now {
            self.finish(x, -i64::from(sys::ECANCELED));
        }
    }

    /// Fills the SQ: the eventfd read first (so it is always armed), then `unqueued`.
    pub(crate) fn prep(&mut self) {
        if self.failed {
            // Continuations and retries of requests the kernel already ran part of
            // cannot be submitted any more either; the caller redoes them elsewhere.
            // Finishing a head queues its successor, which this loop then takes.
            while let Some(head) = self.unqueued.pop_front() {
                self.slot_mut(head).queued = false;
                self.finish(head, RESULT_RING_FAILED);
            }
        }
        if self.broken {
            return;
        }
        if let Some(w) = &mut self.wake {
            if !w.armed {
                let sqe = io_uring_sqe {
                    opcode: sys::IORING_OP_READ,
                    fd: w.fd,
                    addr: &mut *w.buf as *mut u64 as u64,
                    len: 8,
                    user_data: WAKE_USER_DATA,
                    ..Default::default()
                };
                // SAFETY: the buffer is heap memory owned by the engine, which only
                // frees it after the read's CQE was reaped (disarm_wake); nothing else
                // touches it.
                if unsafe { self.ring.push(&sqe) } {
                    w.armed = true;
                }
            }
        }
        if self.failed {
            return;
        }
        // Direct-I/O SQEs pushed since the last enter.
        let mut direct = 0;
        while let Some(&head) = self.unqueued.front() {
            match self.slot(head).op {
                Op::Close { fd } => {
                    // Free the fd's fixed slot before closing: the table holds its own
                    // reference to the file, so closing only the fd would keep it
                    // open. Only once no SQE still in the SQ names the slot: an
                    // unconsumed one would, and a later open could reuse the slot for
                    // another file before the kernel reads that SQE. (Waiting for the
                    // whole SQ instead cost one submit — and, inline, one event-loop
                    // turn — per close: 1,000 closes at once took 1.2 s.)
                    if let Some(slot) = self.files.lookup(fd) {
                        let names_slot = |sqe: &io_uring_sqe| {
                            sqe.flags & sys::IOSQE_FIXED_FILE != 0 && sqe.fd == slot as i32
                        };
                        if self.ring.any_unsubmitted(names_slot) {
                            break;
                        }
                    }
                    self.forget_fd(fd);
                }
                Op::Ftruncate { fd, len } if !self.has_ftruncate => {
                    // IORING_OP_FTRUNCATE arrived in Linux 6.9; before that it runs
                    // synchronously here (rare: WAL/segment rolls and recovery).
                    self.unqueued.pop_front();
                    self.slot_mut(head).queued = false;
                    let r = sync_ftruncate(fd, len);
                    if r < 0 {
                        self.doom_successors(head, false);
                    }
                    self.finish(head, r);
                    continue;
                }
                _ => {}
            }
            self.fill_segment(head);
            if self.segment.len() as u32 > self.ring.sq_space_left() {
                // Never split a chain across an SQ-full boundary: submit what is
                // queued first (the segment is at most sq_entries long, so it fits
                // into an empty SQ).
                break;
            }
            self.unqueued.pop_front();
            self.slot_mut(head).queued = false;
            let n = self.segment.len();
            for i in 0..n {
                let slot = self.segment[i];
                let mut sqe = self.build_sqe(slot);
                if i + 1 < n {
                    sqe.flags |= sys::IOSQE_IO_LINK;
                }
                // SAFETY: the SQE points at the caller's buffer (kept valid by the
                // submit contract until the completion is handed over, which happens
                // only after the CQE is reaped) or at the slot's own path/statx
                // allocation, which stays in `slots` until `finish`, after the reap.
                let pushed = unsafe { self.ring.push(&sqe) };
                debug_assert!(pushed, "space was checked");
                let st = self.slot_mut(slot);
                st.in_kernel = true;
                st.expect_cancel = false;
                st.sqe_len = sqe.len;
                let target = match st.op {
                    Op::Read { fd, .. } | Op::Write { fd, .. } => Some(fd),
                    _ => None,
                };
                self.in_kernel += 1;
                if let Some(fd) = target {
                    direct += usize::from(self.direct_fds.contains(&fd));
                }
            }
            if direct >= DIRECT_SQES_PER_ENTER {
                // Send these to the device now (see DIRECT_SQES_PER_ENTER); a chain is
                // never split, it went in whole above.
                direct = 0;
                self.enter(false);
                if self.failed {
                    break;
                }
            }
        }
    }

    /// The members of the chain headed by `head` to push as one linked run.
    fn fill_segment(&mut self, head: u32) {
        let mut seg = std::mem::take(&mut self.segment);
        seg.clear();
        let max = self.ring.sq_entries() as usize;
        let mut s = head;
        loop {
            seg.push(s);
            let st = self.slot(s);
            let Some(n) = st.next else { break };
            let big = match st.op {
                Op::Read { len, .. } | Op::Write { len, .. } => {
                    len as u64 - st.done_bytes > MAX_RW_BYTES as u64
                }
                _ => false,
            };
            let cut_before = match self.slot(n).op {
                Op::Close { .. } => true,
                Op::Ftruncate { .. } => !self.has_ftruncate,
                _ => false,
            };
            if big || cut_before || seg.len() == max {
                break;
            }
            s = n;
        }
        self.segment = seg;
    }

    /// The fd field and flags for a request on `fd`: the fixed slot when it has one.
    fn target(&self, fd: i32) -> (i32, u8) {
        match self.files.lookup(fd) {
            Some(slot) => (slot as i32, sys::IOSQE_FIXED_FILE),
            None => (fd, 0),
        }
    }

    fn build_sqe(&self, slot: u32) -> io_uring_sqe {
        let st = self.slot(slot);
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
            } => self.prep_rw(&mut sqe, st, (*fd, *buf, *len, *offset), RW_READ),
            Op::Write {
                fd,
                buf,
                len,
                offset,
            } => self.prep_rw(&mut sqe, st, (*fd, buf.cast_mut(), *len, *offset), RW_WRITE),
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
            Op::RegisterBuffer { .. } | Op::UnregisterBuffer { .. } => {
                unreachable!("buffer-table updates complete in `start`")
            }
        }
        sqe
    }

    /// A read or write SQE for what is left of the transfer (`st.done_bytes` done):
    /// at most MAX_RW_BYTES, on the fixed file and into a registered buffer where they
    /// exist. `(fd, buf, len, offset)` is the whole request.
    fn prep_rw(
        &self,
        sqe: &mut io_uring_sqe,
        st: &InFlight,
        (fd, buf, len, offset): (i32, *mut u8, usize, u64),
        (opcode, fixed_opcode): (u8, u8),
    ) {
        let (f, flags) = self.target(fd);
        let done = st.done_bytes as usize;
        sqe.opcode = opcode;
        sqe.fd = f;
        sqe.flags = flags;
        sqe.addr = buf.wrapping_add(done) as u64;
        sqe.len = (len - done).min(MAX_RW_BYTES) as u32;
        sqe.off = offset.wrapping_add(st.done_bytes);
        self.use_fixed_buffer(sqe, fixed_opcode, done == 0);
    }

    /// Switches a READ/WRITE SQE to its *_FIXED opcode when its whole range lies inside
    /// a registered buffer (looked up now, so an emptied slot is never named).
    fn use_fixed_buffer(&self, sqe: &mut io_uring_sqe, fixed_opcode: u8, first: bool) {
        if let Some(slot) = self.bufs.lookup(sqe.addr as usize, sqe.len as usize) {
            sqe.opcode = fixed_opcode;
            sqe.buf_index = slot as u16;
            if first {
                self.status.fixed_ops.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One io_uring_enter: submit everything in the SQ, wait for one CQE if `block`.
    pub(crate) fn enter(&mut self, block: bool) {
        if self.broken {
            return self.enter_broken(block);
        }
        let min_complete = u32::from(block);
        match self.ring.enter(min_complete) {
            Ok(_) => {}
            // Interrupted by a signal: the caller's loop comes back here.
            Err(sys::EINTR) => {}
            // EBUSY: the CQ overflowed (older kernels refuse to submit until the
            // overflow list is flushed); EAGAIN: the kernel could not allocate request
            // memory. Either way reap (flushing the overflow list) and submit again
            // later; yield so memory pressure can clear.
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
        self.status.failed.store(true, Ordering::Release);
    }

    /// io_uring_enter failed for good: SQEs the kernel did not consume are taken back
    /// and complete with RESULT_RING_FAILED; what was consumed is still reaped.
    pub(crate) fn fail_fatal(&mut self, errno: i32) {
        if self.failed {
            // Even the eventfd re-arm cannot be submitted: stop using the ring.
            self.broken = true;
        }
        if self.status.failed_errno.load(Ordering::Relaxed) == 0 {
            self.status.failed_errno.store(errno, Ordering::Release);
        }
        self.set_failed();
        let mut rolled_back = Vec::new();
        self.ring
            .rollback_unsubmitted(|sqe| rolled_back.push(sqe.user_data));
        for ud in rolled_back {
            if ud == WAKE_USER_DATA {
                if let Some(w) = &mut self.wake {
                    w.armed = false;
                }
            } else {
                let st = self.slot_mut(ud as u32);
                st.in_kernel = false;
                self.in_kernel -= 1;
                self.finish(ud as u32, RESULT_RING_FAILED);
            }
        }
    }

    /// The ring cannot be entered: poll for completions of what was in flight (a ring
    /// without DEFER_TASKRUN posts them without our help) and sleep briefly instead of
    /// blocking in the kernel.
    fn enter_broken(&mut self, block: bool) {
        if self.in_kernel > 0 || self.wake_armed() {
            self.flush_overflow();
            if block {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        } else if block {
            if let Some(w) = &self.wake {
                // Nothing of ours is in the kernel: wait for a submitter on the eventfd.
                let mut v = 0u64;
                // SAFETY: reads 8 bytes into a live u64 from the eventfd; no armed ring
                // read competes (armed is false).
                unsafe { sys::read(w.fd, (&mut v as *mut u64).cast(), 8) };
            }
        }
    }

    /// Reaps every available CQE first, then processes them (continuations, opens).
    pub(crate) fn reap(&mut self) {
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
            // New requests (or shutdown): the caller takes them and re-arms.
            if let Some(w) = &mut self.wake {
                w.armed = false;
            }
            return;
        }
        let slot = cqe.user_data as u32;
        let res = cqe.res;
        self.in_kernel -= 1;
        let st = self.slot_mut(slot);
        st.in_kernel = false;
        if st.doomed {
            return self.finish(slot, -i64::from(sys::ECANCELED));
        }
        if res == -sys::ECANCELED && (st.prev.is_some() || st.expect_cancel) {
            // Not run: an earlier member broke the chain in the kernel. Its fate
            // decides ours (pushed again, or doomed); wait for the chain to settle.
            st.expect_cancel = false;
            return self.settle(slot);
        }
        let kernel_ok = match st.op {
            Op::Read { .. } | Op::Write { .. } => res >= 0 && res as u32 == st.sqe_len,
            _ => res >= 0,
        };
        if !kernel_ok {
            // The kernel cancels the linked members after this one.
            let mut s = st.next;
            while let Some(x) = s {
                let m = self.slot_mut(x);
                if !m.in_kernel {
                    break;
                }
                m.expect_cancel = true;
                s = m.next;
            }
        }
        let st = self.slot_mut(slot);
        let err = i64::from(res.min(0));
        let retryable = res == -sys::EAGAIN || res == -sys::EINTR;
        let next = match st.op {
            Op::Read { .. } | Op::Write { .. } | Op::Size { .. } if retryable => Next::Retry,
            // O_DIRECT at end of file: the first read stopped short at EOF, and reading
            // on from that (unaligned) position is EINVAL. A read that already got
            // bytes is done with them, as at an ordinary end of file.
            Op::Read { .. } if res == -sys::EINVAL && st.done_bytes > 0 => {
                Next::Finish(st.done_bytes as i64)
            }
            Op::Read { .. } | Op::Write { .. } | Op::Size { .. } if res < 0 => Next::Finish(err),
            // A zero-length member of a chain.
            Op::Read { len: 0, .. } | Op::Write { len: 0, .. } => Next::Finish(0),
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
            Op::Fsync { .. }
            | Op::Fallocate { .. }
            | Op::Ftruncate { .. }
            | Op::Nop
            | Op::RegisterBuffer { .. }
            | Op::UnregisterBuffer { .. } => {
                if retryable {
                    Next::Retry
                } else {
                    Next::Finish(err)
                }
            }
        };
        match next {
            Next::Retry => self.settle(slot),
            Next::Finish(r) => {
                if r < 0 {
                    self.doom_successors(slot, !kernel_ok);
                }
                self.finish(slot, r);
            }
            Next::Opened(fd) => {
                let direct = matches!(self.slot(slot).op, Op::Open { flags, .. } if flags & sys::O_DIRECT != 0);
                let r = self.opened(fd);
                if r >= 0 && direct {
                    self.direct_fds.insert(fd);
                }
                if r < 0 {
                    // The kernel saw a success: members in the kernel run.
                    self.doom_successors(slot, false);
                }
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

    /// Before the engine (and the wake buffer) is dropped, the armed eventfd read must
    /// have completed: write the eventfd ourselves and reap until its CQE arrives.
    pub(crate) fn disarm_wake(&mut self) {
        let Some(fd) = self.wake.as_ref().filter(|w| w.armed).map(|w| w.fd) else {
            return;
        };
        eventfd_signal(fd);
        for _ in 0..1000 {
            if self.broken {
                break;
            }
            let _ = self.ring.enter(1);
            self.reap();
            if !self.wake_armed() {
                return;
            }
        }
        // The read could not be reaped (the ring is broken): leak its buffer rather
        // than let the kernel write into freed memory.
        if let Some(w) = &mut self.wake {
            std::mem::forget(std::mem::replace(&mut w.buf, Box::new(0)));
        }
    }
}

/// ftruncate(2) on the calling thread, as a result value.
fn sync_ftruncate(fd: i32, len: u64) -> i64 {
    sys::ftruncate_fd(fd, len).map_or_else(|e| -(e as i64), |()| 0)
}

/// Adds 1 to an eventfd (wakes a reader).
pub(crate) fn eventfd_signal(fd: i32) {
    let one: u64 = 1;
    loop {
        // SAFETY: writes 8 bytes from a live u64 to an eventfd the caller owns.
        let r = unsafe { sys::write(fd, (&one as *const u64).cast(), 8) };
        // EAGAIN cannot happen on a blocking eventfd short of a counter of 2^64-2;
        // EINTR is retried.
        if r >= 0 || sys::errno() != sys::EINTR {
            return;
        }
    }
}
