//! Descriptor calls for sending file bytes to sockets (issue 11's `sendTo`), on Linux with
//! or without the io_uring engine: the binding's standard-backend helpers use them on
//! the libuv thread pool, and the engine's splice transfers take a [`dup_cloexec`] of the
//! caller's socket.
//!
//! Why a dup: Node owns the socket's descriptor and may close it — and the process may
//! reuse its number for another file — the moment control returns to JavaScript. A
//! duplicate made in the same synchronous call that read the number refers to the same
//! open socket for as long as its owner keeps it, whatever Node does with the original.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use crate::last_errno;

/// Most bytes one sendfile(2) call moves on Linux (man sendfile(2), NOTES): asking more is
/// allowed but pointless.
pub const SENDFILE_MAX_CHUNK: u64 = 0x7fff_f000;

/// fcntl(fd, F_DUPFD_CLOEXEC, 0): a new descriptor for the same open file description,
/// closed on exec, owned by the result. Err(errno) — EBADF for a descriptor that is not
/// open, EMFILE at the process's limit.
pub fn dup_cloexec(fd: RawFd) -> Result<OwnedFd, i32> {
    if fd < 0 {
        return Err(libc::EBADF);
    }
    // SAFETY: plain syscall on an integer fd; no memory is passed.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if r < 0 {
        return Err(last_errno());
    }
    // SAFETY: fcntl just returned a new descriptor that nothing else refers to; the
    // OwnedFd is its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// close(2) of a descriptor the caller owns outright (one [`dup_cloexec`] handed to
/// JavaScript as a number). Never retried: Linux frees the descriptor even when close
/// reports EINTR, so a retry could close a number already reused. Err(errno).
pub fn close_fd(fd: RawFd) -> Result<(), i32> {
    if fd < 0 {
        return Err(libc::EBADF);
    }
    // SAFETY: plain syscall on an integer fd; the caller owns it and stops using it.
    match unsafe { libc::close(fd) } {
        0 => Ok(()),
        _ => Err(last_errno()),
    }
}

/// What [`sendfile_nonblocking`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendfileStep {
    /// Bytes that reached the socket (also when `errno` is set: they are sent).
    pub bytes: u64,
    /// 0: all `len` bytes sent, or end of file first (`bytes < len`); EAGAIN: the socket
    /// is full, wait until it is writable and call again from `offset + bytes`; any other
    /// value: the error that stopped it.
    pub errno: i32,
}

/// sendfile(2) of `len` bytes of `file` from `offset` to the socket `out`, repeated until
/// done, end of file, EAGAIN or an error (EINTR is retried). The file position is left
/// alone (an explicit offset is passed). With a non-blocking socket — Node's are — this
/// never waits for the reader, so a thread-pool thread running it is never held by a
/// slow consumer; only the file read itself can wait (on the disk).
pub fn sendfile_nonblocking(out: RawFd, file: RawFd, offset: u64, len: u64) -> SendfileStep {
    let mut sent = 0u64;
    while sent < len {
        let Ok(mut off) = libc::off64_t::try_from(offset + sent) else {
            return SendfileStep {
                bytes: sent,
                errno: libc::EINVAL,
            };
        };
        let ask = (len - sent).min(SENDFILE_MAX_CHUNK) as usize;
        // SAFETY: `off` is a live local the kernel reads and updates for the duration of
        // the call; the descriptors are plain integers (a bad one gives EBADF).
        let r = unsafe { libc::sendfile64(out, file, &mut off, ask) };
        if r > 0 {
            sent += r as u64;
            continue;
        }
        if r == 0 {
            break; // end of file
        }
        match last_errno() {
            libc::EINTR => continue,
            e => {
                return SendfileStep {
                    bytes: sent,
                    errno: e,
                }
            }
        }
    }
    SendfileStep {
        bytes: sent,
        errno: 0,
    }
}

