//! The sparse registered-buffer table: registered once with every slot empty
//! (IORING_REGISTER_BUFFERS2 with IORING_RSRC_REGISTER_SPARSE, Linux 5.19), then filled
//! and emptied one slot at a time (IORING_REGISTER_BUFFERS_UPDATE) as the buffer pool
//! creates and drops buffers.
//!
//! Registration pins the pages once, so a READ_FIXED/WRITE_FIXED on them skips the
//! per-operation page pinning (get_user_pages) a plain READ/WRITE pays. Pinned memory
//! counts against RLIMIT_MEMLOCK for users without CAP_IPC_LOCK (often 8 MiB): an
//! update over the limit fails with ENOMEM, and that buffer simply stays a plain one.
//!
//! The engine picks the fixed opcodes itself: [`FixedBuffers::lookup`] finds the slot
//! whose registered range contains a request's whole buffer, at the time the SQE is
//! built, so a slot emptied meanwhile is never named. The kernel keeps a registered
//! buffer's pages pinned until every request using the slot has completed, even when
//! the slot is emptied first.
//!
//! Whoever registers memory keeps it allocated until the slot is emptied (`remove`) or
//! the ring is gone: the table maps *addresses*, and a freed-and-reused range would
//! otherwise make a later request on new memory use the old pinned pages.

use crate::ring::Ring;
use crate::sys;
use std::collections::BTreeMap;

/// The most bytes one registered buffer may span (the kernel's limit is 1 GiB).
pub(crate) const MAX_FIXED_BUFFER_BYTES: usize = 1 << 30;

pub(crate) struct FixedBuffers {
    /// Registered table size; 0 = registered buffers are not in use.
    slots: u32,
    /// Free slot indices, lowest on top.
    free: Vec<u32>,
    /// Registered ranges by start address: start → (length, slot).
    by_addr: BTreeMap<usize, (usize, u32)>,
}

impl FixedBuffers {
    /// A table that is never used.
    fn disabled() -> FixedBuffers {
        FixedBuffers {
            slots: 0,
            free: Vec::new(),
            by_addr: BTreeMap::new(),
        }
    }

    /// Registers `slots` empty slots. A kernel without sparse buffer tables (EINVAL
    /// before 5.19) or a failure (ENOMEM) leaves the engine without registered buffers,
    /// which is slower but correct; the errno is returned for reporting.
    pub(crate) fn register(ring: &Ring, slots: u32) -> (FixedBuffers, Option<i32>) {
        if slots == 0 {
            return (FixedBuffers::disabled(), None);
        }
        let reg = sys::io_uring_rsrc_register {
            nr: slots,
            flags: sys::IORING_RSRC_REGISTER_SPARSE,
            ..Default::default()
        };
        // SAFETY: `reg` is a valid io_uring_rsrc_register alive for the call; nr_args is
        // its size, as the opcode requires; a sparse table passes no iovecs.
        let r = unsafe {
            ring.register(
                sys::IORING_REGISTER_BUFFERS2,
                (&reg as *const sys::io_uring_rsrc_register).cast(),
                size_of::<sys::io_uring_rsrc_register>() as u32,
            )
        };
        match r {
            Ok(_) => (
                FixedBuffers {
                    slots,
                    free: (0..slots).rev().collect(),
                    by_addr: BTreeMap::new(),
                },
                None,
            ),
            Err(e) => (FixedBuffers::disabled(), Some(e)),
        }
    }

    /// Size of the registered table (0 when unused).
    pub(crate) fn slots(&self) -> u32 {
        self.slots
    }

    /// Registers `len` bytes at `addr` in a free slot; Ok(slot) or Err(errno):
    /// EOPNOTSUPP without a table, ENOBUFS when every slot is taken, EINVAL for an empty
    /// or oversized range or one overlapping a registered range, ENOMEM over
    /// RLIMIT_MEMLOCK, EFAULT for unmapped memory; EAGAIN/EBUSY only when the kernel
    /// kept refusing through every retry of [`Ring::register_update`].
    ///
    /// # Safety
    /// The memory must stay allocated until the slot is emptied with [`remove`] or the
    /// ring is dropped (see the module docs).
    ///
    /// [`remove`]: FixedBuffers::remove
    pub(crate) unsafe fn insert(
        &mut self,
        ring: &Ring,
        addr: usize,
        len: usize,
    ) -> Result<u32, i32> {
        if self.slots == 0 {
            return Err(sys::EOPNOTSUPP);
        }
        if addr == 0 || len == 0 || len > MAX_FIXED_BUFFER_BYTES || self.overlaps(addr, len) {
            return Err(sys::EINVAL);
        }
        let slot = *self.free.last().ok_or(sys::ENOBUFS)?;
        let iov = sys::iovec {
            iov_base: addr as *mut std::ffi::c_void,
            iov_len: len,
        };
        update(ring, slot, &iov)?;
        self.free.pop();
        self.by_addr.insert(addr, (len, slot));
        Ok(slot)
    }

    /// Empties `slot`; Err(EINVAL) when it is not registered. Requests already submitted
    /// on it keep their pinned pages until they complete.
    pub(crate) fn remove(&mut self, ring: &Ring, slot: u32) -> Result<(), i32> {
        let Some(&addr) = self
            .by_addr
            .iter()
            .find(|(_, &(_, s))| s == slot)
            .map(|(a, _)| a)
        else {
            return Err(sys::EINVAL);
        };
        let empty = sys::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        update(ring, slot, &empty)?;
        self.by_addr.remove(&addr);
        self.free.push(slot);
        Ok(())
    }

    /// The slot whose registered range holds all of `addr..addr + len`, if any.
    pub(crate) fn lookup(&self, addr: usize, len: usize) -> Option<u32> {
        if self.by_addr.is_empty() {
            return None;
        }
        let (&start, &(blen, slot)) = self.by_addr.range(..=addr).next_back()?;
        let end = addr.checked_add(len)?;
        (end <= start + blen).then_some(slot)
    }

    fn overlaps(&self, addr: usize, len: usize) -> bool {
        // The registered range starting last before `addr + len` is the only candidate:
        // ranges never overlap each other.
        self.by_addr
            .range(..addr.saturating_add(len))
            .next_back()
            .is_some_and(|(&s, &(l, _))| s + l > addr)
    }
}

/// IORING_REGISTER_BUFFERS_UPDATE of one slot; a refusal for a passing reason
/// (EAGAIN/EBUSY/EINTR) is tried again a few times ([`Ring::register_update`]).
fn update(ring: &Ring, slot: u32, iov: &sys::iovec) -> Result<(), i32> {
    let up = sys::io_uring_rsrc_update2 {
        offset: slot,
        data: iov as *const sys::iovec as u64,
        nr: 1,
        ..Default::default()
    };
    // SAFETY: `up` and the iovec it points at are alive for the call; nr_args is the
    // struct's size, as the opcode requires. The memory the iovec names is the caller's
    // (see `insert`); an empty iovec names none.
    unsafe {
        ring.register_update(
            sys::IORING_REGISTER_BUFFERS_UPDATE,
            (&up as *const sys::io_uring_rsrc_update2).cast(),
            size_of::<sys::io_uring_rsrc_update2>() as u32,
        )
    }
    .map(|_| ())
}
