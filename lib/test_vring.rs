// SPDX-License-Identifier: GPL-2.0

//! Self-test of the vring core in kernel context (the `lib/test_*.ko`
//! pattern): runs the cases of `drivers/virtio/ring/selftest.rs` on
//! DMA-coherent memory with the kernel's barriers and prints KTAP to the
//! kernel log. Loading fails with `EINVAL` if any case fails.
//! Driven by `tools/testing/selftests/vring/`.
//!
//! Then the concurrent stress: for both formats, with event index on and
//! off, a driver (the loading thread) and a device (a work item on the
//! default unbound workqueue, so on another CPU while the loader is busy) pass
//! `stress_buffers` buffers through one ring in DMA-coherent memory. Each
//! side sleeps when it has nothing to do, after re-enabling notifications
//! the ring's way, and is woken only by the other side's notification (a
//! counter standing in for the doorbell and the interrupt). A notification
//! the ring wrongly suppresses leaves a side asleep with work pending: the
//! case fails after 10 s without progress. Every token must come back
//! exactly once, in order, with the length the device wrote.

use core::sync::atomic::{AtomicU32, Ordering::SeqCst};
use kernel::{
    dma::Coherent,
    impl_has_work, new_work,
    prelude::*,
    sync::Arc,
    time::{delay::fsleep, Delta, Instant, Monotonic},
    workqueue::{Work, WorkItem},
};

#[path = "../drivers/virtio/ring/vring.rs"]
pub mod vring;

#[path = "../drivers/virtio/ring/selftest.rs"]
pub mod selftest;

#[path = "../drivers/virtio/bindings/dma_ring.rs"]
pub mod dma_ring;

#[path = "vring_test_env.rs"]
pub mod test_env;

#[path = "../drivers/virtio/bindings/wq.rs"]
pub mod wq;

use dma_ring::DmaRing;
use selftest::{run_all, NUM_CASES};
use test_env::{KernelEnv, TestDevice};
use vring::packed::{PackedDevice, PackedDriver, PackedLayout};
use vring::queue::{AnyDevice, AnyDriver, DeviceQueue, DriverQueue};
use vring::split::{Options, SplitDevice, SplitDriver, SplitLayout};
use vring::{Buf, Desc, DeviceMemory, Slot};

module! {
    type: TestVring,
    name: "test_vring",
    authors: ["virtio-rs developers"],
    description: "Self-test of the Rust vring core",
    license: "GPL",
    params: {
        stress_buffers: u32 {
            default: 2000000,
            description: "Buffers per concurrent stress case (0: skip them)",
        },
    },
}

/// The concurrent stress cases: (name, packed, event index).
const STRESS: [(&str, bool, bool); 4] = [
    ("stress_split_flags", false, false),
    ("stress_split_event_idx", false, true),
    ("stress_packed_flags", true, false),
    ("stress_packed_event_idx", true, true),
];

/// Queue size of the stress rings.
const STRESS_NUM: u16 = 256;
/// Bytes of ring memory for the stress (the larger of the two layouts).
const STRESS_MEM: usize = 16 * 1024;
/// No progress for this long means a lost notification.
const STALL_MS: i64 = 10_000;

/// What the two sides of a stress case share.
#[pin_data]
struct Stress {
    mem: Coherent<[u64]>,
    packed: bool,
    event_idx: bool,
    total: u32,
    /// Available-buffer notifications (the doorbell).
    kicks: AtomicU32,
    /// Used-buffer notifications (the interrupt).
    irqs: AtomicU32,
    /// The device side's verdict: 0 running, 1 ok, 2 failed.
    device: AtomicU32,
    device_why: AtomicU32,
    /// Set by the driver when it gave up: the device stops waiting.
    abort: AtomicU32,
    #[pin]
    work: Work<Stress>,
}

impl_has_work! {
    impl HasWork<Self> for Stress { self.work }
}

impl WorkItem for Stress {
    type Pointer = Arc<Stress>;

    /// The device side, on a workqueue.
    fn run(this: Arc<Stress>) {
        match device_side(&this) {
            Ok(()) => this.device.store(1, SeqCst),
            Err(why) => {
                this.device_why.store(why as u32 + 1, SeqCst);
                this.device.store(2, SeqCst);
            }
        }
    }
}

/// Why the device side failed (index into this table, +1 in `device_why`).
const DEVICE_WHY: [&str; 4] = [
    "device: no ring",
    "device: fault on a chain the driver made",
    "device: chain is not one writable segment",
    "device: lost kick (asleep 10 s with buffers available)",
];

