//! Op::SendFile (IORING_OP_SPLICE file → pipe → socket in rounds) and Op::Cancel, on both
//! engine modes, over std::net loopback with the sending socket non-blocking (as Node's
//! are). One #[test] runs every case in order: the last check counts /proc/self/fd, which
//! tests running in parallel in this binary would disturb.
mod common;

use common::driver::{readable, Driver, Mode, MODES};
use common::{pattern, TempDir};
use std::collections::HashMap;
use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use uring::errno::{ECANCELED, ECONNRESET, ENOENT, EPIPE};
use uring::{Completion, EngineConfig, Op, Request, RESULT_RING_FAILED};

const MIB: usize = 1 << 20;
/// The source file: big enough for 64 MiB at an odd offset.
const FILE_BYTES: usize = 64 * MIB + 64 * 1024 + 13;

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// How the receiving end behaves.
#[derive(Clone, Copy)]
enum Reader {
    /// Reads everything until end of stream.
    All,
    /// Sleeps first, then reads everything.
    Paused(Duration),
    /// Reads this many bytes, then closes (with unread data: a reset).
    CloseAfter(usize),
    /// Never reads; closes when told (or when the test ends).
    Never,
}

/// A connected loopback pair: the sender (non-blocking, as Node's sockets) and the
/// receiver on a thread, which returns the bytes it got.
struct Pair {
    sender: Option<TcpStream>,
    receiver: JoinHandle<Vec<u8>>,
    /// For Reader::Never: dropping it (or sending) lets the receiver go.
    release: mpsc::Sender<()>,
}

impl Pair {
    fn new(reader: Reader) -> Pair {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let (release, released) = mpsc::channel::<()>();
        let receiver = std::thread::spawn(move || {
            let mut c = client;
            let mut got = Vec::new();
            match reader {
                Reader::All => {
                    c.read_to_end(&mut got).unwrap();
                }
                Reader::Paused(d) => {
                    std::thread::sleep(d);
                    c.read_to_end(&mut got).unwrap();
                }
                Reader::CloseAfter(n) => {
                    let mut buf = vec![0u8; 64 * 1024];
                    while got.len() < n {
                        let r = c.read(&mut buf).unwrap();
                        if r == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..r]);
                    }
                }
                Reader::Never => {
                    let _ = released.recv();
                }
            }
            got
        });
        Pair {
            sender: Some(server),
            receiver,
            release,
        }
    }

    /// The dup the engine gets (and closes).
    fn dup(&self) -> OwnedFd {
        uring::sockets::dup_cloexec(self.sender.as_ref().unwrap().as_raw_fd()).unwrap()
    }

    /// Closes our end (the engine's dup is gone by now) and returns what the receiver got.
    fn finish(mut self) -> Vec<u8> {
        drop(self.sender.take());
        let _ = self.release.send(());
        self.receiver.join().unwrap()
    }
}

fn send_file(id: u64, file: i32, offset: u64, len: u64, sock: OwnedFd) -> Request {
    Request::new(
        id,
        Op::SendFile {
            file,
            offset,
            len,
            sock,
        },
    )
}

/// Submits without waiting.
fn submit(d: &mut Driver, reqs: Vec<Request>, got: &mut HashMap<u64, i64>) {
    let mut reqs = reqs;
    match d {
        // SAFETY: SendFile, Cancel and Nop carry no buffers.
        Driver::Thread(w, _) => unsafe { w.submit(&mut reqs) }.unwrap(),
        Driver::Inline(e) => {
            let mut out = Vec::new();
            // SAFETY: as above.
            unsafe { e.submit(&mut reqs, &mut out) }.unwrap();
            for c in out {
                assert!(got.insert(c.user_data, c.result).is_none());
            }
        }
    }
}

/// Waits (up to a generous deadline) until `ids` have all completed.
fn wait(d: &mut Driver, ids: &[u64], got: &mut HashMap<u64, i64>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ids.iter().all(|id| got.contains_key(id)) {
        assert!(Instant::now() < deadline, "completions missing: {got:?}");
        match d {
            Driver::Thread(_, rx) => {
                if let Ok(c) = rx.recv_timeout(Duration::from_millis(100)) {
                    assert!(got.insert(c.user_data, c.result).is_none());
                }
            }
            Driver::Inline(e) => {
                readable(e.poll_fd(), 100);
                let mut out = Vec::new();
                e.reap(&mut out);
                for c in out {
                    assert!(got.insert(c.user_data, c.result).is_none());
                }
            }
        }
    }
}

