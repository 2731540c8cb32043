//! The Node-API addon of @streamline/io, on napi-rs: exposes the `uring` engine to
//! JavaScript.
//!
//! The JavaScript surface — every export with its arguments and results, and the wire
//! protocol `protocol()` returns — is described once, in docs/ARCHITECTURE.md §2;
//! `ts/native.ts` loads and types it, `ts/backends/native.ts` is the one file of ts/ that
//! speaks the wire format.
//!
//! Bad arguments throw `TypeError [ERR_INVALID_ARG_TYPE]` / `RangeError
//! [ERR_OUT_OF_RANGE]`; system failures throw an `Error` with `.code` and a positive
//! `.errno`; a panic inside the addon throws an `Error` with code `ERR_IO_INTERNAL`
//! saying where (error.rs). Every entry point runs under `catch_unwind` twice over:
//! `error::entry` around the body (our error shape) and napi-rs's `catch_unwind` around
//! its argument and result conversions.
//!
//! Without the cargo feature `io-uring` (on by default; the engine is also Linux-only)
//! the addon has the helpers only: `probe()` answers `{ ok: false, errno: ENOSYS,
//! reason }` and `createEngine()` throws `ERR_IO_URING_NOT_BUILT`, so ts/ runs the
//! standard backend and says why.
//!
//! Raw FFI lives in three fenced modules, where napi-rs has nothing: `uv` (libuv's
//! poll handle and errno text), `callback` (`napi_make_callback` and the async context
//! it needs), `cleanup` (an asynchronous cleanup hook whose removal we time). The
//! inline engine and `pollWritable` (writable.rs) use them; they build on Linux with or
//! without the io-uring feature.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod args;
#[cfg(target_os = "linux")]
mod callback;
#[cfg(target_os = "linux")]
mod cleanup;
#[cfg(io_uring_engine)]
mod engine;
mod errno;
mod error;
#[cfg(target_os = "linux")]
mod pin;
mod protocol;
#[cfg(target_os = "linux")]
mod sendfile;
mod uv;
// The descriptor parser serves the engine; its tests run in every build.
#[cfg_attr(not(io_uring_engine), allow(dead_code))]
mod validate;
#[cfg(target_os = "linux")]
mod writable;

use napi::bindgen_prelude::{
    BufferSlice, Either, Either3, Float64ArraySlice, JsObjectValue, Null, Object,
};
use napi::{Env, Unknown, ValueType};
use napi_derive::napi;

#[cfg(not(io_uring_engine))]
use error::Outcome;
use error::{entry, Failure};
use protocol::limits;

/// The Node-API version this addon is written against (Node 20.3+: napi9).
const NAPI_VERSION: i32 = 9;

/// The N-API version the module targets (`NODE_API_MODULE_GET_API_VERSION`): Node then
/// gives this module version-9 semantics. napi-rs does not declare it.
#[no_mangle]
pub extern "C" fn node_api_module_get_api_version_v1() -> i32 {
    NAPI_VERSION
}

/// Why io_uring is not in this build, as `probe()`'s `reason` and createEngine's error.
#[cfg(not(io_uring_engine))]
const NOT_BUILT: &str = "the addon was built without the io-uring feature";

#[napi(js_name = "kernelRelease", catch_unwind)]
pub fn kernel_release(env: &Env) -> napi::Result<String> {
    entry(env, "kernelRelease", || Ok(uring::kernel_release()))
}

/// The version this addon was built as (the workspace's, which equals package.json's):
/// ts/native.ts refuses a binary whose version is not the package's, so a stale local
/// build or a platform package left over from another release is never loaded.
#[napi(catch_unwind)]
pub fn version(env: &Env) -> napi::Result<String> {
    entry(env, "version", || Ok(env!("CARGO_PKG_VERSION").to_string()))
}

