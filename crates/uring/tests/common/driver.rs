//! Drives either engine mode through one interface: submit a batch, wait for all of it.
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use uring::{Completion, EngineConfig, InlineEngine, Request, Worker};

#[repr(C)]
pub struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}
extern "C" {
    fn poll(fds: *mut PollFd, nfds: u64, timeout: i32) -> i32;
}

/// Waits until `fd` is readable (or the timeout); true when it is.
pub fn readable(fd: i32, timeout_ms: i32) -> bool {
    let mut p = PollFd {
        fd,
        events: 1, // POLLIN
        revents: 0,
    };
    // SAFETY: one valid pollfd for the call.
    unsafe { poll(&mut p, 1, timeout_ms) > 0 }
}

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Thread,
    Inline,
}
pub const MODES: [Mode; 2] = [Mode::Thread, Mode::Inline];

pub enum Driver {
    Thread(Worker, mpsc::Receiver<Completion>),
    Inline(Box<InlineEngine>),
}

impl Driver {
    pub fn new(mode: Mode, cfg: EngineConfig) -> Driver {
        match mode {
            Mode::Thread => {
                let (tx, rx) = mpsc::channel();
                let w = Worker::start(
                    &cfg,
                    Box::new(move |b: &mut Vec<Completion>| {
                        for c in b.drain(..) {
                            let _ = tx.send(c);
                        }
                    }),
                )
                .unwrap();
                Driver::Thread(w, rx)
            }
            Mode::Inline => Driver::Inline(Box::new(InlineEngine::new(&cfg).unwrap())),
        }
    }

    /// Submits `reqs` as one submit and returns every result by user_data.
    ///
    /// # Safety
    /// The requests' buffers outlive the call (it waits for all).
    pub unsafe fn run(&mut self, mut reqs: Vec<Request>) -> HashMap<u64, i64> {
        let n = reqs.len();
        let mut got = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        match self {
            Driver::Thread(w, rx) => {
                // SAFETY: forwarded to the caller.
                unsafe { w.submit(&mut reqs) }.unwrap();
                while got.len() < n {
                    let c = rx
                        .recv_timeout(Duration::from_secs(20))
                        .expect("completion");
                    assert!(got.insert(c.user_data, c.result).is_none());
                }
            }
            Driver::Inline(e) => {
                let mut out = Vec::new();
                // SAFETY: forwarded to the caller.
                unsafe { e.submit(&mut reqs, &mut out) }.unwrap();
                loop {
                    for c in out.drain(..) {
                        assert!(got.insert(c.user_data, c.result).is_none());
                    }
                    if got.len() == n {
                        break;
                    }
                    assert!(Instant::now() < deadline, "completions missing: {got:?}");
                    // The ring fd becomes readable when a completion waits.
                    assert!(readable(e.poll_fd(), 20_000), "ring fd never readable");
                    e.reap(&mut out);
                }
                assert_eq!(e.outstanding(), 0);
            }
        }
        got
    }

    pub unsafe fn results(&mut self, reqs: Vec<Request>) -> Vec<i64> {
        let ids: Vec<u64> = reqs.iter().map(|r| r.user_data).collect();
        // SAFETY: forwarded.
        let got = unsafe { self.run(reqs) };
        ids.iter().map(|id| got[id]).collect()
    }
}

impl Driver {
    /// Reads and writes that used a registered buffer.
    pub fn fixed_ops(&self) -> u64 {
        match self {
            Driver::Thread(w, _) => w.fixed_ops(),
            Driver::Inline(e) => e.fixed_ops(),
        }
    }

    pub fn setup_flag_names(&self) -> Vec<&'static str> {
        match self {
            Driver::Thread(w, _) => w.info().setup_flag_names.clone(),
            Driver::Inline(e) => e.info().setup_flag_names.clone(),
        }
    }
}
