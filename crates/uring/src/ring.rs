//! One io_uring instance: setup, the submission queue (SQ), the completion queue (CQ),
//! io_uring_enter and io_uring_register.
//!
//! Memory ordering follows io_uring(7) and liburing's barrier rules: the kernel's side
//! of each index is read with Acquire (it publishes CQEs / consumes SQEs before moving
//! it), and our side is written with Release (our SQE writes / CQE reads must happen
//! before the kernel sees the new index). Without SQPOLL the kernel reads the SQ only
//! inside io_uring_enter, which is what lets `rollback_unsubmitted` take entries back;
//! with SQPOLL (opt-in) a kernel thread reads it at any time, so nothing is taken back.

use crate::fd::Fd;
use crate::mmap::Mmap;
use crate::sys::{self, io_uring_cqe, io_uring_params, io_uring_sqe};
use std::ffi::{c_uint, c_void};
use std::sync::atomic::{AtomicU32, Ordering};

/// The setup flags tried first; on EINVAL (an older kernel) the next entry is tried.
/// CQSIZE (5.5) stays in every attempt: the CQ must hold `queue_capacity` completions.
/// SINGLE_ISSUER (6.0) and DEFER_TASKRUN (6.1) require that only the creating thread
/// enters the ring, which is why the worker creates its ring on the ring thread.
pub(crate) const SETUP_ATTEMPTS: &[u32] = &[
    sys::IORING_SETUP_CQSIZE
        | sys::IORING_SETUP_SUBMIT_ALL
        | sys::IORING_SETUP_COOP_TASKRUN
        | sys::IORING_SETUP_SINGLE_ISSUER
        | sys::IORING_SETUP_DEFER_TASKRUN,
    sys::IORING_SETUP_CQSIZE
        | sys::IORING_SETUP_SUBMIT_ALL
        | sys::IORING_SETUP_COOP_TASKRUN
        | sys::IORING_SETUP_SINGLE_ISSUER,
    sys::IORING_SETUP_CQSIZE | sys::IORING_SETUP_SUBMIT_ALL | sys::IORING_SETUP_COOP_TASKRUN,
    sys::IORING_SETUP_CQSIZE | sys::IORING_SETUP_SUBMIT_ALL,
    sys::IORING_SETUP_CQSIZE,
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
/// That is SETUP_ATTEMPTS without its first entry, the only one with DEFER_TASKRUN.
pub(crate) const INLINE_SETUP_ATTEMPTS: &[u32] = SETUP_ATTEMPTS.split_at(1).1;
const _: () = assert!(SETUP_ATTEMPTS[0] & sys::IORING_SETUP_DEFER_TASKRUN != 0);
const _: () = assert!(INLINE_SETUP_ATTEMPTS[0] & sys::IORING_SETUP_DEFER_TASKRUN == 0);

/// How long an idle SQPOLL thread spins before it sleeps (and the next submit needs an
/// io_uring_enter with IORING_ENTER_SQ_WAKEUP). Short, because the polling thread
/// occupies a core while it spins.
pub(crate) const SQPOLL_IDLE_MS: u32 = 50;

/// `attempts` with IORING_SETUP_SQPOLL added, minus DEFER_TASKRUN (which the kernel
/// refuses together with SQPOLL).
pub(crate) fn with_sqpoll(attempts: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = attempts
        .iter()
        .map(|f| (f | sys::IORING_SETUP_SQPOLL) & !sys::IORING_SETUP_DEFER_TASKRUN)
        .collect();
    out.dedup();
    out
}

/// Names of the setup flags this crate may use, for reports.
pub(crate) fn setup_flag_names(flags: u32) -> Vec<&'static str> {
    let table: &[(u32, &str)] = &[
        (sys::IORING_SETUP_CQSIZE, "cqsize"),
        (sys::IORING_SETUP_SUBMIT_ALL, "submit_all"),
        (sys::IORING_SETUP_COOP_TASKRUN, "coop_taskrun"),
        (sys::IORING_SETUP_SINGLE_ISSUER, "single_issuer"),
        (sys::IORING_SETUP_DEFER_TASKRUN, "defer_taskrun"),
        (sys::IORING_SETUP_SQPOLL, "sqpoll"),
    ];
    table
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// Names of the feature bits in `io_uring_params.features`.
pub(crate) fn feature_names(features: u32) -> Vec<&'static str> {
    sys::FEATURE_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| features & (1u32 << bit) != 0)
        .map(|(_, name)| *name)
        .collect()
}

