//! The Node-API addon of @streamline/io: exposes the `uring` engine to JavaScript.
//!
//! The JavaScript surface is fixed by docs/ARCHITECTURE.md §2 (`ts/backends/native.ts`
//! calls exactly it):
//!
//! ```ts
//! kernelRelease(): string
//! probe(entries, testSetupErrno): { ok: true, opcodes, missing, features, setupFlags } | { ok: false, errno }
//! createEngine({ sqDepth, cqDepth, queueCapacity, fixedFileSlots, testSetupErrno, testFailAfter,
//!                mode?: 'thread' | 'inline' },
//!              onComplete: (results: Float64Array) => void): object
//! submit(engine, desc: Float64Array /* stride 7: id, kind, fd, offset, len, arg, flags */,
//!        extras): Float64Array | undefined   // inline mode: [id, result] pairs done inside submit
//! destroy(engine): void
//! strerror(errno): string
//! descStride(): number   // 7
//! crc32c(data: Uint8Array, previous: number /* 0 when none */): number  // unsigned 32-bit
//! flock(fd, exclusive: boolean, nonBlocking: boolean): number  // 0 or -errno
//! funlock(fd): number                                          // 0 or -errno (LOCK_UN)
//! fadviseDontNeed(fd, offset, len /* 0 = to EOF */): number     // 0 or -errno
//! fixedOps(engine): number        // reads/writes that used a registered buffer
//! allocAligned(size): Buffer      // zeroed, 4096-aligned native memory (pool buffers)
//! bufferAddress(buf): number      // the address of buf's first byte (alignment checks)
//! dioAlignment(fd): [memAlign, offsetAlign] | null | number  // statx DIOALIGN; -errno
//! ```
//! `createEngine` also takes `fixedBufferSlots` (0..16384, default 0) and `sqpoll`
//! (boolean, default false); `submit` kinds 11/12 register/unregister a buffer.
//!
//! Bad arguments throw `TypeError [ERR_INVALID_ARG_TYPE]` / `RangeError
//! [ERR_OUT_OF_RANGE]`; system failures throw an `Error` with `.code` and a positive
//! `.errno`. Nothing here panics into Node: the trampoline turns panics into exceptions.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod engine;
mod errno;
mod validate;

use node_api::{sys, CallInfo, Env, Error, Result, Value, ValueType};
use uring::EngineConfig;

use validate::{integer_in, power_of_two_in, OutOfRange, MAX_SAFE_INTEGER};

/// The N-API version this addon is written against (Node 20).
const NAPI_VERSION: i32 = 9;

/// Kernel limits mirrored from `uring` (IORING_MAX_ENTRIES, IORING_MAX_CQ_ENTRIES, the
/// worker's queue bound, IORING_MAX_FIXED_FILES), checked here for clear messages.
const MAX_SQ_DEPTH: u64 = 32_768;
const MAX_CQ_DEPTH: f64 = 65_536.0;
const MAX_QUEUE_CAPACITY: f64 = 65_535.0;
const MAX_FIXED_FILE_SLOTS: f64 = (1u32 << 20) as f64;
/// errno values are below 4096 on Linux (MAX_ERRNO).
const MAX_ERRNO: f64 = 4095.0;

fn range(e: OutOfRange) -> Error {
    Error::range_error("ERR_OUT_OF_RANGE", e.0)
}

/// `v` as a number, or a TypeError naming `what`.
fn number(env: Env, v: Value, what: &str) -> Result<f64> {
    match env.type_of(v)? {
        ValueType::Number => env.get_f64(v),
        other => Err(Error::type_error(
            "ERR_INVALID_ARG_TYPE",
            format!("{what} must be a number; received {}", other.name()),
        )),
    }
}

fn kernel_release(env: Env, _info: &CallInfo) -> Result<Value> {
    env.string(&uring::kernel_release())
}

