//! The inline engine: the caller's thread owns the ring (no ring thread, no hop).
//!
//! `submit` pushes SQEs and enters the ring with GETEVENTS on the calling thread; what
//! completes inside that enter (page-cache reads and writes, NOPs, opens of cached
//! paths) is returned at once. What completes later (fdatasync in io-wq, reads from
//! disk) makes the ring fd readable ([`InlineEngine::poll_fd`]): the owner's event loop
//! watches it and calls [`InlineEngine::reap`]. The op state machine (continuations,
//! retries, chains, opens, fixed files, the failure hook) is `engine.rs`, which the ring
//! thread drives too; this driver keeps no SQE of its own in the ring and needs no
//! eventfd: its event loop is what waits.
//!
//! The ring is set up with SINGLE_ISSUER (this thread is its only issuer) and
//! COOP_TASKRUN but never DEFER_TASKRUN (see `ring::INLINE_SETUP` for why).
//! Every call must come from the thread that created the engine.

use crate::engine::{self, Engine, RingStatus};
use crate::ring;
use crate::{Completion, EngineConfig, Request, RingInfo, SendStats};
use std::sync::Arc;

/// How many submit/reap rounds one call makes while continuations keep appearing
/// (short transfers of a cached file complete inside each enter).
const MAX_ROUNDS: usize = 64;

/// A ring driven by its creating thread. Dropping it cancels the SendFiles in flight and
/// waits for every request in flight (blocking), so the kernel never writes into memory
/// the caller frees afterwards.
pub struct InlineEngine {
    e: Engine,
    capacity: usize,
    /// `*const ()` keeps the engine `!Send`/`!Sync`: SINGLE_ISSUER wants one thread.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl InlineEngine {
    /// Creates the ring on the calling thread. Err(errno) when setup fails (or the
    /// test hook says so), as [`crate::Worker::start`].
    pub fn new(cfg: &EngineConfig) -> Result<InlineEngine, i32> {
        let cq_entries = engine::checked_cq_entries(cfg)?;
        let status = Arc::new(RingStatus::default());
        let e = Engine::new(cfg, cq_entries, ring::INLINE_SETUP, status)?;
        Ok(InlineEngine {
            e,
            capacity: cfg.queue_capacity,
            _not_send: std::marker::PhantomData,
        })
    }

    /// The setup flags actually used and the kernel's features.
    pub fn info(&self) -> &RingInfo {
        self.e.info()
    }

    /// The fd to watch for readability (the ring fd: readable while CQEs wait).
    pub fn poll_fd(&self) -> i32 {
        self.e.ring_fd()
    }

    /// Accepts `reqs` (all or nothing), submits them and appends every completion
    /// available when the submitting enter returns to `out` (those of earlier requests
    /// too). On success `reqs` is left empty. Err(EAGAIN) with nothing accepted when
    /// more than `queue_capacity` requests would be outstanding.
    ///
    /// # Safety
    /// Every buffer pointer in `reqs` stays valid, and is neither read nor written by
    /// anyone else (for `Read`) or written (for `Write`), until its Completion has been
    /// appended to an `out` (or the engine was dropped).
    pub unsafe fn submit(
        &mut self,
        reqs: &mut Vec<Request>,
        out: &mut Vec<Completion>,
    ) -> Result<(), i32> {
        if reqs.is_empty() {
            return Ok(());
        }
        // Buffer-table updates and cancels take no request slot.
        let slotted = reqs.iter().filter(|r| !r.op.takes_no_slot()).count();
        if self.e.in_flight() + slotted > self.capacity {
            return Err(libc::EAGAIN);
        }
        // A chain never extends past its submit.
        if let Some(last) = reqs.last_mut() {
            last.link = false;
        }
        for req in reqs.drain(..) {
            self.e.accept(req);
        }
        self.pump(out);
        Ok(())
    }

    /// Reaps what has completed (call it when `poll_fd` is readable; spurious calls are
    /// harmless), submits continuations, and appends completions to `out`. Never blocks.
    pub fn reap(&mut self, out: &mut Vec<Completion>) {
        self.pump(out);
    }

    fn pump(&mut self, out: &mut Vec<Completion>) {
        for round in 0.. {
            self.e.prep();
            self.e.enter(false);
            self.e.reap();
            if !self.e.has_unqueued() {
                break;
            }
            // Continuations (or a chain that did not fit) wait: go round again. If the
            // kernel keeps refusing (EAGAIN/EBUSY) and nothing of ours is in it — so
            // no completion would make the ring fd readable — wait for it here.
            if round >= MAX_ROUNDS {
                if self.e.has_in_kernel() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        // Only the ring thread needs the count of slotted completions (its capacity
        // excludes table updates); ours is the engine's slot count itself.
        self.e.drain_completions(out);
    }

    /// Requests accepted and not yet handed out.
    pub fn outstanding(&self) -> usize {
        self.e.in_flight()
    }

    /// Cancels every SendFile in flight (see `Op::Cancel`: a paused reader must not hang
    /// a close or a drop), then blocks until every outstanding request has completed;
    /// appends them to `out`.
    pub fn wait_all(&mut self, out: &mut Vec<Completion>) {
        self.e.cancel_transfers();
        while self.e.in_flight() > 0 {
            self.e.prep();
            // What finished is handed out now, so that waiting for the rest can block.
            self.e.drain_completions(out);
            let block = !self.e.has_unqueued() && self.e.has_in_kernel();
            self.e.enter(block);
            self.e.reap();
        }
        self.e.drain_completions(out);
    }

    /// True once the ring has failed (or the failure test hook fired).
    pub fn ring_failed(&self) -> bool {
        self.e.status().ring_failed()
    }

    /// Reads and writes that used a registered buffer (READ_FIXED/WRITE_FIXED).
    pub fn fixed_ops(&self) -> u64 {
        self.e.status().fixed_ops()
    }

    /// The errno of the io_uring_enter failure that made the ring fail, if a real one.
    pub fn ring_error(&self) -> Option<i32> {
        self.e.status().ring_error()
    }

    /// The counters of its splice transfers (`Op::SendFile`).
    pub fn send_stats(&self) -> SendStats {
        self.e.status().send_stats()
    }
}

impl Drop for InlineEngine {
    fn drop(&mut self) {
        let mut sink = Vec::new();
        self.wait_all(&mut sink);
    }
}
