// SPDX-License-Identifier: GPL-2.0

//! Host harness: runs the shared cases of `selftest.rs` one `#[test]` each,
//! on heap memory with atomic-fence barriers.

use crate::mem::RawMem;
use crate::selftest::{self, CaseResult, TestEnv};
use std::vec::Vec;

/// One arena of 8-byte words; regions are carved from it so that the
/// device side can map any device address inside it.
pub(crate) struct HostEnv {
    arena: Vec<u64>,
    used: usize,
}

pub(crate) const ARENA_DMA: u64 = 0x4000_0000;

impl HostEnv {
    pub(crate) fn new(bytes: usize) -> Self {
        HostEnv {
            arena: std::vec![0u64; bytes / 8],
            used: 0,
        }
    }
    fn whole(&mut self) -> RawMem {
        let len = self.arena.len() * 8;
        // SAFETY: the arena is 8-byte aligned, lives as long as `self` and
        // the tests drop every RawMem before the env; all ring accesses are
        // atomic.
        unsafe { RawMem::new(self.arena.as_mut_ptr().cast(), len, ARENA_DMA) }
    }
}

impl TestEnv for HostEnv {
    type M = RawMem;
    fn alloc(&mut self, size: usize) -> Option<RawMem> {
        let off = (self.used + 15) & !15;
        let m = self.whole().slice(off, size)?;
        self.used = off + size;
        Some(m)
    }
    fn map(&self, addr: u64, len: usize) -> Option<RawMem> {
        let off = addr.checked_sub(ARENA_DMA)? as usize;
        let len_total = self.arena.len() * 8;
        // SAFETY: as in `whole`.
        let whole = unsafe { RawMem::new(self.arena.as_ptr() as *mut u8, len_total, ARENA_DMA) };
        whole.slice(off, len)
    }
    fn reset(&mut self) {
        self.arena.iter_mut().for_each(|w| *w = 0);
        self.used = 0;
    }
    fn wrap_iterations(&self) -> usize {
        if cfg!(miri) {
            300
        } else {
            70_000
        }
    }
}

/// Device memory with no indirect tables in it.
struct NoMap;

impl crate::DeviceMemory for NoMap {
    type Mem = RawMem;
    fn map(&self, _: u64, _: usize) -> Option<RawMem> {
        None
    }
}

fn run_one(name: &str) -> CaseResult {
    let mut env = HostEnv::new(1 << 16);
    let mut result = None;
    selftest::run_all(
        &mut env,
        |n| n == name,
        |n, r| {
            if n == name {
                result = Some(r);
            }
        },
    );
    result.expect("no such case")
}

#[test]
fn case_count_matches_plan() {
    let mut env = HostEnv::new(1 << 16);
    let mut n = 0;
    selftest::run_all(&mut env, |_| true, |_, _| n += 1);
    assert_eq!(n, selftest::NUM_CASES);
}

/// `lib/vring_kunit.rs` (the KUnit suite, built only against kernels with
/// KUnit) has one case per case of `run_all`, each running the case of its
/// own name, and nothing else.
#[test]
fn kunit_suite_lists_every_case() {
    use std::string::{String, ToString};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../lib/vring_kunit.rs");
    let src = match std::fs::read_to_string(path) {
        Ok(s) => s,
        // tools/testing/mutants/mutants.sh: cargo-mutants builds a copy of
        // this crate alone; the list is not what it tests.
        Err(_) if std::env::var_os("VRS_MUTANTS").is_some() => return,
        Err(e) => panic!("{path}: {e}"),
    };
    let lines: Vec<&str> = src.lines().map(str::trim).collect();
    let mut listed: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if *l != "#[test]" {
            continue;
        }
        let name = lines[i + 1]
            .strip_prefix("fn ")
            .and_then(|r| r.strip_suffix("() -> CaseResult {"))
            .expect("a KUnit case is `fn NAME() -> CaseResult {`");
        assert_eq!(lines[i + 2], std::format!("case(\"{name}\")"));
        listed.push(name.to_string());
    }
    let all = core::cell::RefCell::new(Vec::new());
    let mut env = HostEnv::new(1 << 16);
    selftest::run_all(
        &mut env,
        |n| {
            all.borrow_mut().push(n.to_string());
            false
        },
        |_, _| {},
    );
    let mut all = all.into_inner();
    assert_eq!(all.len(), selftest::NUM_CASES);
    all.sort();
    listed.sort();
    assert_eq!(listed, all);
}

