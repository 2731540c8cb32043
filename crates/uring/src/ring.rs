//! One io_uring instance, on the io-uring crate: setup with a fallback over flag sets,
//! pushing SQEs while recording which the kernel has not consumed yet, io_uring_enter,
//! reaping CQEs, and the register calls with their retry of transient refusals.
//!
//! The crate owns the ABI: the mappings, the SQ/CQ indices and their memory ordering,
//! the SQE layout, the syscalls. What it has no call for stays here, small:
//!
//! - The setup-flag fallback: the kernel answers EINVAL for a flag it does not know, so
//!   the flag sets of [`THREAD_SETUP`] are tried in order.
//! - An enter that always carries IORING_ENTER_GETEVENTS (`Submitter::submit` passes it
//!   only when waiting): with DEFER_TASKRUN completions are posted only inside an enter
//!   with it, and it flushes CQEs held in the overflow list. That is the crate's raw
//!   `Submitter::enter`.
//! - Which pushed SQEs the kernel has not consumed ([`Unconsumed`]). The crate's SQ
//!   tells how many entries are waiting (`SubmissionQueue::len`: its tail minus the
//!   kernel's head), not which; the SQ is a FIFO, so remembering what we pushed, in
//!   order, and keeping the last `len` of it answers both "does an unconsumed SQE name
//!   this fixed file?" (a Close waits for those) and, after a fatal io_uring_enter,
//!   "which requests did the kernel never read?" (they are taken back).
//!
//! Taking back cannot rewind the SQ: the crate has no call that moves its tail back, and
//! this crate does not touch the crate's internals. The entries stay in the SQ, unread,
//! and the ring is *sealed*: nothing is submitted again (an enter with to_submit > 0
//! would hand the kernel those stale entries first, whose memory was given back), it is
//! only entered to reap what the kernel did consume. Without SQPOLL the kernel reads the
//! SQ only inside io_uring_enter with to_submit > 0, which only we call; with SQPOLL
//! (opt-in) its thread reads the SQ at any time, so nothing is taken back there.

use crate::names::setup;
use io_uring::{cqueue, squeue, EnterFlags, IoUring, Parameters, Submitter};
use std::collections::VecDeque;
use std::os::fd::AsRawFd;

/// The setup flags tried first; on EINVAL (an older kernel) the next entry is tried.
/// CQSIZE (5.5) stays in every attempt: the CQ must hold `queue_capacity` completions.
/// SINGLE_ISSUER (6.0) and DEFER_TASKRUN (6.1) require that only the creating thread
/// enters the ring, which is why the ring thread creates its ring itself.
pub(crate) const THREAD_SETUP: &[u32] = &[
    setup::CQSIZE
        | setup::SUBMIT_ALL
        | setup::COOP_TASKRUN
        | setup::SINGLE_ISSUER
        | setup::DEFER_TASKRUN,
    setup::CQSIZE | setup::SUBMIT_ALL | setup::COOP_TASKRUN | setup::SINGLE_ISSUER,
    setup::CQSIZE | setup::SUBMIT_ALL | setup::COOP_TASKRUN,
    setup::CQSIZE | setup::SUBMIT_ALL,
    setup::CQSIZE,
];

/// The setup flags of an inline engine (the caller's thread submits and reaps; the
/// event loop polls the ring fd). No DEFER_TASKRUN: with it, completions that finish
/// outside the submitting thread (fdatasync in io-wq, reads from disk) wait as task
/// work until the owner enters the ring, and the ring fd does not become readable for
/// them — measured on 6.18: epoll on the ring fd of a DEFER_TASKRUN ring never woke
/// for a pending fdatasync or cold read (2 s timeouts), while every other flag set here
/// woke within the operation's latency. (A registered eventfd does wake with
/// DEFER_TASKRUN, but it is signalled for every inline completion too, one spurious
/// event-loop wake-up per submit; IORING_REGISTER_EVENTFD_ASYNC avoids those but then
/// misses reads completed by the disk interrupt.)
/// That is THREAD_SETUP without its first entry, the only one with DEFER_TASKRUN.
pub(crate) const INLINE_SETUP: &[u32] = THREAD_SETUP.split_at(1).1;
const _: () = assert!(THREAD_SETUP[0] & setup::DEFER_TASKRUN != 0);
const _: () = assert!(INLINE_SETUP[0] & setup::DEFER_TASKRUN == 0);

