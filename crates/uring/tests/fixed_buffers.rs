//! Registered buffers (READ_FIXED/WRITE_FIXED), O_DIRECT end of file and SQPOLL, on both
//! engine modes.
mod common;

use common::driver::{Driver, MODES};
use common::{pattern, TempDir};
use std::ffi::CString;
use std::os::fd::AsRawFd;
use uring::pool::AlignedBuf;
use uring::{oflags, EngineConfig, Op, Request};

const EINVAL: i64 = -22;
const ENOBUFS: i64 = -105;

fn cfg(slots: u32) -> EngineConfig {
    EngineConfig {
        fixed_buffer_slots: slots,
        ..EngineConfig::default()
    }
}

fn register(d: &mut Driver, id: u64, b: &AlignedBuf) -> i64 {
    let op = Op::RegisterBuffer {
        buf: b.as_mut_ptr(),
        len: b.len(),
    };
    // SAFETY: `b` outlives the driver in every test (declared before it).
    let r = unsafe { d.results(vec![Request::new(id, op)]) };
    r[0]
}

fn rw(path: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap()
}

#[test]
fn registered_buffers_round_trip_byte_for_byte() {
    for mode in MODES {
        let dir = TempDir::new("fixed");
        let f = rw(&dir.path("a"));
        let fd = f.as_raw_fd();
        let mut wbuf = AlignedBuf::new(65536).unwrap();
        let mut rbuf = AlignedBuf::new(65536).unwrap();
        let data = pattern(7, 65536);
        wbuf.as_mut_slice().copy_from_slice(&data);
        let mut d = Driver::new(mode, cfg(8));
        let ws = register(&mut d, 1, &wbuf);
        let rs = register(&mut d, 2, &rbuf);
        assert!(ws >= 0 && rs >= 0 && ws != rs, "{mode:?}: slots {ws} {rs}");
        // A whole buffer, then a piece from its middle (inside the registered range);
        // two submits, since unlinked requests of one submit may run in any order.
        // SAFETY: the buffers outlive the calls, which wait for their completions.
        let mut r = unsafe {
            d.results(vec![Request::new(
                3,
                Op::Write {
                    fd,
                    buf: wbuf.as_mut_ptr(),
                    len: 65536,
                    offset: 0,
                },
            )])
        };
        // SAFETY: as above.
        r.extend(unsafe {
            d.results(vec![Request::new(
                4,
                Op::Read {
                    fd,
                    buf: rbuf.as_mut_ptr().wrapping_add(4096),
                    len: 8192,
                    offset: 100,
                },
            )])
        });
        assert_eq!(r, vec![65536, 8192], "{mode:?}");
        assert_eq!(&rbuf.as_slice()[4096..4096 + 8192], &data[100..100 + 8192]);
        assert_eq!(
            d.fixed_ops(),
            2,
            "{mode:?}: both used the registered buffers"
        );

        // A range running past the end of the registered buffer stays a plain read.
        let big = AlignedBuf::new(65536 + 4096).unwrap();
        // SAFETY: as above.
        let r = unsafe {
            d.results(vec![Request::new(
                5,
                Op::Read {
                    fd,
                    buf: big.as_mut_ptr(),
                    len: 65536,
                    offset: 0,
                },
            )])
        };
        assert_eq!(r, vec![65536]);
        assert_eq!(&big.as_slice()[..65536], &data[..]);
        assert_eq!(
            d.fixed_ops(),
            2,
            "{mode:?}: unregistered memory is not fixed"
        );

        // Emptied slots are not used any more; emptying twice is EINVAL.
        // SAFETY: no buffers involved.
        let r = unsafe {
            d.results(vec![
                Request::new(6, Op::UnregisterBuffer { slot: rs as u32 }),
                Request::new(7, Op::UnregisterBuffer { slot: rs as u32 }),
            ])
        };
        assert_eq!(r, vec![0, EINVAL], "{mode:?}");
        rbuf.as_mut_slice().fill(0);
        // SAFETY: as above.
        let r = unsafe {
            d.results(vec![Request::new(
                8,
                Op::Read {
                    fd,
                    buf: rbuf.as_mut_ptr(),
                    len: 65536,
                    offset: 0,
                },
            )])
        };
        assert_eq!(r, vec![65536]);
        assert_eq!(rbuf.as_slice(), &data[..]);
        assert_eq!(d.fixed_ops(), 2, "{mode:?}");
        drop(d);
    }
}

