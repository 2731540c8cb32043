//! `sockets::sendfile_nonblocking_nosigpipe` in a process where SIGPIPE kills (its
//! default action), as in an embedder that does not ignore it the way Node does. A test
//! binary of its own: the signal disposition is process-wide, so no other test may run
//! beside it.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use uring::sockets::{sendfile_nonblocking, sendfile_nonblocking_nosigpipe};

fn sigpipe_pending() -> bool {
    // SAFETY: plain data, filled by sigpending before it is read.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a live local, written by the call.
    assert_eq!(unsafe { libc::sigpending(&mut set) }, 0);
    // SAFETY: `set` was filled above.
    unsafe { libc::sigismember(&set, libc::SIGPIPE) == 1 }
}

fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: plain data, initialised by sigemptyset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a live local.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
    }
    set
}

#[test]
fn epipe_is_a_result_not_a_signal() {
    let path = std::env::temp_dir().join(format!("sigpipe-{}", std::process::id()));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&[7u8; 4096])
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (_b, _) = l.accept().unwrap();
    // Our own end shut for writing: every send is EPIPE and raises SIGPIPE.
    a.shutdown(Shutdown::Write).unwrap();

    // The test is meaningful: the plain call does raise SIGPIPE (kept pending here by a
    // mask of the test's own, then taken).
    let set = sigpipe_set();
    // SAFETY: live locals; this thread's mask only.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let step = sendfile_nonblocking(a.as_raw_fd(), file.as_raw_fd(), 0, 4096);
    assert_eq!(step.errno, libc::EPIPE);
    assert!(sigpipe_pending(), "a send on a shut socket raises SIGPIPE");
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: live locals; a zero timeout.
    assert_eq!(
        unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) },
        libc::SIGPIPE
    );
    // SAFETY: as above.
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };

    // SIGPIPE's default action (terminate) from here on: a delivered one ends this test
    // process, which the harness reports as a failure.
    // SAFETY: installs a disposition; no handler code of ours runs.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    for _ in 0..3 {
        let step = sendfile_nonblocking_nosigpipe(a.as_raw_fd(), file.as_raw_fd(), 0, 4096);
        assert_eq!(step.errno, libc::EPIPE);
        assert_eq!(step.bytes, 0);
        assert!(
            !sigpipe_pending(),
            "the raised SIGPIPE was taken, not left pending"
        );
    }
    // The mask is back as it was: SIGPIPE not blocked.
    // SAFETY: plain data, filled by pthread_sigmask.
    let mut now: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: live locals; reads this thread's mask.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut now) };
    // SAFETY: `now` was filled above.
    assert_eq!(unsafe { libc::sigismember(&now, libc::SIGPIPE) }, 0);
    // SAFETY: restores the disposition the harness had.
    unsafe { libc::signal(libc::SIGPIPE, previous) };
}