fn probe(env: Env, info: &CallInfo) -> Result<Value> {
    let entries = number(env, info.arg(0), "The \"entries\" argument")?;
    let entries = integer_in(
        "The \"entries\" argument",
        entries,
        1.0,
        MAX_SQ_DEPTH as f64,
    )
    .map_err(range)?;
    let test_errno = match env.type_of(info.arg(1))? {
        ValueType::Undefined => 0,
        _ => {
            let x = number(env, info.arg(1), "The \"testSetupErrno\" argument")?;
            integer_in("The \"testSetupErrno\" argument", x, 0.0, MAX_ERRNO).map_err(range)?
        }
    };
    let test_errno = (test_errno != 0).then_some(test_errno as i32);
    let out = env.object()?;
    match uring::probe(entries as u32, test_errno) {
        Ok(report) => {
            env.set_named(out, "ok", env.boolean(true)?)?;
            env.set_named(out, "opcodes", env.string_array(&report.opcodes)?)?;
            env.set_named(out, "missing", env.string_array(&report.missing)?)?;
            env.set_named(out, "features", env.string_array(&report.features)?)?;
            env.set_named(out, "setupFlags", env.string_array(&report.setup_flags)?)?;
        }
        Err(e) => {
            env.set_named(out, "ok", env.boolean(false)?)?;
            env.set_named(out, "errno", env.double(f64::from(e.saturating_abs()))?)?;
        }
    }
    Ok(out)
}

/// The `createEngine` options object → `EngineConfig` and mode.
fn engine_config(env: Env, opts: Value) -> Result<(EngineConfig, engine::Mode)> {
    if env.type_of(opts)? != ValueType::Object {
        return Err(Error::type_error(
            "ERR_INVALID_ARG_TYPE",
            format!(
                "The \"options\" argument must be an object; received {}",
                env.type_of(opts)?.name()
            ),
        ));
    }
    let field = |name: &str| -> Result<(String, f64)> {
        let what = format!("options.{name}");
        let v = env.get_named(opts, name)?;
        Ok((what.clone(), number(env, v, &what)?))
    };
    let (what, x) = field("sqDepth")?;
    let sq_entries = power_of_two_in(&what, x, MAX_SQ_DEPTH).map_err(range)? as u32;
    // uring raises the CQ to a power of two >= queueCapacity + 1 and >= sqDepth; 0 asks
    // for exactly that.
    let (what, x) = field("cqDepth")?;
    let cq_entries = integer_in(&what, x, 0.0, MAX_CQ_DEPTH).map_err(range)? as u32;
    let (what, x) = field("queueCapacity")?;
    let queue_capacity = integer_in(&what, x, 1.0, MAX_QUEUE_CAPACITY).map_err(range)? as usize;
    let (what, x) = field("fixedFileSlots")?;
    let fixed_file_slots = integer_in(&what, x, 0.0, MAX_FIXED_FILE_SLOTS).map_err(range)? as u32;
    let (what, x) = field("testSetupErrno")?;
    let test_setup_errno = integer_in(&what, x, 0.0, MAX_ERRNO).map_err(range)?;
    let (what, x) = field("testFailAfter")?;
    let test_fail_after = integer_in(&what, x, 0.0, MAX_SAFE_INTEGER).map_err(range)?;
    let mode_v = env.get_named(opts, "mode")?;
    let mode = match env.type_of(mode_v)? {
        ValueType::Undefined => engine::Mode::Thread,
        ValueType::String => match env.get_string(mode_v)?.as_str() {
            "thread" => engine::Mode::Thread,
            "inline" => engine::Mode::Inline,
            other => {
                return Err(Error::type_error(
                    "ERR_INVALID_ARG_VALUE",
                    format!("options.mode must be 'inline' or 'thread'; received '{other}'"),
                ))
            }
        },
        other => {
            return Err(Error::type_error(
                "ERR_INVALID_ARG_TYPE",
                format!("options.mode must be a string; received {}", other.name()),
            ))
        }
    };
    let fixed_buffer_slots = match env.type_of(env.get_named(opts, "fixedBufferSlots")?)? {
        ValueType::Undefined => 0,
        _ => {
            let (what, x) = field("fixedBufferSlots")?;
            integer_in(&what, x, 0.0, validate::MAX_BUFFER_SLOTS).map_err(range)? as u32
        }
    };
    let sqpoll_v = env.get_named(opts, "sqpoll")?;
    let sqpoll = match env.type_of(sqpoll_v)? {
        ValueType::Undefined => false,
        _ => boolean(env, sqpoll_v, "options.sqpoll")?,
    };
    let cfg = EngineConfig {
        sq_entries,
        cq_entries,
        queue_capacity,
        fixed_file_slots,
        fixed_buffer_slots,
        sqpoll,
        test_setup_errno: (test_setup_errno != 0).then_some(test_setup_errno as i32),
        test_fail_after_submits: (test_fail_after != 0).then_some(test_fail_after),
    };
    Ok((cfg, mode))
}

