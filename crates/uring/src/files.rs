//! The sparse fixed-file table: registered once with every slot empty (-1), then
//! filled and emptied one slot at a time as files open and close.
//!
//! A request on a registered file names the slot with IOSQE_FIXED_FILE, which saves the
//! kernel an fdget/fdput (an atomic on the file's refcount when the process is
//! multi-threaded, which a Node process always is) per operation. The plain fd stays
//! open and owned by the caller: fstat, flock, sendfile and the fallback backend use it.

use crate::ring::Ring;
use crate::sys;
use std::collections::HashMap;

pub(crate) struct FixedFiles {
    /// Registered table size; 0 = fixed files are not in use.
    slots: u32,
    /// Free slot indices, lowest on top.
    free: Vec<u32>,
    by_fd: HashMap<i32, u32>,
}

impl FixedFiles {
    /// A table that is never used.
    pub(crate) fn disabled() -> FixedFiles {
        FixedFiles {
            slots: 0,
            free: Vec::new(),
            by_fd: HashMap::new(),
        }
    }

    /// Registers `slots` empty slots (IORING_REGISTER_FILES with -1 entries, sparse sets
    /// since Linux 5.5). Registration can fail (EMFILE when `slots` exceeds
    /// RLIMIT_NOFILE, ENOMEM): the engine then works with plain fds only, which is
    /// slower but correct, so the failure is returned for reporting only.
    pub(crate) fn register(ring: &Ring, slots: u32) -> (FixedFiles, Option<i32>) {
        if slots == 0 {
            return (FixedFiles::disabled(), None);
        }
        let table = vec![-1i32; slots as usize];
        // SAFETY: `table` is an array of `slots` i32 fds (all -1) alive for the call;
        // the kernel copies it.
        let r = unsafe { ring.register(sys::IORING_REGISTER_FILES, table.as_ptr().cast(), slots) };
        match r {
            Ok(_) => (
                FixedFiles {
                    slots,
                    free: (0..slots).rev().collect(),
                    by_fd: HashMap::new(),
                },
                None,
            ),
            Err(e) => (FixedFiles::disabled(), Some(e)),
        }
    }

    /// Size of the registered table (0 when unused).
    pub(crate) fn slots(&self) -> u32 {
        self.slots
    }

    /// The slot holding `fd`, if any.
    pub(crate) fn lookup(&self, fd: i32) -> Option<u32> {
        self.by_fd.get(&fd).copied()
    }

    fn update(ring: &Ring, slot: u32, fd: i32) -> Result<(), i32> {
        let fds = [fd];
        let up = sys::io_uring_files_update {
            offset: slot,
            resv: 0,
            fds: fds.as_ptr() as u64,
        };
        // SAFETY: `up` and `fds` live across the call; nr_args = 1 fd.
        unsafe {
            ring.register_update(
                sys::IORING_REGISTER_FILES_UPDATE,
                (&up as *const sys::io_uring_files_update).cast(),
                1,
            )
        }
        .map(|_| ())
    }

    /// Puts a freshly opened `fd` into a slot. An fd number already in the map means
    /// that fd was closed behind our back and the number reused: its slot is
    /// overwritten. None when the table is full or unused (the fd is then used plain).
    pub(crate) fn insert(&mut self, ring: &Ring, fd: i32) -> Option<u32> {
        if let Some(slot) = self.lookup(fd) {
            if Self::update(ring, slot, fd).is_ok() {
                return Some(slot);
            }
            self.remove(ring, fd);
            return None;
        }
        let slot = self.free.pop()?;
        match Self::update(ring, slot, fd) {
            Ok(()) => {
                self.by_fd.insert(fd, slot);
                Some(slot)
            }
            Err(_) => {
                self.free.push(slot);
                None
            }
        }
    }

    /// Empties the slot of `fd` (if it has one) so the table drops its file reference.
    pub(crate) fn remove(&mut self, ring: &Ring, fd: i32) {
        if let Some(slot) = self.by_fd.remove(&fd) {
            // If the update fails the slot keeps a stale file reference; do not reuse
            // it (a later update would replace the file anyway, but a failing update
            // means the table is unusable).
            if Self::update(ring, slot, -1).is_ok() {
                self.free.push(slot);
            }
        }
    }
}
