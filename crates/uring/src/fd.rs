//! An owned file descriptor: closed exactly once, on Drop.

use crate::sys;

/// Owns one fd (the ring fd, the wake-up eventfd). Dropping closes it.
#[derive(Debug)]
pub(crate) struct Fd(i32);

impl Fd {
    /// Takes ownership of `fd`, which must be open and owned by nobody else.
    pub(crate) fn from_raw(fd: i32) -> Fd {
        assert!(fd >= 0, "Fd::from_raw on a negative fd");
        Fd(fd)
    }

    pub(crate) fn raw(&self) -> i32 {
        self.0
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // close(2) errors are not actionable here: Linux frees the descriptor even when
        // close reports EINTR/EIO, so retrying could close an unrelated, reused fd.
        let _ = sys::close_fd(self.0);
    }
}