fn create_engine(env: Env, info: &CallInfo) -> Result<Value> {
    let (cfg, mode) = engine_config(env, info.arg(0))?;
    let on_complete = info.arg(1);
    if env.type_of(on_complete)? != ValueType::Function {
        return Err(Error::type_error(
            "ERR_INVALID_ARG_TYPE",
            format!(
                "The \"onComplete\" argument must be a function; received {}",
                env.type_of(on_complete)?.name()
            ),
        ));
    }
    engine::create(env, cfg, mode, on_complete)
}

fn submit(env: Env, info: &CallInfo) -> Result<Value> {
    match engine::submit(env, info)? {
        Some(results) => Ok(results),
        None => env.undefined(),
    }
}

fn destroy(env: Env, info: &CallInfo) -> Result<Value> {
    engine::destroy(env, info.arg(0))?;
    env.undefined()
}

/// `v` as a boolean, or a TypeError naming `what`.
fn boolean(env: Env, v: Value, what: &str) -> Result<bool> {
    match env.type_of(v)? {
        ValueType::Boolean => env.get_bool(v),
        other => Err(Error::type_error(
            "ERR_INVALID_ARG_TYPE",
            format!("{what} must be of type boolean; received {}", other.name()),
        )),
    }
}

/// `v` as a file descriptor (a non-negative C int).
fn fd_arg(env: Env, v: Value) -> Result<i32> {
    let x = number(env, v, "The \"fd\" argument")?;
    Ok(integer_in("The \"fd\" argument", x, 0.0, f64::from(i32::MAX)).map_err(range)? as i32)
}

/// 0, or the negative errno of a failed call: the lock helpers report failure as a value
/// because EWOULDBLOCK from a non-blocking lock is an ordinary outcome.
fn status(env: Env, r: std::result::Result<(), i32>) -> Result<Value> {
    env.double(match r {
        Ok(()) => 0.0,
        Err(e) => -f64::from(e.saturating_abs()),
    })
}

/// `crc32c(data, previous)`: the CRC-32C of `data` continuing from `previous`.
fn crc32c(env: Env, info: &CallInfo) -> Result<Value> {
    let data = uint8_array(env, info.arg(0), "The \"data\" argument")?;
    let previous = match env.type_of(info.arg(1))? {
        ValueType::Undefined => 0,
        _ => {
            let x = number(env, info.arg(1), "The \"previous\" argument")?;
            integer_in("The \"previous\" argument", x, 0.0, f64::from(u32::MAX)).map_err(range)?
                as u32
        }
    };
    let bytes: &[u8] = if data.data.is_null() || data.length == 0 {
        &[]
    } else {
        // SAFETY: a live Uint8Array of `length` bytes at `data`, read during this call
        // only; no JavaScript runs while the slice exists.
        unsafe { std::slice::from_raw_parts(data.data, data.length) }
    };
    env.double(f64::from(uring::crc32c(bytes, previous)))
}

/// `flock(fd, exclusive, nonBlocking)`: LOCK_EX or LOCK_SH, with LOCK_NB when asked.
/// A blocking lock blocks the JavaScript thread: use nonBlocking and retry instead.
fn flock(env: Env, info: &CallInfo) -> Result<Value> {
    let fd = fd_arg(env, info.arg(0))?;
    let exclusive = boolean(env, info.arg(1), "The \"exclusive\" argument")?;
    let non_blocking = boolean(env, info.arg(2), "The \"nonBlocking\" argument")?;
    let mode = if exclusive {
        uring::LockMode::Exclusive
    } else {
        uring::LockMode::Shared
    };
    status(env, uring::flock(fd, mode, non_blocking))
}

/// `funlock(fd)`: LOCK_UN.
fn funlock(env: Env, info: &CallInfo) -> Result<Value> {
    let fd = fd_arg(env, info.arg(0))?;
    status(env, uring::flock(fd, uring::LockMode::Unlock, false))
}

/// `fadviseDontNeed(fd, offset, len)`: posix_fadvise POSIX_FADV_DONTNEED.
fn fadvise_dont_need(env: Env, info: &CallInfo) -> Result<Value> {
    let fd = fd_arg(env, info.arg(0))?;
    let x = number(env, info.arg(1), "The \"offset\" argument")?;
    let offset = integer_in("The \"offset\" argument", x, 0.0, MAX_SAFE_INTEGER).map_err(range)?;
    let x = number(env, info.arg(2), "The \"len\" argument")?;
    let len = integer_in("The \"len\" argument", x, 0.0, MAX_SAFE_INTEGER).map_err(range)?;
    status(env, uring::fadvise_dontneed(fd, offset, len))
}

