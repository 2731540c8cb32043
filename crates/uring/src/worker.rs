//! The ring thread.
//!
//! Requests reach the thread through a bounded queue (a `Mutex<VecDeque>`) and an
//! eventfd. The eventfd is read by an IORING_OP_READ kept armed in the ring itself, so
//! one blocking io_uring_enter waits for both new requests and completions. Each loop
//! iteration: take new requests → fill the SQ (what does not fit waits in the
//! `unqueued` FIFO, as in TigerBeetle's io/linux.zig) → one io_uring_enter → reap every
//! CQE (continuations go back to `unqueued`) → hand the iteration's completions to the
//! sink in one batch. The sink never runs while CQEs are being reaped.

use crate::engine::{self, Engine, RingStatus};
use crate::fd::Fd;
use crate::ring;
use crate::sys;
use crate::{Completion, EngineConfig, Request};
use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

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
    /// Registered buffer slots (0 when disabled or registration failed).
    pub fixed_buffer_slots: u32,
    /// Why buffer-table registration failed (errno), if it did.
    pub fixed_buffers_errno: Option<i32>,
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
    status: Arc<RingStatus>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave Queue inconsistent (every update
        // is a single assignment or push), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        engine::eventfd_signal(self.wake.raw());
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
        let cq_entries = engine::checked_cq_entries(cfg)?;
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
            status: Arc::new(RingStatus::default()),
        });
        let (tx, rx) = mpsc::sync_channel::<Result<RingInfo, i32>>(1);
        let thread_shared = Arc::clone(&shared);
        let cfg = cfg.clone();
        let thread = std::thread::Builder::new()
            .name("streamline-ring".into())
            .spawn(
                move || match RingThread::new(&cfg, cq_entries, thread_shared, sink) {
                    Ok(mut engine) => {
                        let _ = tx.send(Ok(engine.e.info.clone()));
                        let guard = AbortOnUnwind;
                        engine.run();
                        std::mem::forget(guard);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                },
            )
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
        // A chain never extends past its submit.
        if let Some(last) = reqs.last_mut() {
            last.link = false;
        }
        let was_empty = {
            let mut q = self.shared.lock();
            if q.closed {
                return Err(sys::ESHUTDOWN);
            }
            // Buffer-table updates take no request slot and complete when accepted: they
            // never count against the capacity (a full queue must not refuse them).
            let slotted = reqs.iter().filter(|r| !r.op.is_table_update()).count();
            if q.outstanding + slotted > self.shared.capacity {
                return Err(sys::EAGAIN);
            }
            q.outstanding += slotted;
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
        self.shared.status.ring_failed()
    }

    /// Reads and writes that used a registered buffer (READ_FIXED/WRITE_FIXED).
    pub fn fixed_ops(&self) -> u64 {
        self.shared.status.fixed_ops()
    }

    /// The errno of the io_uring_enter failure that made the ring fail, if a real one
    /// did (None before a failure and for the test hook).
    pub fn ring_error(&self) -> Option<i32> {
        self.shared.status.ring_error()
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

/// The ring thread's state: the shared op state machine plus the intake and the sink.
struct RingThread {
    e: Engine,
    shared: Arc<Shared>,
    sink: Sink,
    /// Swapped with the shared queue, so both keep their allocation.
    incoming: VecDeque<Request>,
}

impl RingThread {
    fn new(
        cfg: &EngineConfig,
        cq_entries: u32,
        shared: Arc<Shared>,
        sink: Sink,
    ) -> Result<RingThread, i32> {
        let mut e = Engine::new(
            cfg,
            cq_entries,
            ring::SETUP_ATTEMPTS,
            Some(shared.wake.raw()),
        )?;
        // One status for both: the Worker reads what the engine records.
        e.status = Arc::clone(&shared.status);
        Ok(RingThread {
            e,
            shared,
            sink,
            incoming: VecDeque::new(),
        })
    }

    fn run(&mut self) {
        loop {
            let closing = self.take_incoming();
            self.e.prep();
            if closing && self.e.in_flight() == 0 && self.e.completions.is_empty() {
                break;
            }
            // Block only when nothing is ready to be handed out or submitted, and only
            // with the eventfd read armed: otherwise new requests could not wake us.
            // (A broken ring polls instead, see `Engine::enter`.)
            let can_block = self.e.completions.is_empty()
                && self.e.unqueued.is_empty()
                && (self.e.wake_armed() || self.e.broken);
            self.e.enter(can_block);
            self.e.reap();
            self.deliver();
        }
        self.e.disarm_wake();
        // Completions cannot appear now (nothing else is in flight), but deliver for
        // symmetry should one have been produced.
        self.deliver();
    }

    /// Moves the shared queue into this thread; returns whether shutdown began.
    fn take_incoming(&mut self) -> bool {
        let closing = {
            let mut q = self.shared.lock();
            std::mem::swap(&mut q.pending, &mut self.incoming);
            q.closed
        };
        while let Some(req) = self.incoming.pop_front() {
            self.e.accept(req);
        }
        closing
    }

    /// Releases the queue capacity of this iteration's completions, then hands them to
    /// the sink in one call. Capacity goes first: the sink wakes JavaScript, which may
    /// submit new requests the moment it sees these completions, and its own count of
    /// operations in flight must never be ahead of ours (else a spurious EAGAIN).
    /// Their request slots were already freed when the CQEs were reaped.
    fn deliver(&mut self) {
        let n = self.e.completions.len();
        if n == 0 {
            return;
        }
        let table_updates = std::mem::take(&mut self.e.table_done);
        self.shared.lock().outstanding -= n - table_updates;
        (self.sink)(&mut self.e.completions);
        self.e.completions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Op, RESULT_RING_FAILED};

    #[test]
    fn worker_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Worker>();
        check::<RingInfo>();
    }

    fn nops(ids: std::ops::Range<u64>) -> Vec<Request> {
        ids.map(|user_data| Request::new(user_data, Op::Nop))
            .collect()
    }

    /// An engine on the test thread, its shared queue and what its sink received.
    fn engine() -> (RingThread, Arc<Shared>, Arc<Mutex<Vec<Completion>>>) {
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
            status: Arc::new(RingStatus::default()),
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
        let cfg = EngineConfig {
            sq_entries: 8,
            ..cfg
        };
        let engine = RingThread::new(&cfg, 16, Arc::clone(&shared), sink).unwrap();
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
        e.e.prep();
        assert_eq!(e.e.ring.sq_pending(), 4, "the eventfd read and three NOPs");
        e.e.fail_fatal(sys::EFAULT); // as if io_uring_enter had returned -EFAULT
        assert!(!e.e.wake_armed() && !e.e.broken);
        assert_eq!(e.e.ring.sq_pending(), 0);
        e.deliver();
        assert_eq!(
            shared
                .status
                .failed_errno
                .load(std::sync::atomic::Ordering::Relaxed),
            sys::EFAULT
        );
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
        e.e.prep();
        e.e.fail_fatal(sys::EFAULT);
        e.e.prep();
        e.e.fail_fatal(sys::EFAULT);
        assert!(e.e.broken && !e.e.wake_armed());
        accept(&shared, nops(0..4));
        shared.lock().closed = true;
        e.run();
        assert_eq!(got.lock().unwrap().len(), 4);
    }

    /// The armed eventfd read wakes a blocked io_uring_enter when a request arrives.
    #[test]
    fn eventfd_read_wakes_the_ring() {
        let (mut e, shared, got) = engine();
        e.e.prep();
        e.e.enter(false);
        assert!(e.e.wake_armed());
        let s2 = Arc::clone(&shared);
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            accept(&s2, nops(7..8));
            s2.wake();
        });
        e.e.enter(true); // blocks until the eventfd read completes
        e.e.reap();
        assert!(!e.e.wake_armed());
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
        e.e.has_ftruncate = false;
        let path =
            std::env::temp_dir().join(format!("streamline-uring-ftrunc-{}", std::process::id()));
        let f = std::fs::File::create(&path).unwrap();
        let fd = f.as_raw_fd();
        accept(
            &shared,
            vec![Request::new(1, Op::Ftruncate { fd, len: 4321 })],
        );
        e.take_incoming();
        assert!(e.e.unqueued.is_empty(), "completed without an SQE");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4321);
        accept(
            &shared,
            vec![Request::new(2, Op::Ftruncate { fd: -1, len: 1 })],
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

    /// A Close frees its fixed slot only once no unconsumed SQE names it, so a later
    /// open cannot reuse the slot under an SQE the kernel has not read yet; SQEs that do
    /// not name it (here NOPs) do not hold it up.
    #[test]
    fn close_waits_only_for_sqes_naming_its_slot() {
        let (mut e, shared, got) = engine();
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(f);
        assert!(e.e.files.insert(&e.e.ring, fd).is_some());
        let mut buf = vec![0u8; 64];
        accept(&shared, nops(0..2));
        accept(
            &shared,
            vec![Request::new(
                5,
                Op::Read {
                    fd,
                    buf: buf.as_mut_ptr(),
                    len: buf.len(),
                    offset: 0,
                },
            )],
        );
        accept(&shared, vec![Request::new(9, Op::Close { fd })]);
        e.take_incoming();
        e.e.prep();
        assert_eq!(
            e.e.unqueued.len(),
            1,
            "the close waits for the read that names its slot"
        );
        assert!(e.e.files.lookup(fd).is_some());
        e.e.enter(false);
        e.e.prep();
        assert!(e.e.unqueued.is_empty());
        assert!(e.e.files.lookup(fd).is_none());
        shared.lock().closed = true;
        e.run();
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|c| c.result >= 0), "{got:?}");
        assert_eq!(
            got.iter().find(|c| c.user_data == 5).map(|c| c.result),
            Some(64)
        );
        drop(got);

        // NOPs only in the SQ: the close goes in the same submit.
        let (mut e, shared, got) = engine();
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(f);
        assert!(e.e.files.insert(&e.e.ring, fd).is_some());
        accept(&shared, nops(0..2));
        accept(&shared, vec![Request::new(9, Op::Close { fd })]);
        e.take_incoming();
        e.e.prep();
        assert!(
            e.e.unqueued.is_empty(),
            "nothing names the slot: the close is not held up"
        );
        assert!(e.e.files.lookup(fd).is_none());
        shared.lock().closed = true;
        e.run();
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|c| c.result == 0), "{got:?}");
    }
}
