//! `sendfile(outFd, inFd, offset, len)`: one step of the standard backend's zero-copy
//! sendTo (docs/design/zero-copy.md §3.3, §4), as a napi-rs `AsyncTask` on the libuv
//! thread pool. The step never waits for the reader: Node's sockets are O_NONBLOCK, so a
//! full socket ends it with EAGAIN and TypeScript waits for writability on the event
//! loop (`pollWritable`), never in a pool thread. (libuv's `uv_fs_sendfile` is not used:
//! its emulation polls the socket inside the pool thread.)
//!
//! A task sends at most [`SENDFILE_TASK_BYTES`], so a fast reader does not hold a pool
//! thread — there are four by default, shared with node:fs and DNS — for a whole large
//! range either; the caller loops.

use std::panic::{self, AssertUnwindSafe};

use napi::bindgen_prelude::{AsyncTask, Either, Float64Array, PromiseRaw};
use napi::{Env, Task, Unknown};
use uring::sockets::{sendfile_nonblocking_nosigpipe, SendfileStep};

use crate::args;
use crate::error::{rejection, ErrorKind, Failure, Outcome};
use crate::protocol::limits;

/// Most bytes one `sendfile` task sends (design §3.3).
pub const SENDFILE_TASK_BYTES: u64 = 16 << 20;

/// What `sendfile()` returns: the task's promise, or one already rejected with the
/// TypeError/RangeError for a bad argument (a promise-returning call never throws for
/// its arguments).
pub type Started<'e> = Either<AsyncTask<SendfileTask>, PromiseRaw<'e, Float64Array>>;

/// `sendfile(outFd, inFd, offset, len)`: validates and queues the task.
pub fn start<'e>(
    env: &'e Env,
    out: &Unknown<'e>,
    file: &Unknown<'e>,
    offset: &Unknown<'e>,
    len: &Unknown<'e>,
) -> Outcome<Started<'e>> {
    match task(out, file, offset, len) {
        Ok(t) => Ok(Either::A(AsyncTask::new(t))),
        // An exception already pending (none of these reads runs JavaScript, but the
        // rule is the same everywhere) propagates as a throw.
        Err(f) if f.kind == ErrorKind::Pending => Err(f),
        Err(f) => Ok(Either::B(PromiseRaw::reject(env, rejection(env, &f))?)),
    }
}

fn task(out: &Unknown, file: &Unknown, offset: &Unknown, len: &Unknown) -> Outcome<SendfileTask> {
    let safe = limits::MAX_SAFE_INTEGER;
    Ok(SendfileTask {
        out: args::fd_named(out, "The \"outFd\" argument")?,
        file: args::fd_named(file, "The \"inFd\" argument")?,
        offset: args::integer(offset, "The \"offset\" argument", 0.0, safe)?,
        len: args::integer(len, "The \"len\" argument", 0.0, safe)?,
    })
}

/// The arguments of one task, validated by [`start`]. The descriptors are plain numbers
/// the caller owns (a dup of the socket, the segment file): a task never closes them.
pub struct SendfileTask {
    pub out: i32,
    pub file: i32,
    pub offset: u64,
    pub len: u64,
}

impl Task for SendfileTask {
    /// The step, or the panic that happened instead (made into our error on the pool
    /// thread, where the panic hook recorded its location).
    type Output = Result<SendfileStep, Failure>;
    type JsValue = Float64Array;

    /// On a libuv pool thread. napi-rs does not catch a panic here, and one unwinding
    /// into libuv would abort the process: so it is caught, and rejects the promise.
    fn compute(&mut self) -> napi::Result<Self::Output> {
        let SendfileTask {
            out,
            file,
            offset,
            len,
        } = *self;
        let step = panic::catch_unwind(AssertUnwindSafe(|| {
            // SIGPIPE blocked around the call: this thread is libuv's, not ours, and an
            // embedder other than Node may not ignore SIGPIPE (zero-copy.md §1.7).
            sendfile_nonblocking_nosigpipe(out, file, offset, len.min(SENDFILE_TASK_BYTES))
        }));
        Ok(step.map_err(|payload| {
            let failure = Failure::internal("sendfile", &*payload);
            // A payload whose Drop panics again must not unwind into libuv either.
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
            failure
        }))
    }

    /// On the JavaScript thread: `[bytes, errno]`.
    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Float64Array> {
        match output {
            Ok(step) => Ok(Float64Array::new(vec![
                step.bytes as f64,
                f64::from(step.errno),
            ])),
            Err(failure) => Err(rejection(&env, &failure)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    /// `compute` without napi-rs's error type in sight (its Drop needs the node executable).
    fn run(task: &mut SendfileTask) -> SendfileStep {
        match task.compute() {
            Ok(Ok(step)) => step,
            Ok(Err(failure)) => panic!("{failure:?}"),
            Err(e) => {
                std::mem::forget(e);
                panic!("compute failed")
            }
        }
    }

    #[test]
    fn a_task_sends_at_most_sendfile_task_bytes() {
        let size = SENDFILE_TASK_BYTES as usize + (3 << 20);
        let path = std::env::temp_dir().join(format!("binding-sendfile-{}", std::process::id()));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&vec![5u8; size])
            .unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        // A blocking socket and a reader draining it: only the cap can stop the task early.
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        let reader = std::thread::spawn(move || {
            let mut n = 0usize;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match b.read(&mut buf).unwrap() {
                    0 => return n,
                    k => n += k,
                }
            }
        });
        let mut task = SendfileTask {
            out: a.as_raw_fd(),
            file: file.as_raw_fd(),
            offset: 0,
            len: size as u64,
        };
        let first = run(&mut task);
        assert_eq!(
            first,
            SendfileStep {
                bytes: SENDFILE_TASK_BYTES,
                errno: 0
            }
        );
        task.offset = first.bytes;
        task.len = size as u64 - first.bytes;
        assert_eq!(
            run(&mut task),
            SendfileStep {
                bytes: 3 << 20,
                errno: 0
            }
        );
        drop(a);
        assert_eq!(reader.join().unwrap(), size);
    }
}
