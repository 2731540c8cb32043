//! `createEngine`'s options object → `EngineConfig` and mode, checked against the
//! protocol's limits (protocol.rs) with messages that name the option.

use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::{Env, Unknown, ValueType};
use uring::EngineConfig;

use super::Mode;
use crate::args::{self, type_name, type_of};
use crate::error::{Failure, Outcome};
use crate::protocol::limits;
use crate::validate::{power_of_two_in, MAX_SAFE_INTEGER};

fn property<'e>(opts: &Object<'e>, name: &str) -> Outcome<Unknown<'e>> {
    Ok(opts.get_named_property_unchecked::<Unknown>(name)?)
}

/// A required number option, as an integer in `lo..=hi`.
fn integer_option(opts: &Object, name: &str, lo: f64, hi: f64) -> Outcome<u64> {
    let what = format!("options.{name}");
    args::integer(&property(opts, name)?, &what, lo, hi)
}

/// The `createEngine` options object → `EngineConfig` and mode.
pub fn engine_config(env: &Env, opts: &Unknown) -> Outcome<(EngineConfig, Mode)> {
    let opts = args::object(env, opts, "The \"options\" argument")?;
    let sq_what = "options.sqDepth";
    let sq = args::number(&property(&opts, "sqDepth")?, sq_what)?;
    let sq_entries = power_of_two_in(sq_what, sq, u64::from(limits::MAX_SQ_ENTRIES))
        .map_err(args::range)? as u32;
    // uring raises the CQ to a power of two >= queueCapacity + 1 and >= sqDepth; 0 asks
    // for exactly that.
    let cq_entries =
        integer_option(&opts, "cqDepth", 0.0, f64::from(limits::MAX_CQ_ENTRIES))? as u32;
    let queue_capacity = integer_option(
        &opts,
        "queueCapacity",
        1.0,
        limits::MAX_QUEUE_CAPACITY as f64,
    )? as usize;
    let fixed_file_slots = integer_option(
        &opts,
        "fixedFileSlots",
        0.0,
        f64::from(limits::MAX_FIXED_FILE_SLOTS),
    )? as u32;
    let test_setup_errno =
        integer_option(&opts, "testSetupErrno", 0.0, f64::from(limits::MAX_ERRNO))?;
    let test_fail_after = integer_option(&opts, "testFailAfter", 0.0, MAX_SAFE_INTEGER)?;
    let mode_v = property(&opts, "mode")?;
    let mode = match type_of(&mode_v)? {
        ValueType::Undefined => Mode::Thread,
        ValueType::String => match args::string(&mode_v)?.as_deref() {
            Some("thread") => Mode::Thread,
            Some("inline") => Mode::Inline,
            other => {
                return Err(Failure::type_error(
                    "ERR_INVALID_ARG_VALUE",
                    format!(
                        "options.mode must be 'inline' or 'thread'; received '{}'",
                        other.unwrap_or_default()
                    ),
                ))
            }
        },
        other => {
            return Err(Failure::type_error(
                "ERR_INVALID_ARG_TYPE",
                format!(
                    "options.mode must be a string; received {}",
                    type_name(other)
                ),
            ))
        }
    };
    let fixed_buffer_slots = match type_of(&property(&opts, "fixedBufferSlots")?)? {
        ValueType::Undefined => 0,
        _ => integer_option(
            &opts,
            "fixedBufferSlots",
            0.0,
            f64::from(limits::MAX_FIXED_BUFFER_SLOTS),
        )? as u32,
    };
    let sqpoll_v = property(&opts, "sqpoll")?;
    let sqpoll = match type_of(&sqpoll_v)? {
        ValueType::Undefined => false,
        _ => args::boolean(&sqpoll_v, "options.sqpoll")?,
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