macro_rules! cases {
    ($($name:ident)*) => {$(
        #[test]
        fn $name() {
            run_one(stringify!($name)).unwrap();
        }
    )*};
}

cases! {
    split_roundtrip split_roundtrip_event_idx split_roundtrip_indirect split_roundtrip_indirect_event_idx
    split_wraparound split_wraparound_event_idx split_full_queue split_detach_unused
    split_kick_suppression_flags split_kick_suppression_event_idx
    split_call_suppression_flags split_call_suppression_event_idx
    split_hostile_used_id_out_of_range split_hostile_used_id_not_in_flight
    split_hostile_used_len_too_large split_hostile_used_index_jump
    split_used_len_clamped split_chain_longer_than_queue
    split_hostile_avail_indirect_too_long split_direct_then_indirect
    packed_roundtrip packed_roundtrip_event_idx packed_roundtrip_indirect packed_roundtrip_indirect_event_idx
    packed_wraparound packed_wraparound_event_idx packed_full_queue packed_detach_unused
    packed_kick_suppression_flags packed_kick_suppression_event_idx
    packed_call_suppression_flags packed_call_suppression_event_idx
    packed_hostile_used_id_out_of_range packed_hostile_used_id_not_in_flight
    packed_hostile_used_len_too_large packed_hostile_wrap_counter
    packed_used_len_clamped packed_chain_longer_than_queue
    packed_hostile_avail_next_out_of_range packed_hostile_avail_loop
    packed_hostile_avail_nested_indirect packed_hostile_avail_unmapped_indirect
    packed_hostile_avail_indirect_too_long
    split_hostile_avail_next_out_of_range split_hostile_avail_loop
    split_hostile_avail_nested_indirect split_hostile_avail_unmapped_indirect
    split_notify_disarm packed_notify_disarm split_used_shadow split_avail_shadow
    split_hostile_avail_indirect_with_next packed_hostile_avail_indirect_with_next
    packed_hostile_avail_indirect_in_chain
    split_hostile_avail_indirect_bad_len packed_hostile_avail_indirect_bad_len split_short_descs packed_short_descs
    sizes
}

/// `enable_cb_delayed` with 30000 of 32768 buffers in flight asks for an
/// interrupt after 22500 of them (3/4, computed wide as Linux does), not
/// after (30000 * 3 mod 2^16) / 4 = 6116.
#[test]
#[cfg_attr(miri, ignore = "a 32768-entry ring is too slow under miri")]
fn split_enable_cb_delayed_wide() {
    use crate::split::{Options, SplitDriver, SplitLayout};
    use crate::{Buf, RingMem, Slot};
    const NUM: u16 = 32768;
    let lay = SplitLayout::new(NUM, 4).unwrap();
    let mut env = HostEnv::new(lay.size + 64);
    let m = env.alloc(lay.size).unwrap();
    let mut slots = std::vec![Slot::default(); NUM as usize];
    let opts = Options { event_idx: true };
    let mut drv = SplitDriver::new(m, NUM, 4, &mut slots[..], None, opts).unwrap();
    let b = Buf {
        addr: 0x1000,
        len: 8,
    };
    for t in 0..30000 {
        drv.add(&[], &[b], t).unwrap();
    }
    assert!(drv.enable_cb_delayed());
    assert_eq!(m.load16(lay.avail + 4 + 2 * NUM as usize), 22500);
}

/// `more_used` before and after the device returns a buffer, both formats.
#[test]
fn more_used_follows_the_device() {
    use crate::selftest::Format;
    use crate::{queue::DeviceQueue, queue::DriverQueue, Buf, Desc, Slot};
    for fmt in [Format::Split, Format::Packed] {
        let mut env = HostEnv::new(1 << 16);
        let mut slots = [Slot::default(); 8];
        let (mut drv, mut dev, _) =
            crate::selftest::pair(&mut env, fmt, 8, false, false, &mut slots[..]).unwrap();
        let b = Buf {
            addr: 0x1000,
            len: 8,
        };
        assert!(!drv.more_used());
        drv.add(&[], &[b], 1).unwrap();
        assert!(!drv.more_used(), "{fmt:?}: used before the device");
        let mut d = [Desc::default(); 1];
        let p = dev.pop_desc(&NoMap, &mut d).unwrap().unwrap();
        assert!(!drv.more_used());
        dev.push(&p, 8);
        assert!(drv.more_used(), "{fmt:?}: used buffer not seen");
        assert_eq!(drv.get_used(), Ok(Some((1, 8))));
        assert!(!drv.more_used(), "{fmt:?}: still used after get_used");
    }
}