struct SubmissionQueue {
    khead: *const AtomicU32,
    ktail: *const AtomicU32,
    kflags: *const AtomicU32,
    mask: u32,
    entries: u32,
    sqes: *mut io_uring_sqe,
    /// Our tail: entries before it are written; published to `ktail` by `flush`.
    tail: u32,
}

struct CompletionQueue {
    khead: *const AtomicU32,
    ktail: *const AtomicU32,
    koverflow: *const AtomicU32,
    mask: u32,
    entries: u32,
    cqes: *const io_uring_cqe,
}

/// An io_uring instance and its three shared mappings.
///
/// Drop order is field order: the queues are plain pointers into the maps; the SQE
/// array and the rings are unmapped first and the ring fd is closed last, so that
/// closing the fd is what finally releases the kernel's io_ring_ctx. Whoever drops a
/// `Ring` must have reaped every request that points at user memory: closing the fd
/// cancels requests asynchronously, and a read still running in an io-wq worker could
/// otherwise write into freed memory.
pub(crate) struct Ring {
    sq: SubmissionQueue,
    cq: CompletionQueue,
    _sqes_map: Mmap,
    /// `None` with IORING_FEAT_SINGLE_MMAP (5.4): the CQ ring shares `sq_map`.
    _cq_map: Option<Mmap>,
    _sq_map: Mmap,
    fd: Fd,
    params: io_uring_params,
}

impl Ring {
    /// Creates a ring, trying the flag sets of `SETUP_ATTEMPTS` in order and retrying
    /// the next one only on EINVAL. Err(errno) otherwise.
    pub(crate) fn new(sq_entries: u32, cq_entries: u32) -> Result<Ring, i32> {
        Ring::with_attempts(sq_entries, cq_entries, SETUP_ATTEMPTS)
    }

