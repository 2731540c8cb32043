//! Linked chains (IOSQE_IO_LINK) and the inline engine, on both engine modes.
mod common;

use common::driver::{readable, Driver, MODES};
use common::{pattern, TempDir};
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use uring::{Completion, EngineConfig, InlineEngine, Op, Request};

const ECANCELED: i64 = -125;
const EBADF: i64 = -9;

fn create(dir: &TempDir, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.path(name))
        .unwrap()
}

/// A write linked to an fdatasync, and a chain after it, in one submit.
#[test]
fn write_linked_to_fdatasync() {
    for mode in MODES {
        let dir = TempDir::new("link-sync");
        let f = create(&dir, "a");
        let fd = f.as_raw_fd();
        let data = pattern(1, 4096);
        let mut d = Driver::new(mode, EngineConfig::default());
        let reqs = vec![
            Request::linked(
                1,
                Op::Write {
                    fd,
                    buf: data.as_ptr(),
                    len: data.len(),
                    offset: 0,
                },
            ),
            Request::linked(2, Op::Fsync { fd, datasync: true }),
            Request::new(3, Op::Size { fd }),
        ];
        // SAFETY: `data` outlives the call.
        let r = unsafe { d.results(reqs) };
        assert_eq!(r, vec![4096, 0, 4096], "{mode:?}");
        assert_eq!(std::fs::read(dir.path("a")).unwrap(), data);
    }
}

/// A member that fails cancels the rest of its chain only; other chains run.
#[test]
fn failure_cancels_the_rest_of_its_chain() {
    for mode in MODES {
        let mut d = Driver::new(mode, EngineConfig::default());
        let reqs = vec![
            Request::linked(1, Op::Nop),
            Request::linked(
                2,
                Op::Fsync {
                    fd: 1_000_000,
                    datasync: true,
                },
            ),
            Request::linked(3, Op::Nop),
            Request::new(4, Op::Nop),
            Request::linked(5, Op::Nop),
            Request::new(6, Op::Nop),
        ];
        // SAFETY: no buffers.
        let r = unsafe { d.results(reqs) };
        assert_eq!(r, vec![0, EBADF, ECANCELED, ECANCELED, 0, 0], "{mode:?}");
    }
}

/// A read that stops at end-of-file is short for the kernel (which cancels the rest of
/// the chain) but a success here: the rest runs, in order.
#[test]
fn short_read_at_eof_does_not_break_the_chain() {
    for mode in MODES {
        let dir = TempDir::new("link-eof");
        let f = create(&dir, "a");
        let fd = f.as_raw_fd();
        std::fs::write(dir.path("a"), pattern(2, 100)).unwrap();
        let mut b1 = vec![0u8; 4096];
        let b2 = b"xyz".to_vec();
        let mut b3 = vec![0u8; 4096];
        let mut d = Driver::new(mode, EngineConfig::default());
        let reqs = vec![
            Request::linked(
                1,
                Op::Read {
                    fd,
                    buf: b1.as_mut_ptr(),
                    len: 4096,
                    offset: 0,
                },
            ),
            Request::linked(
                2,
                Op::Write {
                    fd,
                    buf: b2.as_ptr(),
                    len: 3,
                    offset: 200,
                },
            ),
            Request::new(
                3,
                Op::Read {
                    fd,
                    buf: b3.as_mut_ptr(),
                    len: 4096,
                    offset: 0,
                },
            ),
        ];
        // SAFETY: the buffers outlive the call.
        let r = unsafe { d.results(reqs) };
        assert_eq!(r, vec![100, 3, 203], "{mode:?}");
        assert_eq!(&b3[200..203], b"xyz");
    }
}

