// SPDX-License-Identifier: GPL-2.0

//! Self-test of the vring core in kernel context (the `lib/test_*.ko`
//! pattern): runs the cases of `drivers/virtio/ring/selftest.rs` on
//! DMA-coherent memory with the kernel's barriers and prints KTAP to the
//! kernel log. Loading fails with `EINVAL` if any case fails.
//! Driven by `tools/testing/selftests/vring/`.

use kernel::{dma::Coherent, dma::DmaMask, faux, prelude::*};

#[path = "../drivers/virtio/ring/vring.rs"]
pub mod vring;

#[path = "../drivers/virtio/bindings/dma_ring.rs"]
pub mod dma_ring;

use dma_ring::DmaRing;
use vring::selftest::{run_all, TestEnv, NUM_CASES};
use vring::RingMem;

module! {
    type: TestVring,
    name: "test_vring",
    authors: ["virtio-rs developers"],
    description: "Self-test of the Rust vring core",
    license: "GPL",
}

/// Bytes of DMA-coherent memory the cases carve their rings from.
const ARENA: usize = 64 * 1024;

struct KernelEnv<'a> {
    whole: DmaRing<'a>,
    used: usize,
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

struct TestVring;

impl kernel::Module for TestVring {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let reg = faux::Registration::new(c"test_vring", None)?;
        let fdev: &faux::Device<kernel::device::Bound> = reg.as_ref();
        let dev: &kernel::device::Device<kernel::device::Bound> = fdev.as_ref();
        dma_ring::set_coherent_mask_new_device(dev, DmaMask::new::<64>())?;
        let arena = Coherent::<u64>::zeroed_slice(dev, ARENA / 8, GFP_KERNEL)?;
        let mut env = KernelEnv {
            whole: DmaRing::new(&arena),
            used: 0,
        };
        pr_info!("KTAP version 1\n");
        pr_info!("1..{}\n", NUM_CASES);
        let (mut n, mut failed) = (0usize, 0usize);
        run_all(
            &mut env,
            |_| true,
            |name, r| {
                n += 1;
                match r {
                    Ok(()) => pr_info!("ok {} {}\n", n, name),
                    Err(why) => {
                        failed += 1;
                        pr_err!("not ok {} {} # {}\n", n, name, why);
                    }
                }
            },
        );
        pr_info!("# vring: pass:{} fail:{}\n", n - failed, failed);
        drop(arena);
        drop(reg);
        if failed > 0 || n != NUM_CASES {
            return Err(EINVAL);
        }
        Ok(TestVring)
    }
}