    /// As [`Ring::new`] with another list of flag sets.
    pub(crate) fn with_attempts(
        sq_entries: u32,
        cq_entries: u32,
        attempts: &[u32],
    ) -> Result<Ring, i32> {
        let mut last = sys::EINVAL;
        for &flags in attempts {
            match Ring::with_flags(sq_entries, cq_entries, flags) {
                Ok(ring) => return Ok(ring),
                Err(e) if e == sys::EINVAL => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// One io_uring_setup attempt with exactly `flags` (CQSIZE uses `cq_entries`).
    pub(crate) fn with_flags(sq_entries: u32, cq_entries: u32, flags: u32) -> Result<Ring, i32> {
        let mut p = io_uring_params {
            flags,
            cq_entries,
            sq_thread_idle: if flags & sys::IORING_SETUP_SQPOLL != 0 {
                SQPOLL_IDLE_MS
            } else {
                0
            },
            ..Default::default()
        };
        // SAFETY: `p` is a valid io_uring_params the kernel fills in.
        let fd = unsafe { sys::io_uring_setup(sq_entries, &mut p) };
        if fd < 0 {
            return Err(-fd);
        }
        let fd = Fd::from_raw(fd);

        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * 16;
        let single = p.features & sys::IORING_FEAT_SINGLE_MMAP != 0;
        let sq_map = Mmap::map_ring(
            fd.raw(),
            if single { sq_len.max(cq_len) } else { sq_len },
            sys::IORING_OFF_SQ_RING,
        )?;
        let cq_map = if single {
            None
        } else {
            Some(Mmap::map_ring(fd.raw(), cq_len, sys::IORING_OFF_CQ_RING)?)
        };
        let sqes_map = Mmap::map_ring(
            fd.raw(),
            p.sq_entries as usize * std::mem::size_of::<io_uring_sqe>(),
            sys::IORING_OFF_SQES,
        )?;
        let cq_base = cq_map.as_ref().unwrap_or(&sq_map);
        assert!(cq_base.len() >= cq_len && sq_map.len() >= sq_len);

        // SAFETY: the kernel guarantees ring_mask/ring_entries are valid u32s in the map.
        let (sq_mask, sq_n, cq_mask, cq_n) = unsafe {
            (
                *sq_map.at::<u32>(p.sq_off.ring_mask),
                *sq_map.at::<u32>(p.sq_off.ring_entries),
                *cq_base.at::<u32>(p.cq_off.ring_mask),
                *cq_base.at::<u32>(p.cq_off.ring_entries),
            )
        };
        let array = sq_map.at::<u32>(p.sq_off.array);
        for i in 0..sq_n {
            // An identity SQ index array, written once: the SQE for ring position
            // `tail & mask` lives at that same index of the SQE array.
            // SAFETY: `array` has sq_entries u32s (sq_len above covers them).
            unsafe { array.add(i as usize).write(i) };
        }
        let sq = SubmissionQueue {
            khead: sq_map.at::<AtomicU32>(p.sq_off.head),
            ktail: sq_map.at::<AtomicU32>(p.sq_off.tail),
            kflags: sq_map.at::<AtomicU32>(p.sq_off.flags),
            mask: sq_mask,
            entries: sq_n,
            sqes: sqes_map.at::<io_uring_sqe>(0),
            // SAFETY: the tail is a valid aligned u32 in the SQ ring map.
            tail: unsafe { (*sq_map.at::<AtomicU32>(p.sq_off.tail)).load(Ordering::Relaxed) },
        };
        let cq = CompletionQueue {
            khead: cq_base.at::<AtomicU32>(p.cq_off.head),
            ktail: cq_base.at::<AtomicU32>(p.cq_off.tail),
            koverflow: cq_base.at::<AtomicU32>(p.cq_off.overflow),
            mask: cq_mask,
            entries: cq_n,
            cqes: cq_base.at::<io_uring_cqe>(p.cq_off.cqes),
        };
        Ok(Ring {
            sq,
            cq,
            _sqes_map: sqes_map,
            _cq_map: cq_map,
            _sq_map: sq_map,
            fd,
            params: p,
        })
    }

    pub(crate) fn fd(&self) -> i32 {
        self.fd.raw()
    }
    /// The setup flags this ring was created with.
    pub(crate) fn flags(&self) -> u32 {
        self.params.flags
    }
    /// Whether a kernel thread polls the SQ (IORING_SETUP_SQPOLL).
    pub(crate) fn sqpoll(&self) -> bool {
        self.params.flags & sys::IORING_SETUP_SQPOLL != 0
    }
    pub(crate) fn features(&self) -> u32 {
        self.params.features
    }
    pub(crate) fn sq_entries(&self) -> u32 {
        self.sq.entries
    }
    pub(crate) fn cq_entries(&self) -> u32 {
        self.cq.entries
    }

    fn khead_sq(&self) -> u32 {
        // SAFETY: khead points into the live SQ ring map owned by self.
        unsafe { (*self.sq.khead).load(Ordering::Acquire) }
    }

    /// SQEs written but not yet consumed by the kernel.
    pub(crate) fn sq_pending(&self) -> u32 {
        self.sq.tail.wrapping_sub(self.khead_sq())
    }

    /// Free SQ entries.
    pub(crate) fn sq_space_left(&self) -> u32 {
        self.sq.entries - self.sq_pending()
    }

    /// The SQ ring flags (IORING_SQ_CQ_OVERFLOW, IORING_SQ_TASKRUN).
    pub(crate) fn sq_flags(&self) -> u32 {
        // SAFETY: kflags points into the live SQ ring map owned by self.
        unsafe { (*self.sq.kflags).load(Ordering::Acquire) }
    }

    /// CQEs the kernel dropped (only without IORING_FEAT_NODROP, before 5.5).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn cq_dropped(&self) -> u32 {
        // SAFETY: koverflow points into the live CQ ring map owned by self.
        unsafe { (*self.cq.koverflow).load(Ordering::Acquire) }
    }

    /// Copies `sqe` into the next free SQ entry; false when the SQ is full. The entry
    /// becomes visible to the kernel at the next `enter`.
    ///
    /// # Safety
    /// Every pointer in `sqe` (buffer, path, statx struct) must stay valid, and a buffer
    /// the kernel writes must not be accessed otherwise, until the CQE carrying
    /// `sqe.user_data` has been reaped (or the entry is returned by
    /// `rollback_unsubmitted`).
    pub(crate) unsafe fn push(&mut self, sqe: &io_uring_sqe) -> bool {
        if self.sq_pending() >= self.sq.entries {
            return false;
        }
        let idx = (self.sq.tail & self.sq.mask) as usize;
        // SAFETY: idx < entries, inside the SQE map; the kernel only reads entries
        // between its head and the published tail, and this one is past both.
        unsafe { self.sq.sqes.add(idx).write(*sqe) };
        self.sq.tail = self.sq.tail.wrapping_add(1);
        true
    }

    /// Publishes our tail; Release orders the SQE writes before the kernel's Acquire
    /// load of the tail.
    fn flush(&mut self) {
        // SAFETY: ktail points into the live SQ ring map owned by self.
        unsafe { (*self.sq.ktail).store(self.sq.tail, Ordering::Release) };
    }

    /// Submits every pending SQE and waits for `min_complete` CQEs (0 = do not wait).
    /// IORING_ENTER_GETEVENTS is always passed: with DEFER_TASKRUN completions are only
    /// posted while the issuer is inside io_uring_enter with it, and it also flushes
    /// CQEs held back in the overflow list. Returns SQEs consumed or Err(errno).
    pub(crate) fn enter(&mut self, min_complete: u32) -> Result<u32, i32> {
        self.flush();
        let to_submit = self.sq_pending();
        let mut flags = sys::IORING_ENTER_GETEVENTS;
        if self.sqpoll() {
            // The polling thread takes the SQ by itself; it needs a syscall only to be
            // woken, or for us to wait or flush overflowed CQEs. The fence orders our
            // tail store before the flags load, pairing with the kernel's barrier
            // between setting NEED_WAKEUP and re-checking the tail (io_uring(7)).
            std::sync::atomic::fence(Ordering::SeqCst);
            let sq_flags = self.sq_flags();
            if sq_flags & sys::IORING_SQ_NEED_WAKEUP != 0 {
                flags |= sys::IORING_ENTER_SQ_WAKEUP;
            } else if min_complete == 0 && sq_flags & sys::IORING_SQ_CQ_OVERFLOW == 0 {
                return Ok(to_submit);
            }
        }
        // SAFETY: every SQE pushed was pushed through `push`, whose contract keeps its
        // memory valid until reaped.
        let r = unsafe { sys::io_uring_enter(self.fd(), to_submit, min_complete, flags) };
        if r < 0 {
            Err(-r)
        } else {
            Ok(r as u32)
        }
    }

    /// Calls `f` for every CQE available now, then releases them all to the kernel.
    pub(crate) fn reap(&mut self, mut f: impl FnMut(io_uring_cqe)) -> usize {
        // SAFETY: khead/ktail point into the live CQ ring map. We are the only writer
        // of khead, so Relaxed is enough to read it back; ktail is Acquire so the CQE
        // contents the kernel wrote before moving it are visible.
        let (head, tail) = unsafe {
            (
                (*self.cq.khead).load(Ordering::Relaxed),
                (*self.cq.ktail).load(Ordering::Acquire),
            )
        };
        let n = tail.wrapping_sub(head);
        for i in 0..n {
            let idx = (head.wrapping_add(i) & self.cq.mask) as usize;
            // SAFETY: idx < cq entries; entries between head and tail are published.
            let cqe = unsafe { self.cq.cqes.add(idx).read() };
            f(cqe);
        }
        if n > 0 {
            // SAFETY: as above; Release orders our reads of the CQEs before the kernel
            // may overwrite them.
            unsafe { (*self.cq.khead).store(tail, Ordering::Release) };
        }
        n as usize
    }

    /// Whether an SQE written but not yet consumed by the kernel satisfies `f`. Reading
    /// the entries is sound even while an SQPOLL thread consumes them: both only read.
    pub(crate) fn any_unsubmitted(&self, mut f: impl FnMut(&io_uring_sqe) -> bool) -> bool {
        let mut pos = self.khead_sq();
        while pos != self.sq.tail {
            let idx = (pos & self.sq.mask) as usize;
            // SAFETY: idx < sq entries; entries from the kernel's head to our tail were
            // written by `push` and are not reused before the kernel consumed them.
            if f(unsafe { &*self.sq.sqes.add(idx) }) {
                return true;
            }
            pos = pos.wrapping_add(1);
        }
        false
    }

    /// Takes back SQEs that were written but not consumed by the kernel (after a fatal
    /// io_uring_enter error), calling `f` for each. Sound because without SQPOLL the
    /// kernel reads the SQ only inside io_uring_enter, which only we call.
    pub(crate) fn rollback_unsubmitted(&mut self, mut f: impl FnMut(&io_uring_sqe)) {
        if self.sqpoll() {
            // The polling thread may be reading these entries right now: they stay,
            // and their CQEs will come.
            return;
        }
        let head = self.khead_sq();
        let mut pos = head;
        while pos != self.sq.tail {
            let idx = (pos & self.sq.mask) as usize;
            // SAFETY: idx < sq entries; this entry was written by `push`.
            let sqe = unsafe { &*self.sq.sqes.add(idx) };
            f(sqe);
            pos = pos.wrapping_add(1);
        }
        self.sq.tail = head;
        self.flush();
    }

    /// io_uring_register(2) on this ring; Ok(result) or Err(errno).
    ///
    /// # Safety
    /// `arg` must point to what `opcode` expects, `nr_args` elements long, for the call.
    pub(crate) unsafe fn register(
        &self,
        opcode: c_uint,
        arg: *const c_void,
        nr_args: u32,
    ) -> Result<i32, i32> {
        loop {
            // SAFETY: the caller guarantees `arg`/`nr_args` match `opcode`.
            let r = unsafe { sys::io_uring_register(self.fd(), opcode, arg, nr_args) };
            // Registration waits for the ring to quiesce on older kernels and can be
            // interrupted (EINTR); it is safe to repeat.
            if r == -sys::EINTR {
                continue;
            }
            return if r < 0 { Err(-r) } else { Ok(r) };
        }
    }

    /// [`register`](Ring::register) for the table-update opcodes
    /// (IORING_REGISTER_BUFFERS_UPDATE, IORING_REGISTER_FILES_UPDATE): an update refused
    /// for a passing reason — EAGAIN, EBUSY (or EINTR, repeated by `register` itself) —
    /// is tried again, [`UPDATE_ATTEMPTS`] times in all with a short pause between
    /// tries ([`update_pause`]); any other errno, or the last try's, is returned for the
    /// caller to count. Only for updates: a refused update changes nothing, so trying
    /// again is safe; for the opcodes that register a whole table EBUSY means "already
    /// registered", which no retry changes.
    ///
    /// # Safety
    /// As `register`.
    pub(crate) unsafe fn register_update(
        &self,
        opcode: c_uint,
        arg: *const c_void,
        nr_args: u32,
    ) -> Result<i32, i32> {
        retry_transient(
            UPDATE_ATTEMPTS,
            // SAFETY: the caller's guarantee for `arg`/`nr_args`, passed on unchanged.
            || unsafe { self.register(opcode, arg, nr_args) },
            update_pause,
        )
    }
}

/// Tries of one table update that the kernel keeps refusing with EAGAIN/EBUSY/EINTR.
pub(crate) const UPDATE_ATTEMPTS: u32 = 5;

/// The pause after failed try `attempt` (1-based) of a table update: a yield, then 1, 2
/// and 4 ms — at most ~7 ms in all, on the ring's thread (the JavaScript thread for an
/// inline engine), and only while the kernel refuses.
fn update_pause(attempt: u32) {
    if attempt <= 1 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(std::time::Duration::from_millis(1 << (attempt - 2).min(2)));
    }
}

/// Runs `op` until it returns anything but Err(EAGAIN | EBUSY | EINTR), or `attempts`
/// times; `pause(n)` runs after failed try n. Returns the last result.
pub(crate) fn retry_transient<T>(
    attempts: u32,
    mut op: impl FnMut() -> Result<T, i32>,
    mut pause: impl FnMut(u32),
) -> Result<T, i32> {
    let mut attempt = 1;
    loop {
        match op() {
            Err(e) if is_transient(e) && attempt < attempts => {
                pause(attempt);
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// The errnos a table update may be refused with for a passing reason.
fn is_transient(errno: i32) -> bool {
    errno == sys::EAGAIN || errno == sys::EBUSY || errno == sys::EINTR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_transient_tries_again_only_what_passes_and_only_so_often() {
        // Transient twice, then done: three tries, two pauses.
        let mut answers = vec![Err(sys::EAGAIN), Err(sys::EBUSY), Ok(7)].into_iter();
        let mut pauses = Vec::new();
        let r = retry_transient(
            UPDATE_ATTEMPTS,
            || answers.next().unwrap(),
            |n| pauses.push(n),
        );
        assert_eq!(r, Ok(7));
        assert_eq!(pauses, [1, 2]);
        // A lasting refusal: every try used, then its errno.
        let mut tries = 0;
        let r: Result<(), i32> = retry_transient(
            UPDATE_ATTEMPTS,
            || {
                tries += 1;
                Err(sys::EBUSY)
            },
            |_| {},
        );
        assert_eq!((r, tries), (Err(sys::EBUSY), UPDATE_ATTEMPTS));
        // Anything else (ENOMEM: RLIMIT_MEMLOCK; ENOBUFS; EFAULT; EINVAL) at once.
        for errno in [sys::ENOMEM, sys::ENOBUFS, sys::EFAULT, sys::EINVAL] {
            let mut tries = 0;
            let r: Result<(), i32> = retry_transient(
                UPDATE_ATTEMPTS,
                || {
                    tries += 1;
                    Err(errno)
                },
                |_| panic!("no pause for errno {errno}"),
            );
            assert_eq!((r, tries), (Err(errno), 1));
        }
        // EINTR counts as passing too.
        let mut answers = vec![Err(sys::EINTR), Ok(())].into_iter();
        assert_eq!(
            retry_transient(2, || answers.next().unwrap(), |_| {}),
            Ok(())
        );
    }

    #[test]
    fn update_pauses_stay_short() {
        let start = std::time::Instant::now();
        for n in 1..UPDATE_ATTEMPTS {
            update_pause(n);
        }
        // yield + 1 + 2 + 4 ms; generous for a loaded machine, but far from a stall.
        assert!(start.elapsed() < std::time::Duration::from_millis(500));
    }

    fn nop(user_data: u64) -> io_uring_sqe {
        io_uring_sqe {
            opcode: sys::IORING_OP_NOP,
            user_data,
            ..Default::default()
        }
    }

    #[test]
    fn setup_reports_flags_and_features() {
        let ring = Ring::new(8, 16).unwrap();
        assert_eq!(ring.sq_entries(), 8);
        assert_eq!(ring.cq_entries(), 16);
        assert_ne!(ring.flags() & sys::IORING_SETUP_CQSIZE, 0);
        assert!(feature_names(ring.features()).contains(&"nodrop"));
        assert!(setup_flag_names(ring.flags()).contains(&"cqsize"));
        // CQ smaller than SQ is refused by the kernel whatever the flags.
        assert_eq!(Ring::new(8, 4).err(), Some(sys::EINVAL));
    }

    /// Far more entries than the ring holds: indices wrap many times around both rings
    /// and every NOP completes exactly once.
    #[test]
    fn sq_and_cq_wrap_around() {
        let mut ring = Ring::new(4, 4).unwrap();
        const TOTAL: u64 = 10_000;
        let mut seen = vec![false; TOTAL as usize];
        let (mut next, mut reaped) = (0u64, 0u64);
        while reaped < TOTAL {
            while next < TOTAL {
                // SAFETY: a NOP carries no pointers.
                if !unsafe { ring.push(&nop(next)) } {
                    break;
                }
                next += 1;
            }
            assert!(ring.sq_space_left() <= 4);
            ring.enter(1).unwrap();
            reaped += ring.reap(|cqe| {
                assert_eq!(cqe.res, 0);
                assert!(!std::mem::replace(&mut seen[cqe.user_data as usize], true));
            }) as u64;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(ring.cq_dropped(), 0);
    }

    /// A CQ of 4 with 200 completions posted before any is reaped: the kernel keeps
    /// the excess in its overflow list (IORING_FEAT_NODROP) and none is lost.
    #[test]
    fn cq_overflow_loses_nothing() {
        let mut ring = Ring::new(2, 4).unwrap();
        assert_ne!(ring.features() & sys::IORING_FEAT_NODROP, 0);
        const TOTAL: u64 = 200;
        let mut next = 0;
        while next < TOTAL {
            // SAFETY: NOPs carry no pointers.
            while next < TOTAL && unsafe { ring.push(&nop(next)) } {
                next += 1;
            }
            match ring.enter(0) {
                Ok(_) => {}
                // Kernels before 5.19ish refuse to submit while CQEs overflow.
                Err(e) if e == sys::EBUSY => break,
                Err(e) => panic!("enter failed: {e}"),
            }
        }
        assert_ne!(ring.sq_flags() & sys::IORING_SQ_CQ_OVERFLOW, 0);
        let mut seen = vec![false; TOTAL as usize];
        let mut count = 0;
        loop {
            // Submit the rest as space frees up, and flush the overflow list.
            // SAFETY: NOPs carry no pointers.
            while next < TOTAL && unsafe { ring.push(&nop(next)) } {
                next += 1;
            }
            let _ = ring.enter(0);
            let n = ring.reap(|cqe| {
                assert!(!std::mem::replace(&mut seen[cqe.user_data as usize], true));
            });
            count += n;
            if count == TOTAL as usize {
                break;
            }
            assert!(n > 0 || next < TOTAL || ring.sq_flags() & sys::IORING_SQ_CQ_OVERFLOW != 0);
        }
        assert_eq!(ring.cq_dropped(), 0);
        assert_eq!(ring.sq_flags() & sys::IORING_SQ_CQ_OVERFLOW, 0);
    }

    #[test]
    fn rollback_returns_unsubmitted_entries() {
        let mut ring = Ring::new(4, 8).unwrap();
        for i in 0..3 {
            // SAFETY: NOPs carry no pointers.
            assert!(unsafe { ring.push(&nop(i)) });
        }
        let mut back = Vec::new();
        ring.rollback_unsubmitted(|sqe| back.push(sqe.user_data));
        assert_eq!(back, vec![0, 1, 2]);
        assert_eq!(ring.sq_pending(), 0);
        // The ring is still usable and nothing rolled back runs.
        // SAFETY: a NOP carries no pointers.
        assert!(unsafe { ring.push(&nop(9)) });
        assert_eq!(ring.enter(1), Ok(1));
        let mut got = Vec::new();
        ring.reap(|cqe| got.push(cqe.user_data));
        assert_eq!(got, vec![9]);
    }
}