fn string_array(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

#[napi(catch_unwind)]
pub fn probe<'e>(
    env: &'e Env,
    entries: Unknown<'e>,
    test_setup_errno: Unknown<'e>,
) -> napi::Result<Object<'e>> {
    entry(env, "probe", || {
        let entries = args::integer(
            &entries,
            "The \"entries\" argument",
            1.0,
            f64::from(limits::MAX_SQ_ENTRIES),
        )?;
        let test_errno = match args::type_of(&test_setup_errno)? {
            ValueType::Undefined => 0,
            _ => args::integer(
                &test_setup_errno,
                "The \"testSetupErrno\" argument",
                0.0,
                f64::from(limits::MAX_ERRNO),
            )?,
        };
        let mut out = Object::new(env)?;
        #[cfg(io_uring_engine)]
        match uring::probe(
            entries as u32,
            (test_errno != 0).then_some(test_errno as i32),
        ) {
            Ok(report) => {
                out.set_named_property("ok", true)?;
                out.set_named_property("opcodes", string_array(&report.opcodes))?;
                out.set_named_property("missing", string_array(&report.missing))?;
                out.set_named_property("features", string_array(&report.features))?;
                out.set_named_property("setupFlags", string_array(&report.setup_flags))?;
            }
            Err(e) => {
                out.set_named_property("ok", false)?;
                out.set_named_property("errno", f64::from(e.saturating_abs()))?;
            }
        }
        #[cfg(not(io_uring_engine))]
        {
            let _ = (entries, test_errno, string_array);
            out.set_named_property("ok", false)?;
            out.set_named_property("errno", f64::from(libc::ENOSYS))?;
            out.set_named_property("reason", NOT_BUILT)?;
        }
        Ok(out)
    })
}

#[napi(js_name = "createEngine", catch_unwind)]
pub fn create_engine<'e>(
    env: &'e Env,
    options: Unknown<'e>,
    on_complete: Unknown<'e>,
) -> napi::Result<Unknown<'e>> {
    entry(env, "createEngine", || {
        #[cfg(io_uring_engine)]
        {
            let (cfg, mode) = engine::engine_config(env, &options)?;
            match args::type_of(&on_complete)? {
                ValueType::Function => engine::create(env, cfg, mode, &on_complete),
                other => Err(Failure::arg_type(
                    "The \"onComplete\" argument",
                    "a function",
                    args::type_name(other),
                )),
            }
        }
        #[cfg(not(io_uring_engine))]
        {
            let _ = (options, on_complete);
            Err(Failure::error("ERR_IO_URING_NOT_BUILT", NOT_BUILT))
        }
    })
}

/// Without the engine no engine exists, so every engine argument is the wrong type.
#[cfg(not(io_uring_engine))]
fn no_engine<T>(engine: &Unknown) -> Outcome<T> {
    Err(Failure::type_error(
        "ERR_INVALID_ARG_TYPE",
        format!(
            "The \"engine\" argument must be an engine returned by createEngine(); received {} ({NOT_BUILT})",
            args::type_name(args::type_of(engine)?)
        ),
    ))
}

#[napi(catch_unwind)]
pub fn submit<'e>(
    env: &'e Env,
    engine: Unknown<'e>,
    desc: Unknown<'e>,
    extras: Unknown<'e>,
) -> napi::Result<Either<Float64ArraySlice<'e>, ()>> {
    entry(env, "submit", || {
        #[cfg(io_uring_engine)]
        {
            Ok(match engine::submit(env, &engine, &desc, &extras)? {
                Some(done) => Either::A(done),
                None => Either::B(()),
            })
        }
        #[cfg(not(io_uring_engine))]
        {
            let _ = (desc, extras);
            no_engine(&engine)
        }
    })
}

#[napi(catch_unwind)]
pub fn destroy(env: &Env, engine: Unknown) -> napi::Result<()> {
    entry(env, "destroy", || {
        #[cfg(io_uring_engine)]
        {
            engine::destroy(env, &engine)
        }
        #[cfg(not(io_uring_engine))]
        {
            no_engine(&engine)
        }
    })
}

/// `fixedOps(engine)`: reads and writes of this engine that used a registered buffer.
#[napi(js_name = "fixedOps", catch_unwind)]
pub fn fixed_ops(env: &Env, engine: Unknown) -> napi::Result<f64> {
    entry(env, "fixedOps", || {
        #[cfg(io_uring_engine)]
        {
            Ok(engine::fixed_ops(env, &engine)? as f64)
        }
        #[cfg(not(io_uring_engine))]
        {
            no_engine(&engine)
        }
    })
}

