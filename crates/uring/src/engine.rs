//! The operation state machine, and nothing else: no thread, no eventfd, no waiting
//! for new work. Two drivers drive it through its methods — the ring thread
//! ([`Worker`], `worker.rs`) and the caller's own thread ([`InlineEngine`], `inline.rs`);
//! neither reaches into its fields.
//!
//! It owns the ring and turns requests into SQEs (the io-uring crate's `opcode`
//! builders), continues short reads and writes, retries EAGAIN/EINTR, checks opens
//! (EISDIR, fixed slots), and implements linked chains (IOSQE_IO_LINK). It never blocks
//! except inside [`Engine::enter`] with `block`, and never calls out: completions
//! collect until the driver takes them ([`Engine::drain_completions`]) after reaping, so
//! no callback ever runs while CQEs are being reaped.
//!
//! A driver may keep SQEs of its own in the ring (the ring thread's eventfd read):
//! [`Engine::push_driver_sqe`] tags them, and what becomes of them (a CQE, or taken back
//! unread after a fatal enter) comes back as [`DriverEvent`]s.
//!
//! # Driving it
//! One round: [`Engine::accept`] new requests → [`Engine::prep`] (fill the SQ from the
//! FIFO of what waits) → [`Engine::enter`] → [`Engine::reap`] → hand out
//! [`Engine::drain_completions`]. Requests that do not fit in the SQ, and continuations,
//! wait in that FIFO (`unqueued`, as in TigerBeetle's io/linux.zig) for the next round.
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
//! before a Close (no SQE in the SQ may name its fixed slot, see `prep`), before an
//! Ftruncate that runs synchronously, and after `sq_entries` members.
//!
//! # Transfers (`Op::SendFile`)
//! A SendFile holds one slot for its whole life and runs in *rounds*, each built by
//! `prep_transfer` when the slot heads `unqueued`, like the continuation of a short read:
//! FILL (IORING_OP_SPLICE file → pipe, at most the pipe's capacity) linked to SEND
//! (SPLICE pipe → socket, the same length); after a short send or -EAGAIN (the socket
//! is full), POLL (IORING_OP_POLL_ADD POLLOUT on the socket) linked to SEND of what the
//! pipe still holds; after a short fill, SEND alone. Both splice halves carry
//! SPLICE_F_NONBLOCK and the pipes are O_NONBLOCK, so no io-wq worker ever sleeps on a
//! pipe or a reader: waiting for the reader is the POLL, which holds no thread and can be
//! cancelled. The CQEs of a round update the slot's `Transfer` (`on_transfer_cqe`); once
//! none of its SQEs is in the kernel the slot is queued again for the next round, or
//! finished (`finish_transfer`: all sent, end of file, an error, or cancelled). A short
//! splice breaks the link in the kernel, so the SEND after it comes back -ECANCELED:
//! expected, and handled inside the slot (the pair never spans two requests, so the
//! chain machinery below is not involved).
//!
//! An SQE of a transfer carries its slot and a *part* number in bits 32..40 of its
//! user_data (`PART_*`); every other request's SQE has part 0. `Op::Cancel` (and the
//! drivers' `cancel_transfers` at shutdown) marks a transfer cancelled and pushes an
//! IORING_OP_ASYNC_CANCEL of the round's head SQE; its CQE belongs to the target's slot,
//! so the slot outlives it.
//!
//! # Failure
//! A fatal io_uring_enter error fails the ring: the requests whose SQEs the kernel never
//! read complete with RESULT_RING_FAILED (`Ring::take_back_unconsumed`), what it did
//! read is still reaped, and every later request completes with RESULT_RING_FAILED
//! without reaching the kernel. If entries stayed unread in the SQ (or the ring fails a
//! second time) it is *broken*: nothing is submitted any more, and it is only polled for
//! the completions of what the kernel had taken. A transfer is never completed with
//! RESULT_RING_FAILED once a byte of it reached the socket (the caller would send those
//! bytes again): it completes with the bytes sent, once none of its SQEs is in the
//! kernel (taken back or reaped).
//!
//! [`Worker`]: crate::Worker
//! [`InlineEngine`]: crate::InlineEngine

use crate::buffers::FixedBuffers;
use crate::files::FixedFiles;
use crate::info::RingInfo;
use crate::names;
use crate::pipes::{Pipe, PipePool};
use crate::probe;
use crate::ring::{self, Ring};
use crate::{
    Completion, EngineConfig, Op, Request, SendStats, MAX_CQ_ENTRIES, MAX_QUEUE_CAPACITY,
    MAX_RW_BYTES, MAX_SQ_ENTRIES, RESULT_RING_FAILED,
};
use io_uring::{cqueue, opcode, squeue, types};
use std::cell::UnsafeCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Reads and writes on O_DIRECT files go to the kernel at most this many per
/// io_uring_enter. io_uring plugs the block layer when one enter submits more than two
/// SQEs, and on this machine's virtio disk a plugged batch of 32 random 4 KiB O_DIRECT
/// reads came back together, so a QD 32 loop waited for the slowest of each batch.
/// Measured with W5 through the library (fio 81–86k in the same minutes): 61–63k reads/s
/// unsplit, 68–69k at 8 per enter, 73k at 4, 74–77k at 2, 73–74k at 1. Cached I/O
/// completes inside the enter and is not split.
const DIRECT_SQES_PER_ENTER: usize = 2;

/// user_data of a driver's own SQE: this bit, and the driver's tag below it. A request's
/// SQE carries its slot index, which never reaches it.
const DRIVER_BIT: u64 = 1 << 63;
const _: () = assert!((MAX_QUEUE_CAPACITY as u64) < DRIVER_BIT);

/// A request's SQE: its slot in bits 0..32, its part in bits 32..40 (see the module
/// docs, Transfers). Every request but a SendFile has one SQE at a time, part 0.
const PART_SHIFT: u32 = 32;
const PART_ONLY: u8 = 0;
/// SendFile: SPLICE file → pipe.
const PART_FILL: u8 = 1;
/// SendFile: SPLICE pipe → socket.
const PART_SEND: u8 = 2;
/// SendFile: POLL_ADD POLLOUT on the socket (waiting for the reader).
const PART_POLL: u8 = 3;
/// SendFile: the ASYNC_CANCEL of its head SQE.
const PART_CANCEL: u8 = 4;
const _: () = assert!((MAX_QUEUE_CAPACITY as u64) < 1 << PART_SHIFT);

/// The page size a pipe's capacity is counted in (see `prep_transfer`).
const PAGE: u32 = 4096;

/// The user_data of part `part` of `slot`'s request.
fn part_data(slot: u32, part: u8) -> u64 {
    u64::from(slot) | (u64::from(part) << PART_SHIFT)
}

/// The slot and part a request's SQE user_data carries.
fn slot_part(user_data: u64) -> (u32, u8) {
    (user_data as u32, (user_data >> PART_SHIFT) as u8)
}

// The kernel writes a whole struct statx (256 bytes) for Op::Size.
const _: () = assert!(std::mem::size_of::<libc::statx>() == 256);
// SQEs and CQEs of the default sizes (no SQE128/CQE32 setup flag is ever used).
const _: () = assert!(std::mem::size_of::<squeue::Entry>() == 64);
const _: () = assert!(std::mem::size_of::<cqueue::Entry>() == 16);

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
        return Err(libc::EINVAL);
    }
    let cq_entries = cfg
        .cq_entries
        .max(cfg.queue_capacity as u32 + 1)
        .max(cfg.sq_entries)
        .next_power_of_two();
    if cq_entries > MAX_CQ_ENTRIES {
        return Err(libc::EINVAL);
    }
    Ok(cq_entries)
}