struct NoIndirect;

impl<'a> DeviceMemory for &'a NoIndirect {
    type Mem = DmaRing<'a>;
    fn map(&self, _: u64, _: usize) -> Option<DmaRing<'a>> {
        None
    }
}

/// Sleep until `ctr` moves from `seen` (the other side notified) or
/// `abort` is set; `false` after [`STALL_MS`] without a notification.
fn wait_notified(ctr: &AtomicU32, seen: u32, abort: &AtomicU32) -> bool {
    let t0 = Instant::<Monotonic>::now();
    let mut spins = 0u32;
    while ctr.load(SeqCst) == seen && abort.load(SeqCst) == 0 {
        if spins < 64 {
            spins += 1;
            kernel::processor::cpu_relax();
        } else {
            fsleep(Delta::from_micros(20));
            if t0.elapsed().as_millis() > STALL_MS {
                return false;
            }
        }
    }
    true
}

fn ring_size(packed: bool) -> usize {
    if packed {
        PackedLayout::new(STRESS_NUM).map_or(0, |l| l.size)
    } else {
        SplitLayout::new(STRESS_NUM, 4).map_or(0, |l| l.size)
    }
}

fn device_side(s: &Stress) -> core::result::Result<(), usize> {
    let opts = Options {
        event_idx: s.event_idx,
    };
    let mem = DmaRing::new(&s.mem)
        .slice(0, ring_size(s.packed))
        .ok_or(0usize)?;
    let mut dev = if s.packed {
        AnyDevice::Packed(PackedDevice::new(mem, STRESS_NUM, opts).map_err(|_| 0usize)?)
    } else {
        AnyDevice::Split(SplitDevice::new(mem, STRESS_NUM, 4, opts).map_err(|_| 0usize)?)
    };
    let mut descs = [Desc::default(); 2];
    let mut served = 0u32;
    while served < s.total && s.abort.load(SeqCst) == 0 {
        match dev.pop_desc(&&NoIndirect, &mut descs) {
            Ok(Some(p)) => {
                if p.count != 1 || !descs[0].write {
                    return Err(2);
                }
                dev.push(&p, descs[0].len);
                served += 1;
                if dev.should_notify() {
                    s.irqs.fetch_add(1, SeqCst);
                }
            }
            Ok(None) => {
                let seen = s.kicks.load(SeqCst);
                if dev.enable_notify() {
                    // Buffers came while we re-enabled: no kick for them.
                    dev.disable_notify();
                    continue;
                }
                if !wait_notified(&s.kicks, seen, &s.abort) {
                    return Err(3);
                }
                dev.disable_notify();
            }
            Err(_) => return Err(1),
        }
    }
    Ok(())
}

fn stress_buf(t: u32) -> Buf {
    Buf {
        addr: 0x1_0000_0000 + u64::from(t % 64) * 0x1000,
        len: 64 + t % 7,
    }
}

/// The driver side: sets up the ring, calls `start` (which starts the
/// device side), then runs; on success, the notifications counted.
fn driver_side(
    s: &Stress,
    start: impl FnOnce() -> core::result::Result<(), &'static str>,
) -> core::result::Result<(u32, u32), &'static str> {
    let opts = Options {
        event_idx: s.event_idx,
    };
    let mem = DmaRing::new(&s.mem)
        .slice(0, ring_size(s.packed))
        .ok_or("driver: no ring")?;
    let mut slots =
        KVec::with_capacity(STRESS_NUM as usize, GFP_KERNEL).map_err(|_| "no memory")?;
    for _ in 0..STRESS_NUM {
        slots
            .push(Slot::default(), GFP_KERNEL)
            .map_err(|_| "no memory")?;
    }
    let mut drv: AnyDriver<DmaRing<'_>, &mut [Slot]> = if s.packed {
        AnyDriver::Packed(
            PackedDriver::new(mem, STRESS_NUM, &mut slots[..], None, opts).map_err(|_| "driver")?,
        )
    } else {
        AnyDriver::Split(
            SplitDriver::new(mem, STRESS_NUM, 4, &mut slots[..], None, opts)
                .map_err(|_| "driver")?,
        )
    };
    start()?;
    let (mut next, mut got) = (0u32, 0u32);
    // Batches of 1 to 64 buffers, so both sides sleep at many points.
    let mut rnd = 0x9e37_79b9u32;
    drv.disable_cb();
    while got < s.total {
        rnd ^= rnd << 13;
        rnd ^= rnd >> 17;
        rnd ^= rnd << 5;
        let batch = 1 + rnd % 64;
        let mut added = 0;
        while added < batch && next < s.total && drv.num_free() > 0 {
            drv.add(&[], &[stress_buf(next)], next as usize)
                .map_err(|_| "driver: add failed with space free")?;
            next += 1;
            added += 1;
        }
        if drv.kick_prepare() {
            s.kicks.fetch_add(1, SeqCst);
        }
        let mut drained = false;
        loop {
            match drv.get_used() {
                Ok(Some((t, len))) => {
                    if t != got as usize {
                        return Err("driver: token out of order, lost or twice");
                    }
                    if len != stress_buf(got).len {
                        return Err("driver: wrong used length");
                    }
                    got += 1;
                    drained = true;
                }
                Ok(None) => break,
                Err(_) => return Err("driver: fault from our own device"),
            }
        }
        // More to add and room for it, or buffers just came back: go on.
        if got == s.total || drained || (next < s.total && drv.num_free() > 0) {
            continue;
        }
        // Nothing to do: sleep until the device interrupts.
        let seen = s.irqs.load(SeqCst);
        if !drv.enable_cb() {
            drv.disable_cb();
            continue;
        }
        if !wait_notified(&s.irqs, seen, &s.abort) {
            return Err("driver: lost interrupt (asleep 10 s with buffers in flight)");
        }
        drv.disable_cb();
    }
    Ok((s.kicks.load(SeqCst), s.irqs.load(SeqCst)))
}