/// `engineInfo(engine)`: the ring as the kernel set it up — the setup flags actually in
/// use (after the fallbacks), the kernel's features, and the fixed-file and
/// registered-buffer tables with the errno that refused each (null: not refused) — or
/// null once the engine is closed. For `io.kernel` and `streamline-io info`.
#[napi(js_name = "engineInfo", catch_unwind)]
pub fn engine_info<'e>(
    env: &'e Env,
    engine: Unknown<'e>,
) -> napi::Result<Either<Object<'e>, Null>> {
    entry(env, "engineInfo", || {
        #[cfg(io_uring_engine)]
        {
            Ok(match engine::info(env, &engine)? {
                Some(info) => Either::A(ring_info(env, &info)?),
                None => Either::B(Null),
            })
        }
        #[cfg(not(io_uring_engine))]
        {
            no_engine(&engine)
        }
    })
}

/// `RingInfo` as `engineInfo()` returns it.
#[cfg(io_uring_engine)]
fn ring_info<'e>(env: &'e Env, info: &uring::RingInfo) -> napi::Result<Object<'e>> {
    let errno = |e: Option<i32>| match e {
        Some(e) => Either::A(f64::from(e.saturating_abs())),
        None => Either::B(Null),
    };
    let mut out = Object::new(env)?;
    out.set_named_property("sqEntries", info.sq_entries)?;
    out.set_named_property("cqEntries", info.cq_entries)?;
    out.set_named_property("setupFlags", string_array(&info.setup_flag_names))?;
    out.set_named_property("features", string_array(&info.feature_names))?;
    out.set_named_property("fixedFileSlots", info.fixed_file_slots)?;
    out.set_named_property("fixedFilesErrno", errno(info.fixed_files_errno))?;
    out.set_named_property("fixedBufferSlots", info.fixed_buffer_slots)?;
    out.set_named_property("fixedBuffersErrno", errno(info.fixed_buffers_errno))?;
    out.set_named_property("ftruncateOp", info.ftruncate_op)?;
    out.set_named_property("spliceOp", info.splice_op)?;
    Ok(out)
}

/// `sendStats(engine)`: the engine's splice transfers — `{ polls, pipesOpen, pipeBytes }`
/// (POLL_ADDs pushed, i.e. waits for a reader; pipes the engine holds; capacity of the
/// last pipe made, 0 before any) — or null once the engine is closed.
#[napi(js_name = "sendStats", catch_unwind)]
pub fn send_stats<'e>(env: &'e Env, engine: Unknown<'e>) -> napi::Result<Either<Object<'e>, Null>> {
    entry(env, "sendStats", || {
        #[cfg(io_uring_engine)]
        {
            Ok(match engine::send_stats(env, &engine)? {
                Some(s) => {
                    let mut out = Object::new(env)?;
                    // Counts far below 2^53: exact as numbers.
                    out.set_named_property("polls", s.polls as f64)?;
                    out.set_named_property("pipesOpen", s.pipes_open as f64)?;
                    out.set_named_property("pipeBytes", f64::from(s.pipe_bytes))?;
                    Either::A(out)
                }
                None => Either::B(Null),
            })
        }
        #[cfg(not(io_uring_engine))]
        {
            no_engine(&engine)
        }
    })
}

#[napi(catch_unwind)]
pub fn strerror(env: &Env, errno: Unknown) -> napi::Result<String> {
    entry(env, "strerror", || {
        let x = args::number(&errno, "The \"errno\" argument")?;
        let e = validate::integer_in(
            "The \"errno\" argument",
            x.abs(),
            0.0,
            f64::from(limits::MAX_ERRNO),
        )
        .map_err(args::range)?;
        Ok(errno::message(e as i32))
    })
}

/// `descStride()`: numbers per operation in a `submit` descriptor, so the TypeScript
/// layer can refuse a build with another descriptor layout.
#[napi(js_name = "descStride", catch_unwind)]
pub fn desc_stride(env: &Env) -> napi::Result<u32> {
    entry(env, "descStride", || Ok(protocol::STRIDE as u32))
}