/// Accessors and `set_broken` of both drivers, and a single-segment
/// buffer placed directly in the ring even with an indirect pool (as
/// Linux does: a table for one segment only costs a second fetch).
#[test]
fn driver_num_set_broken_and_direct_single_segment() {
    use crate::packed::{PackedDriver, PackedLayout};
    use crate::split::{Indirect, Options, SplitDriver, SplitLayout};
    use crate::{Buf, Error, RingMem, Slot, VRING_DESC_F_INDIRECT};
    const NUM: u16 = 8;
    let b = Buf {
        addr: 0x1000,
        len: 8,
    };
    let mut env = HostEnv::new(1 << 16);
    let opts = Options::default();

    let lay = SplitLayout::new(NUM, 4).unwrap();
    let m = env.alloc(lay.size).unwrap();
    let ind = Indirect::new(env.alloc(Indirect::<RawMem>::size(NUM, 4)).unwrap(), NUM, 4).unwrap();
    let mut slots = [Slot::default(); NUM as usize];
    let mut d = SplitDriver::new(m, NUM, 4, &mut slots[..], Some(ind), opts).unwrap();
    assert_eq!(d.num(), NUM);
    let head = d.add(&[b], &[], 1).unwrap();
    assert_eq!(m.load16(head as usize * 16 + 12) & VRING_DESC_F_INDIRECT, 0);
    let head = d.add(&[b], &[b], 2).unwrap();
    assert_ne!(m.load16(head as usize * 16 + 12) & VRING_DESC_F_INDIRECT, 0);
    assert!(!d.is_broken());
    d.set_broken();
    assert!(d.is_broken());
    assert_eq!(d.add(&[b], &[], 3), Err(Error::Broken));
    assert_eq!(d.get_used(), Err(Error::Broken));

    let lay = PackedLayout::new(NUM).unwrap();
    let m = env.alloc(lay.size).unwrap();
    let ind = Indirect::new(env.alloc(Indirect::<RawMem>::size(NUM, 4)).unwrap(), NUM, 4).unwrap();
    let mut slots = [Slot::default(); NUM as usize];
    let mut d = PackedDriver::new(m, NUM, &mut slots[..], Some(ind), opts).unwrap();
    assert_eq!(d.num(), NUM);
    d.add(&[b], &[], 1).unwrap();
    assert_eq!(m.load16(14) & VRING_DESC_F_INDIRECT, 0);
    d.add(&[b], &[b], 2).unwrap();
    assert_ne!(m.load16(16 + 14) & VRING_DESC_F_INDIRECT, 0);
    d.set_broken();
    assert!(d.is_broken());
    assert_eq!(d.add(&[b], &[], 3), Err(Error::Broken));
}

/// `get_used` moves `used_event` only with event index and callbacks on:
/// with callbacks off the device is not asked for interrupts again, and
/// without event index the field is not written at all.
#[test]
fn split_get_used_leaves_used_event_alone_when_not_asked() {
    use crate::selftest::Format;
    use crate::split::SplitLayout;
    use crate::{queue::DeviceQueue, queue::DriverQueue, Buf, Desc, RingMem, Slot};
    const NUM: u16 = 8;
    let used_event = {
        let l = SplitLayout::new(NUM, 4).unwrap();
        l.avail + 4 + 2 * NUM as usize
    };
    let b = Buf {
        addr: 0x1000,
        len: 8,
    };
    for event_idx in [false, true] {
        let mut env = HostEnv::new(1 << 16);
        let mut slots = [Slot::default(); NUM as usize];
        let (mut drv, mut dev, m) = crate::selftest::pair(
            &mut env,
            Format::Split,
            NUM,
            event_idx,
            false,
            &mut slots[..],
        )
        .unwrap();
        let mut d = [Desc::default(); 1];
        for t in 0..3 {
            drv.add(&[], &[b], t).unwrap();
        }
        // Callbacks on, caught up with the used index: published with event
        // index, not written without.
        let p = dev.pop_desc(&NoMap, &mut d).unwrap().unwrap();
        dev.push(&p, 8);
        assert_eq!(drv.get_used(), Ok(Some((0, 8))));
        assert_eq!(m.load16(used_event), u16::from(event_idx));
        drv.disable_cb();
        let before = m.load16(used_event);
        for _ in 0..2 {
            let p = dev.pop_desc(&NoMap, &mut d).unwrap().unwrap();
            dev.push(&p, 8);
        }
        while drv.get_used().unwrap().is_some() {}
        assert_eq!(
            m.load16(used_event),
            before,
            "event_idx {event_idx}: used_event moved with callbacks off"
        );
        if !event_idx {
            assert_eq!(
                m.load16(used_event),
                0,
                "used_event written without event index"
            );
        }
    }
}

