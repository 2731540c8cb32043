//! Page-aligned memory for the buffer pool.
//!
//! O_DIRECT needs buffers aligned to the device's logical block size (at most a page on
//! the file systems we support), and registered buffers pin whole pages, so pool
//! buffers start on a page boundary and their length is rounded up to whole pages by
//! the caller's size classes. The memory is zeroed: a fresh pool buffer never shows
//! another allocation's old bytes.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Alignment of every pool buffer: one page on x86_64.
pub const POOL_ALIGN: usize = 4096;
/// The largest pool buffer (the registered-buffer limit of the kernel, 1 GiB).
pub const POOL_MAX_BYTES: usize = crate::MAX_FIXED_BUFFER_BYTES;

/// One page-aligned, zeroed heap allocation; freed on drop.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively (like a Box<[u8]>); moving the
// owner to another thread moves the allocation with it.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    /// `len` bytes (1..=POOL_MAX_BYTES) aligned to POOL_ALIGN; None when `len` is out of
    /// range or the allocator has no memory.
    pub fn new(len: usize) -> Option<AlignedBuf> {
        if len == 0 || len > POOL_MAX_BYTES {
            return None;
        }
        let layout = Layout::from_size_align(len, POOL_ALIGN).ok()?;
        // SAFETY: the layout has a non-zero size (checked above).
        let ptr = NonNull::new(unsafe { alloc::alloc_zeroed(layout) })?;
        Some(AlignedBuf { ptr, len })
    }

    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` initialised (zeroed at allocation) bytes owned by self; callers
        // that hand the pointer to the kernel do not read while a request is in flight.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`, and `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Gives up ownership (for a foreign finalizer); undo with [`AlignedBuf::from_raw`].
    pub fn into_raw(self) -> (*mut u8, usize) {
        let me = std::mem::ManuallyDrop::new(self);
        (me.ptr.as_ptr(), me.len)
    }

    /// Takes back ownership of what [`AlignedBuf::into_raw`] gave up.
    ///
    /// # Safety
    /// `(ptr, len)` must come from `into_raw` and be taken back exactly once.
    pub unsafe fn from_raw(ptr: *mut u8, len: usize) -> AlignedBuf {
        AlignedBuf {
            // SAFETY: `into_raw` only gives out the non-null pointer of a live buffer.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            len,
        }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout (validated there) and not
        // freed since (ownership is unique).
        unsafe {
            alloc::dealloc(
                self.ptr.as_ptr(),
                Layout::from_size_align_unchecked(self.len, POOL_ALIGN),
            )
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_bounded() {
        for len in [1, 4096, 65536, 1 << 20] {
            let b = AlignedBuf::new(len).unwrap();
            assert_eq!(b.as_mut_ptr() as usize % POOL_ALIGN, 0);
            assert_eq!(b.len(), len);
            assert!(b.as_slice().iter().all(|&x| x == 0));
        }
        assert!(AlignedBuf::new(0).is_none());
        assert!(AlignedBuf::new(POOL_MAX_BYTES + 1).is_none());
        let (p, l) = AlignedBuf::new(8192).unwrap().into_raw();
        // SAFETY: taken back once from into_raw.
        drop(unsafe { AlignedBuf::from_raw(p, l) });
    }
}