/// `protocol()`: the wire protocol (protocol.rs), so TypeScript reads these numbers
/// instead of repeating them:
/// `{ stride, fields: ['id', …], kinds: { read: 1, … }, flags: { link: 1 },
///    resultRingFailed, limits: { maxSqDepth, maxCqEntries, maxQueueCapacity,
///    maxFixedFileSlots, maxFixedBufferSlots, maxTransferBytes, maxAlignedBytes } }`.
#[napi(catch_unwind)]
pub fn protocol(env: &Env) -> napi::Result<Object<'_>> {
    entry(env, "protocol", || {
        use protocol::{Kind, FIELD_NAMES, FLAG_LINK, RESULT_RING_FAILED, STRIDE};
        let mut out = Object::new(env)?;
        out.set_named_property("stride", STRIDE as u32)?;
        out.set_named_property("fields", string_array(&FIELD_NAMES))?;
        let mut kinds = Object::new(env)?;
        for k in Kind::ALL {
            kinds.set_named_property(k.key(), k as u32)?;
        }
        out.set_named_property("kinds", kinds)?;
        let mut flags = Object::new(env)?;
        flags.set_named_property("link", FLAG_LINK)?;
        out.set_named_property("flags", flags)?;
        out.set_named_property("resultRingFailed", RESULT_RING_FAILED as f64)?;
        let mut l = Object::new(env)?;
        for (name, value) in limits::EXPORTED {
            l.set_named_property(name, value)?;
        }
        out.set_named_property("limits", l)?;
        Ok(out)
    })
}

/// 0, or the negative errno of a failed call: the lock helpers report failure as a value
/// because EWOULDBLOCK from a non-blocking lock is an ordinary outcome.
fn status(r: Result<(), i32>) -> f64 {
    match r {
        Ok(()) => 0.0,
        Err(e) => -f64::from(e.saturating_abs()),
    }
}

/// `crc32c(data, previous)`: the CRC-32C of `data` continuing from `previous`.
#[napi(js_name = "crc32c", catch_unwind)]
pub fn crc32c<'e>(env: &'e Env, data: Unknown<'e>, previous: Unknown<'e>) -> napi::Result<u32> {
    entry(env, "crc32c", || {
        let data = args::uint8_array_arg(env, &data, "The \"data\" argument")?;
        let previous = match args::type_of(&previous)? {
            ValueType::Undefined => 0,
            _ => args::integer(
                &previous,
                "The \"previous\" argument",
                0.0,
                f64::from(u32::MAX),
            )? as u32,
        };
        // Borrowed for this call only; no JavaScript runs while the slice exists.
        Ok(uring::crc32c(&data, previous))
    })
}

/// `flock(fd, exclusive, nonBlocking)`: LOCK_EX or LOCK_SH, with LOCK_NB when asked.
/// A blocking lock blocks the JavaScript thread: use nonBlocking and retry instead.
#[napi(catch_unwind)]
pub fn flock<'e>(
    env: &'e Env,
    fd: Unknown<'e>,
    exclusive: Unknown<'e>,
    non_blocking: Unknown<'e>,
) -> napi::Result<f64> {
    entry(env, "flock", || {
        let fd = args::fd(&fd)?;
        let exclusive = args::boolean(&exclusive, "The \"exclusive\" argument")?;
        let non_blocking = args::boolean(&non_blocking, "The \"nonBlocking\" argument")?;
        let mode = if exclusive {
            uring::LockMode::Exclusive
        } else {
            uring::LockMode::Shared
        };
        Ok(status(uring::flock(fd, mode, non_blocking)))
    })
}

/// `funlock(fd)`: LOCK_UN.
#[napi(catch_unwind)]
pub fn funlock(env: &Env, fd: Unknown) -> napi::Result<f64> {
    entry(env, "funlock", || {
        Ok(status(uring::flock(
            args::fd(&fd)?,
            uring::LockMode::Unlock,
            false,
        )))
    })
}