/// How long an idle SQPOLL thread spins before it sleeps (and the next submit needs an
/// io_uring_enter with IORING_ENTER_SQ_WAKEUP). Short, because the polling thread
/// occupies a core while it spins.
pub(crate) const SQPOLL_IDLE_MS: u32 = 50;

/// `attempts` with SQPOLL added, minus DEFER_TASKRUN (which the kernel refuses together
/// with SQPOLL).
pub(crate) fn with_sqpoll(attempts: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = attempts
        .iter()
        .map(|f| (f | setup::SQPOLL) & !setup::DEFER_TASKRUN)
        .collect();
    out.dedup();
    out
}

/// The errno of a failed call of the crate.
pub(crate) fn errno_of(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// Tries of one register call (the first one included) while the kernel refuses it
/// with a transient errno; see [`retry_transient`].
pub(crate) const REGISTER_ATTEMPTS: u32 = 5;

/// Whether a refused register call may succeed if simply repeated: interrupted by a
/// signal (EINTR), or refused while the kernel is busy with the table (EBUSY: older
/// kernels quiesce the ring for some updates) or short of memory (EAGAIN).
fn is_transient(errno: i32) -> bool {
    matches!(errno, libc::EAGAIN | libc::EBUSY | libc::EINTR)
}

/// Runs `op` until it succeeds, fails with an errno that is not transient (returned at
/// once), or has been tried `attempts` times (the last refusal is returned). Before
/// try n + 2 it calls `pause(n)`. A refused update changes nothing, so repeating it is
/// safe; bounding it means a table that keeps refusing is reported (the file or buffer
/// is then used plain) instead of stalling the thread that drives the ring.
pub(crate) fn retry_transient<T>(
    attempts: u32,
    mut op: impl FnMut() -> Result<T, i32>,
    mut pause: impl FnMut(u32),
) -> Result<T, i32> {
    let mut retries = 0;
    loop {
        match op() {
            Err(e) if is_transient(e) && retries + 1 < attempts => {
                pause(retries);
                retries += 1;
            }
            result => return result,
        }
    }
}

/// The pause before retry `n + 1` of a register call: none but a yield first (a signal
/// or a concurrent update usually clears at once), then 1, 2, 4 ms.
fn pause_ms(n: u32) -> u64 {
    match n {
        0 => 0,
        n => 1 << (n - 1).min(10),
    }
}

/// Pauses as [`pause_ms`] says.
pub(crate) fn transient_pause(n: u32) {
    match pause_ms(n) {
        0 => std::thread::yield_now(),
        ms => std::thread::sleep(std::time::Duration::from_millis(ms)),
    }
}

/// One SQE pushed and not yet known to be consumed by the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pushed {
    pub(crate) user_data: u64,
    /// The fixed-file slot the SQE names (IOSQE_FIXED_FILE), if any.
    pub(crate) file_slot: Option<u32>,
}

/// The SQEs pushed and not yet consumed by the kernel, oldest first (see the module
/// docs). Holds at least the unconsumed ones: an entry is dropped only once the SQ's
/// length says the kernel is past it.
#[derive(Debug, Default)]
pub(crate) struct Unconsumed {
    entries: VecDeque<Pushed>,
}

impl Unconsumed {
    fn with_capacity(n: usize) -> Unconsumed {
        Unconsumed {
            entries: VecDeque::with_capacity(n),
        }
    }

    fn pushed(&mut self, p: Pushed) {
        self.entries.push_back(p);
    }

    /// `left` entries are still in the SQ: the kernel consumes from the front, so every
    /// older entry was read.
    fn settle(&mut self, left: usize) {
        debug_assert!(left <= self.entries.len(), "more in the SQ than we pushed");
        while self.entries.len() > left {
            self.entries.pop_front();
        }
    }

