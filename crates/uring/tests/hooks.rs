//! Test hooks (setup errno, ring failure) and the kernel probe.

mod common;

use common::Harness;
use std::time::Duration;
use uring::{probe, EngineConfig, Op, Request, Worker, RESULT_RING_FAILED};

#[test]
fn setup_errno_hook_fails_start_and_probe() {
    let cfg = EngineConfig {
        test_setup_errno: Some(1),
        ..EngineConfig::default()
    };
    assert_eq!(Worker::start(&cfg, Box::new(|_| {})).err(), Some(1));
    assert_eq!(probe(8, Some(38)), Err(38));
}

#[test]
fn invalid_config_is_einval() {
    for cfg in [
        EngineConfig {
            sq_entries: 3,
            ..EngineConfig::default()
        },
        EngineConfig {
            sq_entries: 0,
            ..EngineConfig::default()
        },
        EngineConfig {
            queue_capacity: 0,
            ..EngineConfig::default()
        },
    ] {
        assert_eq!(
            Worker::start(&cfg, Box::new(|_| {})).err(),
            Some(uring::errno::EINVAL)
        );
    }
    // A CQ smaller than the queue is raised, not refused.
    let w = Worker::start(
        &EngineConfig {
            cq_entries: 1,
            queue_capacity: 100,
            sq_entries: 4,
            ..EngineConfig::default()
        },
        Box::new(|_| {}),
    )
    .unwrap();
    assert!(w.info().cq_entries >= 101);
    w.shutdown();
}

/// After N accepted requests the ring "fails": the first N run, every later request
/// completes with RESULT_RING_FAILED, and each exactly once.
#[test]
fn ring_failure_hook() {
    let mut h = Harness::new(EngineConfig {
        test_fail_after_submits: Some(3),
        ..EngineConfig::default()
    });
    assert!(!h.w().ring_failed());
    // SAFETY: NOPs carry no buffers.
    let results = unsafe { h.run(vec![Op::Nop, Op::Nop]) };
    assert_eq!(results, vec![0, 0]);
    // The third request runs; the ones accepted with it do not.
    // SAFETY: NOPs carry no buffers.
    let results = unsafe { h.run(vec![Op::Nop, Op::Nop, Op::Nop]) };
    assert_eq!(results, vec![0, RESULT_RING_FAILED, RESULT_RING_FAILED]);
    assert!(h.w().ring_failed());
    let mut b = [0u8; 16];
    assert_eq!(h.read_at(0, &mut b, 0), RESULT_RING_FAILED);
    assert_eq!(h.one(Op::Close { fd: 12345 }), RESULT_RING_FAILED);
    h.shutdown();
}

/// Requests already in the kernel when the ring fails are still reaped normally.
#[test]
fn ring_failure_reaps_what_was_submitted() {
    let h = Harness::new(EngineConfig {
        test_fail_after_submits: Some(1),
        ..EngineConfig::default()
    });
    let (reader, writer) = std::io::pipe().unwrap();
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 4];
    let mut first = vec![Request {
        user_data: 1,
        op: Op::Read {
            fd: reader.as_raw_fd(),
            buf: buf.as_mut_ptr(),
            len: 4,
            offset: 0,
        },
        link: false,
    }];
    // SAFETY: buf outlives the worker (shut down below).
    unsafe { h.w().submit(&mut first).unwrap() };
    std::thread::sleep(Duration::from_millis(50));
    let mut later: Vec<Request> = (2..5)
        .map(|user_data| Request {
            user_data,
            op: Op::Nop,
            link: false,
        })
        .collect();
    // SAFETY: NOPs carry no buffers.
    unsafe { h.w().submit(&mut later).unwrap() };
    for _ in 0..3 {
        let c = h.rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(c.result, RESULT_RING_FAILED);
        assert!((2..5).contains(&c.user_data));
    }
    // The blocked pipe read is still in flight; it completes when data arrives.
    {
        use std::io::Write;
        let mut writer = writer;
        writer.write_all(b"abcd").unwrap();
    }
    let c = h.rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((c.user_data, c.result), (1, 4));
    assert_eq!(&buf, b"abcd");
    drop(h);
}

#[test]
fn probe_lists_required_opcodes() {
    let r = probe(8, None).expect("io_uring must be available on the test machine");
    for op in [
        "nop",
        "read",
        "write",
        "fsync",
        "fallocate",
        "openat",
        "close",
        "statx",
        "ftruncate",
    ] {
        assert!(r.opcodes.contains(&op), "{op} missing from {:?}", r.opcodes);
    }
    assert!(r.missing.is_empty(), "missing {:?}", r.missing);
    for f in ["nodrop", "single_mmap", "fast_poll", "ext_arg"] {
        assert!(r.features.contains(&f), "{f} missing from {:?}", r.features);
    }
    for f in ["cqsize", "single_issuer", "defer_taskrun", "coop_taskrun"] {
        assert!(
            r.setup_flags.contains(&f),
            "{f} missing from {:?}",
            r.setup_flags
        );
    }
    let release = uring::kernel_release();
    assert!(
        release.chars().next().is_some_and(|c| c.is_ascii_digit()),
        "{release}"
    );
}

#[test]
fn worker_info_names_flags() {
    let h = Harness::standard();
    let info = h.w().info();
    assert!(info.setup_flag_names.contains(&"defer_taskrun"));
    assert!(info.feature_names.contains(&"nodrop"));
    assert_eq!(info.fixed_file_slots, 1024);
    assert!(info.ftruncate_op);
    assert_eq!(info.sq_entries, 256);
}