/// The device side's `has_avail` and `is_broken`, both formats.
#[test]
fn device_has_avail_and_is_broken() {
    use crate::packed::{PackedDevice, PackedDriver, PackedLayout};
    use crate::split::{Options, SplitDevice, SplitDriver, SplitLayout};
    use crate::{Buf, Desc, Slot};
    const NUM: u16 = 4;
    let b = Buf {
        addr: 0x1000,
        len: 8,
    };
    let opts = Options::default();
    let mut d = [Desc::default(); 1];
    let mut env = HostEnv::new(1 << 16);
    let mut slots = [Slot::default(); NUM as usize];

    let m = env.alloc(SplitLayout::new(NUM, 4).unwrap().size).unwrap();
    let mut drv = SplitDriver::new(m, NUM, 4, &mut slots[..], None, opts).unwrap();
    let mut dev = SplitDevice::new(m, NUM, 4, opts).unwrap();
    assert!(!dev.has_avail() && !dev.is_broken());
    drv.add(&[b], &[], 1).unwrap();
    assert!(dev.has_avail());
    dev.pop(&NoMap, &mut d).unwrap().unwrap();
    assert!(!dev.has_avail() && !dev.is_broken());

    let m = env.alloc(PackedLayout::new(NUM).unwrap().size).unwrap();
    let mut drv = PackedDriver::new(m, NUM, &mut slots[..], None, opts).unwrap();
    let mut dev = PackedDevice::new(m, NUM, opts).unwrap();
    assert!(!dev.has_avail() && !dev.is_broken());
    drv.add(&[b], &[], 1).unwrap();
    assert!(dev.has_avail());
    dev.pop(&NoMap, &mut d).unwrap().unwrap();
    assert!(!dev.has_avail() && !dev.is_broken());
}

