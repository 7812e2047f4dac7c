// SPDX-License-Identifier: GPL-2.0

//! Ring memory in the kernel: DMA-coherent allocations seen through the
//! ring core's [`RingMem`], ordered with the kernel's DMA barriers.
//!
//! This is one of the thin layers that hold `unsafe`; code above it is safe.

use super::vring::{mem::RawMem, RingMem};
use core::marker::PhantomData;
use kernel::{
    device::{Bound, Device},
    dma::{Coherent, DmaMask},
    faux,
    prelude::*,
    sync::barrier::{dma_mb, mb, Full, Read, Write},
};

/// A view of (part of) a DMA-coherent allocation as ring memory.
///
/// # Invariants
///
/// `raw` covers memory inside the allocation borrowed for `'a`.
#[derive(Clone, Copy)]
pub struct DmaRing<'a> {
    raw: RawMem,
    _alloc: PhantomData<&'a Coherent<[u64]>>,
}

impl<'a> DmaRing<'a> {
    /// The whole allocation.
    pub fn new(c: &'a Coherent<[u64]>) -> Self {
        // SAFETY: the allocation is 8-byte aligned (u64 elements, and DMA
        // allocations are page aligned), valid for `c.size()` bytes while
        // borrowed for `'a`, and only accessed through `RawMem`'s atomics
        // by the CPU; the device side is hardware (or, in the self-test,
        // this same code).
        let raw = unsafe { RawMem::new(c.as_mut_ptr().cast(), c.size(), c.dma_address()) };
        // INVARIANT: `raw` is the whole allocation.
        DmaRing {
            raw,
            _alloc: PhantomData,
        }
    }

    /// The sub-range `[off, off + len)`, if it lies inside and is 8-byte aligned.
    pub fn slice(&self, off: usize, len: usize) -> Option<Self> {
        // INVARIANT: `RawMem::slice` only returns sub-ranges.
        Some(DmaRing {
            raw: self.raw.slice(off, len)?,
            _alloc: PhantomData,
        })
    }
}

/// `RingMem` for a type with a `raw: RawMem` field: accesses go through the
/// `RawMem`, ordering through the kernel's DMA barriers.
macro_rules! ring_mem_via_raw {
    ($t:ty) => {
        impl RingMem for $t {
            fn len(&self) -> usize {
                self.raw.len()
            }
            fn dma_addr(&self) -> u64 {
                self.raw.dma_addr()
            }
            fn load16(&self, off: usize) -> u16 {
                self.raw.load16(off)
            }
            fn store16(&self, off: usize, v: u16) {
                self.raw.store16(off, v)
            }
            fn load32(&self, off: usize) -> u32 {
                self.raw.load32(off)
            }
            fn store32(&self, off: usize, v: u32) {
                self.raw.store32(off, v)
            }
            fn load64(&self, off: usize) -> u64 {
                self.raw.load64(off)
            }
            fn store64(&self, off: usize, v: u64) {
                self.raw.store64(off, v)
            }
            fn rmb(&self) {
                dma_mb(Read)
            }
            fn wmb(&self) {
                dma_mb(Write)
            }
            fn mb(&self) {
                mb(Full)
            }
        }
    };
}

ring_mem_via_raw!(DmaRing<'_>);

/// Give a device this module just created (and nobody else uses yet) a
/// coherent DMA mask, so it can own DMA-coherent allocations. Devices of a
/// bus with a Rust abstraction use `dma::Device` in `probe()` instead.
///
/// # Safety
///
/// No DMA allocation or mapping may exist for `dev`, and nothing may make
/// one concurrently (as for `dma::Device::dma_set_coherent_mask`): the
/// caller created the device and has not yet handed it to anyone.
pub unsafe fn set_coherent_mask_new_device(dev: &Device<Bound>, mask: DmaMask) -> Result {
    // SAFETY: `Device` is `#[repr(transparent)]` over `struct device`, so
    // the pointer is the valid C device; per the function's contract no
    // DMA memory exists for it and nothing runs concurrently with the mask
    // update.
    let r = unsafe {
        kernel::bindings::dma_set_coherent_mask(
            core::ptr::from_ref(dev).cast_mut().cast(),
            mask.value(),
        )
    };
    kernel::error::to_result(r)
}

/// A new faux device (`/sys/devices/faux/<name>`) that can own
/// DMA-coherent memory: 64-bit coherent mask, set before anyone else sees
/// the device. For the self-tests, which have no bus device to allocate
/// rings for. The device goes away when the registration is dropped.
pub fn new_dma_faux_device(name: &CStr) -> Result<faux::Registration> {
    let reg = faux::Registration::new(name, None)?;
    let fdev: &faux::Device<Bound> = reg.as_ref();
    // SAFETY: the device was created just above and has not been handed to
    // anyone: no DMA memory exists for it and nothing else can make any.
    unsafe { set_coherent_mask_new_device(fdev.as_ref(), DmaMask::new::<64>())? };
    Ok(reg)
}

/// Ring memory that owns (a share of) its DMA-coherent allocation, for
/// queues whose ring outlives any one borrow (a driver's virtqueue). Clones
/// are cheap and view the same memory.
#[derive(Clone)]
pub struct SharedRing {
    raw: RawMem,
    _alloc: kernel::sync::Arc<Coherent<[u64]>>,
}

impl SharedRing {
    /// The whole allocation.
    pub fn new(c: kernel::sync::Arc<Coherent<[u64]>>) -> Self {
        // SAFETY: as in `DmaRing::new`; the allocation lives as long as
        // the `Arc` we keep next to `raw`.
        let raw = unsafe { RawMem::new(c.as_mut_ptr().cast(), c.size(), c.dma_address()) };
        SharedRing { raw, _alloc: c }
    }
}

ring_mem_via_raw!(SharedRing);