fn one(d: &mut Driver, req: Request) -> i64 {
    let id = req.user_data;
    let mut got = HashMap::new();
    submit(d, vec![req], &mut got);
    wait(d, &[id], &mut got);
    got[&id]
}

fn send_stats(d: &Driver) -> uring::SendStats {
    match d {
        Driver::Thread(w, _) => w.send_stats(),
        Driver::Inline(e) => e.send_stats(),
    }
}

fn splice_supported(d: &Driver) -> bool {
    match d {
        Driver::Thread(w, _) => w.info().splice_op,
        Driver::Inline(e) => e.info().splice_op,
    }
}

fn is_err(r: i64, errnos: &[i32]) -> bool {
    errnos.iter().any(|&e| r == -i64::from(e))
}

/// Runs `f`; aborts the process (a hang would otherwise stall the test run) if it has
/// not returned within `secs`.
fn with_watchdog<T>(what: &str, secs: u64, f: impl FnOnce() -> T) -> T {
    let (done, watch) = mpsc::channel::<()>();
    let what = what.to_string();
    let dog = std::thread::spawn(move || {
        if watch.recv_timeout(Duration::from_secs(secs)) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("watchdog: {what} did not return within {secs} s");
            std::process::abort();
        }
    });
    let r = f();
    done.send(()).unwrap();
    dog.join().unwrap();
    r
}

