// SPDX-License-Identifier: GPL-2.0

//! loom models of the two notification races (run with
//! `RUSTFLAGS="--cfg loom" cargo test --release loom_`).
//!
//! Ring memory is a vector of loom atomics; the barriers are loom fences, so
//! loom explores every interleaving and every weak-memory outcome the C11
//! model allows for the relaxed accesses and fences the ring code uses.
//!
//! - Used-buffer side: the device publishes a used buffer and decides
//!   whether to interrupt while the driver re-enables interrupts. If the
//!   driver goes to sleep (`enable_cb` says nothing is pending), the device
//!   must have decided to interrupt.
//! - Draining in the callback: a driver that never disables callbacks
//!   drains the queue while the device uses one more buffer; if the
//!   drain missed it, the device must interrupt (`get_used` publishes the
//!   event position with a full barrier, as `virtio_store_mb()`).
//! - Available-buffer side: the driver publishes a buffer and decides
//!   whether to kick while the device re-enables notifications. If the
//!   device goes to sleep (`enable_notify` says nothing is available), the
//!   driver must have decided to kick.

use crate::packed::{PackedDevice, PackedDriver, PackedLayout};
use crate::queue::{AnyDevice, AnyDriver, DeviceQueue, DriverQueue, Popped};
use crate::selftest::Format;
use crate::split::{Options, SplitDevice, SplitDriver, SplitLayout};
use crate::{Buf, Desc, DeviceMemory, RingMem, Slot};
use loom::sync::atomic::{fence, AtomicU16, Ordering};
use loom::sync::Arc;
use std::vec::Vec;

/// Ring memory as 16-bit loom atomics (wider fields are split; the ring
/// code orders them with barriers, never relies on their single-copy
/// atomicity).
#[derive(Clone)]
struct LoomMem(Arc<Vec<AtomicU16>>);

impl LoomMem {
    fn new(bytes: usize) -> Self {
        LoomMem(Arc::new(
            (0..bytes.div_ceil(2)).map(|_| AtomicU16::new(0)).collect(),
        ))
    }
    fn w(&self, off: usize) -> &AtomicU16 {
        &self.0[off / 2]
    }
}

impl RingMem for LoomMem {
    fn len(&self) -> usize {
        self.0.len() * 2
    }
    fn dma_addr(&self) -> u64 {
        0x1000
    }
    fn load16(&self, off: usize) -> u16 {
        self.w(off).load(Ordering::Relaxed)
    }
    fn store16(&self, off: usize, v: u16) {
        self.w(off).store(v, Ordering::Relaxed)
    }
    fn load32(&self, off: usize) -> u32 {
        u32::from(self.load16(off)) | u32::from(self.load16(off + 2)) << 16
    }
    fn store32(&self, off: usize, v: u32) {
        self.store16(off, v as u16);
        self.store16(off + 2, (v >> 16) as u16);
    }
    fn load64(&self, off: usize) -> u64 {
        u64::from(self.load32(off)) | u64::from(self.load32(off + 4)) << 32
    }
    fn store64(&self, off: usize, v: u64) {
        self.store32(off, v as u32);
        self.store32(off + 4, (v >> 32) as u32);
    }
    fn rmb(&self) {
        fence(Ordering::Acquire)
    }
    fn wmb(&self) {
        fence(Ordering::Release)
    }
    fn mb(&self) {
        fence(Ordering::SeqCst)
    }
}

struct NoIndirect;
impl DeviceMemory for NoIndirect {
    type Mem = LoomMem;
    fn map(&self, _: u64, _: usize) -> Option<LoomMem> {
        None
    }
}

const NUM: u16 = 2;

fn pair(fmt: Format, event_idx: bool) -> (AnyDriver<LoomMem, Vec<Slot>>, AnyDevice<LoomMem>) {
    let opts = Options { event_idx };
    let slots = std::vec![Slot::default(); NUM as usize];
    match fmt {
        Format::Split => {
            let m = LoomMem::new(SplitLayout::new(NUM, 4).unwrap().size);
            (
                AnyDriver::Split(SplitDriver::new(m.clone(), NUM, 4, slots, None, opts).unwrap()),
                AnyDevice::Split(SplitDevice::new(m, NUM, 4, opts).unwrap()),
            )
        }
        Format::Packed => {
            let m = LoomMem::new(PackedLayout::new(NUM).unwrap().size);
            (
                AnyDriver::Packed(PackedDriver::new(m.clone(), NUM, slots, None, opts).unwrap()),
                AnyDevice::Packed(PackedDevice::new(m, NUM, opts).unwrap()),
            )
        }
    }
}

const BUF: Buf = Buf {
    addr: 0x10_0000,
    len: 8,
};

