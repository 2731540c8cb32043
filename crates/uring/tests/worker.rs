//! Round trips through the Worker on real temp files.

mod common;

use common::{pattern, Harness, TempDir};
use std::os::fd::AsRawFd;
use uring::errno::*;
use uring::oflags::*;
use uring::{EngineConfig, Op, Worker};

#[test]
fn write_then_read_back_at_many_offsets_and_sizes() {
    let dir = TempDir::new("rw");
    let mut h = Harness::standard();
    let fd = h.create(&dir.path("data"));
    let cases: &[(u64, usize)] = &[
        (0, 1),
        (1, 511),
        (4095, 4096),
        (65_536, 65_537),
        ((1 << 20) + 7, (1 << 20) + 3),
        (3 << 20, 8 << 20),
        (100 << 20, 12_345),
    ];
    for (i, &(offset, len)) in cases.iter().enumerate() {
        let data = pattern(i as u64, len);
        assert_eq!(
            h.write_at(fd, &data, offset),
            len as i64,
            "write {offset}+{len}"
        );
        let mut back = vec![0u8; len];
        assert_eq!(
            h.read_at(fd, &mut back, offset),
            len as i64,
            "read {offset}+{len}"
        );
        assert!(back == data, "contents differ at {offset}+{len}");
    }
    // The file as std sees it agrees.
    let on_disk = std::fs::read(dir.path("data")).unwrap();
    assert_eq!(on_disk.len() as u64, (100 << 20) + 12_345);
    assert_eq!(&on_disk[3 << 20..(3 << 20) + 64], &pattern(5, 64)[..]);
    assert_eq!(h.one(Op::Close { fd }), 0);
}

#[test]
fn short_read_at_eof_and_zero_length_ops() {
    let dir = TempDir::new("eof");
    let mut h = Harness::standard();
    let fd = h.create(&dir.path("f"));
    let data = pattern(1, 1000);
    assert_eq!(h.write_at(fd, &data, 0), 1000);
    let mut buf = vec![0u8; 4096];
    assert_eq!(h.read_at(fd, &mut buf, 990), 10);
    assert_eq!(&buf[..10], &data[990..]);
    assert_eq!(h.read_at(fd, &mut buf, 1000), 0);
    assert_eq!(h.read_at(fd, &mut buf, 1 << 40), 0);
    assert_eq!(h.read_at(fd, &mut buf[..0], 0), 0);
    assert_eq!(h.write_at(fd, &[], 5), 0);
    assert_eq!(h.one(Op::Close { fd }), 0);
}

#[test]
fn fsync_fallocate_size_ftruncate() {
    let dir = TempDir::new("meta");
    let mut h = Harness::standard();
    let fd = h.create(&dir.path("f"));
    assert_eq!(h.one(Op::Size { fd }), 0);
    assert_eq!(h.write_at(fd, b"hello", 0), 5);
    assert_eq!(h.one(Op::Fsync { fd, datasync: true }), 0);
    assert_eq!(
        h.one(Op::Fsync {
            fd,
            datasync: false
        }),
        0
    );
    assert_eq!(h.one(Op::Size { fd }), 5);
    assert_eq!(
        h.one(Op::Fallocate {
            fd,
            mode: 0,
            offset: 0,
            len: 1 << 20
        }),
        0
    );
    assert_eq!(h.one(Op::Size { fd }), 1 << 20);
    assert!(std::fs::metadata(dir.path("f")).unwrap().len() == 1 << 20);
    assert_eq!(h.one(Op::Ftruncate { fd, len: 3 }), 0);
    assert_eq!(h.one(Op::Size { fd }), 3);
    assert_eq!(h.one(Op::Ftruncate { fd, len: 10_000 }), 0);
    assert_eq!(h.one(Op::Size { fd }), 10_000);
    assert_eq!(std::fs::read(dir.path("f")).unwrap()[..5], *b"hel\0\0");
    // Bad arguments come back as -errno.
    assert_eq!(
        h.one(Op::Fallocate {
            fd,
            mode: 0,
            offset: 0,
            len: 0
        }),
        -(EINVAL as i64)
    );
    assert_eq!(h.one(Op::Close { fd }), 0);
}

#[test]
fn open_errors_and_close() {
    let dir = TempDir::new("open");
    let mut h = Harness::standard();
    assert_eq!(h.open(&dir.path("missing"), O_RDONLY, 0), -(ENOENT as i64));
    assert_eq!(h.open(&dir.0, O_RDONLY, 0), -(EISDIR as i64));
    assert_eq!(h.open(&dir.0, O_RDONLY | O_DIRECTORY, 0), -(EISDIR as i64));
    let fd = h.create(&dir.path("a"));
    // The fd is the process's: std can use it, and it is close-on-exec.
    let meta = std::fs::metadata(format!("/proc/self/fd/{fd}")).unwrap();
    assert!(meta.is_file());
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
    let flags_line = fdinfo.lines().find(|l| l.starts_with("flags:")).unwrap();
    let flags = i64::from_str_radix(flags_line.split_whitespace().nth(1).unwrap(), 8).unwrap();
    assert_ne!(flags & 0o2000000, 0, "O_CLOEXEC");
    assert_eq!(h.one(Op::Close { fd }), 0);
    // (Using the fd after close is not checked: tests run in parallel threads and one
    // of them may already have been given the same fd number.)
    assert_eq!(h.one(Op::Size { fd: -1 }), -9, "EBADF");
    let mut b = [0u8; 4];
    assert_eq!(h.read_at(-1, &mut b, 0), -9, "EBADF");
    // O_EXCL on an existing file.
    assert_eq!(
        h.open(&dir.path("a"), O_RDWR | O_CREAT | O_EXCL, 0o644),
        -17
    );
}

