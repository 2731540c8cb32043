//! The thread driver: one ring on its own thread.
//!
//! Requests reach the thread through a bounded queue (a `Mutex<VecDeque>`) and an
//! eventfd. The eventfd is this driver's: the ring thread keeps a read of it armed in
//! the ring itself (an SQE of the driver's own, see `Engine::push_driver_sqe`), so one
//! blocking io_uring_enter waits for both new requests and completions. Each loop
//! iteration: take new requests → arm the eventfd read → `Engine::prep` (what does not
//! fit waits in the engine's FIFO) → one io_uring_enter → reap every CQE → hand the
//! iteration's completions to the sink in one batch. The sink never runs while CQEs are
//! being reaped.

use crate::engine::{self, Engine, RingStatus};
use crate::ring;
use crate::{last_errno, Completion, EngineConfig, Request, RingInfo, SendStats};
use io_uring::{opcode, types};
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

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
    /// Written by submitters (any thread) to wake the ring thread; read by the ring's
    /// armed read. Closed when the last of the Worker and the ring thread lets go, after
    /// the thread has reaped that read (see `RingThread::disarm_wake`).
    wake: OwnedFd,
    status: Arc<RingStatus>,
}

impl Shared {
    fn new(capacity: usize) -> Result<Shared, i32> {
        // A blocking eventfd on purpose: io_uring reads it with IOCB_NOWAIT and arms its
        // internal poll on EAGAIN (FEAT_FAST_POLL, 5.7), whereas an O_NONBLOCK fd would
        // complete the armed read with -EAGAIN immediately.
        // SAFETY: eventfd(2) takes no pointers.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(last_errno());
        }
        Ok(Shared {
            queue: Mutex::new(Queue {
                pending: VecDeque::with_capacity(capacity.min(4096)),
                outstanding: 0,
                closed: false,
            }),
            capacity,
            // SAFETY: a fresh fd that nothing else owns.
            wake: unsafe { OwnedFd::from_raw_fd(efd) },
            status: Arc::new(RingStatus::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave Queue inconsistent (every update
        // is a single assignment or push), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds 1 to the eventfd (wakes the ring thread).
    fn wake(&self) {
        let one: u64 = 1;
        loop {
            // SAFETY: writes 8 bytes from a live u64 to the eventfd this struct owns.
            let r = unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
            // EAGAIN cannot happen on a blocking eventfd short of a counter of 2^64-2;
            // EINTR is retried.
            if r >= 0 || last_errno() != libc::EINTR {
                return;
            }
        }
    }

    /// Blocks until a submitter writes the eventfd, and takes its count (used only when
    /// no read of it can be armed in the ring, see `RingThread::run`).
    fn wait_for_wake(&self) {
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into a live u64 from the eventfd this struct owns; no
        // armed ring read competes (the caller checked none is in the kernel). A signal
        // (EINTR) just ends the wait early, which the caller's loop tolerates.
        unsafe { libc::read(self.wake.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
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
        let shared = Arc::new(Shared::new(cfg.queue_capacity)?);
        let (tx, rx) = mpsc::sync_channel::<Result<RingInfo, i32>>(1);
        let thread_shared = Arc::clone(&shared);
        let cfg = cfg.clone();
        let thread = std::thread::Builder::new()
            .name("streamline-ring".into())
            .spawn(
                move || match RingThread::new(&cfg, cq_entries, thread_shared, sink) {
                    Ok(mut rt) => {
                        let _ = tx.send(Ok(rt.e.info().clone()));
                        let guard = AbortOnUnwind;
                        rt.run();
                        std::mem::forget(guard);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                },
            )
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EAGAIN))?;
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
                Err(libc::EIO)
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
                return Err(libc::ESHUTDOWN);
            }
            // Buffer-table updates and cancels take no request slot and complete when
            // accepted: they never count against the capacity (a full queue must not
            // refuse them — least of all a cancel, which frees a slot).
            let slotted = reqs.iter().filter(|r| !r.op.takes_no_slot()).count();
            if q.outstanding + slotted > self.shared.capacity {
                return Err(libc::EAGAIN);
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

    /// The counters of its splice transfers (`Op::SendFile`).
    pub fn send_stats(&self) -> SendStats {
        self.shared.status.send_stats()
    }

    /// Stops accepting requests, cancels every SendFile in flight (a reader that never
    /// reads would otherwise keep it waiting; each completes with the bytes it sent, or
    /// -ECANCELED), waits until every accepted request has been completed and delivered,
    /// and joins the ring thread. Requests that never complete (a read from an idle
    /// pipe) keep it waiting: files always complete. Called from inside the sink it
    /// cannot wait, and returns after stopping intake.
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

/// Tag of the eventfd read among the driver's SQEs.
const WAKE_TAG: u32 = 0;

/// The ring thread's state: the op state machine plus the intake, the armed eventfd
/// read and the sink.
///
/// Drop order is field order: the engine (and its ring) goes before the read's target
/// buffer, which `disarm_wake` has made sure the kernel is done with.
struct RingThread {
    e: Engine,
    /// Target of the armed eventfd read; boxed so its address is stable.
    wake_buf: Box<u64>,
    /// The eventfd read is in the ring (its CQE has not been reaped).
    wake_armed: bool,
    shared: Arc<Shared>,
    sink: Sink,
    /// Swapped with the shared queue, so both keep their allocation.
    incoming: VecDeque<Request>,
    /// One iteration's completions, handed to the sink.
    batch: Vec<Completion>,
}

impl RingThread {
    fn new(
        cfg: &EngineConfig,
        cq_entries: u32,
        shared: Arc<Shared>,
        sink: Sink,
    ) -> Result<RingThread, i32> {
        let e = Engine::new(
            cfg,
            cq_entries,
            ring::THREAD_SETUP,
            Arc::clone(&shared.status),
        )?;
        Ok(RingThread {
            e,
            wake_buf: Box::new(0),
            wake_armed: false,
            shared,
            sink,
            incoming: VecDeque::new(),
            batch: Vec::with_capacity(cfg.queue_capacity.min(4096)),
        })
    }

    fn run(&mut self) {
        loop {
            let closing = self.take_incoming();
            if closing {
                // Shutdown must not wait for readers: every transfer ends now (with
                // what it sent). Idempotent, so every closing iteration may call it.
                self.e.cancel_transfers();
            }
            self.arm_wake();
            self.e.prep();
            self.note_driver_events();
            if closing && self.e.in_flight() == 0 && !self.e.has_completions() {
                break;
            }
            // Block only when nothing is ready to be handed out or submitted, and only
            // with the eventfd read armed: otherwise new requests could not wake us.
            // A broken ring cannot arm it: the engine polls while anything is in the
            // kernel, and with nothing there the eventfd is waited for directly.
            let can_block = !self.e.has_completions()
                && !self.e.has_unqueued()
                && (self.wake_armed || self.e.is_broken());
            if can_block && self.e.is_broken() && self.e.kernel_idle() {
                self.shared.wait_for_wake();
            } else {
                self.e.enter(can_block);
            }
            self.e.reap();
            self.note_driver_events();
            self.deliver();
        }
        self.disarm_wake();
        // Completions cannot appear now (nothing else is in flight), but deliver for
        // symmetry should one have been produced.
        self.deliver();
    }

    /// Keeps the eventfd read in the ring (a broken ring or a full SQ refuses it; the
    /// next iteration tries again).
    fn arm_wake(&mut self) {
        if self.wake_armed {
            return;
        }
        let read = opcode::Read::new(
            types::Fd(self.shared.wake.as_raw_fd()),
            (&mut *self.wake_buf as *mut u64).cast::<u8>(),
            8,
        )
        .build();
        // SAFETY: the buffer is heap memory owned by this struct, freed only after the
        // read's event (its CQE, or taken back unread) was seen (`disarm_wake`); the
        // eventfd stays open as long as `shared` lives, which outlives this struct.
        self.wake_armed = unsafe { self.e.push_driver_sqe(read, WAKE_TAG) };
    }

    /// A wake-up came in (the read completed: new requests or shutdown, taken at the
    /// top of the loop), or the read was taken back after a fatal enter.
    fn note_driver_events(&mut self) {
        for ev in self.e.driver_events() {
            debug_assert_eq!(ev.tag, WAKE_TAG);
            self.wake_armed = false;
        }
    }

    /// Before the read's buffer is freed, the armed eventfd read must have completed:
    /// write the eventfd ourselves and reap until its CQE arrives.
    fn disarm_wake(&mut self) {
        if !self.wake_armed {
            return;
        }
        self.shared.wake();
        for _ in 0..1000 {
            self.e.enter(true);
            self.e.reap();
            self.note_driver_events();
            if !self.wake_armed {
                return;
            }
        }
        // The read could not be reaped (the ring is broken and the kernel never posted
        // it): leak its buffer rather than let the kernel write into freed memory.
        std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
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
        let slotted = self.e.drain_completions(&mut self.batch);
        if self.batch.is_empty() {
            return;
        }
        self.shared.lock().outstanding -= slotted;
        (self.sink)(&mut self.batch);
        self.batch.clear();
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
        fn send<T: Send>() {}
        send::<RingThread>();
    }

    fn nops(ids: std::ops::Range<u64>) -> Vec<Request> {
        ids.map(|user_data| Request::new(user_data, Op::Nop))
            .collect()
    }

    /// A ring thread's state on the test thread, its shared queue and what its sink
    /// received.
    fn ring_thread() -> (RingThread, Arc<Shared>, Arc<Mutex<Vec<Completion>>>) {
        let shared = Arc::new(Shared::new(8).unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink_got = Arc::clone(&got);
        let sink: Sink = Box::new(move |batch: &mut Vec<Completion>| {
            sink_got.lock().unwrap().append(batch);
        });
        let cfg = EngineConfig {
            sq_entries: 8,
            queue_capacity: 8,
            ..EngineConfig::default()
        };
        let rt = RingThread::new(&cfg, 16, Arc::clone(&shared), sink).unwrap();
        (rt, shared, got)
    }

    fn accept(shared: &Shared, reqs: Vec<Request>) {
        let mut q = shared.lock();
        q.outstanding += reqs.len();
        q.pending.extend(reqs);
    }

    /// Runs `f` on another thread: the ring was created with SINGLE_ISSUER on this one,
    /// so any io_uring_enter there that submits fails for real (EEXIST).
    fn elsewhere<T: Send + 'static>(
        rt: RingThread,
        f: impl FnOnce(&mut RingThread) -> T + Send + 'static,
    ) -> (RingThread, T) {
        std::thread::spawn(move || {
            let mut rt = rt;
            let r = f(&mut rt);
            (rt, r)
        })
        .join()
        .unwrap()
    }

    /// A real fatal io_uring_enter error (EEXIST: a SINGLE_ISSUER ring entered from a
    /// thread that is not its issuer): the SQEs the kernel never read — the eventfd read
    /// and three NOPs — are taken back, the NOPs complete with RESULT_RING_FAILED, later
    /// requests too, and shutdown still ends with everything delivered.
    #[test]
    fn fatal_enter_error_fails_unsubmitted_requests() {
        let (rt, shared, got) = ring_thread();
        accept(&shared, nops(0..3));
        let (mut rt, ()) = elsewhere(rt, |rt| {
            rt.take_incoming();
            rt.arm_wake();
            rt.e.prep();
            assert!(rt.wake_armed);
            rt.e.enter(false);
            rt.note_driver_events();
        });
        assert!(!rt.wake_armed, "the eventfd read was taken back");
        assert!(rt.e.is_broken() && rt.e.kernel_idle());
        assert_eq!(shared.status.ring_error(), Some(libc::EEXIST));
        assert!(shared.status.ring_failed());
        rt.deliver();
        assert_eq!(got.lock().unwrap().len(), 3);
        accept(&shared, nops(3..5));
        shared.lock().closed = true;
        rt.run();
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 5);
        assert!(
            got.iter().all(|c| c.result == RESULT_RING_FAILED),
            "{got:?}"
        );
        assert_eq!(shared.lock().outstanding, 0);
    }

    /// A broken ring with nothing in the kernel waits for submitters on the eventfd
    /// itself, still answers every request, and shuts down.
    #[test]
    fn broken_ring_still_answers_and_shuts_down() {
        let (rt, shared, got) = ring_thread();
        let (rt, ()) = elsewhere(rt, |rt| {
            rt.arm_wake();
            rt.e.enter(false);
            rt.note_driver_events();
        });
        assert!(rt.e.is_broken() && !rt.wake_armed);
        let s2 = Arc::clone(&shared);
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            accept(&s2, nops(0..4));
            s2.wake();
            std::thread::sleep(std::time::Duration::from_millis(30));
            s2.lock().closed = true;
            s2.wake();
        });
        let mut rt = rt;
        rt.run();
        t.join().unwrap();
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|c| c.result == RESULT_RING_FAILED));
    }

    /// The armed eventfd read wakes a blocked io_uring_enter when a request arrives.
    #[test]
    fn eventfd_read_wakes_the_ring() {
        let (mut rt, shared, got) = ring_thread();
        rt.arm_wake();
        rt.e.enter(false);
        assert!(rt.wake_armed);
        let s2 = Arc::clone(&shared);
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            accept(&s2, nops(7..8));
            s2.wake();
        });
        rt.e.enter(true); // blocks until the eventfd read completes
        rt.e.reap();
        rt.note_driver_events();
        assert!(!rt.wake_armed);
        t.join().unwrap();
        shared.lock().closed = true;
        rt.run();
        assert_eq!(
            *got.lock().unwrap(),
            vec![Completion {
                user_data: 7,
                result: 0
            }]
        );
    }
}