/// Ring failure state and counters, readable from any thread (the Worker handle reads
/// what the ring thread's engine records).
#[derive(Default)]
pub(crate) struct RingStatus {
    failed: AtomicBool,
    /// errno of a real fatal io_uring_enter failure (0 = none or the test hook).
    failed_errno: AtomicI32,
    /// Reads and writes that went to the kernel as READ_FIXED/WRITE_FIXED (first SQE of
    /// each request), for the registered-buffer hit counter.
    fixed_ops: AtomicU64,
    /// POLL_ADDs pushed by transfers (each: a wait for a reader whose socket was full).
    send_polls: AtomicU64,
    /// Pipes the engine holds (its pool's count).
    pipes_open: AtomicUsize,
    /// Capacity of the last pipe made (0 before any).
    pipe_bytes: AtomicU32,
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

    pub(crate) fn send_stats(&self) -> SendStats {
        SendStats {
            polls: self.send_polls.load(Ordering::Relaxed),
            pipes_open: self.pipes_open.load(Ordering::Relaxed),
            pipe_bytes: self.pipe_bytes.load(Ordering::Relaxed),
        }
    }
}

/// What became of an SQE a driver pushed with [`Engine::push_driver_sqe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DriverEvent {
    pub(crate) tag: u32,
    /// Its CQE's result; None when it was taken back unread after a fatal enter (the
    /// kernel will never touch its memory).
    pub(crate) result: Option<i32>,
}

/// The file an SQE names: a plain fd or a fixed-file slot.
#[derive(Clone, Copy, Debug)]
enum Target {
    Plain(i32),
    Fixed(u32),
}

impl Target {
    fn file_slot(self) -> Option<u32> {
        match self {
            Target::Plain(_) => None,
            Target::Fixed(slot) => Some(slot),
        }
    }
}

/// Builds an SQE with an opcode builder whose fd argument may be either kind of target
/// (`types::Fd` or `types::Fixed`, which sets IOSQE_FIXED_FILE): `$fd` is bound to it.
macro_rules! on_target {
    ($target:expr, |$fd:ident| $build:expr) => {
        match $target {
            Target::Plain(fd) => {
                let $fd = types::Fd(fd);
                $build
            }
            Target::Fixed(slot) => {
                let $fd = types::Fixed(slot);
                $build
            }
        }
    };
}

/// An operation in flight (or waiting for the SQ), by slot index.
struct InFlight {
    user_data: u64,
    op: Op,
    /// Bytes transferred so far by a read or write.
    done_bytes: u64,
    /// Where IORING_OP_STATX writes for `Op::Size`: the kernel writes it behind Rust's
    /// back, hence the cell; boxed so its address is stable.
    statx: Option<Box<UnsafeCell<libc::statx>>>,
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
    /// A SendFile's state between rounds; boxed so other requests pay one pointer.
    transfer: Option<Box<Transfer>>,
}

/// Where a SendFile stands (see the module docs, Transfers). Its SQEs name the file, the
/// pipe and the socket dup (in the slot's `Op`) by fd and point at no memory.
struct Transfer {
    /// From the pool at the first round; back to it when the transfer ends with the pipe
    /// empty, else closed.
    pipe: Option<Pipe>,
    /// File offset of the next splice into the pipe.
    next_off: u64,
    /// Bytes of `len` not yet read into the pipe.
    file_left: u64,
    /// Bytes in the pipe not yet on the socket.
    in_pipe: u32,
    /// Bytes that reached the socket: the result.
    sent: u64,
    /// A fill read 0 bytes: the file ends before `offset + len`.
    eof: bool,
    /// The last send was short or -EAGAIN: the next round starts with a POLL.
    need_poll: bool,
    /// Op::Cancel or shutdown: no new round; ends with what was sent.
    cancelled: bool,
    /// The first real error (positive errno): no new round; the result.
    error: Option<i32>,
    /// SQEs of this slot pushed and not reaped or taken back (an ASYNC_CANCEL included).
    parts: u8,
    /// Which of FILL/SEND/POLL are in the kernel (bit 1 << part): a cancel aims at the
    /// round's head.
    live: u8,
}

impl Transfer {
    /// Nothing is left to send: all of `len` went out, or the file ended.
    fn done(&self) -> bool {
        self.in_pipe == 0 && (self.file_left == 0 || self.eof)
    }

    /// The part to cancel: the head of the round in the kernel (cancelling it fails the
    /// SEND linked to it), else the SEND still running.
    fn cancel_target(&self) -> Option<u8> {
        [PART_POLL, PART_FILL, PART_SEND]
            .into_iter()
            .find(|p| self.live & (1 << p) != 0)
    }
}

/// The op state machine over one ring.
///
/// Drop order is field order: the ring goes first (its fd closed), then the pipe pool
/// (idle pipes closed), then the slots with the paths and statx buffers SQEs point at
/// (and, for transfers, their pipes and socket dups). Both drivers drop an engine only
/// once nothing of theirs is in the kernel any more (see `Ring`), so no SQE names a pipe
/// or a socket dup by then; transfers hold their pipe until their last CQE.
pub(crate) struct Engine {
    ring: Ring,
    pipes: PipePool,
    files: FixedFiles,
    /// Open fds of ours opened with O_DIRECT (see DIRECT_SQES_PER_ENTER).
    direct_fds: HashSet<i32>,
    /// Registered buffers; `build_sqe` turns reads/writes inside them into *_FIXED.
    bufs: FixedBuffers,
    info: RingInfo,
    status: Arc<RingStatus>,
    /// Preallocated: one entry per request that may be outstanding.
    slots: Vec<Option<InFlight>>,
    free_slots: Vec<u32>,
    /// Chain heads (a single request is a chain of one) waiting for SQ space, in order.
    unqueued: VecDeque<u32>,
    /// Finished requests not yet handed over.
    completions: Vec<Completion>,
    /// Buffer-table updates among `completions`: they take no request slot, so the
    /// ring thread does not count them against its capacity.
    table_done: usize,
    has_ftruncate: bool,
    /// SPLICE, POLL_ADD and ASYNC_CANCEL are supported (`RingInfo::splice_op`).
    has_splice: bool,
    /// SendFiles in flight: user_data → slot (for Op::Cancel).
    transfers: HashMap<u64, u32>,
    /// Transfers (slot, user_data) whose ASYNC_CANCEL is still to be pushed (`prep`
    /// pushes them first, as SQ space allows).
    pending_cancels: Vec<(u32, u64)>,
    /// No new work goes to the kernel (fatal enter error or the test hook).
    failed: bool,
    /// Set by the test hook: fail after the next enter.
    fail_pending: bool,
    /// Nothing is submitted any more, the ring is only polled for completions (see the
    /// module docs, Failure).
    broken: bool,
    fail_after: Option<u64>,
    taken_total: u64,
    /// SQEs of requests pushed and not yet reaped.
    in_kernel: usize,
    /// SQEs of the driver's pushed and not yet reaped (or taken back).
    driver_in_kernel: usize,
    /// What became of the driver's SQEs, not yet taken by it.
    driver_events: Vec<DriverEvent>,
    /// The previous accepted request's slot when it asked to be linked to the next.
    link_from: Option<u32>,
    /// Reused buffers: one reap's CQEs, one chain segment.
    scratch: Vec<cqueue::Entry>,
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
    /// Creates the ring (trying the flag sets of `attempts`, see `ring::THREAD_SETUP`;
    /// with `cfg.sqpoll` first with SQPOLL added), probes the opcodes, registers the
    /// fixed-file and buffer tables. `status` is where the engine records failure and
    /// counters for the driver's handle.
    pub(crate) fn new(
        cfg: &EngineConfig,
        cq_entries: u32,
        attempts: &[u32],
        status: Arc<RingStatus>,
    ) -> Result<Engine, i32> {
        // SQPOLL is a preference: a kernel that refuses it (EPERM for unprivileged
        // users before 5.11, EINVAL for flag combinations) gets an ordinary ring.
        let ring = match cfg.sqpoll {
            true => Ring::new(cfg.sq_entries, cq_entries, &ring::with_sqpoll(attempts))
                .or_else(|_| Ring::new(cfg.sq_entries, cq_entries, attempts))?,
            false => Ring::new(cfg.sq_entries, cq_entries, attempts)?,
        };
        let supported = probe::supported_opcodes(&ring)?;
        if probe::REQUIRED_OPCODES
            .iter()
            .any(|&op| !supported.is_supported(op))
        {
            return Err(libc::EOPNOTSUPP);
        }
        let has_ftruncate = supported.is_supported(opcode::Ftruncate::CODE);
        // Optional (Linux 5.7): without them SendFile completes with -EOPNOTSUPP.
        let has_splice = [
            opcode::Splice::CODE,
            opcode::PollAdd::CODE,
            opcode::AsyncCancel::CODE,
        ]
        .into_iter()
        .all(|op| supported.is_supported(op));
        let (files, files_errno) = FixedFiles::register(&ring, cfg.fixed_file_slots);
        let (bufs, bufs_errno) = FixedBuffers::register(&ring, cfg.fixed_buffer_slots);
        let (features, feature_names) = names::features(ring.params());
        let info = RingInfo {
            sq_entries: ring.sq_entries(),
            cq_entries: ring.cq_entries(),
            setup_flags: ring.flags(),
            features,
            setup_flag_names: names::setup_flag_names(ring.flags()),
            feature_names,
            fixed_file_slots: files.slots(),
            fixed_files_errno: files_errno,
            fixed_buffer_slots: bufs.slots(),
            fixed_buffers_errno: bufs_errno,
            ftruncate_op: has_ftruncate,
            splice_op: has_splice,
        };
        let cap = cfg.queue_capacity;
        Ok(Engine {
            ring,
            pipes: PipePool::default(),
            files,
            direct_fds: HashSet::new(),
            bufs,
            info,
            status,
            slots: (0..cap).map(|_| None).collect(),
            free_slots: (0..cap as u32).rev().collect(),
            unqueued: VecDeque::with_capacity(cap),
            completions: Vec::with_capacity(cap),
            table_done: 0,
            has_ftruncate,
            has_splice,
            transfers: HashMap::new(),
            pending_cancels: Vec::new(),
            failed: false,
            fail_pending: false,
            broken: false,
            fail_after: cfg.test_fail_after_submits,
            taken_total: 0,
            in_kernel: 0,
            driver_in_kernel: 0,
            driver_events: Vec::new(),
            link_from: None,
            scratch: Vec::with_capacity(cq_entries as usize),
            segment: Vec::new(),
        })
    }