/// More open files than fixed slots: the rest run on plain fds; closing frees slots
/// for later opens.
#[test]
fn fixed_file_table_full_falls_back_to_plain_fds() {
    let dir = TempDir::new("fixed");
    let mut h = Harness::new(EngineConfig {
        fixed_file_slots: 2,
        ..EngineConfig::default()
    });
    assert_eq!(h.w().info().fixed_file_slots, 2);
    let fds: Vec<i32> = (0..5)
        .map(|i| h.create(&dir.path(&format!("f{i}"))))
        .collect();
    for (i, &fd) in fds.iter().enumerate() {
        let data = pattern(i as u64, 3000);
        assert_eq!(h.write_at(fd, &data, 0), 3000);
        assert_eq!(h.one(Op::Fsync { fd, datasync: true }), 0);
        let mut back = vec![0; 3000];
        assert_eq!(h.read_at(fd, &mut back, 0), 3000);
        assert_eq!(back, data);
    }
    for &fd in &fds {
        assert_eq!(h.one(Op::Close { fd }), 0);
    }
    let fd = h.create(&dir.path("again"));
    assert_eq!(h.write_at(fd, b"x", 0), 1);
    assert_eq!(h.one(Op::Close { fd }), 0);

    let mut plain = Harness::new(EngineConfig {
        fixed_file_slots: 0,
        ..EngineConfig::default()
    });
    assert_eq!(plain.w().info().fixed_file_slots, 0);
    let fd = plain.create(&dir.path("plain"));
    assert_eq!(plain.write_at(fd, b"abc", 0), 3);
    assert_eq!(plain.one(Op::Size { fd }), 3);
    assert_eq!(plain.one(Op::Close { fd }), 0);
}

/// Short reads and writes are continued: a pipe delivers a read in pieces, and a large
/// write into a pipe is accepted in pieces.
#[test]
fn short_transfers_are_continued() {
    let mut h = Harness::standard();
    let (reader, mut writer) = std::io::pipe().unwrap();
    let mut buf = vec![0u8; 10];
    let t = std::thread::spawn(move || {
        use std::io::Write;
        writer.write_all(b"hello").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        writer.write_all(b"world!!").unwrap();
    });
    assert_eq!(h.read_at(reader.as_raw_fd(), &mut buf, 0), 10);
    assert_eq!(&buf, b"helloworld");
    t.join().unwrap();
    // Writer gone: the 2 remaining bytes, then end-of-file ends the read.
    let mut rest = vec![0u8; 8];
    assert_eq!(h.read_at(reader.as_raw_fd(), &mut rest, 0), 2);

    let (mut reader, writer) = std::io::pipe().unwrap();
    let data = pattern(9, 1 << 20);
    let t = std::thread::spawn(move || {
        use std::io::Read;
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        got
    });
    assert_eq!(h.write_at(writer.as_raw_fd(), &data, 0), 1 << 20);
    drop(writer);
    assert!(t.join().unwrap() == data);
}

/// 10,000 writes in flight at once, then 10,000 reads, every block verified.
#[test]
fn ten_thousand_concurrent_ops() {
    const N: usize = 10_000;
    const BLOCK: usize = 4096;
    let dir = TempDir::new("many");
    let mut h = Harness::new(EngineConfig {
        queue_capacity: N,
        cq_entries: 16_384,
        ..EngineConfig::default()
    });
    let fd = h.create(&dir.path("f"));
    let blocks: Vec<Vec<u8>> = (0..N).map(|i| pattern(i as u64 + 100, BLOCK)).collect();
    let writes = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| Op::Write {
            fd,
            buf: b.as_ptr(),
            len: BLOCK,
            offset: (i * BLOCK) as u64,
        })
        .collect();
    // SAFETY: `blocks` outlives `run`, which waits for every completion.
    let results = unsafe { h.run(writes) };
    assert!(results.iter().all(|&r| r == BLOCK as i64));
    let mut back = vec![0u8; N * BLOCK];
    let reads = back
        .chunks_mut(BLOCK)
        .enumerate()
        .map(|(i, c)| Op::Read {
            fd,
            buf: c.as_mut_ptr(),
            len: BLOCK,
            offset: (i * BLOCK) as u64,
        })
        .collect();
    // SAFETY: `back` outlives `run`, which waits for every completion.
    let results = unsafe { h.run(reads) };
    assert!(results.iter().all(|&r| r == BLOCK as i64));
    for (i, c) in back.chunks(BLOCK).enumerate() {
        assert!(c == &blocks[i][..], "block {i} differs");
    }
    // Completions arrived in batches, not one sink call each.
    let calls = h.batches.try_iter().count();
    assert!(
        calls < 2 * N,
        "{calls} sink calls for {} completions",
        2 * N + 1
    );
    assert_eq!(h.one(Op::Close { fd }), 0);
}

