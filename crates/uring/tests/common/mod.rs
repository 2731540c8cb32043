//! Shared helpers for the Worker tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;
use uring::{Completion, EngineConfig, Op, Request, Worker};

/// A temp directory with a unique name, removed on drop.
pub mod driver;

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "streamline-uring-{tag}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Worker whose completions arrive on a channel.
pub struct Harness {
    pub worker: Option<Worker>,
    pub rx: Receiver<Completion>,
    pub batches: Receiver<usize>,
    next_id: u64,
}

impl Harness {
    pub fn new(cfg: EngineConfig) -> Harness {
        let (tx, rx) = mpsc::channel();
        let (btx, batches) = mpsc::channel();
        let worker = Worker::start(
            &cfg,
            Box::new(move |batch: &mut Vec<Completion>| {
                let _ = btx.send(batch.len());
                for c in batch.drain(..) {
                    let _ = tx.send(c);
                }
            }),
        )
        .expect("Worker::start");
        Harness {
            worker: Some(worker),
            rx,
            batches,
            next_id: 1,
        }
    }

    pub fn standard() -> Harness {
        Harness::new(EngineConfig::default())
    }

    pub fn w(&self) -> &Worker {
        self.worker.as_ref().unwrap()
    }

    /// Submits the ops (retrying EAGAIN) and returns their results in order.
    ///
    /// # Safety
    /// The ops' buffers must stay valid until this returns (it waits for all).
    pub unsafe fn run(&mut self, ops: Vec<Op>) -> Vec<i64> {
        let first = self.next_id;
        let n = ops.len();
        let mut reqs: Vec<Request> = ops
            .into_iter()
            .map(|op| {
                let r = Request {
                    user_data: self.next_id,
                    op,
                    link: false,
                };
                self.next_id += 1;
                r
            })
            .collect();
        let mut results: HashMap<u64, i64> = HashMap::new();
        while !reqs.is_empty() {
            let chunk_len = reqs.len().min(512);
            let mut chunk: Vec<Request> = reqs.drain(..chunk_len).collect();
            loop {
                // SAFETY: forwarded to the caller.
                match unsafe { self.w().submit(&mut chunk) } {
                    Ok(()) => break,
                    Err(e) if e == uring::errno::EAGAIN => {
                        let c = self
                            .rx
                            .recv_timeout(Duration::from_secs(20))
                            .expect("completion");
                        assert!(results.insert(c.user_data, c.result).is_none());
                    }
                    Err(e) => panic!("submit: {e}"),
                }
            }
        }
        while results.len() < n {
            let c = self
                .rx
                .recv_timeout(Duration::from_secs(20))
                .expect("completion");
            assert!(
                results.insert(c.user_data, c.result).is_none(),
                "duplicate completion"
            );
        }
        (first..first + n as u64).map(|id| results[&id]).collect()
    }

    pub fn one(&mut self, op: Op) -> i64 {
        // SAFETY: callers of `one` pass buffers that outlive the call (it waits).
        let results = unsafe { self.run(vec![op]) };
        results[0]
    }

    pub fn open(&mut self, path: &Path, flags: i32, mode: u32) -> i64 {
        let path = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        self.one(Op::Open { path, flags, mode })
    }

    pub fn create(&mut self, path: &Path) -> i32 {
        use uring::oflags::*;
        let fd = self.open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644);
        assert!(fd >= 0, "create {path:?}: {fd}");
        fd as i32
    }

    pub fn write_at(&mut self, fd: i32, data: &[u8], offset: u64) -> i64 {
        self.one(Op::Write {
            fd,
            buf: data.as_ptr(),
            len: data.len(),
            offset,
        })
    }

    pub fn read_at(&mut self, fd: i32, buf: &mut [u8], offset: u64) -> i64 {
        self.one(Op::Read {
            fd,
            buf: buf.as_mut_ptr(),
            len: buf.len(),
            offset,
        })
    }

    pub fn shutdown(&mut self) {
        if let Some(w) = self.worker.take() {
            w.shutdown();
        }
    }
}

/// Deterministic bytes for (seed, index).
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