    /// What the ring was set up with.
    pub(crate) fn info(&self) -> &RingInfo {
        &self.info
    }

    /// The ring fd (readable while CQEs wait, for an event loop to watch).
    pub(crate) fn ring_fd(&self) -> i32 {
        self.ring.fd()
    }

    /// Failure state and counters (shared with the driver's handle).
    pub(crate) fn status(&self) -> &RingStatus {
        &self.status
    }

    /// Requests accepted and not finished (in the kernel, waiting, or held).
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    /// Whether SQEs of requests are in the kernel (their CQEs will come).
    pub(crate) fn has_in_kernel(&self) -> bool {
        self.in_kernel > 0
    }

    /// Whether nothing at all — no request, no driver SQE — is in the SQ or the kernel:
    /// no CQE can come.
    pub(crate) fn kernel_idle(&self) -> bool {
        self.in_kernel == 0 && self.driver_in_kernel == 0
    }

    /// Whether requests (or continuations) wait for SQ space: the next `prep` has work.
    pub(crate) fn has_unqueued(&self) -> bool {
        !self.unqueued.is_empty()
    }

    /// Whether finished requests wait to be handed out.
    pub(crate) fn has_completions(&self) -> bool {
        !self.completions.is_empty()
    }

    /// Whether the ring is broken: nothing is submitted any more, and `enter` only
    /// polls (it never blocks in the kernel).
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Moves the finished requests to `out`, in completion order; returns how many of
    /// them held a request slot (all but buffer-table updates).
    pub(crate) fn drain_completions(&mut self, out: &mut Vec<Completion>) -> usize {
        debug_assert!(self.table_done <= self.completions.len());
        let slotted = self.completions.len() - std::mem::take(&mut self.table_done);
        out.append(&mut self.completions);
        slotted
    }

    /// Pushes an SQE of the driver's own, tagged `tag` (its user_data is replaced); what
    /// becomes of it comes back as a [`DriverEvent`]. False when the SQ is full or the
    /// ring is broken (then it was not pushed).
    ///
    /// # Safety
    /// As `Ring::push`: what the SQE points at stays valid until its event has been
    /// taken from [`Engine::driver_events`].
    pub(crate) unsafe fn push_driver_sqe(&mut self, entry: squeue::Entry, tag: u32) -> bool {
        if self.broken {
            return false;
        }
        let entry = entry.user_data(DRIVER_BIT | u64::from(tag));
        // SAFETY: forwarded to our caller.
        let pushed = unsafe { self.ring.push(&entry, None) };
        self.driver_in_kernel += usize::from(pushed);
        pushed
    }