fn cases(mode: Mode, dir: &TempDir, data: &[u8]) {
    let path = dir.path("src");
    let cfg = EngineConfig {
        queue_capacity: 64,
        sq_entries: 64,
        ..EngineConfig::default()
    };
    let mut d = Driver::new(mode, cfg.clone());
    assert!(splice_supported(&d), "{mode:?}: Linux 6.18 has splice");
    assert_eq!(send_stats(&d).pipes_open, 0);

    // The file through an Open: it gets a fixed slot, so FILL names it as
    // SPLICE_F_FD_IN_FIXED.
    let cpath = CString::new(path.to_str().unwrap()).unwrap();
    let fixed = one(
        &mut d,
        Request::new(
            100,
            Op::Open {
                path: cpath,
                flags: libc::O_RDONLY,
                mode: 0,
            },
        ),
    );
    assert!(fixed >= 0, "{mode:?}: open {fixed}");
    let fixed = fixed as i32;
    // And as a plain fd (no slot).
    let plain_file = std::fs::File::open(&path).unwrap();
    let plain = plain_file.as_raw_fd();

    // 1. Exact bytes at odd offsets, both fd kinds.
    for (i, (len, offset)) in [(1, 1), (4095, 7), (3 * MIB, 4097), (64 * MIB, 12345)]
        .into_iter()
        .enumerate()
    {
        for (j, file) in [fixed, plain].into_iter().enumerate() {
            if len == 64 * MIB && j == 1 {
                continue; // once is enough for the big one
            }
            let p = Pair::new(Reader::All);
            let r = one(
                &mut d,
                send_file(
                    i as u64 * 2 + j as u64,
                    file,
                    offset as u64,
                    len as u64,
                    p.dup(),
                ),
            );
            let got = p.finish();
            assert_eq!(r, len as i64, "{mode:?}: {len} B at {offset} (fd kind {j})");
            assert_eq!(got.len(), len, "{mode:?}: received");
            assert!(
                got == data[offset..offset + len],
                "{mode:?}: the bytes differ"
            );
        }
    }
    let s = send_stats(&d);
    assert!(s.pipes_open >= 1 && s.pipe_bytes > 0, "{mode:?}: {s:?}");

    // Cold: the range is not in the page cache (the fill reads from the disk in io-wq).
    let _ = uring::fadvise_dontneed(plain, 0, 0);
    let p = Pair::new(Reader::All);
    let len = 8 * MIB;
    let r = one(
        &mut d,
        send_file(15, plain, 4096 * 3 + 1, len as u64, p.dup()),
    );
    let got = p.finish();
    assert_eq!(r, len as i64, "{mode:?}: cold range");
    assert!(
        got == data[4096 * 3 + 1..4096 * 3 + 1 + len],
        "{mode:?}: cold bytes"
    );

    // 2. End of file: a range past the end is short; at or past the end, 0.
    let size = data.len() as u64;
    for (offset, len, want) in [(size - 1000, 5000, 1000), (size, 10, 0), (size + 77, 10, 0)] {
        let p = Pair::new(Reader::All);
        let r = one(&mut d, send_file(20, plain, offset, len, p.dup()));
        let got = p.finish();
        assert_eq!(r, want as i64, "{mode:?}: EOF at {offset}+{len}");
        assert!(got == data[offset.min(size) as usize..(offset + want).min(size) as usize]);
    }
    // A zero-length send: 0, nothing sent.
    let p = Pair::new(Reader::All);
    assert_eq!(one(&mut d, send_file(21, plain, 0, 0, p.dup())), 0);
    assert!(p.finish().is_empty());

    // Not a socket (a dup of the file itself): refused, nothing written anywhere.
    let not_sock = uring::sockets::dup_cloexec(plain).unwrap();
    assert_eq!(
        one(&mut d, send_file(22, plain, 0, 10, not_sock)),
        -i64::from(libc::ENOTSOCK)
    );

    // 3. A paused reader: the socket fills, the transfer waits (POLL_ADD), everything
    //    arrives.
    let polls = send_stats(&d).polls;
    let p = Pair::new(Reader::Paused(Duration::from_millis(300)));
    let len = 16 * MIB;
    let r = one(&mut d, send_file(30, fixed, 3, len as u64, p.dup()));
    let got = p.finish();
    assert_eq!(r, len as i64, "{mode:?}: paused reader");
    assert!(got == data[3..3 + len], "{mode:?}: paused reader's bytes");
    assert!(
        send_stats(&d).polls > polls,
        "{mode:?}: no POLL_ADD was pushed"
    );

    // 4. The reader closes mid-way: EPIPE or ECONNRESET.
    let p = Pair::new(Reader::CloseAfter(MIB));
    let r = one(&mut d, send_file(40, fixed, 0, 64 * MIB as u64, p.dup()));
    let got = p.finish();
    assert!(
        is_err(r, &[EPIPE, ECONNRESET]),
        "{mode:?}: reader gone: {r}"
    );
    assert!(got.len() >= MIB && got == data[..got.len()]);

    // 5. Cancel of a transfer to a reader that never reads: -ECANCELED or the bytes sent
    //    so far; a cancel of nothing is -ENOENT.
    let p = Pair::new(Reader::Never);
    let len = 64 * MIB as u64;
    let mut got = HashMap::new();
    submit(
        &mut d,
        vec![send_file(50, fixed, 0, len, p.dup())],
        &mut got,
    );
    std::thread::sleep(Duration::from_millis(200));
    submit(
        &mut d,
        vec![
            Request::new(51, Op::Cancel { target: 50 }),
            Request::new(52, Op::Cancel { target: 9999 }),
        ],
        &mut got,
    );
    wait(&mut d, &[50, 51, 52], &mut got);
    assert_eq!(got[&51], 0, "{mode:?}: cancel accepted");
    assert_eq!(got[&52], -i64::from(ENOENT), "{mode:?}: cancel of nothing");
    let r = got[&50];
    assert!(
        r == -i64::from(ECANCELED) || (r > 0 && r < len as i64),
        "{mode:?}: cancelled transfer: {r}"
    );
    drop(p.finish());
    // A second cancel of the finished transfer finds nothing.
    assert_eq!(
        one(&mut d, Request::new(53, Op::Cancel { target: 50 })),
        -i64::from(ENOENT)
    );

    assert_eq!(
        one(&mut d, Request::new(101, Op::Close { fd: fixed })),
        0,
        "{mode:?}: close"
    );
    drop(d);

    // 6. Shutdown (thread) / drop (inline) with a transfer waiting for a reader that
    //    never reads: returns, and the transfer completed.
    let p = Pair::new(Reader::Never);
    let mut d = Driver::new(mode, cfg.clone());
    let mut got = HashMap::new();
    submit(
        &mut d,
        vec![send_file(60, plain, 0, len, p.dup())],
        &mut got,
    );
    std::thread::sleep(Duration::from_millis(200));
    match d {
        Driver::Thread(w, rx) => {
            with_watchdog("Worker::shutdown", 60, move || w.shutdown());
            let c: Completion = rx.try_recv().expect("the transfer completed");
            assert_eq!(c.user_data, 60);
            assert!(
                c.result == -i64::from(ECANCELED) || (c.result > 0 && c.result < len as i64),
                "{mode:?}: {c:?}"
            );
        }
        Driver::Inline(e) => {
            let mut e = e;
            let mut out = Vec::new();
            with_watchdog("InlineEngine::wait_all", 60, || e.wait_all(&mut out));
            assert_eq!(out.len(), 1, "{mode:?}: {out:?}");
            assert!(out[0].result == -i64::from(ECANCELED) || out[0].result > 0);
            // And a drop with one in flight returns too.
            let p2 = Pair::new(Reader::Never);
            let mut none = HashMap::new();
            let mut d2 = Driver::Inline(e);
            submit(
                &mut d2,
                vec![send_file(61, plain, 0, len, p2.dup())],
                &mut none,
            );
            std::thread::sleep(Duration::from_millis(200));
            with_watchdog("InlineEngine drop", 60, move || drop(d2));
            drop(p2.finish());
        }
    }
    drop(p.finish());

    // 7. The ring fails (test hook) in the middle of a transfer: it completes with the
    //    bytes that reached the socket, never RESULT_RING_FAILED after some did, and the
    //    receiver gets exactly those — nothing twice.
    let mut d = Driver::new(
        mode,
        EngineConfig {
            test_fail_after_submits: Some(1),
            ..cfg.clone()
        },
    );
    let p = Pair::new(Reader::Paused(Duration::from_millis(500)));
    let len = 32 * MIB as u64;
    let mut got = HashMap::new();
    submit(
        &mut d,
        vec![send_file(70, plain, 5, len, p.dup())],
        &mut got,
    );
    // Let the first rounds complete (inline: reap them), so bytes are out before the
    // failure.
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        match &mut d {
            Driver::Thread(..) => std::thread::sleep(Duration::from_millis(20)),
            Driver::Inline(e) => {
                readable(e.poll_fd(), 20);
                let mut out = Vec::new();
                e.reap(&mut out);
                assert!(out.is_empty(), "nothing completes while the reader sleeps");
            }
        }
    }
    // The second request trips the hook: it and every later one fail.
    submit(&mut d, vec![Request::new(71, Op::Nop)], &mut got);
    wait(&mut d, &[70, 71], &mut got);
    assert_eq!(got[&71], RESULT_RING_FAILED);
    let r = got[&70];
    let recv = p.finish();
    assert!(
        r > 0 && r <= len as i64,
        "{mode:?}: transfer on a failing ring: {r}"
    );
    assert_eq!(recv.len() as i64, r, "{mode:?}: received vs reported");
    assert!(
        recv == data[5..5 + recv.len()],
        "{mode:?}: the bytes differ"
    );
    // A transfer submitted now never reaches the kernel.
    let p = Pair::new(Reader::All);
    assert_eq!(
        one(&mut d, send_file(72, plain, 0, 10, p.dup())),
        RESULT_RING_FAILED
    );
    assert!(p.finish().is_empty());
    drop(d);
    drop(plain_file);
}

#[test]
fn send_file_in_rounds_on_both_modes() {
    let dir = TempDir::new("splice");
    let data = pattern(11, FILE_BYTES);
    std::fs::File::create(dir.path("src"))
        .unwrap()
        .write_all(&data)
        .unwrap();
    let before = fd_count();
    for mode in MODES {
        cases(mode, &dir, &data);
    }
    // Every pipe, socket dup and ring is closed once the engines are gone.
    assert_eq!(fd_count(), before, "descriptors leaked");
}
