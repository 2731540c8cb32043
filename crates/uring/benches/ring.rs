//! The ring alone, without Node: operations per second for NOPs and 4 KiB page-cache
//! reads, at queue depth 1 and in batches of 32, on the inline engine (this thread
//! submits and reaps) and the worker (one ring thread, completions through a sink); the
//! reads also into registered buffers (READ_FIXED) on the inline engine.
//!
//!   cargo bench -p streamline-uring --bench ring [-- SECONDS]
//!
//! std only (`harness = false`): each case runs for SECONDS (default 2) and prints
//! ops/s. The file read is created in the system temp directory and stays cached.
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use uring::pool::AlignedBuf;
use uring::{Completion, EngineConfig, InlineEngine, Op, Request, Worker};

const BLOCK: usize = 4096;
const BLOCKS: usize = 4096; // a 16 MiB file

fn cfg() -> EngineConfig {
    EngineConfig {
        sq_entries: 64,
        queue_capacity: 256,
        fixed_buffer_slots: 64,
        ..EngineConfig::default()
    }
}

/// Requests for one batch: NOPs, or reads into `bufs` at pseudo-random blocks.
fn requests(fd: Option<i32>, bufs: &mut [AlignedBuf], seed: &mut u64) -> Vec<Request> {
    bufs.iter_mut()
        .enumerate()
        .map(|(i, b)| {
            *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let op = match fd {
                None => Op::Nop,
                Some(fd) => Op::Read {
                    fd,
                    buf: b.as_mut_ptr(),
                    len: BLOCK,
                    offset: ((*seed >> 33) as usize % BLOCKS * BLOCK) as u64,
                },
            };
            Request::new(i as u64, op)
        })
        .collect()
}

fn buffers(batch: usize) -> Vec<AlignedBuf> {
    (0..batch)
        .map(|_| AlignedBuf::new(BLOCK).unwrap())
        .collect()
}

fn inline(fd: Option<i32>, batch: usize, secs: f64, registered: bool) -> f64 {
    let mut e = InlineEngine::new(&cfg()).unwrap();
    let mut bufs = buffers(batch);
    let mut out = Vec::with_capacity(batch);
    if registered {
        let mut reqs: Vec<Request> = bufs
            .iter()
            .map(|b| {
                let op = Op::RegisterBuffer {
                    buf: b.as_mut_ptr(),
                    len: BLOCK,
                };
                Request::new(0, op)
            })
            .collect();
        // SAFETY: `bufs` outlives the engine (dropped after it, below).
        unsafe { e.submit(&mut reqs, &mut out) }.unwrap();
        assert!(out.iter().all(|c| c.result >= 0), "registration: {out:?}");
        out.clear();
    }
    let (mut seed, mut ops) = (1u64, 0u64);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    while Instant::now() < end {
        let mut reqs = requests(fd, &mut bufs, &mut seed);
        out.clear();
        // SAFETY: `bufs` outlives every request: each batch is reaped before the next.
        unsafe { e.submit(&mut reqs, &mut out) }.unwrap();
        while out.len() < batch {
            e.reap(&mut out);
        }
        assert!(out.iter().all(|c| c.result >= 0));
        ops += batch as u64;
    }
    let rate = ops as f64 / start.elapsed().as_secs_f64();
    assert_eq!(e.fixed_ops() > 0, registered && fd.is_some());
    drop(e);
    drop(bufs);
    rate
}

fn worker(fd: Option<i32>, batch: usize, secs: f64) -> f64 {
    let (tx, rx) = mpsc::channel::<usize>();
    let w = Worker::start(
        &cfg(),
        Box::new(move |b: &mut Vec<Completion>| {
            let _ = tx.send(b.len());
            b.clear();
        }),
    )
    .unwrap();
    let mut bufs = buffers(batch);
    let (mut seed, mut ops) = (1u64, 0u64);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    while Instant::now() < end {
        let mut reqs = requests(fd, &mut bufs, &mut seed);
        // SAFETY: `bufs` outlives every request: each batch completes before the next.
        unsafe { w.submit(&mut reqs) }.unwrap();
        let mut got = 0;
        while got < batch {
            got += rx.recv().unwrap();
        }
        ops += batch as u64;
    }
    let rate = ops as f64 / start.elapsed().as_secs_f64();
    w.shutdown();
    rate
}

fn main() {
    let secs: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2.0);
    let path = std::env::temp_dir().join(format!("streamline-ring-bench-{}", std::process::id()));
    std::fs::write(&path, vec![7u8; BLOCK * BLOCKS]).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let fd = file.as_raw_fd();
    println!("| engine | operation | batch | ops/s |");
    println!("|---|---|---|---|");
    for (name, f) in [("nop", None), ("4 KiB cached read", Some(fd))] {
        for batch in [1, 32] {
            let i = inline(f, batch, secs, false);
            let w = worker(f, batch, secs);
            println!("| inline | {name} | {batch} | {i:.0} |");
            println!("| worker | {name} | {batch} | {w:.0} |");
            if f.is_some() {
                let r = inline(f, batch, secs, true);
                println!("| inline | {name}, registered buffer | {batch} | {r:.0} |");
            }
        }
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
}