    fn names_file_slot(&self, slot: u32) -> bool {
        self.entries.iter().any(|p| p.file_slot == Some(slot))
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn take(&mut self) -> Vec<Pushed> {
        self.entries.drain(..).collect()
    }
}

/// An io_uring instance (the crate's `IoUring`, which unmaps its rings before closing
/// its fd) with the record of unconsumed SQEs.
///
/// Whoever drops a `Ring` must have reaped every request that points at user memory:
/// closing the fd cancels requests asynchronously, and a read still running in an io-wq
/// worker could otherwise write into freed memory.
pub(crate) struct Ring {
    uring: IoUring,
    /// The setup flags it was created with (names::setup bits).
    flags: u32,
    unconsumed: Unconsumed,
    /// Entries the kernel never read stay in the SQ: nothing may be submitted again.
    sealed: bool,
}

impl Ring {
    /// Creates a ring, trying the flag sets of `attempts` in order and going on to the
    /// next one only on EINVAL. Err(errno) otherwise.
    pub(crate) fn new(sq_entries: u32, cq_entries: u32, attempts: &[u32]) -> Result<Ring, i32> {
        let mut last = libc::EINVAL;
        for &flags in attempts {
            match Ring::with_flags(sq_entries, cq_entries, flags) {
                Ok(ring) => return Ok(ring),
                Err(libc::EINVAL) => last = libc::EINVAL,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// One io_uring_setup with exactly `flags` (names::setup bits; CQSIZE uses
    /// `cq_entries`, SQPOLL idles after SQPOLL_IDLE_MS).
    pub(crate) fn with_flags(sq_entries: u32, cq_entries: u32, flags: u32) -> Result<Ring, i32> {
        let mut b = IoUring::builder();
        if flags & setup::CQSIZE != 0 {
            b.setup_cqsize(cq_entries);
        }
        if flags & setup::SUBMIT_ALL != 0 {
            b.setup_submit_all();
        }
        if flags & setup::COOP_TASKRUN != 0 {
            b.setup_coop_taskrun();
        }
        if flags & setup::SINGLE_ISSUER != 0 {
            b.setup_single_issuer();
        }
        if flags & setup::DEFER_TASKRUN != 0 {
            b.setup_defer_taskrun();
        }
        if flags & setup::SQPOLL != 0 {
            b.setup_sqpoll(SQPOLL_IDLE_MS);
        }
        let uring = b.build(sq_entries).map_err(errno_of)?;
        let sq = uring.params().sq_entries() as usize;
        Ok(Ring {
            uring,
            flags,
            unconsumed: Unconsumed::with_capacity(sq),
            sealed: false,
        })
    }

    pub(crate) fn fd(&self) -> i32 {
        self.uring.as_raw_fd()
    }

    /// The setup flags this ring was created with (names::setup bits).
    pub(crate) fn flags(&self) -> u32 {
        self.flags
    }

    pub(crate) fn params(&self) -> &Parameters {
        self.uring.params()
    }

    /// Whether a kernel thread polls the SQ (IORING_SETUP_SQPOLL).
    pub(crate) fn sqpoll(&self) -> bool {
        self.uring.params().is_setup_sqpoll()
    }

    pub(crate) fn sq_entries(&self) -> u32 {
        self.uring.params().sq_entries()
    }

    pub(crate) fn cq_entries(&self) -> u32 {
        self.uring.params().cq_entries()
    }

    /// SQEs pushed and not yet consumed by the kernel; settles the record. (A sealed
    /// ring's SQ holds the taken-back entries, which the record no longer lists.)
    pub(crate) fn sq_len(&mut self) -> usize {
        let left = self.uring.submission().len();
        if !self.sealed {
            self.unconsumed.settle(left);
        }
        left
    }

    /// Free SQ entries.
    pub(crate) fn sq_space_left(&mut self) -> usize {
        self.sq_entries() as usize - self.sq_len()
    }

    /// Copies `entry` into the next free SQ entry and records it (`file_slot`: the fixed
    /// file it names); false when the SQ is full or the ring is sealed. The entry goes
    /// to the kernel at the next `enter`.
    ///
    /// # Safety
    /// Every pointer in `entry` (buffer, path, statx struct) must stay valid, and a
    /// buffer the kernel writes must not be accessed otherwise, until the CQE carrying
    /// its user_data has been reaped, or [`Ring::take_back_unconsumed`] returned it.
    pub(crate) unsafe fn push(&mut self, entry: &squeue::Entry, file_slot: Option<u32>) -> bool {
        if self.sealed {
            return false;
        }
        let mut sq = self.uring.submission();
        // SAFETY: forwarded to our caller. Dropping `sq` publishes the new tail.
        if unsafe { sq.push(entry) }.is_err() {
            return false;
        }
        drop(sq);
        self.unconsumed.pushed(Pushed {
            user_data: entry.get_user_data(),
            file_slot,
        });
        true
    }

    /// Submits every SQE in the SQ and waits for `min_complete` CQEs (0 = do not wait).
    /// IORING_ENTER_GETEVENTS is always passed (see the module docs). A sealed ring
    /// submits nothing. Returns SQEs consumed or Err(errno).
    pub(crate) fn enter(&mut self, min_complete: u32) -> Result<usize, i32> {
        let r = if self.sealed {
            self.get_events(min_complete).map(|()| 0)
        } else if self.sqpoll() {
            // The polling thread takes the SQ by itself; the crate's submit enters the
            // kernel only to wake it, to wait, or to flush overflowed CQEs (its
            // NEED_WAKEUP check carries the fence io_uring(7) asks for).
            match min_complete {
                0 => self.uring.submit(),
                n => self.uring.submit_and_wait(n as usize),
            }
            .map_err(errno_of)
        } else {
            let to_submit = self.sq_len() as u32;
            // SAFETY: no argument struct (the crate's own `submit` passes the same);
            // every SQE in the SQ was pushed through `push`, whose contract keeps its
            // memory valid until reaped.
            unsafe {
                self.uring.submitter().enter::<libc::sigset_t>(
                    to_submit,
                    min_complete,
                    EnterFlags::GETEVENTS.bits(),
                    None,
                )
            }
            .map_err(errno_of)
        };
        self.sq_len();
        r
    }

    /// Runs task work and moves overflowed CQEs into the CQ, waiting for `min_complete`
    /// of them, without submitting anything.
    pub(crate) fn get_events(&mut self, min_complete: u32) -> Result<(), i32> {
        // SAFETY: submits nothing (to_submit = 0) and passes no argument struct.
        unsafe {
            self.uring.submitter().enter::<libc::sigset_t>(
                0,
                min_complete,
                EnterFlags::GETEVENTS.bits(),
                None,
            )
        }
        .map(drop)
        .map_err(errno_of)
    }

    /// Appends every CQE available now to `out` and releases them to the kernel.
    pub(crate) fn reap(&mut self, out: &mut Vec<cqueue::Entry>) -> usize {
        let cq = self.uring.completion();
        let n = cq.len();
        // Dropping the queue at the end of `extend` publishes the new head.
        out.extend(cq);
        n
    }

    /// IORING_SQ_CQ_OVERFLOW: CQEs wait in the kernel's overflow list.
    pub(crate) fn cq_overflow(&mut self) -> bool {
        self.uring.submission().cq_overflow()
    }

    /// CQEs the kernel dropped (only without IORING_FEAT_NODROP, before 5.5).
    #[cfg(test)]
    pub(crate) fn cq_dropped(&mut self) -> u32 {
        self.uring.completion().overflow()
    }

    /// Whether an SQE the kernel has not consumed names fixed-file `slot`.
    pub(crate) fn unconsumed_names_file_slot(&mut self, slot: u32) -> bool {
        self.sq_len();
        self.unconsumed.names_file_slot(slot)
    }

    /// After a fatal io_uring_enter: the user_data of every SQE the kernel never read,
    /// oldest first. They stay in the SQ and the ring is sealed (see the module docs),
    /// so their memory may be given back. With SQPOLL nothing is taken back: the
    /// polling thread may be reading them right now, and their CQEs will come.
    pub(crate) fn take_back_unconsumed(&mut self) -> Vec<u64> {
        if self.sqpoll() {
            return Vec::new();
        }
        self.sq_len();
        if self.unconsumed.len() > 0 {
            self.sealed = true;
        }
        self.unconsumed
            .take()
            .into_iter()
            .map(|p| p.user_data)
            .collect()
    }

    /// Whether entries the kernel never read stay in the SQ (nothing is submitted).
    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// One register call of the crate's `Submitter`, tried again while the kernel
    /// refuses it with a transient errno (see [`retry_transient`]). Err(errno).
    pub(crate) fn register<T>(
        &self,
        mut call: impl FnMut(&Submitter<'_>) -> std::io::Result<T>,
    ) -> Result<T, i32> {
        let submitter = self.uring.submitter();
        retry_transient(
            REGISTER_ATTEMPTS,
            || call(&submitter).map_err(errno_of),
            transient_pause,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use io_uring::opcode;

    fn nop(user_data: u64) -> squeue::Entry {
        opcode::Nop::new().build().user_data(user_data)
    }

    fn ring(sq: u32, cq: u32) -> Ring {
        Ring::new(sq, cq, THREAD_SETUP).unwrap()
    }

    #[test]
    fn setup_reports_flags_and_falls_back() {
        let ring = ring(8, 16);
        assert_eq!(ring.sq_entries(), 8);
        assert_eq!(ring.cq_entries(), 16);
        assert_eq!(ring.flags(), THREAD_SETUP[0], "6.x takes every flag");
        assert!(ring.params().is_setup_single_issuer());
        // CQ smaller than SQ is refused by the kernel whatever the flags.
        assert_eq!(Ring::new(8, 4, THREAD_SETUP).err(), Some(libc::EINVAL));
        // A flag set the kernel refuses (SQPOLL with DEFER_TASKRUN) falls back to the next.
        let refused = THREAD_SETUP[0] | setup::SQPOLL;
        let r = Ring::new(8, 16, &[refused, setup::CQSIZE]).unwrap();
        assert_eq!(r.flags(), setup::CQSIZE);
        assert_eq!(
            with_sqpoll(THREAD_SETUP)[0],
            THREAD_SETUP[1] | setup::SQPOLL
        );
    }

    /// Far more entries than the ring holds: indices wrap many times around both rings
    /// and every NOP completes exactly once; the record of unconsumed SQEs stays empty
    /// after each enter.
    #[test]
    fn sq_and_cq_wrap_around() {
        let mut ring = ring(4, 4);
        const TOTAL: u64 = 10_000;
        let mut seen = vec![false; TOTAL as usize];
        let (mut next, mut reaped) = (0u64, 0u64);
        let mut cqes = Vec::new();
        while reaped < TOTAL {
            while next < TOTAL {
                // SAFETY: a NOP carries no pointers.
                if !unsafe { ring.push(&nop(next), None) } {
                    break;
                }
                next += 1;
            }
            assert!(ring.sq_space_left() <= 4);
            ring.enter(1).unwrap();
            assert_eq!(ring.unconsumed.len(), 0);
            cqes.clear();
            reaped += ring.reap(&mut cqes) as u64;
            for cqe in &cqes {
                assert_eq!(cqe.result(), 0);
                assert!(!std::mem::replace(
                    &mut seen[cqe.user_data() as usize],
                    true
                ));
            }
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(ring.cq_dropped(), 0);
    }

    /// A CQ of 4 with 200 completions posted before any is reaped: the kernel keeps
    /// the excess in its overflow list (IORING_FEAT_NODROP) and none is lost.
    #[test]
    fn cq_overflow_loses_nothing() {
        let mut ring = ring(2, 4);
        assert!(ring.params().is_feature_nodrop());
        const TOTAL: u64 = 200;
        let mut next = 0;
        while next < TOTAL {
            // SAFETY: NOPs carry no pointers.
            while next < TOTAL && unsafe { ring.push(&nop(next), None) } {
                next += 1;
            }
            match ring.enter(0) {
                Ok(_) => {}
                // Kernels before 5.19ish refuse to submit while CQEs overflow.
                Err(libc::EBUSY) => break,
                Err(e) => panic!("enter failed: {e}"),
            }
        }
        assert!(ring.cq_overflow());
        let mut seen = vec![false; TOTAL as usize];
        let mut count = 0;
        let mut cqes = Vec::new();
        loop {
            // Submit the rest as space frees up, and flush the overflow list.
            // SAFETY: NOPs carry no pointers.
            while next < TOTAL && unsafe { ring.push(&nop(next), None) } {
                next += 1;
            }
            let _ = ring.enter(0);
            cqes.clear();
            let n = ring.reap(&mut cqes);
            for cqe in &cqes {
                assert!(!std::mem::replace(
                    &mut seen[cqe.user_data() as usize],
                    true
                ));
            }
            count += n;
            if count == TOTAL as usize {
                break;
            }
            assert!(n > 0 || next < TOTAL || ring.cq_overflow());
        }
        assert_eq!(ring.cq_dropped(), 0);
        assert!(!ring.cq_overflow());
    }

    /// The record keeps exactly the entries the SQ's length says are unread.
    #[test]
    fn unconsumed_record_follows_the_sq_length() {
        let mut u = Unconsumed::default();
        for (ud, slot) in [(1, None), (2, Some(7)), (3, None), (4, Some(9))] {
            u.pushed(Pushed {
                user_data: ud,
                file_slot: slot,
            });
        }
        assert!(u.names_file_slot(7) && u.names_file_slot(9) && !u.names_file_slot(1));
        u.settle(4);
        assert_eq!(u.len(), 4, "nothing consumed yet");
        u.settle(2); // the kernel read the two oldest
        assert!(!u.names_file_slot(7) && u.names_file_slot(9));
        let left: Vec<u64> = u.take().iter().map(|p| p.user_data).collect();
        assert_eq!(left, vec![3, 4]);
        assert_eq!(u.len(), 0);
    }

    /// SQEs pushed and never submitted are taken back in order; the ring is then sealed
    /// (they stay in the SQ) and submits nothing more, but can still be entered.
    #[test]
    fn take_back_returns_unconsumed_entries_and_seals() {
        let mut ring = ring(4, 8);
        // SAFETY: NOPs carry no pointers.
        assert!(unsafe { ring.push(&nop(1), None) });
        assert_eq!(ring.enter(1), Ok(1));
        for i in 10..13 {
            // SAFETY: NOPs carry no pointers.
            assert!(unsafe { ring.push(&nop(i), Some(i as u32)) });
        }
        assert!(ring.unconsumed_names_file_slot(11));
        assert_eq!(ring.take_back_unconsumed(), vec![10, 11, 12]);
        assert!(ring.is_sealed() && !ring.unconsumed_names_file_slot(11));
        // SAFETY: a NOP carries no pointers.
        assert!(!unsafe { ring.push(&nop(9), None) }, "sealed");
        assert_eq!(ring.enter(0), Ok(0), "entered without submitting");
        let mut cqes = Vec::new();
        ring.reap(&mut cqes);
        let got: Vec<u64> = cqes.iter().map(|c| c.user_data()).collect();
        assert_eq!(got, vec![1], "only what the kernel consumed completes");
        assert_eq!(ring.sq_len(), 3, "the taken-back entries stay, unread");
    }

    /// A real fatal io_uring_enter: a SINGLE_ISSUER ring entered from another thread
    /// (EEXIST). The kernel reads none of the SQEs; all of them are taken back.
    #[test]
    fn fatal_enter_leaves_every_sqe_to_take_back() {
        let mut ring = ring(8, 16);
        for i in 0..3 {
            // SAFETY: NOPs carry no pointers.
            assert!(unsafe { ring.push(&nop(i), None) });
        }
        let (ring, r) = std::thread::spawn(move || {
            let r = ring.enter(0);
            (ring, r)
        })
        .join()
        .unwrap();
        let mut ring = ring;
        assert_eq!(r, Err(libc::EEXIST));
        assert_eq!(ring.take_back_unconsumed(), vec![0, 1, 2]);
        assert!(ring.is_sealed());
    }

    /// Transient refusals are tried again, 5 tries in all with a yield then 1, 2, 4 ms
    /// between them; any other errno, or success, ends it at once.
    #[test]
    fn retry_transient_bounds_and_classifies() {
        for e in [libc::EAGAIN, libc::EBUSY, libc::EINTR] {
            let (mut tries, mut pauses) = (0, Vec::new());
            let r: Result<(), i32> = retry_transient(
                REGISTER_ATTEMPTS,
                || {
                    tries += 1;
                    Err(e)
                },
                |n| pauses.push(n),
            );
            assert_eq!((r, tries), (Err(e), 5));
            assert_eq!(pauses, vec![0, 1, 2, 3]);
        }
        let mut tries = 0;
        let r: Result<(), i32> = retry_transient(
            5,
            || {
                tries += 1;
                Err(libc::ENOMEM)
            },
            |_| panic!("no pause for a non-transient errno"),
        );
        assert_eq!((r, tries), (Err(libc::ENOMEM), 1));
        let mut tries = 0;
        let r = retry_transient(
            5,
            || {
                tries += 1;
                if tries < 3 {
                    Err(libc::EBUSY)
                } else {
                    Ok(tries)
                }
            },
            |_| {},
        );
        assert_eq!(r, Ok(3));
        let schedule: Vec<u64> = (0..REGISTER_ATTEMPTS - 1).map(pause_ms).collect();
        assert_eq!(schedule, vec![0, 1, 2, 4], "a yield, then 1, 2, 4 ms");
    }
}
