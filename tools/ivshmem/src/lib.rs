// SPDX-License-Identifier: GPL-2.0
//! ivshmem host side: a server that speaks QEMU's ivshmem protocol (a
//! drop-in for QEMU's `contrib/ivshmem-server`), and a peer library for
//! host processes that share memory and doorbells with guests (what QEMU's
//! `contrib/ivshmem-client` does, as a library and a CLI).
//!
//! The protocol is QEMU's `docs/specs/ivshmem-spec.rst`; see
//! `Documentation/misc-devices/ivshmem.rst` in this tree for how the pieces
//! fit together with the guest driver.

#![warn(missing_docs)]

pub mod getopt;
pub mod peer;
pub mod proto;
pub mod server;
pub mod shm;

use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

/// The shared memory mapped read-write (`MAP_SHARED`). Other peers write it
/// concurrently: accesses are bounds-checked byte copies, or atomics.
///
/// The copies are plain, not atomic: bytes another peer (or another
/// thread) writes at the same time may be read torn. Synchronise with an
/// atomic flag or counter ([`ShmMap::atomic_u64`]) or a doorbell, as the
/// ping-pong protocol does, and do not mix copies and atomics on the same
/// bytes at the same time.
pub struct ShmMap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory owned by this value; it is
// only reached through bounds-checked copies and atomics, which are sound
// from any thread.
unsafe impl Send for ShmMap {}
// SAFETY: as above; no method hands out a non-atomic reference.
unsafe impl Sync for ShmMap {}

impl ShmMap {
    /// Maps `len` bytes of `fd` from offset 0.
    pub fn new(fd: BorrowedFd<'_>, len: u64) -> io::Result<ShmMap> {
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping too large"))?;
        let nz = NonZeroUsize::new(len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty shared memory"))?;
        // SAFETY: a new shared mapping at an address the kernel picks; it
        // aliases no Rust object, and is unmapped only in Drop.
        let p = unsafe {
            mmap(
                None,
                nz,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                fd,
                0,
            )
        }
        .map_err(io::Error::from)?;
        Ok(ShmMap { ptr: p.cast(), len })
    }

    /// The mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: [`ShmMap::new`] refuses that).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, off: u64, n: usize) -> io::Result<usize> {
        let off = usize::try_from(off)
            .ok()
            .filter(|o| o.checked_add(n).is_some_and(|e| e <= self.len));
        off.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("range beyond the shared memory ({} bytes)", self.len),
            )
        })
    }

    /// Copies `buf.len()` bytes at `off` out of the shared memory.
    pub fn read(&self, off: u64, buf: &mut [u8]) -> io::Result<()> {
        let o = self.check(off, buf.len())?;
        // SAFETY: `o..o + len` is inside the mapping (checked above); `buf`
        // is a distinct Rust buffer. Concurrent writers in other processes
        // can only make the bytes read stale, not invalid (u8 has no
        // invalid values).
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(o), buf.as_mut_ptr(), buf.len())
        };
        Ok(())
    }

    /// Copies `data` into the shared memory at `off`.
    pub fn write(&self, off: u64, data: &[u8]) -> io::Result<()> {
        let o = self.check(off, data.len())?;
        // SAFETY: the destination is inside the mapping (checked above) and
        // no Rust reference to it exists.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(o), data.len())
        };
        Ok(())
    }

    /// The 8 bytes at `off` (8-byte aligned) as an atomic, for flags and
    /// counters shared with other peers.
    pub fn atomic_u64(&self, off: u64) -> io::Result<&AtomicU64> {
        let o = self.check(off, 8)?;
        if o % 8 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unaligned atomic",
            ));
        }
        // SAFETY: in bounds and aligned (checked above; the mapping is page
        // aligned); the memory lives as long as `self`, and AtomicU64 may
        // alias memory other processes access atomically.
        Ok(unsafe { AtomicU64::from_ptr(self.ptr.as_ptr().add(o).cast()) })
    }
}

impl Drop for ShmMap {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new(), of this length; no reference
        // into it outlives `self` (atomic_u64 borrows self).
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}
