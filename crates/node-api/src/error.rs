//! The error type of the wrapper: an `Err` returned from a JavaScript-callable function
//! becomes a thrown JavaScript exception (see [`crate::Env::throw`]).

use std::fmt;

use crate::sys;

/// Which constructor the thrown exception gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `Error`: runtime failures (system errors, closed objects).
    Error,
    /// `TypeError`: an argument of the wrong type.
    TypeError,
    /// `RangeError`: an argument of the right type but outside its domain.
    RangeError,
    /// A JavaScript exception is already pending on the environment (a getter threw, a
    /// callback threw); it propagates unchanged and nothing new is thrown.
    Pending,
}

/// A JavaScript exception to be thrown, or one already pending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The constructor.
    pub kind: ErrorKind,
    /// The `.code` property (`'ERR_INVALID_ARG_TYPE'`, `'ENOENT'`, …).
    pub code: Option<String>,
    /// The message.
    pub message: String,
    /// The `.errno` property: a positive errno number, as the project's contract says.
    pub errno: Option<i32>,
}

/// The result of every fallible wrapper call.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An `Error` with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Error,
            code: None,
            message: message.into(),
            errno: None,
        }
    }

    /// An `Error` with a `.code`.
    pub fn with_code(code: impl Into<String>, message: impl Into<String>) -> Self {
        Error::new(message).code(code)
    }

    /// A `TypeError` with a `.code`.
    pub fn type_error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::TypeError,
            ..Error::with_code(code, message)
        }
    }

    /// A `RangeError` with a `.code`.
    pub fn range_error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::RangeError,
            ..Error::with_code(code, message)
        }
    }

    /// The marker for "an exception is already pending".
    pub fn pending() -> Self {
        Error {
            kind: ErrorKind::Pending,
            code: None,
            message: String::new(),
            errno: None,
        }
    }

    /// Sets `.code`.
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets `.errno` (a positive errno number).
    pub fn errno(mut self, errno: i32) -> Self {
        self.errno = Some(errno);
        self
    }

    /// The error for a failed Node-API call. A pending exception is kept as is; other
    /// statuses are internal errors that name the status (and Node's message for it).
    pub(crate) fn from_status(status: sys::napi_status, detail: Option<String>) -> Self {
        if status == sys::napi_pending_exception {
            return Error::pending();
        }
        let mut message = format!("Node-API call failed: {}", sys::status_name(status));
        if let Some(detail) = detail {
            message.push_str(" (");
            message.push_str(&detail);
            message.push(')');
        }
        Error::with_code("ERR_NAPI_CALL_FAILED", message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, &self.code) {
            (ErrorKind::Pending, _) => f.write_str("a JavaScript exception is pending"),
            (kind, Some(code)) => write!(f, "{kind:?} [{code}]: {}", self.message),
            (kind, None) => write!(f, "{kind:?}: {}", self.message),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_set_fields() {
        let e = Error::range_error("ERR_OUT_OF_RANGE", "bad").errno(22);
        assert_eq!(e.kind, ErrorKind::RangeError);
        assert_eq!(e.code.as_deref(), Some("ERR_OUT_OF_RANGE"));
        assert_eq!(e.errno, Some(22));
        assert_eq!(e.to_string(), "RangeError [ERR_OUT_OF_RANGE]: bad");
    }

    #[test]
    fn pending_status_stays_pending() {
        assert_eq!(
            Error::from_status(sys::napi_pending_exception, None).kind,
            ErrorKind::Pending
        );
        let e = Error::from_status(sys::napi_invalid_arg, Some("x".into()));
        assert_eq!(e.message, "Node-API call failed: napi_invalid_arg (x)");
    }
}
