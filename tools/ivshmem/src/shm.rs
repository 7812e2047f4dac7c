// SPDX-License-Identifier: GPL-2.0
//! The shared memory the server hands out: a POSIX shared-memory object
//! (`-M name`, QEMU's default) or an unlinked file in a directory (`-m dir`,
//! e.g. a hugetlbfs mount), sized like QEMU's server does it.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::shm_open;
use nix::sys::stat::{fstat, Mode};
use nix::unistd::ftruncate;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Where the shared memory comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShmSource {
    /// `shm_open(name, O_CREAT | O_RDWR, 0700)`: created if missing, kept
    /// (with its contents) across server restarts, like QEMU's server.
    Posix(String),
    /// A file `ivshmem.XXXXXX` created in this directory and unlinked at
    /// once: only the peers hold it.
    Dir(std::path::PathBuf),
}

/// The largest huge page size tried when a size is refused (hugetlbfs
/// only accepts multiples of its page size): 1 GiB, as in QEMU.
const MAX_HUGEPAGE_SIZE: u64 = 1 << 30;

fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Opens (or creates) the shared memory and gives it `size` bytes, rounded
/// up to a power of two as QEMU's server does (the device maps the whole
/// object as a PCI BAR, and BAR sizes are powers of two). An object that
/// already has exactly that size is left alone (its contents survive a
/// server restart). If the size is refused, each next power of two up to
/// 1 GiB is tried, for hugetlbfs.
pub fn open(src: &ShmSource, size: u64) -> io::Result<OwnedFd> {
    if size == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "shared memory size 0",
        ));
    }
    let fd = match src {
        ShmSource::Posix(name) => {
            let name = if name.starts_with('/') {
                name.clone()
            } else {
                format!("/{name}")
            };
            shm_open(
                name.as_str(),
                OFlag::O_CREAT | OFlag::O_RDWR | OFlag::O_CLOEXEC,
                Mode::S_IRWXU,
            )
            .map_err(|e| io::Error::new(errno_io(e).kind(), format!("shm_open({name}): {e}")))?
        }
        ShmSource::Dir(dir) => tempfile_in(dir)?,
    };
    let want = size.checked_next_power_of_two().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("shared memory size {size} is too large"),
        )
    })?;
    let st = fstat(std::os::fd::AsRawFd::as_raw_fd(&fd)).map_err(errno_io)?;
    if st.st_size as u64 == want {
        return Ok(fd);
    }
    let mut try_size = want;
    loop {
        match ftruncate(fd.as_fd(), try_size as i64) {
            Ok(()) => return Ok(fd),
            Err(e) if try_size < MAX_HUGEPAGE_SIZE => {
                let _ = e;
                try_size *= 2;
            }
            Err(e) => {
                return Err(io::Error::new(
                    errno_io(e).kind(),
                    format!("cannot size the shared memory to {want} bytes: {e}"),
                ))
            }
        }
    }
}

/// `mkstemp(dir/ivshmem.XXXXXX)` and unlink.
fn tempfile_in(dir: &Path) -> io::Result<OwnedFd> {
    let (fd, path) = nix::unistd::mkstemp(&dir.join("ivshmem.XXXXXX")).map_err(|e| {
        io::Error::new(
            errno_io(e).kind(),
            format!("mkstemp in {}: {e}", dir.display()),
        )
    })?;
    // SAFETY: mkstemp returned a new descriptor that nothing else owns.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(errno_io)?;
    std::fs::remove_file(&path)?;
    Ok(fd)
}

/// Parses a size like QEMU's `-l`: a number of bytes with an optional
/// binary suffix `B`, `K`, `M`, `G`, `T`, `P` or `E` (either case), and
/// with a suffix a decimal fraction (`1.5G`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, shift) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'B' => 0,
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                'P' => 50,
                'E' => 60,
                _ => return Err(format!("invalid size suffix in '{s}'")),
            };
            (&s[..i], shift)
        }
        _ => (s, 0),
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("invalid size '{s}'"));
    }
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() || frac.contains('.') || (shift == 0 && !frac.is_empty()) {
        return Err(format!("invalid size '{s}'"));
    }
    let int: u64 = int.parse().map_err(|_| format!("invalid size '{s}'"))?;
    let mut v = int
        .checked_shl(shift)
        .filter(|v| v >> shift == int)
        .ok_or_else(|| format!("size '{s}' is too large"))?;
    if !frac.is_empty() {
        let digits: u32 = frac
            .len()
            .try_into()
            .map_err(|_| format!("invalid size '{s}'"))?;
        if digits > 18 {
            return Err(format!("invalid size '{s}'"));
        }
        let f: u128 = frac.parse().map_err(|_| format!("invalid size '{s}'"))?;
        let add = (f << shift) / 10u128.pow(digits);
        v = v
            .checked_add(add as u64)
            .ok_or_else(|| format!("size '{s}' is too large"))?;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4194304"), Ok(4 << 20));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("4M"), Ok(4 << 20));
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size("16E").unwrap_err(), "size '16E' is too large");
        for bad in ["", "M", "1.5", "1..5G", "12Q", "-1", "0x10", "1 G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dir_backed_is_unlinked_and_rounded_up() {
        let dir = std::env::temp_dir().join(format!("ivshmem-shm-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fd = open(&ShmSource::Dir(dir.clone()), 3 << 20).unwrap();
        assert_eq!(
            fstat(std::os::fd::AsRawFd::as_raw_fd(&fd)).unwrap().st_size,
            4 << 20
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "the file is unlinked"
        );
        std::fs::remove_dir(&dir).unwrap();
        assert!(open(&ShmSource::Dir("/nonexistent-ivshmem-dir".into()), 1 << 20).is_err());
        assert!(open(&ShmSource::Dir(std::env::temp_dir()), 0).is_err());
    }

    #[test]
    fn posix_object_keeps_its_size_and_contents() {
        let name = format!("ivshmem-test-{}", std::process::id());
        let fd = open(&ShmSource::Posix(name.clone()), 1 << 20).unwrap();
        nix::sys::uio::pwrite(&fd, b"kept", 100).unwrap();
        drop(fd);
        let fd = open(&ShmSource::Posix(name.clone()), 1 << 20).unwrap();
        let mut b = [0u8; 4];
        nix::sys::uio::pread(&fd, &mut b, 100).unwrap();
        assert_eq!(&b, b"kept");
        nix::sys::mman::shm_unlink(format!("/{name}").as_str()).unwrap();
    }
}
