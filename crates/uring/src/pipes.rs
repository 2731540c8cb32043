//! The engine's pipes for splice transfers (`Op::SendFile`): IORING_OP_SPLICE moves file
//! pages into a pipe and from the pipe into the socket, so every transfer in flight holds
//! one pipe. They are pooled: a pipe that a transfer emptied goes back to the pool and
//! serves the next one; a pipe that still holds bytes (a cancelled or failed transfer) is
//! closed, because those bytes belong to nobody.
//!
//! Every pipe is opened O_NONBLOCK|O_CLOEXEC: with a non-blocking pipe the kernel adds
//! SPLICE_F_NONBLOCK to both halves (fs/splice.c `do_splice`), so no io-wq worker ever
//! sleeps on a full or an empty pipe (the engine passes the flag too, for defence).
//!
//! Size (man pipe(7), "Pipe capacity" and "/proc files"): a new pipe holds 16 pages
//! (64 KiB); `fcntl(F_SETPIPE_SZ)` asks for [`PIPE_BYTES`] and the kernel rounds up to a
//! power-of-two number of pages. Above /proc/sys/fs/pipe-max-size (1 MiB by default) an
//! unprivileged caller gets EPERM; above /proc/sys/fs/pipe-user-pages-soft (16384 pages
//! per user) new pipes get only 2 pages and F_SETPIPE_SZ fails. Either way the pipe is
//! kept as the kernel made it: `F_GETPIPE_SZ` says its real capacity, which bounds every
//! splice into it. Correct at any size, only slower.
//!
//! Ownership: the engine owns the pool and every pipe a transfer holds (`engine.rs`,
//! `Transfer::pipe`); only the engine knows when the kernel is done with a pipe (after
//! the CQEs of every SQE naming it). Neither the binding nor JavaScript ever sees one.
//! Each end is an `OwnedFd`, so dropping a [`Pipe`] closes it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::last_errno;

/// The capacity asked for each pipe (F_SETPIPE_SZ); what the kernel gave is
/// [`Pipe::capacity`].
pub(crate) const PIPE_BYTES: u32 = 1 << 20;
/// Empty pipes kept for reuse at most; more are closed when given back.
pub(crate) const MAX_IDLE_PIPES: usize = 16;

/// One pipe: `rd` is what splice reads from (→ socket), `wr` what it writes into
/// (file →). Dropping it closes both ends.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub(crate) rd: OwnedFd,
    pub(crate) wr: OwnedFd,
    /// Bytes it holds at most (F_GETPIPE_SZ), > 0.
    pub(crate) capacity: u32,
}

impl Pipe {
    /// pipe2(O_NONBLOCK|O_CLOEXEC), then F_SETPIPE_SZ(`ask`) — whose refusal is not an
    /// error — and F_GETPIPE_SZ. Err(errno) when the pipe cannot be made (EMFILE,
    /// ENFILE).
    fn open(ask: u32) -> Result<Pipe, i32> {
        let mut fds = [-1i32; 2];
        // SAFETY: `fds` is a writable array of two C ints, as pipe2 requires.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } < 0 {
            return Err(last_errno());
        }
        // SAFETY: pipe2 just returned two new descriptors that nothing else refers to;
        // each OwnedFd becomes the only owner of one.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // EPERM over pipe-max-size or the per-user soft limit, ENOMEM: keep the size the
        // kernel gave (see the module docs).
        // SAFETY: plain fcntl on a descriptor we own; no memory is passed.
        let _ = unsafe { libc::fcntl(wr.as_raw_fd(), libc::F_SETPIPE_SZ, ask as libc::c_int) };
        // SAFETY: as above.
        let got = unsafe { libc::fcntl(wr.as_raw_fd(), libc::F_GETPIPE_SZ) };
        if got <= 0 {
            // Not a pipe size: cannot happen for a pipe we just made; refuse it rather
            // than splice 0 bytes forever.
            return Err(if got < 0 { last_errno() } else { libc::EINVAL });
        }
        Ok(Pipe {
            rd,
            wr,
            capacity: got as u32,
        })
    }
}

/// The engine's pipes: the idle ones, and how many are open in all (idle + held by
/// transfers), for `sendStats`.
#[derive(Debug, Default)]
pub(crate) struct PipePool {
    idle: Vec<Pipe>,
    open: usize,
    /// Capacity of the last pipe made (0 before any).
    last_capacity: u32,
}

impl PipePool {
    /// An idle pipe, or a new one. Err(errno) from pipe2 (EMFILE/ENFILE): the transfer
    /// that asked completes with it.
    pub(crate) fn take(&mut self) -> Result<Pipe, i32> {
        if let Some(p) = self.idle.pop() {
            return Ok(p);
        }
        let p = Pipe::open(PIPE_BYTES)?;
        self.open += 1;
        self.last_capacity = p.capacity;
        Ok(p)
    }

    /// Gives a pipe back: kept for reuse when `empty` (no byte left in it, no SQE naming
    /// it) and fewer than [`MAX_IDLE_PIPES`] wait, else closed.
    pub(crate) fn give(&mut self, p: Pipe, empty: bool) {
        if empty && self.idle.len() < MAX_IDLE_PIPES {
            self.idle.push(p);
        } else {
            self.open -= 1;
            drop(p);
        }
    }

    /// Pipes open: idle ones and those transfers hold.
    pub(crate) fn open(&self) -> usize {
        self.open
    }

    /// Capacity of the last pipe made, in bytes (0 before any).
    pub(crate) fn last_capacity(&self) -> u32 {
        self.last_capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_are_nonblocking_sized_and_pooled() {
        let mut pool = PipePool::default();
        assert_eq!(pool.last_capacity(), 0);
        let a = pool.take().unwrap();
        let b = pool.take().unwrap();
        assert_eq!(pool.open(), 2);
        // Root here; unprivileged users may get less, never 0.
        assert!(a.capacity > 0);
        assert_eq!(pool.last_capacity(), b.capacity);
        for fd in [a.rd.as_raw_fd(), a.wr.as_raw_fd()] {
            // SAFETY: plain fcntl queries on descriptors we own.
            let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            // SAFETY: as above.
            let fdfl = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            assert!(fl & libc::O_NONBLOCK != 0 && fdfl & libc::FD_CLOEXEC != 0);
        }
        let a_rd = a.rd.as_raw_fd();
        pool.give(a, true);
        assert_eq!(pool.open(), 2, "an empty pipe is kept");
        let again = pool.take().unwrap();
        assert_eq!(again.rd.as_raw_fd(), a_rd, "reused, not reopened");
        pool.give(again, false);
        assert_eq!(pool.open(), 1, "a pipe with bytes in it is closed");
        pool.give(b, true);
        // (Unit tests run in parallel in one process: the fd count before/after is
        // checked in tests/splice.rs, which runs alone.)
    }

    #[test]
    fn at_most_max_idle_pipes_wait() {
        let mut pool = PipePool::default();
        let ps: Vec<Pipe> = (0..MAX_IDLE_PIPES + 2)
            .map(|_| pool.take().unwrap())
            .collect();
        for p in ps {
            pool.give(p, true);
        }
        assert_eq!(pool.open(), MAX_IDLE_PIPES);
    }
}
