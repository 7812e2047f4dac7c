// SPDX-License-Identifier: GPL-2.0

//! Access to the memory a ring lives in.
//!
//! Both sides of a ring write into the same memory concurrently, so every
//! access goes through the atomic, little-endian accessors of [`RingMem`];
//! the ring code never forms a Rust reference into ring memory.
//!
//! # Ordering
//!
//! The accessors are relaxed (`READ_ONCE`/`WRITE_ONCE` in kernel terms).
//! Ordering comes only from the three barriers, used exactly where the
//! virtio specification requires them:
//!
//! - [`RingMem::wmb`] between writing a buffer's descriptors and publishing
//!   it (split: `avail->idx`; packed: the head descriptor's flags), and
//!   between writing a used element and publishing it (`used->idx` / flags);
//! - [`RingMem::rmb`] between seeing a published index/flag and reading
//!   what it publishes;
//! - [`RingMem::mb`] between publishing and reading the other side's
//!   suppression state (the notification decision), and between re-enabling
//!   notifications and re-checking for work, so neither side can miss the
//!   other's update (the "lost wakeup" race).
//!
//! In the kernel these are the virtio barriers (`virt_*` / `dma_*`); on the
//! host they are `core::sync::atomic::fence` with acquire, release and
//! sequentially consistent ordering.

/// Memory shared with the other side of a ring, plus its barriers.
///
/// Offsets are in bytes from the start of the region. The ring code only
/// uses offsets inside the layout it validated against [`RingMem::len`],
/// naturally aligned for the access width; an implementation must still
/// never cause undefined behaviour for any offset (it may ignore such an
/// access and return 0).
pub trait RingMem {
    /// Size of the region in bytes.
    fn len(&self) -> usize;
    /// Whether the region is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Device address of offset 0.
    fn dma_addr(&self) -> u64;
    /// Relaxed atomic little-endian 16-bit load.
    fn load16(&self, off: usize) -> u16;
    /// Relaxed atomic little-endian 16-bit store.
    fn store16(&self, off: usize, v: u16);
    /// Relaxed atomic little-endian 32-bit load.
    fn load32(&self, off: usize) -> u32;
    /// Relaxed atomic little-endian 32-bit store.
    fn store32(&self, off: usize, v: u32);
    /// Relaxed atomic little-endian 64-bit load.
    fn load64(&self, off: usize) -> u64;
    /// Relaxed atomic little-endian 64-bit store.
    fn store64(&self, off: usize, v: u64);
    /// Read barrier: loads before it are ordered before loads after it.
    fn rmb(&self);
    /// Write barrier: stores before it are ordered before stores after it.
    fn wmb(&self);
    /// Full barrier.
    fn mb(&self);
}

#[inline]
pub(crate) fn in_bounds(len: usize, off: usize, width: usize) -> bool {
    off % width == 0 && off.checked_add(width).is_some_and(|end| end <= len)
}

/// A [`RingMem`] over raw memory, with atomic-fence barriers: the host
/// implementation (tests, fuzzing, the ringtest benchmark, user-space
/// peers), usable wherever the memory comes from.
///
/// # Invariants
///
/// `ptr` is valid for reads and writes of `len` bytes and 8-byte aligned for
/// as long as this value exists, and is only accessed atomically by anyone.
#[derive(Clone, Copy, Debug)]
pub struct RawMem {
    ptr: *mut u8,
    len: usize,
    dma: u64,
}

// SAFETY: all accesses through `RawMem` are atomic.
unsafe impl Send for RawMem {}
// SAFETY: all accesses through `RawMem` are atomic.
unsafe impl Sync for RawMem {}

macro_rules! raw_access {
    ($load:ident, $store:ident, $t:ty, $at:ty) => {
        #[inline]
        fn $load(&self, off: usize) -> $t {
            if !in_bounds(self.len, off, core::mem::size_of::<$t>()) {
                debug_assert!(false, "ring access out of bounds");
                return 0;
            }
            // SAFETY: in bounds and aligned (checked above, `ptr` is 8-byte
            // aligned by the type invariant); the memory is only accessed
            // atomically, so the atomic view is sound.
            let a = unsafe { <$at>::from_ptr(self.ptr.add(off).cast::<$t>()) };
            <$t>::from_le(a.load(core::sync::atomic::Ordering::Relaxed))
        }

        #[inline]
        fn $store(&self, off: usize, v: $t) {
            if !in_bounds(self.len, off, core::mem::size_of::<$t>()) {
                debug_assert!(false, "ring access out of bounds");
                return;
            }
            // SAFETY: as in the load above.
            let a = unsafe { <$at>::from_ptr(self.ptr.add(off).cast::<$t>()) };
            a.store(v.to_le(), core::sync::atomic::Ordering::Relaxed)
        }
    };
}

impl RawMem {
    /// Wrap `len` bytes at `ptr`, which the device sees at address `dma`.
    ///
    /// # Safety
    ///
    /// `ptr` must be 8-byte aligned and valid for reads and writes of `len`
    /// bytes for the lifetime of the returned value and all its copies, and
    /// every other access to that memory must be atomic.
    pub unsafe fn new(ptr: *mut u8, len: usize, dma: u64) -> Self {
        debug_assert!(ptr as usize % 8 == 0);
        // INVARIANT: guaranteed by the caller.
        RawMem { ptr, len, dma }
    }

    /// The sub-region `[off, off + len)`, or `None` if it does not fit or is
    /// not 8-byte aligned.
    pub fn slice(&self, off: usize, len: usize) -> Option<RawMem> {
        if off % 8 != 0 || off.checked_add(len)? > self.len {
            return None;
        }
        // INVARIANT: a sub-range of a valid region, still 8-byte aligned.
        Some(RawMem {
            // SAFETY: `off <= self.len`, so the result is inside the region.
            ptr: unsafe { self.ptr.add(off) },
            len,
            dma: self.dma + off as u64,
        })
    }

    /// The start of the region.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
}

impl RingMem for RawMem {
    fn len(&self) -> usize {
        self.len
    }
    fn dma_addr(&self) -> u64 {
        self.dma
    }
    raw_access!(load16, store16, u16, core::sync::atomic::AtomicU16);
    raw_access!(load32, store32, u32, core::sync::atomic::AtomicU32);
    raw_access!(load64, store64, u64, core::sync::atomic::AtomicU64);
    #[inline]
    fn rmb(&self) {
        core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire)
    }
    #[inline]
    fn wmb(&self) {
        core::sync::atomic::fence(core::sync::atomic::Ordering::Release)
    }
    #[inline]
    fn mb(&self) {
        full_fence()
    }
}

/// A full barrier, as `fence(SeqCst)`.
///
/// On x86-64 that fence is `mfence`, which also orders non-temporal and
/// write-combining accesses and costs about twice as much as a locked
/// read-modify-write, which is all that ordinary write-back memory needs.
/// Linux's `smp_mb()` and the kernel's ringtest `main.h` use a locked
/// no-op on the stack for that reason; so does this. Miri cannot run
/// inline assembly and keeps the fence.
#[inline(always)]
fn full_fence() {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: `lock or` of zero into the word at the stack pointer, which
    // is always mapped and writable by this thread: an atomic
    // read-modify-write that leaves the value unchanged. A locked
    // instruction orders all earlier loads and stores before all later
    // ones (Intel SDM vol. 3, 9.2.2), and an `asm!` block without `nomem`
    // is assumed to access any memory, so the compiler moves no access
    // across it either (as `kernel::sync::barrier::barrier()` relies on).
    unsafe {
        core::arch::asm!("lock or dword ptr [rsp], 0", options(nostack));
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst)
}