fn used_side(fmt: Format, event_idx: bool) {
    loom::model(move || {
        let (mut drv, mut dev) = pair(fmt, event_idx);
        assert!(drv.enable_cb());
        assert!(!dev.enable_notify());
        drv.add(&[], &[BUF], 1).unwrap();
        drv.add(&[], &[BUF], 2).unwrap();
        let mut descs = [Desc::default(); 2];
        let p1: Popped = dev.pop_desc(&NoIndirect, &mut descs).unwrap().unwrap();
        let p2: Popped = dev.pop_desc(&NoIndirect, &mut descs).unwrap().unwrap();
        // The driver polls (interrupts off) and takes the first buffer, so
        // what it last told the device (used_event, flags) is stale.
        drv.disable_cb();
        dev.push(&p1, 8);
        let _ = dev.should_notify();
        assert_eq!(drv.get_used().unwrap(), Some((1, 8)));
        let device = loom::thread::spawn(move || {
            dev.push(&p2, 8);
            dev.should_notify()
        });
        let asleep = drv.enable_cb();
        let notified = device.join().unwrap();
        assert!(
            notified || !asleep,
            "lost interrupt: driver asleep and device did not notify"
        );
    });
}

fn avail_side(fmt: Format, event_idx: bool) {
    loom::model(move || {
        let (mut drv, mut dev) = pair(fmt, event_idx);
        assert!(!dev.enable_notify());
        // The device takes a first buffer while polling (notifications
        // off), so avail_event / its flags are stale, then goes to sleep
        // while the driver adds a second one.
        dev.disable_notify();
        drv.add(&[BUF], &[], 1).unwrap();
        let _ = drv.kick_prepare();
        let mut descs = [Desc::default(); 2];
        let p1: Popped = dev.pop_desc(&NoIndirect, &mut descs).unwrap().unwrap();
        dev.push(&p1, 0);
        let driver = loom::thread::spawn(move || {
            drv.add(&[BUF], &[], 2).unwrap();
            drv.kick_prepare()
        });
        let more = dev.enable_notify();
        let kicked = driver.join().unwrap();
        assert!(
            kicked || more,
            "lost kick: device asleep and driver did not kick"
        );
    });
}

/// A driver that keeps callbacks on and drains the queue in its callback
/// (virtio_rng's `random_recv_done`, virtio_console's `in_intr`): it never
/// calls `enable_cb`, so only `get_used` publishes its event position. If
/// its last `get_used` found nothing, the device must have decided to
/// interrupt for the buffer it used meanwhile.
fn drain_side(fmt: Format, event_idx: bool) {
    loom::model(move || {
        let (mut drv, mut dev) = pair(fmt, event_idx);
        assert!(drv.enable_cb());
        drv.add(&[], &[BUF], 1).unwrap();
        drv.add(&[], &[BUF], 2).unwrap();
        let mut descs = [Desc::default(); 2];
        let p1: Popped = dev.pop_desc(&NoIndirect, &mut descs).unwrap().unwrap();
        let p2: Popped = dev.pop_desc(&NoIndirect, &mut descs).unwrap().unwrap();
        // Buffer 1 is used and signalled: the callback runs.
        dev.push(&p1, 8);
        assert!(dev.should_notify());
        let device = loom::thread::spawn(move || {
            dev.push(&p2, 8);
            dev.should_notify()
        });
        // The callback: drain until empty, callbacks left on.
        let mut got = std::vec::Vec::new();
        while let Some((t, _)) = drv.get_used().unwrap() {
            got.push(t);
        }
        let notified = device.join().unwrap();
        assert!(
            notified || got.contains(&2),
            "lost interrupt: callback drained, buffer 2 unsignalled"
        );
    });
}

macro_rules! models {
    ($($name:ident: $side:ident($fmt:ident, $event_idx:expr);)*) => {$(
        #[test]
        fn $name() {
            $side(Format::$fmt, $event_idx)
        }
    )*};
}

models! {
    loom_split_used_side_flags: used_side(Split, false);
    loom_split_used_side_event_idx: used_side(Split, true);
    loom_packed_used_side_flags: used_side(Packed, false);
    loom_packed_used_side_event_idx: used_side(Packed, true);
    loom_split_drain_side_flags: drain_side(Split, false);
    loom_split_drain_side_event_idx: drain_side(Split, true);
    loom_packed_drain_side_flags: drain_side(Packed, false);
    loom_packed_drain_side_event_idx: drain_side(Packed, true);
    loom_split_avail_side_flags: avail_side(Split, false);
    loom_split_avail_side_event_idx: avail_side(Split, true);
    loom_packed_avail_side_flags: avail_side(Packed, false);
    loom_packed_avail_side_event_idx: avail_side(Packed, true);
}
