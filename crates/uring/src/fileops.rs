//! Small synchronous file calls the layers above need next to the ring: whole-file
//! advisory locks (the WAL's and the log's directory locks) and page-cache eviction
//! (cold-cache benchmarks). They are plain syscalls on the calling thread.

use crate::sys;

/// What [`flock`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// LOCK_SH: many holders.
    Shared,
    /// LOCK_EX: one holder.
    Exclusive,
    /// LOCK_UN: release the lock this open file description holds.
    Unlock,
}

/// flock(2) on `fd`. With `non_blocking` (LOCK_NB) a lock held elsewhere fails at once
/// with EWOULDBLOCK (= EAGAIN on Linux) instead of waiting; a blocking call waits and is
/// retried on EINTR. Err(errno).
pub fn flock(fd: i32, mode: LockMode, non_blocking: bool) -> Result<(), i32> {
    let mut op = match mode {
        LockMode::Shared => sys::LOCK_SH,
        LockMode::Exclusive => sys::LOCK_EX,
        LockMode::Unlock => sys::LOCK_UN,
    };
    if non_blocking {
        op |= sys::LOCK_NB;
    }
    loop {
        // SAFETY: plain syscall on an integer fd; no memory is passed.
        let r = unsafe { sys::flock(fd, op) };
        if r == 0 {
            return Ok(());
        }
        match sys::errno() {
            sys::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// posix_fadvise(fd, offset, len, POSIX_FADV_DONTNEED): drops the clean page-cache pages
/// of the range (`len` 0 = to the end of the file). Dirty pages stay: fdatasync first.
/// Err(errno).
pub fn fadvise_dontneed(fd: i32, offset: u64, len: u64) -> Result<(), i32> {
    let offset = i64::try_from(offset).map_err(|_| sys::EINVAL)?;
    let len = i64::try_from(len).map_err(|_| sys::EINVAL)?;
    // SAFETY: plain syscall on an integer fd; no memory is passed.
    match unsafe { sys::posix_fadvise(fd, offset, len, sys::POSIX_FADV_DONTNEED) } {
        0 => Ok(()),
        e => Err(e),
    }
}

/// Direct-I/O alignment of an open file, from statx(2) STATX_DIOALIGN (Linux 6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DioAlignment {
    /// Required alignment of buffer addresses (bytes).
    pub mem: u32,
    /// Required alignment of file offsets and lengths (bytes).
    pub offset: u32,
}

/// The direct-I/O alignment the file system reports for `fd`: Ok(None) when it reports
/// none (a kernel before 6.1, or a file system that does not fill it in), Ok(Some) with
/// zeros when the file does not support O_DIRECT. Err(errno).
pub fn dio_alignment(fd: i32) -> Result<Option<DioAlignment>, i32> {
    let st = sys::statx_fd(fd, sys::STATX_DIOALIGN)?;
    if st.stx_mask & sys::STATX_DIOALIGN == 0 {
        return Ok(None);
    }
    Ok(Some(DioAlignment {
        mem: st.stx_dio_mem_align,
        offset: st.stx_dio_offset_align,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("streamline-uring-{name}-{}", std::process::id()))
    }

    #[test]
    fn exclusive_lock_excludes_another_open_file_description() {
        let path = temp("flock");
        let a = std::fs::File::create(&path).unwrap();
        let b = std::fs::File::open(&path).unwrap();
        assert_eq!(flock(a.as_raw_fd(), LockMode::Exclusive, true), Ok(()));
        assert_eq!(
            flock(b.as_raw_fd(), LockMode::Exclusive, true),
            Err(sys::EAGAIN)
        );
        assert_eq!(
            flock(b.as_raw_fd(), LockMode::Shared, true),
            Err(sys::EAGAIN)
        );
        assert_eq!(flock(a.as_raw_fd(), LockMode::Unlock, false), Ok(()));
        assert_eq!(flock(b.as_raw_fd(), LockMode::Shared, true), Ok(()));
        assert_eq!(flock(a.as_raw_fd(), LockMode::Shared, true), Ok(()));
        assert_eq!(flock(-1, LockMode::Exclusive, true), Err(sys::EBADF));
        drop((a, b));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn fadvise_accepts_files_and_rejects_bad_fds() {
        let path = temp("fadvise");
        let f = std::fs::File::create(&path).unwrap();
        assert_eq!(fadvise_dontneed(f.as_raw_fd(), 0, 0), Ok(()));
        assert_eq!(fadvise_dontneed(-1, 0, 0), Err(sys::EBADF));
        assert_eq!(
            fadvise_dontneed(f.as_raw_fd(), u64::MAX, 0),
            Err(sys::EINVAL)
        );
        drop(f);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn dio_alignment_of_a_regular_file() {
        let path = temp("dioalign");
        let f = std::fs::File::create(&path).unwrap();
        // ext4 and tmpfs on 6.x report it; whatever is reported is a power of two.
        if let Some(a) = dio_alignment(f.as_raw_fd()).unwrap() {
            assert!(a.mem == 0 || a.mem.is_power_of_two(), "{a:?}");
            assert!(a.offset == 0 || a.offset.is_power_of_two(), "{a:?}");
        }
        assert_eq!(dio_alignment(-1), Err(sys::EBADF));
        drop(f);
        std::fs::remove_file(&path).unwrap();
    }
}