#[test]
fn queue_full_is_eagain_with_nothing_queued() {
    use std::io::Write;
    use std::sync::mpsc;
    use uring::{Completion, Request};
    let (tx, rx) = mpsc::channel::<Completion>();
    let w = Worker::start(
        &EngineConfig {
            queue_capacity: 4,
            ..EngineConfig::default()
        },
        Box::new(move |batch: &mut Vec<Completion>| {
            for c in batch.drain(..) {
                let _ = tx.send(c);
            }
        }),
    )
    .unwrap();
    // Reads from an empty pipe stay in flight until it is written, so the capacity
    // stays taken for as long as the test needs (NOPs would complete, and release it,
    // at any moment).
    let (reader, mut writer) = std::io::pipe().unwrap();
    let mut bufs = vec![[0u8; 1]; 4];
    let reads: Vec<Request> = bufs
        .iter_mut()
        .enumerate()
        .map(|(i, b)| {
            Request::new(
                i as u64,
                Op::Read {
                    fd: reader.as_raw_fd(),
                    buf: b.as_mut_ptr(),
                    len: 1,
                    offset: 0,
                },
            )
        })
        .collect();
    let nops = |ids: std::ops::Range<u64>| -> Vec<Request> {
        ids.map(|user_data| Request::new(user_data, Op::Nop))
            .collect()
    };
    // SAFETY: `bufs` outlives the reads (they complete before it is dropped); NOPs
    // carry no buffers.
    unsafe {
        let mut five = nops(0..5);
        assert_eq!(w.submit(&mut five), Err(EAGAIN));
        assert_eq!(five.len(), 5, "nothing taken");
        let mut four = reads;
        assert_eq!(w.submit(&mut four), Ok(()));
        assert!(four.is_empty());
        let mut one = nops(4..5);
        assert_eq!(w.submit(&mut one), Err(EAGAIN));
        assert_eq!(one.len(), 1);
        assert_eq!(w.outstanding(), 4);
        // Feed the reads; once their completions are delivered capacity returns.
        writer.write_all(b"abcd").unwrap();
        let mut got = 0;
        while got < 4 {
            let c = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
            assert_eq!(c.result, 1);
            got += 1;
        }
        while w.outstanding() != 0 {
            std::thread::yield_now();
        }
        assert_eq!(w.submit(&mut one), Ok(()));
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(10))
                .unwrap()
                .user_data,
            4
        );
    }
    w.shutdown();
    drop(bufs);
}

/// shutdown() with thousands of reads and writes in flight delivers every completion,
/// successfully, before it returns; so does dropping the Worker.
#[test]
fn shutdown_with_ops_in_flight_delivers_everything() {
    for use_drop in [false, true] {
        let dir = TempDir::new("shutdown");
        let mut h = Harness::new(EngineConfig {
            queue_capacity: 4096,
            ..EngineConfig::default()
        });
        let fd = h.create(&dir.path("f"));
        let data = pattern(3, 64 << 10);
        let mut bufs = vec![vec![0u8; 64 << 10]; 2000];
        let mut reqs = Vec::new();
        for i in 0..2000u64 {
            let op = if i % 2 == 0 {
                Op::Write {
                    fd,
                    buf: data.as_ptr(),
                    len: data.len(),
                    offset: i * 65_536,
                }
            } else {
                let b = &mut bufs[i as usize];
                Op::Read {
                    fd,
                    buf: b.as_mut_ptr(),
                    len: b.len(),
                    offset: (i - 1) * 65_536,
                }
            };
            reqs.push(uring::Request {
                user_data: 1000 + i,
                op,
                link: false,
            });
        }
        // SAFETY: data and bufs outlive the worker, which is shut down below.
        unsafe { h.w().submit(&mut reqs).unwrap() };
        let w = h.worker.take().unwrap();
        if use_drop {
            drop(w);
        } else {
            w.shutdown();
        }
        let got: Vec<_> = h.rx.try_iter().collect();
        assert_eq!(got.len(), 2000, "every accepted request completes once");
        let mut ids: Vec<u64> = got.iter().map(|c| c.user_data).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 2000);
        for c in &got {
            let i = c.user_data - 1000;
            // Reads may race their write (same batch): any length up to a full block
            // (end-of-file ends them early), never an error.
            if i % 2 == 0 {
                assert_eq!(c.result, 65_536);
            } else {
                assert!((0..=65_536).contains(&c.result), "{c:?}");
            }
        }
        let _ = std::fs::remove_file(dir.path("f"));
        // SAFETY: fd is ours and unused now.
        assert_eq!(unsafe { close(fd) }, 0);
    }
}

extern "C" {
    fn close(fd: i32) -> i32;
}