/// A pipe read that arrives in two pieces is continued, and the write linked after it
/// runs only once the read is whole: it writes the complete buffer.
#[test]
fn short_read_in_a_chain_is_continued_before_the_rest() {
    for mode in MODES {
        let dir = TempDir::new("link-short");
        let f = create(&dir, "out");
        let (reader, mut writer) = std::io::pipe().unwrap();
        let mut buf = vec![0u8; 10];
        let t = std::thread::spawn(move || {
            use std::io::Write;
            writer.write_all(b"hello").unwrap();
            std::thread::sleep(Duration::from_millis(50));
            writer.write_all(b"world").unwrap();
        });
        let mut d = Driver::new(mode, EngineConfig::default());
        let reqs = vec![
            Request::linked(
                1,
                Op::Read {
                    fd: reader.as_raw_fd(),
                    buf: buf.as_mut_ptr(),
                    len: 10,
                    offset: 0,
                },
            ),
            Request::new(
                2,
                Op::Write {
                    fd: f.as_raw_fd(),
                    buf: buf.as_ptr(),
                    len: 10,
                    offset: 0,
                },
            ),
        ];
        // SAFETY: the buffers outlive the call.
        let r = unsafe { d.results(reqs) };
        t.join().unwrap();
        assert_eq!(r, vec![10, 10], "{mode:?}");
        assert_eq!(std::fs::read(dir.path("out")).unwrap(), b"helloworld");
    }
}

/// Chains longer than the SQ, and many chains that do not fit at once, all complete
/// in order (a chain is never split across an SQ-full boundary; one longer than the SQ
/// goes in pieces, each waiting for the one before).
#[test]
fn chains_longer_than_the_sq_and_many_chains() {
    for mode in MODES {
        let dir = TempDir::new("link-many");
        let f = create(&dir, "a");
        let fd = f.as_raw_fd();
        let cfg = EngineConfig {
            sq_entries: 4,
            queue_capacity: 256,
            ..EngineConfig::default()
        };
        let mut d = Driver::new(mode, cfg);
        // One chain of 11: ten 1-byte writes at increasing offsets, then a size.
        let bytes = pattern(3, 10);
        let mut reqs: Vec<Request> = (0..10u64)
            .map(|i| {
                Request::linked(
                    i,
                    Op::Write {
                        fd,
                        buf: bytes[i as usize..].as_ptr(),
                        len: 1,
                        offset: i,
                    },
                )
            })
            .collect();
        reqs.push(Request::new(10, Op::Size { fd }));
        // SAFETY: `bytes` outlives the call.
        let r = unsafe { d.results(reqs) };
        assert_eq!(r[10], 10, "{mode:?}: size after every write");
        assert!(r[..10].iter().all(|&x| x == 1));
        // Forty chains of three NOPs.
        let reqs: Vec<Request> = (0..120u64)
            .map(|i| {
                if i % 3 == 2 {
                    Request::new(i, Op::Nop)
                } else {
                    Request::linked(i, Op::Nop)
                }
            })
            .collect();
        // SAFETY: no buffers.
        let r = unsafe { d.results(reqs) };
        assert!(r.iter().all(|&x| x == 0), "{mode:?}");
    }
}

/// The last request of a submit is never linked to the next submit.
#[test]
fn a_chain_ends_with_its_submit() {
    for mode in MODES {
        let mut d = Driver::new(mode, EngineConfig::default());
        // SAFETY: no buffers.
        let r = unsafe {
            d.results(vec![Request::linked(
                1,
                Op::Fsync {
                    fd: 1_000_000,
                    datasync: false,
                },
            )])
        };
        assert_eq!(r, vec![EBADF]);
        // SAFETY: no buffers.
        let r = unsafe { d.results(vec![Request::new(2, Op::Nop)]) };
        assert_eq!(r, vec![0], "{mode:?}");
    }
}

