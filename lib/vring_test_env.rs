// SPDX-License-Identifier: GPL-2.0

//! The environment the vring core's shared cases
//! (`drivers/virtio/ring/selftest.rs`) run in inside the kernel: one
//! DMA-coherent arena on a faux device, carved into 16-byte aligned rings.
//! Used by `test_vring` (every kernel) and `vring_kunit` (kernels with
//! KUnit); included by path, next to `vring`, `dma_ring` and `selftest`.

use crate::dma_ring::{new_dma_faux_device, DmaRing};
use crate::selftest::TestEnv;
use crate::vring::RingMem;
use kernel::{device::Bound, device::Device, dma::Coherent, faux, prelude::*};

/// Bytes of DMA-coherent memory the cases carve their rings from.
pub const ARENA: usize = 64 * 1024;

/// Ring memory for the cases: bump allocation in one arena, which the
/// device side maps back by DMA address.
pub struct KernelEnv<'a> {
    whole: DmaRing<'a>,
    used: usize,
}

impl<'a> KernelEnv<'a> {
    /// An environment over all of `arena`.
    pub fn new(arena: &'a Coherent<[u64]>) -> Self {
        KernelEnv {
            whole: DmaRing::new(arena),
            used: 0,
        }
    }
}

impl<'a> TestEnv for KernelEnv<'a> {
    type M = DmaRing<'a>;

    fn alloc(&mut self, size: usize) -> Option<DmaRing<'a>> {
        let off = self.used.checked_add(15)? & !15;
        let m = self.whole.slice(off, size)?;
        self.used = off + size;
        Some(m)
    }

    fn map(&self, addr: u64, len: usize) -> Option<DmaRing<'a>> {
        let off = usize::try_from(addr.checked_sub(self.whole.dma_addr())?).ok()?;
        self.whole.slice(off, len)
    }

    fn reset(&mut self) {
        for off in (0..self.whole.len()).step_by(8) {
            self.whole.store64(off, 0);
        }
        self.used = 0;
    }
}

/// A faux device named `name` that can own DMA-coherent memory, and an
/// [`ARENA`]-byte zeroed allocation on it.
pub struct TestDevice {
    /// The arena (dropped before the device: field order).
    pub arena: Coherent<[u64]>,
    reg: faux::Registration,
}

impl TestDevice {
    /// Register the device and allocate the arena.
    pub fn new(name: &CStr) -> Result<Self> {
        let reg = new_dma_faux_device(name)?;
        let arena = Coherent::<u64>::zeroed_slice(Self::dev_of(&reg), ARENA / 8, GFP_KERNEL)?;
        Ok(TestDevice { arena, reg })
    }

    fn dev_of(reg: &faux::Registration) -> &Device<Bound> {
        let fdev: &faux::Device<Bound> = reg.as_ref();
        fdev.as_ref()
    }

    /// The bound device, for further DMA allocations.
    pub fn dev(&self) -> &Device<Bound> {
        Self::dev_of(&self.reg)
    }
}