/// [`sendfile_nonblocking`] with SIGPIPE blocked on the calling thread for the call, for
/// a thread the caller does not own (a libuv thread-pool thread). A send to a connection
/// the peer closed raises SIGPIPE on the sending thread, whose default action kills the
/// process. Node ignores SIGPIPE process-wide (node.cc `PlatformInit`), so under Node this
/// changes nothing; an embedder that does not ignore it gets EPIPE as the result, never a
/// killed process. sendfile(2) has no MSG_NOSIGNAL, hence the mask.
pub fn sendfile_nonblocking_nosigpipe(
    out: RawFd,
    file: RawFd,
    offset: u64,
    len: u64,
) -> SendfileStep {
    let _blocked = SigpipeBlocked::new();
    sendfile_nonblocking(out, file, offset, len)
}

/// SIGPIPE blocked on this thread until dropped. A SIGPIPE raised meanwhile stays pending
/// on the thread (a blocked signal is never discarded, even an ignored one); the drop takes
/// it (sigtimedwait, no wait) before restoring the old mask, so it is never delivered. When
/// the thread already blocked SIGPIPE, nothing is changed or taken: that is its owner's
/// policy.
struct SigpipeBlocked {
    /// The mask to restore; None when SIGPIPE was blocked already (or the mask call failed).
    old: Option<libc::sigset_t>,
}

/// The set {SIGPIPE}.
fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before any other use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live local; both calls only write it.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
    }
    set
}

impl SigpipeBlocked {
    fn new() -> SigpipeBlocked {
        let set = sigpipe_set();
        // SAFETY: plain data, filled by pthread_sigmask below before it is read.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` and `old` are live locals; this changes the calling thread's mask only.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
        // SAFETY: `old` was filled by the successful call.
        let was_blocked = r != 0 || unsafe { libc::sigismember(&old, libc::SIGPIPE) } == 1;
        SigpipeBlocked {
            old: (!was_blocked).then_some(old),
        }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        let Some(old) = self.old else { return };
        let set = sigpipe_set();
        // SAFETY: plain data, filled by sigpending before it is read.
        let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: live locals; sigpending only writes `pending`.
        let has = unsafe { libc::sigpending(&mut pending) } == 0
            // SAFETY: `pending` was filled by the successful call.
            && unsafe { libc::sigismember(&pending, libc::SIGPIPE) } == 1;
        if has {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: live locals; a zero timeout never waits; the siginfo out-pointer
            // may be null. SIGPIPE is blocked here, as sigtimedwait requires.
            unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) };
        }
        // SAFETY: `old` is the mask this thread had before `new`; restores it.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    fn temp_file(bytes: &[u8]) -> std::fs::File {
        let path =
            std::env::temp_dir().join(format!("sockets-{}-{}", std::process::id(), bytes.len()));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(bytes).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn dup_refers_to_the_same_socket_after_the_original_closes() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        let dup = dup_cloexec(a.as_raw_fd()).unwrap();
        drop(a);
        let mut via_dup = TcpStream::from(dup);
        via_dup.write_all(b"still here").unwrap();
        drop(via_dup);
        let mut got = Vec::new();
        b.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"still here");
        assert_eq!(dup_cloexec(-1).unwrap_err(), libc::EBADF);
        assert_eq!(close_fd(-1).unwrap_err(), libc::EBADF);
    }

    #[test]
    fn sendfile_stops_at_end_of_file_and_on_a_full_socket() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
        let file = temp_file(&data);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        // Past the end: up to the end, errno 0.
        let step = sendfile_nonblocking(a.as_raw_fd(), file.as_raw_fd(), 199_000, 5_000);
        assert_eq!(
            step,
            SendfileStep {
                bytes: 1_000,
                errno: 0
            }
        );
        let mut got = vec![0u8; 1_000];
        b.read_exact(&mut got).unwrap();
        assert_eq!(got, &data[199_000..]);
        // A reader that never reads: EAGAIN on the non-blocking socket, never a wait.
        a.set_nonblocking(true).unwrap();
        let big = temp_file(&vec![1u8; 64 << 20]);
        let step = sendfile_nonblocking(a.as_raw_fd(), big.as_raw_fd(), 0, 64 << 20);
        assert_eq!(step.errno, libc::EAGAIN);
        assert!(step.bytes > 0 && step.bytes < 64 << 20, "{step:?}");
        // A closed descriptor: EBADF, nothing sent.
        let step = sendfile_nonblocking(-1, file.as_raw_fd(), 0, 10);
        assert_eq!(
            step,
            SendfileStep {
                bytes: 0,
                errno: libc::EBADF
            }
        );
    }
}