/// Inline: NOPs and cached reads complete inside submit; capacity is enforced; an
/// fdatasync completes later and makes the ring fd readable; drop waits.
#[test]
fn inline_completes_cached_work_inside_submit() {
    let dir = TempDir::new("inline");
    let f = create(&dir, "a");
    let fd = f.as_raw_fd();
    std::fs::write(dir.path("a"), pattern(4, 8192)).unwrap();
    let mut e = InlineEngine::new(&EngineConfig {
        queue_capacity: 4,
        ..EngineConfig::default()
    })
    .unwrap();
    assert!(e.info().setup_flag_names.contains(&"single_issuer"));
    assert!(!e.info().setup_flag_names.contains(&"defer_taskrun"));
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::new();
    let mut reqs = vec![
        Request::new(1, Op::Nop),
        Request::new(
            2,
            Op::Read {
                fd,
                buf: buf.as_mut_ptr(),
                len: 4096,
                offset: 4096,
            },
        ),
    ];
    // SAFETY: `buf` outlives the engine's use (checked complete below).
    unsafe { e.submit(&mut reqs, &mut out) }.unwrap();
    out.sort_by_key(|c| c.user_data);
    assert_eq!(
        out,
        vec![
            Completion {
                user_data: 1,
                result: 0
            },
            Completion {
                user_data: 2,
                result: 4096
            }
        ]
    );
    assert_eq!(buf, pattern(4, 8192)[4096..]);
    assert_eq!(e.outstanding(), 0);

    let mut too_many: Vec<Request> = (10..15).map(|i| Request::new(i, Op::Nop)).collect();
    // SAFETY: no buffers.
    assert_eq!(
        unsafe { e.submit(&mut too_many, &mut out) },
        Err(uring::errno::EAGAIN)
    );
    assert_eq!(too_many.len(), 5, "nothing accepted");

    // Dirty a lot of data so fdatasync has real work.
    std::fs::write(dir.path("a"), pattern(5, 8 << 20)).unwrap();
    out.clear();
    let mut reqs = vec![Request::new(3, Op::Fsync { fd, datasync: true })];
    // SAFETY: no buffers.
    unsafe { e.submit(&mut reqs, &mut out) }.unwrap();
    let t0 = Instant::now();
    while out.is_empty() {
        assert!(readable(e.poll_fd(), 20_000));
        e.reap(&mut out);
        assert!(t0.elapsed() < Duration::from_secs(20));
    }
    assert_eq!(
        out,
        vec![Completion {
            user_data: 3,
            result: 0
        }]
    );
    // Nothing pending: the ring fd is not readable.
    assert!(!readable(e.poll_fd(), 0));

    // Dropped with an fdatasync in flight: drop waits for it.
    std::fs::write(dir.path("a"), pattern(6, 8 << 20)).unwrap();
    let mut reqs = vec![Request::new(4, Op::Fsync { fd, datasync: true })];
    // SAFETY: no buffers.
    unsafe { e.submit(&mut reqs, &mut out) }.unwrap();
    drop(e);
}

/// Inline open of a directory is EISDIR; the ring-failure hook degrades as in thread
/// mode (RESULT_RING_FAILED after N requests).
#[test]
fn inline_open_checks_and_failure_hook() {
    let mut e = InlineEngine::new(&EngineConfig {
        test_fail_after_submits: Some(2),
        ..EngineConfig::default()
    })
    .unwrap();
    let dir = TempDir::new("inline-open");
    let path = CString::new(dir.0.as_os_str().as_encoded_bytes()).unwrap();
    let mut out = Vec::new();
    let mut reqs = vec![
        Request::new(
            1,
            Op::Open {
                path,
                flags: uring::oflags::O_RDONLY,
                mode: 0,
            },
        ),
        Request::new(2, Op::Nop),
        Request::new(3, Op::Nop),
    ];
    // SAFETY: no buffers.
    unsafe { e.submit(&mut reqs, &mut out) }.unwrap();
    out.sort_by_key(|c| c.user_data);
    let results: Vec<i64> = out.iter().map(|c| c.result).collect();
    assert_eq!(results, vec![-21, 0, uring::RESULT_RING_FAILED]);
    assert!(e.ring_failed());
    assert_eq!(e.ring_error(), None);
}