#[test]
fn table_limits_are_errors_not_crashes() {
    for mode in MODES {
        let bufs: Vec<AlignedBuf> = (0..3).map(|_| AlignedBuf::new(4096).unwrap()).collect();
        let mut d = Driver::new(mode, cfg(2));
        assert!(register(&mut d, 1, &bufs[0]) >= 0);
        assert!(register(&mut d, 2, &bufs[1]) >= 0);
        assert_eq!(
            register(&mut d, 3, &bufs[2]),
            ENOBUFS,
            "{mode:?}: table full"
        );
        // The same memory twice overlaps.
        assert_eq!(register(&mut d, 4, &bufs[0]), EINVAL, "{mode:?}: overlap");
        drop(d);

        // No table at all.
        let mut d = Driver::new(mode, cfg(0));
        assert_eq!(register(&mut d, 1, &bufs[0]), -95, "{mode:?}: EOPNOTSUPP");
        drop(d);
    }
}

#[test]
fn table_updates_take_no_request_slot() {
    // queue_capacity 1: a read and two table updates in one submit fit (the updates
    // need no slot), on both engines — before, the worker refused the batch (EAGAIN).
    for mode in MODES {
        let dir = TempDir::new("fixed-cap");
        let f = rw(&dir.path("a"));
        let b = AlignedBuf::new(4096).unwrap();
        let c = AlignedBuf::new(4096).unwrap();
        let mut d = Driver::new(
            mode,
            EngineConfig {
                queue_capacity: 1,
                ..cfg(4)
            },
        );
        let reqs = vec![
            Request::new(
                1,
                Op::RegisterBuffer {
                    buf: b.as_mut_ptr(),
                    len: 4096,
                },
            ),
            Request::new(
                2,
                Op::Read {
                    fd: f.as_raw_fd(),
                    buf: b.as_mut_ptr(),
                    len: 4096,
                    offset: 0,
                },
            ),
            Request::new(
                3,
                Op::RegisterBuffer {
                    buf: c.as_mut_ptr(),
                    len: 4096,
                },
            ),
        ];
        // SAFETY: `b` and `c` outlive the driver.
        let r = unsafe { d.results(reqs) };
        assert!(r[0] >= 0 && r[2] >= 0, "{mode:?}: {r:?}");
        assert_eq!(r[1], 0, "{mode:?}: empty file, a read of 0 bytes");
        assert_eq!(d.fixed_ops(), 1, "{mode:?}");
        // The capacity is whole again: another read fits.
        // SAFETY: as above.
        let r = unsafe {
            d.results(vec![Request::new(
                4,
                Op::Read {
                    fd: f.as_raw_fd(),
                    buf: c.as_mut_ptr(),
                    len: 4096,
                    offset: 0,
                },
            )])
        };
        assert_eq!(r, vec![0], "{mode:?}");
        drop(d);
    }
}