/// `fadviseDontNeed(fd, offset, len)`: posix_fadvise POSIX_FADV_DONTNEED.
#[napi(js_name = "fadviseDontNeed", catch_unwind)]
pub fn fadvise_dont_need<'e>(
    env: &'e Env,
    fd: Unknown<'e>,
    offset: Unknown<'e>,
    len: Unknown<'e>,
) -> napi::Result<f64> {
    entry(env, "fadviseDontNeed", || {
        let fd = args::fd(&fd)?;
        let offset = args::integer(
            &offset,
            "The \"offset\" argument",
            0.0,
            limits::MAX_SAFE_INTEGER,
        )?;
        let len = args::integer(&len, "The \"len\" argument", 0.0, limits::MAX_SAFE_INTEGER)?;
        Ok(status(uring::fadvise_dontneed(fd, offset, len)))
    })
}

/// `allocAligned(size)`: a Buffer over zeroed, page-aligned native memory, freed when
/// the Buffer is collected. Throws ERR_OUT_OF_RANGE for sizes outside 1..=1 GiB, an
/// ENOMEM error when the allocator has no memory, and ERR_IO_EXTERNAL_BUFFERS where the
/// runtime forbids external buffers (the caller then aligns an ordinary Buffer).
#[napi(js_name = "allocAligned", catch_unwind)]
pub fn alloc_aligned<'e>(env: &'e Env, size: Unknown<'e>) -> napi::Result<BufferSlice<'e>> {
    entry(env, "allocAligned", || {
        let max = limits::MAX_ALIGNED_BYTES as f64;
        let size = args::integer(&size, "The \"size\" argument", 1.0, max)? as usize;
        let buf = uring::pool::AlignedBuf::new(size)
            .ok_or_else(|| Failure::system(libc::ENOMEM, "malloc"))?;
        let data = buf.as_mut_ptr();
        // SAFETY: `data..data + size` is the allocation `buf` owns; the Buffer's
        // finalizer drops `buf` (freeing it) only once the Buffer is unreachable, and
        // every in-flight request or registration pins the Buffer until it is done.
        let out = unsafe { BufferSlice::from_external(env, data, size, buf, |_, buf| drop(buf)) }?;
        // napi-rs copies into an ordinary Buffer where external buffers are forbidden
        // (Electron): that memory is not aligned, which is the whole point here.
        if out.as_ptr() != data.cast_const() {
            return Err(Failure::error(
                "ERR_IO_EXTERNAL_BUFFERS",
                "this runtime does not allow external buffers, so aligned native memory cannot be handed out",
            ));
        }
        Ok(out)
    })
}

/// `bufferAddress(buf)`: the address of the view's first byte. User-space addresses on
/// x86_64 are below 2^47, exact in an f64.
#[napi(js_name = "bufferAddress", catch_unwind)]
pub fn buffer_address<'e>(env: &'e Env, buf: Unknown<'e>) -> napi::Result<f64> {
    entry(env, "bufferAddress", || {
        let view = args::uint8_array_arg(env, &buf, "The \"buf\" argument")?;
        Ok(view.as_ptr() as usize as f64)
    })
}

/// `dioAlignment(fd)`: `[memAlign, offsetAlign]` from statx STATX_DIOALIGN, null when
/// the kernel or file system does not report it, -errno when statx fails.
#[napi(js_name = "dioAlignment", catch_unwind)]
pub fn dio_alignment<'e>(
    env: &'e Env,
    fd: Unknown<'e>,
) -> napi::Result<Either3<Float64ArraySlice<'e>, Null, f64>> {
    entry(env, "dioAlignment", || {
        Ok(match uring::dio_alignment(args::fd(&fd)?) {
            Ok(Some(a)) => Either3::A(Float64ArraySlice::copy_from(
                env,
                [f64::from(a.mem), f64::from(a.offset)],
            )?),
            Ok(None) => Either3::B(Null),
            Err(e) => Either3::C(-f64::from(e)),
        })
    })
}

// sendTo's standard-backend helpers (docs/design/zero-copy.md §3.3): Linux, every build.