/// One stress case on `dev`'s DMA memory.
fn stress(
    dev: &kernel::device::Device<kernel::device::Bound>,
    packed: bool,
    event_idx: bool,
    total: u32,
) -> core::result::Result<(u32, u32), &'static str> {
    let mem = Coherent::<u64>::zeroed_slice(dev, STRESS_MEM / 8, GFP_KERNEL)
        .map_err(|_| "no DMA memory")?;
    let s = Arc::pin_init(
        pin_init!(Stress {
            mem,
            packed,
            event_idx,
            total,
            kicks: AtomicU32::new(0),
            irqs: AtomicU32::new(0),
            device: AtomicU32::new(0),
            device_why: AtomicU32::new(0),
            abort: AtomicU32::new(0),
            work <- new_work!("test_vring::stress"),
        }),
        GFP_KERNEL,
    )
    .map_err(|_| "no memory")?;
    let mut started = false;
    // The driver zeroes and lays out the ring before the device looks.
    let r = driver_side(&s, || {
        wq::system_dfl_long()
            .enqueue(s.clone())
            .map_err(|_| "device work already queued")?;
        started = true;
        Ok(())
    });
    if !started {
        return r;
    }
    if r.is_err() {
        s.abort.store(1, SeqCst);
    }
    // Until the device side has returned: no code of this module may run
    // on the workqueue once init is done.
    wq::flush(&s.work);
    let counts = r?;
    if s.device.load(SeqCst) != 1 {
        let why = s.device_why.load(SeqCst) as usize;
        return Err(DEVICE_WHY
            .get(why.wrapping_sub(1))
            .copied()
            .unwrap_or("device failed"));
    }
    Ok(counts)
}

struct TestVring;

impl kernel::Module for TestVring {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let tdev = TestDevice::new(c"test_vring")?;
        let mut env = KernelEnv::new(&tdev.arena);
        let stress_total = module_parameters::stress_buffers.value();
        let nstress = if stress_total > 0 { STRESS.len() } else { 0 };
        pr_info!("KTAP version 1\n");
        pr_info!("1..{}\n", NUM_CASES + nstress);
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
        for &(name, packed, event_idx) in STRESS.iter().take(nstress) {
            n += 1;
            match stress(tdev.dev(), packed, event_idx, stress_total) {
                Ok((kicks, irqs)) => {
                    pr_info!(
                        "# {}: {} buffers, {} kicks, {} interrupts\n",
                        name,
                        stress_total,
                        kicks,
                        irqs
                    );
                    pr_info!("ok {} {}\n", n, name);
                }
                Err(why) => {
                    failed += 1;
                    pr_err!("not ok {} {} # {}\n", n, name, why);
                }
            }
        }
        pr_info!("# vring: pass:{} fail:{}\n", n - failed, failed);
        drop(tdev);
        if failed > 0 || n != NUM_CASES + nstress {
            return Err(EINVAL);
        }
        Ok(TestVring)
    }
}