/// O_DIRECT reads that reach end of file return what exists (the continuation from the
/// unaligned end would be EINVAL). Skipped where the temp directory's file system
/// refuses O_DIRECT.
#[test]
fn direct_read_stops_at_end_of_file() {
    let dir = TempDir::new("direct");
    let path = dir.path("a");
    let data = pattern(3, 10_000);
    std::fs::write(&path, &data).unwrap();
    let c = CString::new(path.to_str().unwrap()).unwrap();
    for mode in MODES {
        let mut d = Driver::new(mode, cfg(4));
        // SAFETY: no buffers involved.
        let fd = unsafe {
            d.results(vec![Request::new(
                1,
                Op::Open {
                    path: c.clone(),
                    flags: oflags::O_RDONLY | oflags::O_DIRECT,
                    mode: 0,
                },
            )])
        };
        let fd = fd[0];
        if fd == EINVAL {
            eprintln!("O_DIRECT unsupported in {}: skipped", dir.0.display());
            return;
        }
        assert!(fd >= 0, "{mode:?}: open {fd}");
        let b = AlignedBuf::new(16384).unwrap();
        assert!(register(&mut d, 2, &b) >= 0);
        // SAFETY: `b` outlives the call.
        let r = unsafe {
            d.results(vec![Request::new(
                3,
                Op::Read {
                    fd: fd as i32,
                    buf: b.as_mut_ptr(),
                    len: 16384,
                    offset: 0,
                },
            )])
        };
        assert_eq!(r, vec![10_000], "{mode:?}");
        assert_eq!(&b.as_slice()[..10_000], &data[..]);
        // 32 direct reads in one submit: the engine sends them to the kernel a few per
        // enter (DIRECT_SQES_PER_ENTER); every one completes, with the right bytes.
        let many: Vec<AlignedBuf> = (0..32).map(|_| AlignedBuf::new(512).unwrap()).collect();
        let reqs = many
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let op = Op::Read {
                    fd: fd as i32,
                    buf: m.as_mut_ptr(),
                    len: 512,
                    offset: (i as u64 % 19) * 512,
                };
                Request::new(100 + i as u64, op)
            })
            .collect();
        // SAFETY: `many` outlives the call, which waits for every completion.
        let r = unsafe { d.results(reqs) };
        assert!(r.iter().all(|&x| x == 512), "{mode:?}: {r:?}");
        for (i, m) in many.iter().enumerate() {
            let at = (i % 19) * 512;
            assert_eq!(m.as_slice(), &data[at..at + 512], "{mode:?}: read {i}");
        }
        // SAFETY: no buffers involved.
        unsafe { d.results(vec![Request::new(4, Op::Close { fd: fd as i32 })]) };
        drop(d);
    }
}

/// With SQPOLL (root, or any user since 5.11) every request still completes once;
/// 10,000 reads through a 4-entry SQ.
#[test]
fn sqpoll_ring_completes_everything() {
    let dir = TempDir::new("sqpoll");
    let path = dir.path("a");
    let data = pattern(9, 4096 * 16);
    std::fs::write(&path, &data).unwrap();
    let f = std::fs::File::open(&path).unwrap();
    for mode in MODES {
        let mut d = Driver::new(
            mode,
            EngineConfig {
                sqpoll: true,
                sq_entries: 4,
                ..cfg(4)
            },
        );
        assert!(
            d.setup_flag_names().contains(&"sqpoll"),
            "{mode:?}: {:?}",
            d.setup_flag_names()
        );
        let bufs: Vec<Vec<u8>> = (0..100).map(|_| vec![0u8; 4096]).collect();
        for round in 0..100u64 {
            let reqs = bufs
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    Request::new(
                        round * 1000 + i as u64,
                        Op::Read {
                            fd: f.as_raw_fd(),
                            buf: b.as_ptr() as *mut u8,
                            len: 4096,
                            offset: (i as u64 % 16) * 4096,
                        },
                    )
                })
                .collect();
            // SAFETY: `bufs` outlive the call, which waits for every completion.
            let r = unsafe { d.results(reqs) };
            assert!(r.iter().all(|&x| x == 4096), "{mode:?}: {r:?}");
        }
        for (i, b) in bufs.iter().enumerate() {
            let at = (i % 16) * 4096;
            assert_eq!(&b[..], &data[at..at + 4096]);
        }
        drop(d);
    }
}