/// Split device: each malformed indirect descriptor is refused on its own
/// (NEXT set, length 0, not whole descriptors), and a table of exactly
/// the queue size is accepted with all its entries.
#[test]
fn split_device_indirect_bounds() {
    use crate::selftest::TestEnv;
    use crate::split::{Options, SplitDevice, SplitLayout};
    use crate::{
        Desc, Error, Fault, RingMem, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
    };
    struct Map<'a>(&'a HostEnv);
    impl crate::DeviceMemory for Map<'_> {
        type Mem = RawMem;
        fn map(&self, addr: u64, len: usize) -> Option<RawMem> {
            self.0.map(addr, len)
        }
    }
    const NUM: u16 = 4;
    let wd = |m: &RawMem, i: usize, addr: u64, len: u32, flags: u16, next: u16| {
        m.store64(i * 16, addr);
        m.store32(i * 16 + 8, len);
        m.store16(i * 16 + 12, flags);
        m.store16(i * 16 + 14, next);
    };
    let bad = [
        (32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT),
        (0, VRING_DESC_F_INDIRECT),
        (24, VRING_DESC_F_INDIRECT),
    ];
    for (len, flags) in bad {
        let mut env = HostEnv::new(1 << 16);
        let lay = SplitLayout::new(NUM, 4).unwrap();
        let m = env.alloc(lay.size).unwrap();
        let tbl = env.alloc(64).unwrap();
        let mut dev = SplitDevice::new(m, NUM, 4, Options::default()).unwrap();
        wd(&tbl, 0, 0x1000, 8, 0, 0);
        wd(&m, 0, tbl.dma_addr(), len, flags, 1);
        m.store16(lay.avail + 4, 0);
        m.store16(lay.avail + 2, 1);
        let mut d = [Desc::default(); 8];
        assert_eq!(
            dev.pop(&Map(&env), &mut d),
            Err(Error::Fault(Fault::BadIndirect)),
            "len {len} flags {flags:#x}"
        );
    }
    // A table of 2 entries that loop: caught after 2 visits.
    {
        let mut env = HostEnv::new(1 << 16);
        let lay = SplitLayout::new(NUM, 4).unwrap();
        let m = env.alloc(lay.size).unwrap();
        let tbl = env.alloc(32).unwrap();
        let mut dev = SplitDevice::new(m, NUM, 4, Options::default()).unwrap();
        wd(&tbl, 0, 0x1000, 8, VRING_DESC_F_NEXT, 1);
        wd(&tbl, 1, 0x2000, 8, VRING_DESC_F_NEXT, 0);
        wd(&m, 0, tbl.dma_addr(), 32, VRING_DESC_F_INDIRECT, 0);
        m.store16(lay.avail + 4, 0);
        m.store16(lay.avail + 2, 1);
        let mut d = [Desc::default(); 8];
        assert_eq!(
            dev.pop(&Map(&env), &mut d),
            Err(Error::Fault(Fault::ChainLoop))
        );
    }
    // Exactly NUM entries: allowed, all returned.
    let mut env = HostEnv::new(1 << 16);
    let lay = SplitLayout::new(NUM, 4).unwrap();
    let m = env.alloc(lay.size).unwrap();
    let tbl = env.alloc(NUM as usize * 16).unwrap();
    let mut dev = SplitDevice::new(m, NUM, 4, Options::default()).unwrap();
    for i in 0..NUM {
        let f = if i + 1 < NUM {
            VRING_DESC_F_NEXT
        } else {
            VRING_DESC_F_WRITE
        };
        wd(&tbl, i as usize, 0x1000 * u64::from(i + 1), 8, f, i + 1);
    }
    wd(
        &m,
        0,
        tbl.dma_addr(),
        u32::from(NUM) * 16,
        VRING_DESC_F_INDIRECT,
        0,
    );
    m.store16(lay.avail + 4, 0);
    m.store16(lay.avail + 2, 1);
    let mut d = [Desc::default(); 8];
    let c = dev.pop(&Map(&env), &mut d).unwrap().unwrap();
    assert_eq!(c.count, NUM as usize);
    assert_eq!(
        d[3],
        Desc {
            addr: 0x4000,
            len: 8,
            write: true
        }
    );
}

/// `RawMem`'s bounds: every access inside the region and naturally aligned,
/// everything else refused (and read as 0 in a release build, where the
/// `debug_assert!` is off), and `slice`/`as_ptr`/`is_empty` as documented.
#[test]
fn raw_mem_bounds_and_slices() {
    use crate::mem::{in_bounds, RingMem};
    // Inside, up to the last byte.
    assert!(in_bounds(16, 0, 8));
    assert!(in_bounds(16, 8, 8));
    assert!(in_bounds(16, 14, 2));
    // Past the end, straddling the end, misaligned, overflowing.
    assert!(!in_bounds(16, 16, 2));
    assert!(!in_bounds(16, 12, 8));
    assert!(!in_bounds(16, 3, 2));
    assert!(!in_bounds(16, 6, 4));
    assert!(!in_bounds(usize::MAX, usize::MAX - 1, 2));

    // 32 bytes for the region and 32 more behind it, so that a broken
    // bounds check writes into this array, not past it.
    let mut words = [0u64; 8];
    let base = words.as_mut_ptr().cast::<u8>();
    // SAFETY: the first 32 bytes of a local array, 8-byte aligned, only
    // accessed through `m` while it exists.
    let m = unsafe { RawMem::new(base, 32, 0x1000) };
    assert_eq!(m.as_ptr(), base);
    assert!(!m.is_empty());
    m.store64(24, 0x1122_3344_5566_7788);
    assert_eq!(m.load16(30), 0x1122);
    // The whole region is a valid slice; one byte more is not.
    let all = m.slice(0, 32).expect("whole region");
    assert_eq!((all.len(), all.dma_addr()), (32, 0x1000));
    assert!(m.slice(0, 33).is_none());
    assert!(m.slice(4, 8).is_none(), "misaligned slice");
    let tail = m.slice(24, 8).expect("tail");
    assert_eq!(
        (tail.dma_addr(), tail.load64(0)),
        (0x1018, 0x1122_3344_5566_7788)
    );
    assert!(m.slice(32, 0).expect("empty slice at the end").is_empty());
    #[cfg(not(debug_assertions))]
    {
        tail.store64(8, u64::MAX);
        assert_eq!(tail.load64(8), 0, "access past the slice is refused");
        assert_eq!(m.load32(2), 0, "misaligned access is refused");
    }
}