    /// What became of the driver's SQEs since it last asked.
    pub(crate) fn driver_events(&mut self) -> std::vec::Drain<'_, DriverEvent> {
        self.driver_events.drain(..)
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
        if req.op.takes_no_slot() {
            self.table_done += 1; // completes within this call, whatever happens below
        }
        // A cancel still works on a failed ring: its target may be waiting for a reader.
        let cancel = matches!(req.op, Op::Cancel { .. });
        if (self.failed || self.fail_pending) && !cancel {
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
            Op::Cancel { target } => {
                let r = self.cancel(target);
                return self.complete(req.user_data, r);
            }
            Op::SendFile { .. } => return self.start_transfer(req),
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
        // SAFETY: statx is plain old data; all-zero is a valid value.
        let zeroed = || unsafe { std::mem::zeroed::<libc::statx>() };
        let statx = matches!(req.op, Op::Size { .. }).then(|| Box::new(UnsafeCell::new(zeroed())));
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
            transfer: None,
        });
        match prev {
            Some(p) => self.slot_mut(p).next = Some(slot),
            None => self.unqueued.push_back(slot),
        }
        if req.link {
            self.link_from = Some(slot);
        }
    }

    /// A SendFile: a slot of its own, outside any chain (a link to it ends the chain
    /// before it; its own link is ignored), queued for its first round.
    fn start_transfer(&mut self, req: Request) {
        self.link_from = None;
        let Op::SendFile { offset, len, .. } = req.op else {
            unreachable!("start_transfer takes SendFiles")
        };
        // Completing here drops the op, which closes the socket dup.
        if !self.has_splice {
            return self.complete(req.user_data, -i64::from(libc::EOPNOTSUPP));
        }
        if len == 0 {
            return self.complete(req.user_data, 0);
        }
        // Splicing into anything else would write the bytes somewhere else (a file, a
        // pipe): refuse it before any SQE names it.
        if let Op::SendFile { ref sock, .. } = req.op {
            if let Err(e) = is_socket(sock.as_raw_fd()) {
                return self.complete(req.user_data, -i64::from(e));
            }
        }
        let slot = self
            .free_slots
            .pop()
            .expect("more requests in flight than queue_capacity");
        self.slots[slot as usize] = Some(InFlight {
            user_data: req.user_data,
            op: req.op,
            done_bytes: 0,
            statx: None,
            prev: None,
            next: None,
            in_kernel: false,
            sqe_len: 0,
            expect_cancel: false,
            doomed: false,
            queued: true,
            transfer: Some(Box::new(Transfer {
                pipe: None,
                next_off: offset,
                file_left: len,
                in_pipe: 0,
                sent: 0,
                eof: false,
                need_poll: false,
                cancelled: false,
                error: None,
                parts: 0,
                live: 0,
            })),
        });
        self.unqueued.push_back(slot);
        self.transfers.insert(req.user_data, slot);
    }

    fn transfer_mut(&mut self, slot: u32) -> &mut Transfer {
        self.slot_mut(slot)
            .transfer
            .as_deref_mut()
            .expect("not a transfer")
    }

    /// Op::Cancel of the transfer `target`: 0, or -ENOENT when none is in flight. Marks
    /// it cancelled (idempotent); one that waits in `unqueued` is finished by `prep`,
    /// one in the kernel gets an ASYNC_CANCEL of its head SQE, pushed by `prep`.
    fn cancel(&mut self, target: u64) -> i64 {
        let Some(&slot) = self.transfers.get(&target) else {
            return -i64::from(libc::ENOENT);
        };
        let t = self.transfer_mut(slot);
        if !t.cancelled {
            t.cancelled = true;
            if t.live != 0 {
                self.pending_cancels.push((slot, target));
            }
        }
        0
    }

    /// Cancels every transfer in flight (shutdown, `InlineEngine::wait_all`): each ends
    /// soon with what it sent (or -ECANCELED), so a reader that never reads cannot keep
    /// a driver waiting. Idempotent.
    pub(crate) fn cancel_transfers(&mut self) {
        let targets: Vec<u64> = self.transfers.keys().copied().collect();
        for t in targets {
            self.cancel(t);
        }
    }

    /// Pushes the ASYNC_CANCELs `cancel` asked for, as far as SQ space allows (the rest
    /// waits for the next `prep`). One whose transfer has finished, or has no SQE left in
    /// the kernel, is dropped; a broken ring can push nothing (its transfers end as their
    /// CQEs come).
    fn push_cancels(&mut self) {
        if self.pending_cancels.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending_cancels);
        for (slot, user_data) in pending {
            let target = match self.slots[slot as usize].as_ref() {
                Some(st) if st.user_data == user_data => {
                    st.transfer.as_deref().and_then(Transfer::cancel_target)
                }
                _ => None,
            };
            let Some(part) = target else { continue };
            if self.broken {
                continue;
            }
            if self.ring.sq_space_left() == 0 {
                self.pending_cancels.push((slot, user_data));
                continue;
            }
            let sqe = opcode::AsyncCancel::new(part_data(slot, part)).build();
            self.push_part(slot, PART_CANCEL, sqe, None);
        }
    }

    /// Pushes one SQE of `slot`'s transfer (the caller checked SQ space).
    fn push_part(&mut self, slot: u32, part: u8, sqe: squeue::Entry, file_slot: Option<u32>) {
        let sqe = sqe.user_data(part_data(slot, part));
        // SAFETY: a transfer's SQEs point at no memory; they name the caller's file (kept
        // open by the submit contract until the completion), and the slot's pipe and
        // socket dup, which the slot keeps open until `finish_transfer`, after every
        // part's CQE was reaped or taken back.
        let pushed = unsafe { self.ring.push(&sqe, file_slot) };
        assert!(pushed, "SQ space was checked and the ring is not broken");
        self.in_kernel += 1;
        let st = self.slot_mut(slot);
        st.in_kernel = true;
        let t = st.transfer.as_deref_mut().expect("not a transfer");
        t.parts += 1;
        if part != PART_CANCEL {
            t.live |= 1 << part;
        }
    }

    /// Builds and pushes the next round of the transfer heading `unqueued` (see the
    /// module docs), or finishes it. False when its SQEs do not fit in the SQ (it stays
    /// queued; the caller submits first).
    fn prep_transfer(&mut self, head: u32) -> bool {
        let st = self.slot(head);
        let t = st.transfer.as_deref().expect("not a transfer");
        debug_assert_eq!(t.parts, 0, "queued with SQEs in the kernel");
        if t.error.is_some() || t.cancelled || t.done() {
            self.unqueued.pop_front();
            self.slot_mut(head).queued = false;
            self.finish_transfer(head);
            return true;
        }
        if t.pipe.is_none() {
            let got = self.pipes.take();
            self.note_pipes();
            match got {
                Ok(p) => self.transfer_mut(head).pipe = Some(p),
                Err(e) => {
                    // EMFILE/ENFILE: the transfer ends with it.
                    self.transfer_mut(head).error = Some(e);
                    self.unqueued.pop_front();
                    self.slot_mut(head).queued = false;
                    self.finish_transfer(head);
                    return true;
                }
            }
        }
        let st = self.slot(head);
        let Op::SendFile { file, ref sock, .. } = st.op else {
            unreachable!("a transfer's op is a SendFile")
        };
        let sock = types::Fd(sock.as_raw_fd());
        let t = st.transfer.as_deref().expect("not a transfer");
        let pipe = t.pipe.as_ref().expect("taken above");
        let (rd, wr) = (
            types::Fd(pipe.rd.as_raw_fd()),
            types::Fd(pipe.wr.as_raw_fd()),
        );
        let (in_pipe, need_poll) = (t.in_pipe, t.need_poll);
        // A pipe holds `capacity / PAGE` page references: a fill starting inside a page
        // gets that many minus the offset into the first one. Asking for exactly that
        // keeps the fill whole (a short one costs a round: the SEND linked to it is
        // cancelled). A different page size only makes fills short, never wrong.
        let room = match pipe.capacity {
            c if c > PAGE => c - (t.next_off % u64::from(PAGE)) as u32,
            c => c,
        };
        let k = t.file_left.min(u64::from(room)) as u32;
        // Offsets are below 2^63 (safe integers from the binding).
        let off = t.next_off as i64;
        let n = if in_pipe == 0 || need_poll { 2 } else { 1 };
        if self.ring.sq_space_left() < n {
            return false;
        }
        self.unqueued.pop_front();
        self.slot_mut(head).queued = false;
        let nonblock = libc::SPLICE_F_NONBLOCK;
        let send = |len: u32| {
            opcode::Splice::new(rd, -1, sock, -1, len)
                .flags(nonblock)
                .build()
        };
        if in_pipe == 0 {
            // FILL → SEND. A short fill (end of file, or the file's pages) breaks the
            // link: the SEND then comes back -ECANCELED, and the next round sends what
            // the pipe holds.
            let target = self.target(file);
            let fill = on_target!(target, |f| opcode::Splice::new(f, off, wr, -1, k)
                .flags(nonblock)
                .build());
            self.push_part(
                head,
                PART_FILL,
                fill.flags(squeue::Flags::IO_LINK),
                target.file_slot(),
            );
            self.push_part(head, PART_SEND, send(k), None);
        } else if need_poll {
            // POLL → SEND: wait for the reader without holding a thread.
            let poll = opcode::PollAdd::new(sock, libc::POLLOUT as u32).build();
            self.push_part(head, PART_POLL, poll.flags(squeue::Flags::IO_LINK), None);
            self.push_part(head, PART_SEND, send(in_pipe), None);
            self.status.send_polls.fetch_add(1, Ordering::Relaxed);
        } else {
            self.push_part(head, PART_SEND, send(in_pipe), None);
        }
        true
    }

    /// A CQE of part `part` of `slot`'s transfer (see the module docs).
    fn on_transfer_cqe(&mut self, slot: u32, part: u8, res: i32) {
        self.in_kernel -= 1;
        let st = self.slot_mut(slot);
        let t = st
            .transfer
            .as_deref_mut()
            .expect("a transfer part without a transfer");
        t.parts -= 1;
        t.live &= !(1 << part);
        let fail = |t: &mut Transfer, res: i32| {
            t.error.get_or_insert(-res);
        };
        let transient = res == -libc::EAGAIN || res == -libc::EINTR;
        match part {
            PART_FILL => match res {
                r if r > 0 => {
                    t.in_pipe += r as u32;
                    t.next_off += r as u64;
                    t.file_left -= r as u64;
                }
                0 => t.eof = true,
                // Redone by the next round; -ECANCELED: this transfer's own cancel.
                _ if transient || res == -libc::ECANCELED => {}
                r => fail(t, r),
            },
            PART_SEND => match res {
                r if r > 0 => {
                    t.in_pipe -= r as u32;
                    t.sent += r as u64;
                    t.need_poll = t.in_pipe > 0;
                }
                // The socket is full: wait for the reader.
                r if r == -libc::EAGAIN => t.need_poll = true,
                // Not run: a short fill, a cancel, or a failed POLL (which reports).
                r if r == -libc::ECANCELED || r == -libc::EINTR => {}
                // Bytes in the pipe and none sent: retrying could spin forever.
                0 if t.in_pipe > 0 => fail(t, -libc::EIO),
                0 => {}
                r => fail(t, r),
            },
            PART_POLL => match res {
                // The mask (POLLERR/POLLHUP too): the linked SEND reports any error.
                r if r >= 0 => t.need_poll = false,
                r if r == -libc::ECANCELED || r == -libc::EINTR => {}
                r => fail(t, r),
            },
            // -ENOENT or -EALREADY are fine: the target ends soon either way.
            _ => debug_assert_eq!(part, PART_CANCEL),
        }
        let settled = t.parts == 0;
        st.in_kernel = !settled;
        if settled {
            // `prep` builds the next round or finishes it.
            self.settle(slot);
        }
    }

    /// Ends `slot`'s transfer (none of its SQEs is in the kernel): the result, the pipe
    /// back to the pool (or closed, when bytes are left in it), the socket dup closed
    /// (with the op).
    fn finish_transfer(&mut self, slot: u32) {
        let st = self.slot_mut(slot);
        debug_assert!(!st.in_kernel);
        let user_data = st.user_data;
        let mut t = st.transfer.take().expect("not a transfer");
        let result = match t.error {
            // Also after some bytes went out: the stream is cut either way.
            Some(e) => -i64::from(e),
            None if t.done() || t.sent > 0 => t.sent as i64,
            None if t.cancelled => -i64::from(libc::ECANCELED),
            // Only a failed ring ends an unfinished transfer otherwise: nothing reached
            // the socket, so the caller may send all of it elsewhere.
            None => RESULT_RING_FAILED,
        };
        if let Some(p) = t.pipe.take() {
            self.pipes.give(p, t.in_pipe == 0);
            self.note_pipes();
        }
        if self.transfers.get(&user_data) == Some(&slot) {
            self.transfers.remove(&user_data);
        }
        self.finish(slot, result);
    }

    /// Publishes the pool's counts for `send_stats`.
    fn note_pipes(&self) {
        self.status
            .pipes_open
            .store(self.pipes.open(), Ordering::Relaxed);
        self.status
            .pipe_bytes
            .store(self.pipes.last_capacity(), Ordering::Relaxed);
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
            self.finish(x, -i64::from(libc::ECANCELED));
        }
    }

    /// Fills the SQ from `unqueued`, in order. A failed ring finishes what waits with
    /// RESULT_RING_FAILED instead.
    pub(crate) fn prep(&mut self) {
        if self.failed {
            // Continuations and retries of requests the kernel already ran part of
            // cannot be submitted any more either; the caller redoes them elsewhere.
            // Finishing a head queues its successor, which this loop then takes.
            // A cancel can still reach a transfer waiting in the kernel for its reader
            // (unless the ring is broken).
            self.push_cancels();
            while let Some(head) = self.unqueued.pop_front() {
                self.slot_mut(head).queued = false;
                if self.slot(head).transfer.is_some() {
                    // The bytes sent so far, or RESULT_RING_FAILED when none.
                    self.finish_transfer(head);
                } else {
                    self.finish(head, RESULT_RING_FAILED);
                }
            }
            return;
        }
        self.push_cancels();
        // Direct-I/O SQEs pushed since the last enter.
        let mut direct = 0;
        while let Some(&head) = self.unqueued.front() {
            if self.slot(head).transfer.is_some() {
                if !self.prep_transfer(head) {
                    break; // SQ full: submit first
                }
                continue;
            }
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
                        if self.ring.unconsumed_names_file_slot(slot) {
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
            if self.segment.len() > self.ring.sq_space_left() {
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
                let (mut sqe, file_slot, sqe_len) = self.build_sqe(slot);
                if i + 1 < n {
                    sqe = sqe.flags(squeue::Flags::IO_LINK);
                }
                // SAFETY: the SQE points at the caller's buffer (kept valid by the
                // submit contract until the completion is handed over, which happens
                // only after the CQE is reaped) or at the slot's own path/statx
                // allocation, which stays in `slots` until `finish`, after the reap.
                let pushed = unsafe { self.ring.push(&sqe, file_slot) };
                assert!(pushed, "SQ space was checked and the ring is not broken");
                let st = self.slot_mut(slot);
                st.in_kernel = true;
                st.expect_cancel = false;
                st.sqe_len = sqe_len;
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

    /// The file for a request on `fd`: its fixed slot when it has one.
    fn target(&self, fd: i32) -> Target {
        match self.files.lookup(fd) {
            Some(slot) => Target::Fixed(slot),
            None => Target::Plain(fd),
        }
    }

    /// The SQE for what is left of `slot`'s request, the fixed-file slot it names and
    /// its length (reads and writes; 0 otherwise).
    fn build_sqe(&self, slot: u32) -> (squeue::Entry, Option<u32>, u32) {
        let st = self.slot(slot);
        let (sqe, target, len) = match &st.op {
            &Op::Read {
                fd,
                buf,
                len,
                offset,
            } => self.rw_sqe(st, fd, buf, len, offset, false),
            &Op::Write {
                fd,
                buf,
                len,
                offset,
            } => self.rw_sqe(st, fd, buf.cast_mut(), len, offset, true),
            &Op::Fsync { fd, datasync } => {
                let t = self.target(fd);
                let flags = match datasync {
                    true => types::FsyncFlags::DATASYNC,
                    false => types::FsyncFlags::empty(),
                };
                let sqe = on_target!(t, |f| opcode::Fsync::new(f).flags(flags).build());
                (sqe, Some(t), 0)
            }
            &Op::Fallocate {
                fd,
                mode,
                offset,
                len,
            } => {
                let t = self.target(fd);
                let sqe = on_target!(t, |f| opcode::Fallocate::new(f, len)
                    .offset(offset)
                    .mode(mode)
                    .build());
                (sqe, Some(t), 0)
            }
            &Op::Ftruncate { fd, len } => {
                let t = self.target(fd);
                let sqe = on_target!(t, |f| opcode::Ftruncate::new(f, len).build());
                (sqe, Some(t), 0)
            }
            &Op::Size { fd } => {
                // STATX is path-based: the fd is a dirfd and cannot be a fixed file,
                // so the plain fd goes in with an empty path and AT_EMPTY_PATH.
                let statx = st.statx.as_ref().expect("Size without a statx buffer");
                let sqe = opcode::Statx::new(
                    types::Fd(fd),
                    c"".as_ptr(),
                    statx.get().cast::<types::statx>(),
                )
                .flags(libc::AT_EMPTY_PATH)
                .mask(libc::STATX_SIZE)
                .build();
                (sqe, None, 0)
            }
            Op::Open { path, flags, mode } => {
                let sqe = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr())
                    .flags(*flags | libc::O_CLOEXEC)
                    .mode(*mode)
                    .build();
                (sqe, None, 0)
            }
            // The slot was freed in `prep`: close the plain fd.
            &Op::Close { fd } => (opcode::Close::new(types::Fd(fd)).build(), None, 0),
            Op::Nop => (opcode::Nop::new().build(), None, 0),
            Op::RegisterBuffer { .. } | Op::UnregisterBuffer { .. } | Op::Cancel { .. } => {
                unreachable!("buffer-table updates and cancels complete in `start`")
            }
            Op::SendFile { .. } => unreachable!("transfers are built by `prep_transfer`"),
        };
        let file_slot = target.and_then(Target::file_slot);
        (sqe.user_data(u64::from(slot)), file_slot, len)
    }

    /// A read or write SQE for what is left of the transfer (`st.done_bytes` done): at
    /// most MAX_RW_BYTES, on the fixed file and into a registered buffer where they
    /// exist (READ_FIXED/WRITE_FIXED when the whole range lies inside one, looked up
    /// now, so an emptied slot is never named). `(fd, buf, len, offset)` is the whole
    /// request.
    fn rw_sqe(
        &self,
        st: &InFlight,
        fd: i32,
        buf: *mut u8,
        len: usize,
        offset: u64,
        write: bool,
    ) -> (squeue::Entry, Option<Target>, u32) {
        let t = self.target(fd);
        let done = st.done_bytes as usize;
        let addr = buf.wrapping_add(done);
        let n = (len - done).min(MAX_RW_BYTES) as u32;
        let off = offset.wrapping_add(st.done_bytes);
        let fixed = self.bufs.lookup(addr as usize, n as usize);
        if fixed.is_some() && done == 0 {
            self.status.fixed_ops.fetch_add(1, Ordering::Relaxed);
        }
        // Slots are below MAX_FIXED_BUFFER_SLOTS, which fits the SQE's u16 buf_index.
        let sqe = match (write, fixed.map(|s| s as u16)) {
            (false, None) => on_target!(t, |f| opcode::Read::new(f, addr, n).offset(off).build()),
            (false, Some(i)) => on_target!(t, |f| opcode::ReadFixed::new(f, addr, n, i)
                .offset(off)
                .build()),
            (true, None) => on_target!(t, |f| opcode::Write::new(f, addr.cast_const(), n)
                .offset(off)
                .build()),
            (true, Some(i)) => {
                on_target!(t, |f| opcode::WriteFixed::new(f, addr.cast_const(), n, i)
                    .offset(off)
                    .build())
            }
        };
        (sqe, Some(t), n)
    }

    /// One io_uring_enter: submit everything in the SQ, wait for one CQE if `block`. A
    /// broken ring is only polled: it never blocks in the kernel, and with `block`
    /// sleeps 1 ms instead while something of anybody's is in it.
    pub(crate) fn enter(&mut self, block: bool) {
        if self.broken {
            return self.enter_broken(block);
        }
        match self.ring.enter(u32::from(block)) {
            // EINTR: interrupted by a signal; the driver's loop comes back here.
            Ok(_) | Err(libc::EINTR) => {}
            // EBUSY: the CQ overflowed (older kernels refuse to submit until the
            // overflow list is flushed); EAGAIN: the kernel could not allocate request
            // memory. Either way reap (flushing the overflow list) and submit again
            // later; yield so memory pressure can clear.
            Err(libc::EBUSY) | Err(libc::EAGAIN) => {
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

    /// Runs task work and moves overflowed CQEs into the CQ without submitting. Its
    /// errors are not actionable: whatever it could not flush the next call will.
    fn flush_overflow(&mut self) {
        let _ = self.ring.get_events(0);
    }

    fn set_failed(&mut self) {
        self.failed = true;
        self.status.failed.store(true, Ordering::Release);
    }

    /// io_uring_enter failed for good: SQEs the kernel did not consume are taken back —
    /// requests complete with RESULT_RING_FAILED, the driver's come back as events —
    /// and what was consumed is still reaped.
    fn fail_fatal(&mut self, errno: i32) {
        let again = self.failed;
        if self.status.failed_errno.load(Ordering::Relaxed) == 0 {
            self.status.failed_errno.store(errno, Ordering::Release);
        }
        self.set_failed();
        let taken_back = self.ring.take_back_unconsumed();
        // Entries stay unread in the SQ (the ring is sealed), or it fails again: from
        // now on it is only polled.
        if again || self.ring.is_sealed() {
            self.broken = true;
        }
        for user_data in taken_back {
            if user_data & DRIVER_BIT != 0 {
                self.driver_in_kernel -= 1;
                self.driver_events.push(DriverEvent {
                    tag: (user_data & !DRIVER_BIT) as u32,
                    result: None,
                });
            } else {
                let (slot, part) = slot_part(user_data);
                self.in_kernel -= 1;
                if part != PART_ONLY {
                    // One part of a transfer: the slot finishes (once, with the bytes
                    // sent or RESULT_RING_FAILED) when none of its parts is left, in
                    // `prep`.
                    let st = self.slot_mut(slot);
                    let t = st
                        .transfer
                        .as_deref_mut()
                        .expect("a part without a transfer");
                    t.parts -= 1;
                    t.live &= !(1 << part);
                    st.in_kernel = t.parts > 0;
                    if t.parts == 0 {
                        self.settle(slot);
                    }
                    continue;
                }
                self.slot_mut(slot).in_kernel = false;
                self.finish(slot, RESULT_RING_FAILED);
            }
        }
    }

    /// The broken ring's enter: poll for completions of what is in flight (a ring
    /// without DEFER_TASKRUN posts them without our help; with it the flush runs the
    /// task work) and sleep briefly instead of blocking in the kernel. With nothing in
    /// the kernel there is nothing to wait for here: the driver waits for new work its
    /// own way.
    fn enter_broken(&mut self, block: bool) {
        if !self.kernel_idle() {
            self.flush_overflow();
            if block {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }

    /// Reaps every available CQE first, then processes them (continuations, opens).
    pub(crate) fn reap(&mut self) {
        let mut cqes = std::mem::take(&mut self.scratch);
        self.ring.reap(&mut cqes);
        // IORING_SQ_CQ_OVERFLOW: CQEs wait in the kernel's overflow list (kept, not
        // dropped, with IORING_FEAT_NODROP since 5.5). Entering with GETEVENTS moves
        // them into the space just freed; repeat until the flag clears.
        while !self.broken && self.ring.cq_overflow() {
            self.flush_overflow();
            if self.ring.reap(&mut cqes) == 0 {
                break;
            }
        }
        for cqe in &cqes {
            self.on_cqe(cqe.user_data(), cqe.result());
        }
        cqes.clear();
        self.scratch = cqes;
    }

    fn on_cqe(&mut self, user_data: u64, res: i32) {
        if user_data & DRIVER_BIT != 0 {
            self.driver_in_kernel -= 1;
            self.driver_events.push(DriverEvent {
                tag: (user_data & !DRIVER_BIT) as u32,
                result: Some(res),
            });
            return;
        }
        let (slot, part) = slot_part(user_data);
        if part != PART_ONLY {
            return self.on_transfer_cqe(slot, part, res);
        }
        self.in_kernel -= 1;
        let st = self.slot_mut(slot);
        st.in_kernel = false;
        if st.doomed {
            return self.finish(slot, -i64::from(libc::ECANCELED));
        }
        if res == -libc::ECANCELED && (st.prev.is_some() || st.expect_cancel) {
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
        let retryable = res == -libc::EAGAIN || res == -libc::EINTR;
        let next = match st.op {
            Op::Read { .. } | Op::Write { .. } | Op::Size { .. } if retryable => Next::Retry,
            // O_DIRECT at end of file: the first read stopped short at EOF, and reading
            // on from that (unaligned) position is EINVAL. A read that already got
            // bytes is done with them, as at an ordinary end of file.
            Op::Read { .. } if res == -libc::EINVAL && st.done_bytes > 0 => {
                Next::Finish(st.done_bytes as i64)
            }
            Op::Read { .. } | Op::Write { .. } | Op::Size { .. } if res < 0 => Next::Finish(err),
            // A zero-length member of a chain.
            Op::Read { len: 0, .. } | Op::Write { len: 0, .. } => Next::Finish(0),
            // End of file: the read is done with what it has.
            Op::Read { .. } if res == 0 => Next::Finish(st.done_bytes as i64),
            // No progress with bytes left: retrying could spin forever.
            Op::Write { .. } if res == 0 => Next::Finish(-i64::from(libc::EIO)),
            Op::Read { len, .. } | Op::Write { len, .. } => {
                st.done_bytes += res as u64;
                if st.done_bytes >= len as u64 {
                    Next::Finish(len as i64)
                } else {
                    Next::Retry
                }
            }
            Op::Size { .. } => {
                let statx = st.statx.as_ref().expect("Size without a statx buffer");
                // SAFETY: the statx CQE has been reaped: the kernel wrote the struct and
                // will not touch it again.
                let size = unsafe { (*statx.get()).stx_size };
                Next::Finish(size as i64)
            }
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
            | Op::UnregisterBuffer { .. }
            | Op::Cancel { .. }
            | Op::SendFile { .. } => {
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
                let direct = matches!(self.slot(slot).op, Op::Open { flags, .. } if flags & libc::O_DIRECT != 0);
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
        // SAFETY: stat is plain old data; all-zero is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a writable struct stat of the size libc declares for fstat.
        let r = unsafe { libc::fstat(fd, &mut st) };
        let refused = if r < 0 {
            Some(crate::last_errno())
        } else if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            Some(libc::EISDIR)
        } else {
            None
        };
        if let Some(e) = refused {
            close_fd(fd);
            return -i64::from(e);
        }
        // A full table is fine: the fd is then used without IOSQE_FIXED_FILE.
        let _ = self.files.insert(&self.ring, fd);
        i64::from(fd)
    }
}

/// Ok when `fd` is a socket; Err(ENOTSOCK) when it is something else, Err(errno) when
/// fstat fails.
fn is_socket(fd: i32) -> Result<(), i32> {
    // SAFETY: stat is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a writable struct stat of the size libc declares for fstat.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(crate::last_errno());
    }
    match st.st_mode & libc::S_IFMT == libc::S_IFSOCK {
        true => Ok(()),
        false => Err(libc::ENOTSOCK),
    }
}

/// ftruncate(2) on the calling thread, as a result value.
fn sync_ftruncate(fd: i32, len: u64) -> i64 {
    let Ok(len) = libc::off_t::try_from(len) else {
        return -i64::from(libc::EINVAL);
    };
    // SAFETY: plain syscall on an integer fd; no memory is passed.
    match unsafe { libc::ftruncate(fd, len) } {
        0 => 0,
        _ => -i64::from(crate::last_errno()),
    }
}

/// close(2) of an fd an open just returned, which the engine refuses (a directory).
/// Errors are not actionable: Linux frees the descriptor even when close reports
/// EINTR/EIO, so retrying could close an unrelated, reused fd.
fn close_fd(fd: i32) {
    // SAFETY: plain syscall on an integer fd this engine owns and gives up here.
    unsafe { libc::close(fd) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, IntoRawFd};

    fn engine(attempts: &[u32]) -> Engine {
        let cfg = EngineConfig {
            sq_entries: 8,
            queue_capacity: 8,
            ..EngineConfig::default()
        };
        Engine::new(&cfg, 16, attempts, Arc::default()).unwrap()
    }

    fn nops(e: &mut Engine, ids: std::ops::Range<u64>) {
        for id in ids {
            e.accept(Request::new(id, Op::Nop));
        }
    }

    /// Drives `e` until nothing is in flight, as a driver would; returns what completed.
    fn run(e: &mut Engine) -> Vec<Completion> {
        let mut out = Vec::new();
        loop {
            e.prep();
            e.drain_completions(&mut out);
            if e.in_flight() == 0 {
                return out;
            }
            let block = !e.has_unqueued() && e.has_in_kernel();
            e.enter(block);
            e.reap();
        }
    }

    /// Runs `f` on another thread: the ring was created with SINGLE_ISSUER on this one,
    /// so any io_uring_enter there that submits fails for real (EEXIST).
    fn elsewhere(e: Engine, f: impl FnOnce(&mut Engine) + Send + 'static) -> Engine {
        std::thread::spawn(move || {
            let mut e = e;
            f(&mut e);
            e
        })
        .join()
        .unwrap()
    }

    /// Before Linux 6.9 Ftruncate runs as ftruncate(2) on the driving thread.
    #[test]
    fn ftruncate_without_the_opcode_is_synchronous() {
        let mut e = engine(ring::THREAD_SETUP);
        e.has_ftruncate = false;
        let path =
            std::env::temp_dir().join(format!("streamline-uring-ftrunc-{}", std::process::id()));
        let f = std::fs::File::create(&path).unwrap();
        let fd = f.as_raw_fd();
        e.accept(Request::new(1, Op::Ftruncate { fd, len: 4321 }));
        assert!(!e.has_unqueued(), "completed without an SQE");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4321);
        e.accept(Request::new(2, Op::Ftruncate { fd: -1, len: 1 }));
        assert_eq!(
            run(&mut e),
            vec![
                Completion {
                    user_data: 1,
                    result: 0
                },
                Completion {
                    user_data: 2,
                    result: -i64::from(libc::EBADF)
                }
            ]
        );
        drop(f);
        std::fs::remove_file(&path).unwrap();
    }

    /// A Close frees its fixed slot only once no unconsumed SQE names it, so a later
    /// open cannot reuse the slot under an SQE the kernel has not read yet; SQEs that do
    /// not name it (here NOPs) do not hold it up.
    #[test]
    fn close_waits_only_for_sqes_naming_its_slot() {
        let mut e = engine(ring::THREAD_SETUP);
        let fd = std::fs::File::open("/proc/self/exe").unwrap().into_raw_fd();
        assert!(e.files.insert(&e.ring, fd).is_some());
        let mut buf = vec![0u8; 64];
        nops(&mut e, 0..2);
        let read = Op::Read {
            fd,
            buf: buf.as_mut_ptr(),
            len: buf.len(),
            offset: 0,
        };
        e.accept(Request::new(5, read));
        e.accept(Request::new(9, Op::Close { fd }));
        e.prep();
        assert_eq!(
            e.unqueued.len(),
            1,
            "the close waits for the read that names its slot"
        );
        assert!(e.files.lookup(fd).is_some());
        e.enter(false);
        e.prep();
        assert!(!e.has_unqueued());
        assert!(e.files.lookup(fd).is_none());
        let got = run(&mut e);
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|c| c.result >= 0), "{got:?}");
        assert_eq!(
            got.iter().find(|c| c.user_data == 5).map(|c| c.result),
            Some(64)
        );

        // NOPs only in the SQ: the close goes in the same submit.
        let mut e = engine(ring::THREAD_SETUP);
        let fd = std::fs::File::open("/proc/self/exe").unwrap().into_raw_fd();
        assert!(e.files.insert(&e.ring, fd).is_some());
        nops(&mut e, 0..2);
        e.accept(Request::new(9, Op::Close { fd }));
        e.prep();
        assert!(
            !e.has_unqueued(),
            "nothing names the slot: the close is not held up"
        );
        assert!(e.files.lookup(fd).is_none());
        let got = run(&mut e);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|c| c.result == 0), "{got:?}");
    }

    /// A driver's SQE comes back as a DriverEvent with its result, not as a completion.
    #[test]
    fn driver_sqes_come_back_as_events() {
        let mut e = engine(ring::INLINE_SETUP);
        // SAFETY: a NOP carries no pointers.
        assert!(unsafe { e.push_driver_sqe(opcode::Nop::new().build(), 7) });
        nops(&mut e, 0..1);
        assert!(!e.kernel_idle());
        e.prep();
        e.enter(true);
        e.reap();
        while e.driver_events.is_empty() || e.in_flight() > 0 {
            e.enter(true);
            e.reap();
        }
        let events: Vec<DriverEvent> = e.driver_events().collect();
        assert_eq!(
            events,
            vec![DriverEvent {
                tag: 7,
                result: Some(0)
            }]
        );
        assert!(e.kernel_idle());
        let mut out = Vec::new();
        assert_eq!(e.drain_completions(&mut out), 1);
        assert_eq!(out.len(), 1);
    }

    /// A loopback TCP pair: the sending end non-blocking (as Node's), and a thread
    /// reading everything from the other end until it closes; it returns the count.
    fn tcp_pair() -> (std::net::TcpStream, std::thread::JoinHandle<usize>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        let reader = std::thread::spawn(move || {
            let mut c = c;
            let mut sink = Vec::new();
            std::io::Read::read_to_end(&mut c, &mut sink).unwrap()
        });
        (s, reader)
    }

    fn send_file(id: u64, file: i32, len: u64, sock: &std::net::TcpStream) -> Request {
        let sock = crate::sockets::dup_cloexec(sock.as_raw_fd()).unwrap();
        Request::new(
            id,
            Op::SendFile {
                file,
                offset: 0,
                len,
                sock,
            },
        )
    }

    /// A fatal enter takes back both SQEs of a transfer's round (and a NOP after them):
    /// the transfer completes once, with RESULT_RING_FAILED (nothing was sent), its pipe
    /// is closed or pooled, and nothing is left in flight.
    #[test]
    fn fatal_enter_takes_back_a_round_and_finishes_the_transfer_once() {
        let mut e = engine(ring::THREAD_SETUP);
        assert!(e.info().splice_op);
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        let (sock, reader) = tcp_pair();
        e.accept(send_file(1, f.as_raw_fd(), 4096, &sock));
        e.accept(Request::new(2, Op::Nop));
        e.prep();
        assert_eq!(e.in_kernel, 3, "FILL, SEND and the NOP are in the SQ");
        let mut e = elsewhere(e, |e| e.enter(false));
        assert!(e.status().ring_failed());
        let got = run(&mut e);
        assert_eq!(
            got,
            vec![
                Completion {
                    user_data: 2,
                    result: RESULT_RING_FAILED
                },
                Completion {
                    user_data: 1,
                    result: RESULT_RING_FAILED
                }
            ]
        );
        assert!(e.kernel_idle() && e.transfers.is_empty());
        drop(sock);
        assert_eq!(reader.join().unwrap(), 0);
    }

    /// A transfer that already sent bytes when the ring fails (its next round taken back
    /// unread) completes with those bytes, never RESULT_RING_FAILED: the caller goes on
    /// from offset + result and sends nothing twice.
    #[test]
    fn fatal_enter_after_bytes_went_out_completes_with_them() {
        let mut e = engine(ring::THREAD_SETUP);
        // Several rounds' worth (a pipe holds at most 1 MiB here).
        let size = 4u64 << 20;
        let path = std::env::temp_dir().join(format!(
            "streamline-uring-fatal-splice-{}",
            std::process::id()
        ));
        std::fs::write(&path, vec![7u8; size as usize]).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let (sock, reader) = tcp_pair();
        e.accept(send_file(1, f.as_raw_fd(), size, &sock));
        // Run rounds until one completed with bytes sent and the next one sits in the SQ.
        let slot = *e.transfers.get(&1).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            e.prep();
            if e.slots[slot as usize].is_none() {
                let mut out = Vec::new();
                e.drain_completions(&mut out);
                panic!("the transfer ended early: {out:?}");
            }
            let t = e.slot(slot).transfer.as_deref().unwrap();
            if t.sent > 0 && t.parts > 0 && e.ring.sq_len() > 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline);
            e.enter(true);
            e.reap();
        }
        let sent = e.slot(slot).transfer.as_deref().unwrap().sent;
        let mut e = elsewhere(e, |e| e.enter(false));
        assert!(e.status().ring_failed());
        let got = run(&mut e);
        assert_eq!(got.len(), 1);
        assert!(
            got[0].result >= sent as i64 && (got[0].result as u64) < size,
            "{got:?}"
        );
        drop(sock);
        drop(e);
        assert_eq!(
            reader.join().unwrap() as i64,
            got[0].result,
            "received = reported"
        );
    }

    /// A real fatal io_uring_enter (EEXIST from a thread that is not the ring's single
    /// issuer) after part of the work was consumed: what the kernel read completes
    /// normally, what it never read — a chain, a NOP, the driver's SQE — is taken back
    /// (RESULT_RING_FAILED, or an event without result), the ring is broken, and every
    /// later request fails without reaching the kernel.
    #[test]
    fn fatal_enter_takes_back_what_the_kernel_never_read() {
        let mut e = engine(ring::THREAD_SETUP);
        let (reader, mut writer) = std::io::pipe().unwrap();
        let mut buf = Box::new([0u8; 4]);
        // Consumed: a pipe read that stays in the kernel until data arrives.
        let read = Op::Read {
            fd: reader.as_raw_fd(),
            buf: buf.as_mut_ptr(),
            len: 4,
            offset: 0,
        };
        e.accept(Request::new(1, read));
        e.prep();
        e.enter(false);
        assert!(e.has_in_kernel());
        // Never read: a linked pair, a NOP and a driver SQE.
        e.accept(Request::linked(2, Op::Nop));
        e.accept(Request::new(3, Op::Nop));
        e.accept(Request::new(4, Op::Nop));
        // SAFETY: a NOP carries no pointers.
        assert!(unsafe { e.push_driver_sqe(opcode::Nop::new().build(), 1) });
        e.prep();
        let mut e = elsewhere(e, |e| e.enter(false));
        assert_eq!(e.status().ring_error(), Some(libc::EEXIST));
        assert!(e.status().ring_failed() && e.is_broken());
        let events: Vec<DriverEvent> = e.driver_events().collect();
        assert_eq!(
            events,
            vec![DriverEvent {
                tag: 1,
                result: None
            }]
        );
        let mut out = Vec::new();
        assert_eq!(e.drain_completions(&mut out), 3);
        let ids: Vec<u64> = out.iter().map(|c| c.user_data).collect();
        assert_eq!(ids, vec![2, 3, 4]);
        assert!(out.iter().all(|c| c.result == RESULT_RING_FAILED));
        // A later request never reaches the kernel.
        e.accept(Request::new(5, Op::Nop));
        // SAFETY: a NOP carries no pointers.
        assert!(!unsafe { e.push_driver_sqe(opcode::Nop::new().build(), 2) });
        // The consumed read is still reaped once data arrives.
        std::io::Write::write_all(&mut writer, b"abcd").unwrap();
        let got = run(&mut e);
        assert_eq!(
            got,
            vec![
                Completion {
                    user_data: 5,
                    result: RESULT_RING_FAILED
                },
                Completion {
                    user_data: 1,
                    result: 4
                }
            ]
        );
        assert_eq!(&*buf, b"abcd");
    }
}
