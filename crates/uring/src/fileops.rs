//! Small synchronous file calls the layers above need next to the ring: whole-file
//! advisory locks (the WAL's and the log's directory locks) and page-cache eviction
//! (cold-cache benchmarks), and the direct-I/O alignment of a file. They are plain
//! libc calls on the calling thread, on every Unix target (page-cache eviction where the
//! target has posix_fadvise, the alignment on Linux).

use crate::last_errno;

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
        LockMode::Shared => libc::LOCK_SH,
        LockMode::Exclusive => libc::LOCK_EX,
        LockMode::Unlock => libc::LOCK_UN,
    };
    if non_blocking {
        op |= libc::LOCK_NB;
    }
    loop {
        // SAFETY: plain syscall on an integer fd; no memory is passed.
        let r = unsafe { libc::flock(fd, op) };
        if r == 0 {
            return Ok(());
        }
        match last_errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// posix_fadvise(fd, offset, len, POSIX_FADV_DONTNEED): drops the clean page-cache pages
/// of the range (`len` 0 = to the end of the file). Dirty pages stay: fdatasync first.
/// Err(errno); Err(ENOSYS) on a target without posix_fadvise (macOS).
pub fn fadvise_dontneed(fd: i32, offset: u64, len: u64) -> Result<(), i32> {
    let offset = libc::off_t::try_from(offset).map_err(|_| libc::EINVAL)?;
    let len = libc::off_t::try_from(len).map_err(|_| libc::EINVAL)?;
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        // SAFETY: plain syscall on an integer fd; no memory is passed. It returns the
        // error number itself and leaves errno alone.
        match unsafe { libc::posix_fadvise(fd, offset, len, libc::POSIX_FADV_DONTNEED) } {
            0 => Ok(()),
            e => Err(e),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    {
        let _ = (fd, offset, len);
        Err(libc::ENOSYS)
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
/// zeros when the file does not support O_DIRECT. Err(errno). Ok(None) on targets other
/// than Linux.
pub fn dio_alignment(fd: i32) -> Result<Option<DioAlignment>, i32> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: statx is plain old data; all-zero is a valid value.
        let mut st: libc::statx = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a writable struct statx of the size the kernel writes; the
        // path is an empty C string that outlives the call (AT_EMPTY_PATH: `fd` itself).
        let r = unsafe {
            libc::statx(
                fd,
                c"".as_ptr(),
                libc::AT_EMPTY_PATH,
                libc::STATX_DIOALIGN,
                &mut st,
            )
        };
        if r < 0 {
            return Err(last_errno());
        }
        if st.stx_mask & libc::STATX_DIOALIGN == 0 {
            return Ok(None);
        }
        Ok(Some(DioAlignment {
            mem: st.stx_dio_mem_align,
            offset: st.stx_dio_offset_align,
        }))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = fd;
        Ok(None)
    }
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
            Err(libc::EAGAIN)
        );
        assert_eq!(
            flock(b.as_raw_fd(), LockMode::Shared, true),
            Err(libc::EAGAIN)
        );
        assert_eq!(flock(a.as_raw_fd(), LockMode::Unlock, false), Ok(()));
        assert_eq!(flock(b.as_raw_fd(), LockMode::Shared, true), Ok(()));
        assert_eq!(flock(a.as_raw_fd(), LockMode::Shared, true), Ok(()));
        assert_eq!(flock(-1, LockMode::Exclusive, true), Err(libc::EBADF));
        drop((a, b));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn fadvise_accepts_files_and_rejects_bad_fds() {
        let path = temp("fadvise");
        let f = std::fs::File::create(&path).unwrap();
        assert_eq!(fadvise_dontneed(f.as_raw_fd(), 0, 0), Ok(()));
        assert_eq!(fadvise_dontneed(-1, 0, 0), Err(libc::EBADF));
        assert_eq!(
            fadvise_dontneed(f.as_raw_fd(), u64::MAX, 0),
            Err(libc::EINVAL)
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
        assert_eq!(dio_alignment(-1), Err(libc::EBADF));
        drop(f);
        std::fs::remove_file(&path).unwrap();
    }
}