/// `fixedOps(engine)`.
fn fixed_ops(env: Env, info: &CallInfo) -> Result<Value> {
    env.double(engine::fixed_ops(env, info.arg(0))? as f64)
}

/// A Uint8Array argument, or a TypeError naming `what`.
fn uint8_array(env: Env, v: Value, what: &str) -> Result<node_api::TypedArrayInfo> {
    env.typedarray_info(v)?
        .filter(|t| t.kind == sys::napi_uint8_array)
        .ok_or_else(|| {
            Error::type_error(
                "ERR_INVALID_ARG_TYPE",
                format!("{what} must be a Uint8Array (Buffer)"),
            )
        })
}

/// `allocAligned(size)`: a Buffer over zeroed, page-aligned native memory, freed when
/// the Buffer is collected. Throws ERR_OUT_OF_RANGE for sizes outside 1..=1 GiB, an
/// ENOMEM error when the allocator has no memory, and whatever the runtime says where
/// external buffers are not allowed (the caller then aligns an ordinary Buffer).
fn alloc_aligned(env: Env, info: &CallInfo) -> Result<Value> {
    let x = number(env, info.arg(0), "The \"size\" argument")?;
    let max = uring::pool::POOL_MAX_BYTES as f64;
    let size = integer_in("The \"size\" argument", x, 1.0, max).map_err(range)? as usize;
    let buf = uring::pool::AlignedBuf::new(size).ok_or_else(|| errno::error(12, "malloc"))?;
    let data = buf.as_mut_ptr();
    // SAFETY: `data..data + size` is the allocation `buf` owns; the Buffer's finalizer
    // drops `buf` (freeing it) only once the Buffer is unreachable, and every in-flight
    // request or registration holds a reference to the Buffer until it is done.
    unsafe { env.external_buffer(buf, data, size) }
}

/// `bufferAddress(buf)`: the address of the view's first byte. User-space addresses on
/// x86_64 are below 2^47, exact in an f64.
fn buffer_address(env: Env, info: &CallInfo) -> Result<Value> {
    let t = uint8_array(env, info.arg(0), "The \"buf\" argument")?;
    env.double(t.data as usize as f64)
}

/// `dioAlignment(fd)`: `[memAlign, offsetAlign]` from statx STATX_DIOALIGN, null when
/// the kernel or file system does not report it, -errno when statx fails.
fn dio_alignment(env: Env, info: &CallInfo) -> Result<Value> {
    let fd = fd_arg(env, info.arg(0))?;
    match uring::dio_alignment(fd) {
        Ok(Some(a)) => env.float64_array(&[f64::from(a.mem), f64::from(a.offset)]),
        Ok(None) => env.null(),
        Err(e) => env.double(-f64::from(e)),
    }
}

/// `descStride()`: numbers per operation in a `submit` descriptor, so the TypeScript
/// layer can refuse a build with another descriptor layout.
fn desc_stride(env: Env, _info: &CallInfo) -> Result<Value> {
    env.double(validate::STRIDE as f64)
}

fn strerror(env: Env, info: &CallInfo) -> Result<Value> {
    let x = number(env, info.arg(0), "The \"errno\" argument")?;
    let e = integer_in("The \"errno\" argument", x.abs(), 0.0, MAX_ERRNO).map_err(range)?;
    env.string(&errno::message(e as i32))
}

/// The module entry point Node looks up (`NAPI_MODULE_INIT`); runs once per environment
/// (main thread and each worker thread), and keeps no state of its own.
///
/// # Safety
/// Called by Node only, with a live environment and exports object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(
    env: sys::napi_env,
    exports: sys::napi_value,
) -> sys::napi_value {
    // SAFETY: the arguments Node passed to this very call.
    unsafe {
        node_api::register_module(
            env,
            exports,
            &[
                ("kernelRelease", kernel_release),
                ("probe", probe),
                ("createEngine", create_engine),
                ("submit", submit),
                ("destroy", destroy),
                ("strerror", strerror),
                ("descStride", desc_stride),
                ("crc32c", crc32c),
                ("flock", flock),
                ("funlock", funlock),
                ("fadviseDontNeed", fadvise_dont_need),
                ("fixedOps", fixed_ops),
                ("allocAligned", alloc_aligned),
                ("bufferAddress", buffer_address),
                ("dioAlignment", dio_alignment),
            ],
        )
    }
}

/// The N-API version the module targets (`NODE_API_MODULE_GET_API_VERSION`).
#[no_mangle]
pub extern "C" fn node_api_module_get_api_version_v1() -> i32 {
    NAPI_VERSION
}