/// `RawMem::mb` is a full barrier: the store-buffering litmus test. Two
/// threads each store to their own word, `mb()`, then load the other's; in
/// every round at least one must see the other's store. Without the
/// barrier, x86 (and arm64) return both old values within a few thousand
/// rounds (a store waits in the store buffer while the later load runs);
/// this is exactly the ring's lost-wakeup pattern. It can miss a broken
/// barrier by luck, never fail a correct one.
#[test]
#[cfg_attr(miri, ignore = "200000 rounds of two spinning threads")]
fn raw_mem_mb_orders_store_then_load() {
    use crate::mem::RingMem;
    use std::sync::atomic::{AtomicU32, Ordering};
    const ROUNDS: u32 = 200_000;
    let mut words = [0u64; 32];
    // SAFETY: 256 bytes of a local array, 8-byte aligned, accessed only
    // through copies of `m` (atomically) until both threads are joined.
    let m = unsafe { RawMem::new(words.as_mut_ptr().cast(), 256, 0) };
    // Two words on different cache lines, and a round barrier.
    let (a, b) = (0, 128);
    let arrived = AtomicU32::new(0);
    let side = |mine: usize, other: usize| {
        let arrived = &arrived;
        move || {
            let mut missed = std::vec::Vec::with_capacity(ROUNDS as usize);
            for r in 1..=ROUNDS {
                // Both threads start round r together.
                arrived.fetch_add(1, Ordering::AcqRel);
                while arrived.load(Ordering::Acquire) < 2 * r {
                    core::hint::spin_loop();
                }
                m.store32(mine, r);
                m.mb();
                missed.push(m.load32(other) < r);
            }
            missed
        }
    };
    let (ma, mb) = std::thread::scope(|s| {
        let ta = s.spawn(side(a, b));
        let tb = s.spawn(side(b, a));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    let both = ma.iter().zip(&mb).filter(|(x, y)| **x && **y).count();
    assert_eq!(
        both, 0,
        "{both} rounds where neither thread saw the other's store"
    );
}

/// Notification data (virtio 1.2, 2.9: `vqn | next_off << 16 | next_wrap <<
/// 31`; split rings put the full 16-bit `avail->idx` in the upper half):
/// the position the device will see next, read back from the ring itself
/// (split: `avail->idx`; packed: the next descriptor the device would poll
/// is the first not made available, and the wrap counter flips after the
/// last ring entry).
#[test]
fn notification_data_is_the_next_available_position() {
    use crate::selftest::Format;
    use crate::{queue::DriverQueue, Buf, Slot};
    let b = Buf {
        addr: 0x1000,
        len: 8,
    };
    for fmt in [Format::Split, Format::Packed] {
        let mut env = HostEnv::new(1 << 16);
        let mut slots = [Slot::default(); 4];
        let (mut drv, mut dev, _) =
            crate::selftest::pair(&mut env, fmt, 4, false, false, &mut slots[..]).unwrap();
        let wrap = if fmt == Format::Packed { 0x8000 } else { 0 };
        assert_eq!(drv.notification_data(), wrap, "{fmt:?}: initial");
        drv.add(&[b], &[], 1).unwrap();
        drv.add(&[b], &[b], 2).unwrap();
        // Split counts buffers, packed descriptors (the second chain has
        // two).
        let want = if fmt == Format::Packed { 3 | wrap } else { 2 };
        assert_eq!(drv.notification_data(), want, "{fmt:?}: after two");
        drv.add(&[b], &[], 3).unwrap();
        // Packed: four descriptors fill the ring, the next is slot 0 of
        // the next lap, with the wrap counter flipped.
        let want = if fmt == Format::Packed { 0 } else { 3 };
        assert_eq!(drv.notification_data(), want, "{fmt:?}: after a lap");
        // The device sees what the data announces.
        let mut d = [crate::Desc::default(); 2];
        let mut n = 0;
        while let Some(p) = crate::queue::DeviceQueue::pop_desc(&mut dev, &NoMap, &mut d).unwrap() {
            crate::queue::DeviceQueue::push(&mut dev, &p, 0);
            n += 1;
        }
        assert_eq!(n, 3, "{fmt:?}");
    }
}
