//! A shared mapping of ring memory: unmapped exactly once, on Drop.

use crate::sys;
use std::ffi::c_void;
use std::ptr::NonNull;

/// One `mmap(MAP_SHARED)` of a region of the ring fd (SQ ring, CQ ring or SQE array).
///
/// The mapping holds its own reference to the ring, so it stays valid even after the
/// ring fd is closed; `Ring` still drops its maps before its fd (see `ring::Ring`) so
/// that closing the fd is the last step of tearing a ring down.
#[derive(Debug)]
pub(crate) struct Mmap {
    addr: NonNull<c_void>,
    len: usize,
}

impl Mmap {
    /// Maps `len` bytes of `fd` at the io_uring magic offset `offset`; Err(errno).
    pub(crate) fn map_ring(fd: i32, len: usize, offset: i64) -> Result<Mmap, i32> {
        // SAFETY: a fresh shared mapping chosen by the kernel (addr = NULL) aliases no
        // Rust object; failure is reported as MAP_FAILED and handled below.
        let addr = unsafe {
            sys::mmap(
                std::ptr::null_mut(),
                len,
                sys::PROT_READ | sys::PROT_WRITE,
                sys::MAP_SHARED | sys::MAP_POPULATE,
                fd,
                offset,
            )
        };
        if addr == sys::MAP_FAILED {
            return Err(sys::errno());
        }
        let addr = NonNull::new(addr).ok_or(sys::ENOMEM)?;
        Ok(Mmap { addr, len })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// A pointer `offset` bytes into the mapping.
    pub(crate) fn at<T>(&self, offset: u32) -> *mut T {
        let offset = offset as usize;
        assert!(
            offset + std::mem::size_of::<T>() <= self.len,
            "ring offset out of the mapping"
        );
        // SAFETY: in bounds of the mapping, checked just above.
        unsafe { self.addr.as_ptr().cast::<u8>().add(offset).cast::<T>() }
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: addr/len are exactly what mmap returned and nothing borrows the
        // mapping past its owner's lifetime (pointers into it live in the same `Ring`).
        unsafe {
            sys::munmap(self.addr.as_ptr(), self.len);
        }
    }
}
