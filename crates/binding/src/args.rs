//! JavaScript arguments → Rust values, with the messages ts/ and the tests expect:
//! `TypeError [ERR_INVALID_ARG_TYPE]` for a wrong type, `RangeError [ERR_OUT_OF_RANGE]`
//! for a number outside its domain (validate.rs words those).
//!
//! Entry points take their arguments as `Unknown` and convert them here, rather than
//! declaring `f64`/`bool`/`Uint8ArraySlice` parameters: napi-rs's own conversion errors
//! have napi-rs's codes and words, not Node's.

#[cfg(io_uring_engine)]
use napi::bindgen_prelude::Object;
use napi::bindgen_prelude::Uint8ArraySlice;
use napi::{Env, JsValue, Unknown, ValueType};

use crate::error::{Failure, Outcome};
use crate::validate::{integer_in, OutOfRange};

/// The word `typeof` would print, for messages.
pub fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "boolean",
        ValueType::Number => "number",
        ValueType::String => "string",
        ValueType::Symbol => "symbol",
        ValueType::Object => "object",
        ValueType::Function => "function",
        ValueType::External => "external",
        ValueType::BigInt => "bigint",
        ValueType::Unknown => "an unknown value",
    }
}

/// `v`'s `typeof`.
pub fn type_of(v: &Unknown) -> Outcome<ValueType> {
    Ok(v.get_type()?)
}

/// "string", "undefined", "a typed array other than Uint8Array", … for messages.
#[cfg(io_uring_engine)]
pub fn describe(v: &Unknown) -> String {
    if v.is_typedarray().unwrap_or(false) {
        return "a typed array other than Uint8Array".into();
    }
    v.get_type()
        .map(|t| type_name(t).to_string())
        .unwrap_or_else(|_| "an unknown value".into())
}

/// The RangeError for a rejected number.
pub fn range(e: OutOfRange) -> Failure {
    Failure::range_error("ERR_OUT_OF_RANGE", e.0)
}

/// `v` as a number, or a TypeError naming `what`.
pub fn number(v: &Unknown, what: &str) -> Outcome<f64> {
    match type_of(v)? {
        // SAFETY: typeof said number, so napi_get_value_double accepts it.
        ValueType::Number => Ok(unsafe { v.cast::<f64>() }?),
        other => Err(Failure::type_error(
            "ERR_INVALID_ARG_TYPE",
            format!("{what} must be a number; received {}", type_name(other)),
        )),
    }
}

/// `v` as an integer in `lo..=hi`: TypeError for a non-number, RangeError outside.
pub fn integer(v: &Unknown, what: &str, lo: f64, hi: f64) -> Outcome<u64> {
    integer_in(what, number(v, what)?, lo, hi).map_err(range)
}

/// `v` as a boolean, or a TypeError naming `what`.
pub fn boolean(v: &Unknown, what: &str) -> Outcome<bool> {
    match type_of(v)? {
        // SAFETY: typeof said boolean, so napi_get_value_bool accepts it.
        ValueType::Boolean => Ok(unsafe { v.cast::<bool>() }?),
        other => Err(Failure::type_error(
            "ERR_INVALID_ARG_TYPE",
            format!(
                "{what} must be of type boolean; received {}",
                type_name(other)
            ),
        )),
    }
}

/// `v` as a string, or None when it is not one.
pub fn string(v: &Unknown) -> Outcome<Option<String>> {
    match type_of(v)? {
        // SAFETY: typeof said string, so napi_get_value_string_utf8 accepts it.
        ValueType::String => Ok(Some(unsafe { v.cast::<String>() }?)),
        _ => Ok(None),
    }
}

/// `v` as a Uint8Array (a Buffer or a view of one) borrowed for this call, or None when
/// it is anything else. No reference is taken: the handle keeps it alive until the
/// call returns.
pub fn uint8_array<'e>(env: &'e Env, v: &Unknown<'e>) -> Option<Uint8ArraySlice<'e>> {
    // Not a typed array, or one of another element type: napi_get_typedarray_info fails
    // (without throwing) or the type check in from_napi_value does.
    // SAFETY: `v` is a live handle of `env`; from_napi_value checks what it is.
    unsafe { napi::bindgen_prelude::FromNapiValue::from_napi_value(env.raw(), v.raw()) }.ok()
}

/// A Uint8Array argument, or a TypeError naming `what`.
pub fn uint8_array_arg<'e>(
    env: &'e Env,
    v: &Unknown<'e>,
    what: &str,
) -> Outcome<Uint8ArraySlice<'e>> {
    uint8_array(env, v).ok_or_else(|| {
        Failure::type_error(
            "ERR_INVALID_ARG_TYPE",
            format!("{what} must be a Uint8Array (Buffer)"),
        )
    })
}

/// `v` as an object, or a TypeError naming `what`.
#[cfg(io_uring_engine)]
pub fn object<'e>(env: &'e Env, v: &Unknown<'e>, what: &str) -> Outcome<Object<'e>> {
    match type_of(v)? {
        ValueType::Object => Ok(Object::from_raw(env.raw(), v.raw())),
        other => Err(Failure::type_error(
            "ERR_INVALID_ARG_TYPE",
            format!("{what} must be an object; received {}", type_name(other)),
        )),
    }
}

/// `v` as a file descriptor (a non-negative C int).
pub fn fd(v: &Unknown) -> Outcome<i32> {
    fd_named(v, "The \"fd\" argument")
}

/// `v` as a file descriptor, the argument named `what` in messages.
pub fn fd_named(v: &Unknown, what: &str) -> Outcome<i32> {
    Ok(integer(v, what, 0.0, f64::from(i32::MAX))? as i32)
}