/// `dupFd(fd)`: fcntl F_DUPFD_CLOEXEC — a new descriptor for the same open socket (or
/// file), owned by the caller from here on (closeFd), or -errno (EBADF, EMFILE).
#[cfg(target_os = "linux")]
#[napi(js_name = "dupFd", catch_unwind)]
pub fn dup_fd(env: &Env, fd: Unknown) -> napi::Result<f64> {
    use std::os::fd::IntoRawFd;
    entry(env, "dupFd", || {
        Ok(match uring::sockets::dup_cloexec(args::fd(&fd)?) {
            // The number goes to JavaScript, which closes it with closeFd.
            Ok(dup) => f64::from(dup.into_raw_fd()),
            Err(e) => -f64::from(e.saturating_abs()),
        })
    })
}

/// `closeFd(fd)`: close(2), never retried (Linux frees the descriptor even on EINTR); 0
/// or -errno. For the descriptors dupFd made.
#[cfg(target_os = "linux")]
#[napi(js_name = "closeFd", catch_unwind)]
pub fn close_fd(env: &Env, fd: Unknown) -> napi::Result<f64> {
    entry(env, "closeFd", || {
        Ok(status(uring::sockets::close_fd(args::fd(&fd)?)))
    })
}

/// `sendfile(outFd, inFd, offset, len)`: a promise of `[bytes, errno]` for sendfile(2) of
/// at most min(len, SENDFILE_TASK_BYTES) bytes of `inFd` from `offset` to the socket
/// `outFd`, on the libuv thread pool (sendfile.rs). errno 0: done, or end of file (bytes
/// < asked); 11 (EAGAIN): the socket is full — wait with pollWritable, then go on from
/// offset + bytes; another: that error (bytes may be > 0). Rejects only for bad
/// arguments (TypeError, RangeError), never throws for them.
#[cfg(target_os = "linux")]
#[napi(catch_unwind)]
pub fn sendfile<'e>(
    env: &'e Env,
    out_fd: Unknown<'e>,
    in_fd: Unknown<'e>,
    offset: Unknown<'e>,
    len: Unknown<'e>,
) -> napi::Result<sendfile::Started<'e>> {
    entry(env, "sendfile", || {
        sendfile::start(env, &out_fd, &in_fd, &offset, &len)
    })
}

/// `pollWritable(fd, cb)`: calls `cb()` once, from the event loop, when `fd` is writable
/// or has failed (writable.rs); the handle then closes itself. Pass a dup (dupFd), never
/// a descriptor libuv already watches, and keep it open until the wait is over. Keeps
/// the loop alive while waiting. Throws an Error with `.errno` when libuv refuses the
/// descriptor (EBADF, EEXIST, EPERM).
#[cfg(target_os = "linux")]
#[napi(js_name = "pollWritable", catch_unwind)]
pub fn poll_writable<'e>(
    env: &'e Env,
    fd: Unknown<'e>,
    cb: Unknown<'e>,
) -> napi::Result<Unknown<'e>> {
    entry(env, "pollWritable", || {
        let fd = args::fd(&fd)?;
        match args::type_of(&cb)? {
            ValueType::Function => writable::start(env, fd, &cb),
            other => Err(Failure::arg_type(
                "The \"cb\" argument",
                "a function",
                args::type_name(other),
            )),
        }
    })
}

/// `pollClose(handle)`: stops a pollWritable wait before it fires (its callback is then
/// never called); idempotent, also after it fired.
#[cfg(target_os = "linux")]
#[napi(js_name = "pollClose", catch_unwind)]
pub fn poll_close(env: &Env, handle: Unknown) -> napi::Result<()> {
    entry(env, "pollClose", || writable::stop(env, &handle))
}

/// Test hook (README "Test hooks"): panics inside the addon, to show that a panic
/// becomes a JavaScript `Error` with code `ERR_IO_INTERNAL` naming where it happened,
/// never an abort. `place` is put in the panic message.
#[napi(js_name = "testPanic", catch_unwind)]
pub fn test_panic(env: &Env, place: Unknown) -> napi::Result<()> {
    entry(env, "testPanic", || {
        let what = args::string(&place)?.unwrap_or_else(|| "testPanic()".into());
        panic!("test hook: {what}");
    })
}
