// SPDX-License-Identifier: GPL-2.0

//! Golden-byte tests: the bytes our driver and device sides leave in ring
//! memory are compared with structures encoded here, by hand, from the
//! struct definitions of the virtio specification, and hand-encoded
//! structures are fed to our device/driver sides. Nothing in this file
//! derives an expected value from the ring code: the constants, the
//! encoders ([`pdesc`], [`vdesc`], [`event`], [`used_elem`]) and the wrap
//! counter model are typed in from the specification text.
//!
//! References are to "Virtual I/O Device (VIRTIO) Version 1.2" (cs01); the
//! numbering of sections 2.7 and 2.8 is the same in Version 1.3. Section
//! titles are given with the numbers, so they can be found in either.
//!
//! Packed ring (2.8):
//!
//! - 2.8.13 "The Virtqueue Descriptor Format":
//!   `struct pvirtq_desc { le64 addr; le32 len; le16 id; le16 flags; }`,
//!   i.e. addr at +0, len at +8, id at +12, flags at +14.
//! - 2.8.1 "Driver and Device Ring Wrap Counters": both wrap counters are
//!   initialized to 1; the driver marks a descriptor available by setting
//!   AVAIL (bit 7) to its wrap counter and USED (bit 15) to the inverse, the
//!   device marks it used by setting both to its wrap counter.
//! - 2.8.6 "Next Flag: Descriptor Chaining": NEXT on all but the last
//!   descriptor of a list; "Buffer ID is included in the last descriptor in
//!   the list." (2.8.21.1 has the driver set `d.id` on every element, the
//!   2.8.21.3 example only on the last: we assert it on the last only.)
//! - 2.8.7 "Indirect Flag: Scatter-Gather Support": the table is
//!   `struct pvirtq_desc desc[len / sizeof(struct pvirtq_desc)]`; "The first
//!   descriptor is located at the start of the indirect descriptor table,
//!   additional indirect descriptors come immediately afterwards. The
//!   VIRTQ_DESC_F_WRITE flags bit is the only valid flag for descriptors in
//!   the indirect table. Others are reserved and are ignored by the device.
//!   Buffer ID is also reserved and is ignored by the device."
//!   2.8.19 (driver requirements, indirect descriptors): "The driver MUST
//!   NOT set any flags except DESC_F_WRITE within an indirect descriptor."
//! - 2.8.14 "Event Suppression Structure Format":
//!   `struct pvirtq_event_suppress { le16 desc /* off:15, wrap:1 */;
//!   le16 flags /* desc_event_flags:2, reserved:14 */; }` with
//!   RING_EVENT_FLAGS_ENABLE 0, DISABLE 1, DESC 2 (2.8.10).
//!
//! Split ring (2.7): 2.7.5 `struct virtq_desc { le64 addr; le32 len;
//! le16 flags; le16 next; }`, 2.7.5.3 indirect tables (chained by `next`
//! from index 0), 2.7.6 `struct virtq_avail { le16 flags; le16 idx;
//! le16 ring[N]; le16 used_event; }`, 2.7.8 `struct virtq_used { le16 flags;
//! le16 idx; struct virtq_used_elem { le32 id; le32 len; } ring[N];
//! le16 avail_event; }`.

use crate::mem::RawMem;
use crate::packed::{PackedChain, PackedDevice, PackedDriver};
use crate::split::{Chain, Indirect, Options, SplitDevice, SplitDriver};
use crate::{Buf, Desc, DeviceMemory, Slot};
use core::sync::atomic::{AtomicU8, Ordering};
use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

// ---------------------------------------------------------------------------
// Constants, typed in from the specification (not imported from our code).

/// 2.7.5 / 2.8.6: "This marks a buffer as continuing."
const VIRTQ_DESC_F_NEXT: u16 = 1;
/// 2.7.5 / 2.8.3: device write-only.
const VIRTQ_DESC_F_WRITE: u16 = 2;
/// 2.7.5.3 / 2.8.7: the element is a table of descriptors.
const VIRTQ_DESC_F_INDIRECT: u16 = 4;
/// 2.8.1: `#define VIRTQ_DESC_F_AVAIL (1 << 7)`.
const VIRTQ_DESC_F_AVAIL: u16 = 1 << 7;
/// 2.8.1: `#define VIRTQ_DESC_F_USED (1 << 15)`.
const VIRTQ_DESC_F_USED: u16 = 1 << 15;
/// 2.8.10: "Enable events".
const RING_EVENT_FLAGS_ENABLE: u16 = 0x0;
/// 2.8.10: "Disable events".
const RING_EVENT_FLAGS_DISABLE: u16 = 0x1;
/// 2.8.10: "Enable events for a specific descriptor".
const RING_EVENT_FLAGS_DESC: u16 = 0x2;
/// 2.7.6: `#define VIRTQ_AVAIL_F_NO_INTERRUPT 1`.
const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// 2.7.8: `#define VIRTQ_USED_F_NO_NOTIFY 1`.
const VIRTQ_USED_F_NO_NOTIFY: u16 = 1;
/// 2.7.5 / 2.8.13: both descriptor structs are 16 bytes.
const DESC: usize = 16;

// ---------------------------------------------------------------------------
// The independent encoders.

/// 2.8.13: `struct pvirtq_desc { le64 addr; le32 len; le16 id; le16 flags; }`.
fn pdesc(addr: u64, len: u32, id: u16, flags: u16) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..8].copy_from_slice(&addr.to_le_bytes());
    b[8..12].copy_from_slice(&len.to_le_bytes());
    b[12..14].copy_from_slice(&id.to_le_bytes());
    b[14..16].copy_from_slice(&flags.to_le_bytes());
    b
}

/// 2.7.5: `struct virtq_desc { le64 addr; le32 len; le16 flags; le16 next; }`.
fn vdesc(addr: u64, len: u32, flags: u16, next: u16) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..8].copy_from_slice(&addr.to_le_bytes());
    b[8..12].copy_from_slice(&len.to_le_bytes());
    b[12..14].copy_from_slice(&flags.to_le_bytes());
    b[14..16].copy_from_slice(&next.to_le_bytes());
    b
}

/// 2.8.14: `struct pvirtq_event_suppress { le16 desc; le16 flags; }`.
fn event(off_wrap: u16, flags: u16) -> [u8; 4] {
    let mut b = [0u8; 4];
    b[0..2].copy_from_slice(&off_wrap.to_le_bytes());
    b[2..4].copy_from_slice(&flags.to_le_bytes());
    b
}

/// 2.8.14: `desc_event_off : 15; desc_event_wrap : 1;` in one le16.
fn off_wrap(off: u16, wrap: bool) -> u16 {
    assert!(off < 1 << 15);
    off | (u16::from(wrap) << 15)
}

/// 2.7.8: `struct virtq_used_elem { le32 id; le32 len; }`.
fn used_elem(id: u32, len: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0..4].copy_from_slice(&id.to_le_bytes());
    b[4..8].copy_from_slice(&len.to_le_bytes());
    b
}

/// 2.8.1: "To mark a descriptor as available, the driver sets the
/// VIRTQ_DESC_F_AVAIL bit in Flags to match the internal Driver Ring Wrap
/// Counter. It also sets the VIRTQ_DESC_F_USED bit to match the inverse
/// value".
fn avail_bits(wrap: bool) -> u16 {
    if wrap {
        VIRTQ_DESC_F_AVAIL
    } else {
        VIRTQ_DESC_F_USED
    }
}

/// 2.8.1: "To mark a descriptor as used, the device sets the
/// VIRTQ_DESC_F_USED bit in Flags to match the internal Device Ring Wrap
/// Counter. It also sets the VIRTQ_DESC_F_AVAIL bit to match the same
/// value."
fn used_bits(wrap: bool) -> u16 {
    if wrap {
        VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED
    } else {
        0
    }
}

/// The ring positions and wrap counters of `n` consecutive descriptors
/// starting at `pos` on lap `wrap`: 2.8.21.1, "If d is the last descriptor
/// in the ring, toggle the Driver Ring Wrap Counter / Otherwise, increment
/// d to point at the next descriptor".
fn spec_positions(num: u16, pos: u16, wrap: bool, n: u16) -> (Vec<(u16, bool)>, u16, bool) {
    let (mut p, mut w) = (pos, wrap);
    let mut v = Vec::new();
    for _ in 0..n {
        v.push((p, w));
        if p + 1 == num {
            p = 0;
            w = !w;
        } else {
            p += 1;
        }
    }
    (v, p, w)
}

// ---------------------------------------------------------------------------
// Byte comparison.

/// A named byte range of a structure.
type Field = (&'static str, usize, usize);

const P_ADDR: Field = ("addr", 0, 8);
const P_LEN: Field = ("len", 8, 12);
const P_ID: Field = ("id", 12, 14);
const P_FLAGS: Field = ("flags", 14, 16);
/// Every field of a `pvirtq_desc`.
const P_ALL: &[Field] = &[P_ADDR, P_LEN, P_ID, P_FLAGS];
/// A `pvirtq_desc` whose `id` the spec leaves unspecified (not the last
/// of a list, or an entry of an indirect table).
const P_NO_ID: &[Field] = &[P_ADDR, P_LEN, P_FLAGS];

const V_ADDR: Field = ("addr", 0, 8);
const V_LEN: Field = ("len", 8, 12);
const V_FLAGS: Field = ("flags", 12, 14);
const V_NEXT: Field = ("next", 14, 16);
/// Every field of a `virtq_desc`.
const V_ALL: &[Field] = &[V_ADDR, V_LEN, V_FLAGS, V_NEXT];
/// A `virtq_desc` without NEXT: "Next field if flags & NEXT" (2.7.5).
const V_NO_NEXT: &[Field] = &[V_ADDR, V_LEN, V_FLAGS];

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Assert that `fields` of `got` equal those of `want`.
#[track_caller]
fn check(ctx: &str, got: &[u8], want: &[u8], fields: &[Field]) {
    assert_eq!(got.len(), want.len(), "{ctx}: length");
    let mut bad = String::new();
    for &(name, a, b) in fields {
        if got[a..b] != want[a..b] {
            bad += &format!(
                "\n  {name} (bytes {a}..{b}): got [{}], spec [{}]",
                hex(&got[a..b]),
                hex(&want[a..b])
            );
        }
    }
    assert!(
        bad.is_empty(),
        "{ctx}: differs from the spec layout{bad}\n  got  [{}]\n  spec [{}]",
        hex(got),
        hex(want)
    );
}

// ---------------------------------------------------------------------------
// Memory: one arena, 8-byte aligned, seen by the device at `DMA + offset`.

const DMA: u64 = 0x8000_0000;

struct Arena {
    /// Owns the memory `base` points into; only accessed through `base`.
    _words: Vec<u64>,
    base: *mut u8,
    len: usize,
}

impl Arena {
    fn new(len: usize) -> Self {
        let mut words = vec![0u64; len / 8];
        // `as_mut_ptr` creates no reference to the elements, so the pointer
        // stays valid for all later accesses through it.
        let base = words.as_mut_ptr().cast::<u8>();
        Arena {
            _words: words,
            base,
            len: len / 8 * 8,
        }
    }

    /// A [`RawMem`] over `[off, off + len)`.
    fn mem(&self, off: usize, len: usize) -> RawMem {
        assert!(off % 16 == 0 && off + len <= self.len);
        // SAFETY: in bounds, 8-byte aligned (a `Vec<u64>` buffer plus a
        // multiple of 16), alive as long as `self`, which every test keeps
        // until after its last ring access; all accesses, ours included,
        // are atomic.
        unsafe { RawMem::new(self.base.add(off), len, DMA + off as u64) }
    }

    fn byte(&self, off: usize) -> &AtomicU8 {
        assert!(off < self.len);
        // SAFETY: in bounds; `AtomicU8` has alignment 1; the memory is only
        // accessed atomically, and the tests are single-threaded, so the
        // mixed-size accesses never race.
        unsafe { AtomicU8::from_ptr(self.base.add(off)) }
    }

    /// The raw bytes at `[off, off + n)`.
    fn read(&self, off: usize, n: usize) -> Vec<u8> {
        (off..off + n)
            .map(|i| self.byte(i).load(Ordering::Relaxed))
            .collect()
    }

    /// Store raw bytes at `off` (as the other side would).
    fn write(&self, off: usize, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            self.byte(off + i).store(b, Ordering::Relaxed);
        }
    }

    /// The arena offset of device address `dma`.
    fn off(&self, dma: u64) -> usize {
        let off = dma
            .checked_sub(DMA)
            .expect("device address below the arena") as usize;
        assert!(off < self.len, "device address {dma:#x} beyond the arena");
        off
    }

    fn u16_at(&self, off: usize) -> u16 {
        let b = self.read(off, 2);
        u16::from_le_bytes([b[0], b[1]])
    }

    fn u32_at(&self, off: usize) -> u32 {
        let b = self.read(off, 4);
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    fn u64_at(&self, off: usize) -> u64 {
        let b = self.read(off, 8);
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

impl DeviceMemory for Arena {
    type Mem = RawMem;
    fn map(&self, addr: u64, len: usize) -> Option<RawMem> {
        let off = usize::try_from(addr.checked_sub(DMA)?).ok()?;
        if off % 8 != 0 || off.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: as in `mem`.
        Some(unsafe { RawMem::new(self.base.add(off), len, addr) })
    }
}

// ---------------------------------------------------------------------------
// Buffers: addresses and lengths with every byte distinct, so that any
// misplaced or byte-swapped field shows. They are never dereferenced.

const O0: Buf = Buf {
    addr: 0x1122_3344_5566_7788,
    len: 0x0102_0304,
};
const O1: Buf = Buf {
    addr: 0x2132_4354_6576_8798,
    len: 0x0506_0708,
};
const O2: Buf = Buf {
    addr: 0x3142_5364_7586_97a8,
    len: 0x090a_0b0c,
};
const O3: Buf = Buf {
    addr: 0x4152_6374_8596_a7b8,
    len: 0x0d0e_0f10,
};
const I0: Buf = Buf {
    addr: 0x99aa_bbcc_ddee_ff01,
    len: 0x1112_1314,
};
const I1: Buf = Buf {
    addr: 0xa9ba_cbdc_edfe_0f12,
    len: 0x1516_1718,
};
const I2: Buf = Buf {
    addr: 0xb9ca_dbec_fd0e_1f23,
    len: 0x191a_1b1c,
};

fn desc(b: Buf, write: bool) -> Desc {
    Desc {
        addr: b.addr,
        len: b.len,
        write,
    }
}

fn slots(num: u16) -> Vec<Slot> {
    vec![Slot::default(); num as usize]
}

const NO_EVENT_IDX: Options = Options { event_idx: false };
const EVENT_IDX: Options = Options { event_idx: true };

/// Size of a packed ring region of `num` descriptors (2.8.10.1 "Structure
/// Size and Alignment": 16 * num for the ring, 4 + 4 for the two event
/// suppression structures).
fn packed_size(num: u16) -> usize {
    num as usize * DESC + 8
}

/// Offset of packed descriptor `pos` in a ring at arena offset 0.
fn pd(pos: u16) -> usize {
    pos as usize * DESC
}

/// The AVAIL/USED bits of the packed descriptor at `pos`.
fn avail_used_bits(a: &Arena, pos: u16) -> u16 {
    a.u16_at(pd(pos) + 14) & (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED)
}

// ---------------------------------------------------------------------------
// The encoders themselves, against literal bytes.

#[test]
fn encoders_match_spec_byte_order() {
    // 2.8.13: le64 addr, le32 len, le16 id, le16 flags.
    assert_eq!(
        pdesc(0x1122_3344_5566_7788, 0x99aa_bbcc, 0xddee, 0x8081),
        [
            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xcc, 0xbb, 0xaa, 0x99, 0xee, 0xdd,
            0x81, 0x80
        ]
    );
    // 2.7.5: le64 addr, le32 len, le16 flags, le16 next.
    assert_eq!(
        vdesc(0x1122_3344_5566_7788, 0x99aa_bbcc, 0x0001, 0x0203),
        [
            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xcc, 0xbb, 0xaa, 0x99, 0x01, 0x00,
            0x03, 0x02
        ]
    );
    // 2.8.14: offset 3 on wrap 1, flags DESC.
    assert_eq!(
        event(off_wrap(3, true), RING_EVENT_FLAGS_DESC),
        [0x03, 0x80, 0x02, 0x00]
    );
    assert_eq!(used_elem(2, 0x30), [2, 0, 0, 0, 0x30, 0, 0, 0]);
    // 2.8.1 with the initial wrap counter 1: available = AVAIL only,
    // used = AVAIL | USED; on the second lap: USED only, and neither.
    assert_eq!(avail_bits(true), 0x0080);
    assert_eq!(avail_bits(false), 0x8000);
    assert_eq!(used_bits(true), 0x8080);
    assert_eq!(used_bits(false), 0x0000);
}

// ---------------------------------------------------------------------------
// Packed ring, driver side, direct descriptors.

/// One buffer of 2 out + 1 in, then a second lap crossing the end of the
/// ring, then a third buffer wholly on the second lap.
#[test]
fn packed_chain_2out_1in_lap1_and_lap2() {
    let a = Arena::new(0x4000);
    let num = 4;
    let ring = a.mem(0, packed_size(num));
    let mut drv = PackedDriver::new(ring, num, slots(num), None, NO_EVENT_IDX).unwrap();
    let mut dev = PackedDevice::new(ring, num, NO_EVENT_IDX).unwrap();
    let mut descs = [Desc::default(); 8];

    // 2.8.10.1 / 2.8.13: 16 * num bytes of zero-initialized descriptors,
    // then the two 4-byte event suppression structures.
    assert_eq!(drv.addresses(), (DMA, DMA + 64, DMA + 68));
    assert_eq!(a.read(0, packed_size(num)), vec![0u8; packed_size(num)]);

    // Lap 1 (Driver Ring Wrap Counter = 1, 2.8.1): AVAIL set, USED clear;
    // NEXT on all but the last (2.8.6); WRITE on the device-writable
    // element (2.8.3); the buffer id in the last descriptor (2.8.6).
    let id = drv.add(&[O0, O1], &[I0], 100).unwrap();
    let f = avail_bits(true);
    check(
        "lap 1, desc 0",
        &a.read(pd(0), 16),
        &pdesc(O0.addr, O0.len, id, VIRTQ_DESC_F_NEXT | f),
        P_NO_ID,
    );
    check(
        "lap 1, desc 1",
        &a.read(pd(1), 16),
        &pdesc(O1.addr, O1.len, id, VIRTQ_DESC_F_NEXT | f),
        P_NO_ID,
    );
    check(
        "lap 1, desc 2 (last: carries the buffer id)",
        &a.read(pd(2), 16),
        &pdesc(I0.addr, I0.len, id, VIRTQ_DESC_F_WRITE | f),
        P_ALL,
    );
    // Literally: 0x0081 (AVAIL|NEXT) and 0x0082 (AVAIL|WRITE).
    assert_eq!(a.read(pd(0) + 14, 2), [0x81, 0x00]);
    assert_eq!(a.read(pd(2) + 14, 2), [0x82, 0x00]);
    check(
        "lap 1, desc 3 untouched",
        &a.read(pd(3), 16),
        &[0; 16],
        P_ALL,
    );

    let c = dev.pop(&a, &mut descs).unwrap().unwrap();
    assert_eq!(
        c,
        PackedChain {
            id,
            count: 3,
            ndescs: 3
        }
    );
    assert_eq!(
        descs[..3],
        [desc(O0, false), desc(O1, false), desc(I0, true)]
    );
    // 2.8.6: "the used descriptor overwriting the first available
    // descriptor in the list"; 2.8.1: used = AVAIL == USED == 1 on lap 1.
    dev.push_used(id, 0x40, 3);
    check(
        "lap 1, used descriptor at desc 0",
        &a.read(pd(0), 16),
        &pdesc(0, 0x40, id, 0),
        &[P_LEN, P_ID],
    );
    assert_eq!(avail_used_bits(&a, 0), used_bits(true));
    assert_eq!(drv.get_used().unwrap(), Some((100, 0x40)));

    // Lap 2 crossing the end of the ring: positions 3 (still lap 1), 0 and
    // 1 (lap 2: the counter toggled after desc 3, so AVAIL clear, USED set).
    let id2 = drv.add(&[O2, O3], &[I1], 101).unwrap();
    check(
        "lap 1->2, desc 3",
        &a.read(pd(3), 16),
        &pdesc(O2.addr, O2.len, id2, VIRTQ_DESC_F_NEXT | avail_bits(true)),
        P_NO_ID,
    );
    check(
        "lap 2, desc 0",
        &a.read(pd(0), 16),
        &pdesc(O3.addr, O3.len, id2, VIRTQ_DESC_F_NEXT | avail_bits(false)),
        P_NO_ID,
    );
    check(
        "lap 2, desc 1 (last)",
        &a.read(pd(1), 16),
        &pdesc(I1.addr, I1.len, id2, VIRTQ_DESC_F_WRITE | avail_bits(false)),
        P_ALL,
    );
    // Literally: 0x8001 (USED|NEXT), 0x8002 (USED|WRITE).
    assert_eq!(a.read(pd(0) + 14, 2), [0x01, 0x80]);
    assert_eq!(a.read(pd(1) + 14, 2), [0x02, 0x80]);

    let c = dev.pop(&a, &mut descs).unwrap().unwrap();
    assert_eq!((c.id, c.count, c.ndescs), (id2, 3, 3));
    assert_eq!(
        descs[..3],
        [desc(O2, false), desc(O3, false), desc(I1, true)]
    );
    // Written at desc 3, where the Device Ring Wrap Counter is still 1.
    dev.push_used(id2, 0x41, 3);
    check(
        "used descriptor at desc 3",
        &a.read(pd(3), 16),
        &pdesc(0, 0x41, id2, 0),
        &[P_LEN, P_ID],
    );
    assert_eq!(avail_used_bits(&a, 3), used_bits(true));
    assert_eq!(drv.get_used().unwrap(), Some((101, 0x41)));

    // Wholly on lap 2: a single descriptor, USED set, AVAIL clear, no NEXT.
    let id3 = drv.add(&[], &[I2], 102).unwrap();
    check(
        "lap 2, desc 2 (single)",
        &a.read(pd(2), 16),
        &pdesc(I2.addr, I2.len, id3, VIRTQ_DESC_F_WRITE | avail_bits(false)),
        P_ALL,
    );
    let c = dev.pop(&a, &mut descs).unwrap().unwrap();
    assert_eq!((c.id, c.count, c.ndescs), (id3, 1, 1));
    // Used on lap 2 (Device Ring Wrap Counter 0): AVAIL == USED == 0.
    dev.push_used(id3, 7, 1);
    check(
        "lap 2, used descriptor at desc 2",
        &a.read(pd(2), 16),
        &pdesc(0, 7, id3, 0),
        &[P_LEN, P_ID],
    );
    assert_eq!(avail_used_bits(&a, 2), used_bits(false));
    assert_eq!(drv.get_used().unwrap(), Some((102, 7)));
    assert_eq!(drv.get_used().unwrap(), None);
}

/// Odd (and even) queue sizes over several laps, against the spec's wrap
/// counter rule (2.8.1, 2.8.21.1), with the event suppression structures
/// at 16 * num and 16 * num + 4.
#[test]
fn packed_odd_queue_sizes_several_laps() {
    for num in [1u16, 3, 5, 7] {
        let a = Arena::new(0x4000);
        let ring = a.mem(0, packed_size(num));
        let mut drv = PackedDriver::new(ring, num, slots(num), None, NO_EVENT_IDX).unwrap();
        let mut dev = PackedDevice::new(ring, num, NO_EVENT_IDX).unwrap();
        let base = num as usize * DESC;
        assert_eq!(
            drv.addresses(),
            (DMA, DMA + base as u64, DMA + base as u64 + 4),
            "num {num}"
        );
        let mut descs = [Desc::default(); 8];
        // The spec model: driver position and wrap, device likewise.
        let (mut pos, mut wrap) = (0u16, true);
        let (mut upos, mut uwrap) = (0u16, true);
        for round in 0..(3 * num as usize + 2) {
            // Alternate 2 out + 1 in and 1 in, whatever fits.
            let (out, inb): (&[Buf], &[Buf]) = if round % 2 == 0 && num >= 3 {
                (&[O0, O1], &[I0])
            } else {
                (&[], &[I1])
            };
            let segs: Vec<(Buf, u16)> = out
                .iter()
                .map(|&b| (b, 0))
                .chain(inb.iter().map(|&b| (b, VIRTQ_DESC_F_WRITE)))
                .collect();
            let n = segs.len() as u16;
            let token = 1000 + round;
            let id = drv.add(out, inb, token).unwrap();
            let (places, npos, nwrap) = spec_positions(num, pos, wrap, n);
            for (k, (&(b, w), &(p, pw))) in segs.iter().zip(places.iter()).enumerate() {
                let last = k + 1 == segs.len();
                let next = if last { 0 } else { VIRTQ_DESC_F_NEXT };
                check(
                    &format!("num {num} round {round} element {k} at desc {p} (wrap {pw})"),
                    &a.read(pd(p), 16),
                    &pdesc(b.addr, b.len, id, w | next | avail_bits(pw)),
                    if last { P_ALL } else { P_NO_ID },
                );
            }
            (pos, wrap) = (npos, nwrap);

            let c = dev.pop(&a, &mut descs).unwrap().unwrap();
            assert_eq!((c.id, c.count, c.ndescs), (id, segs.len(), n));
            dev.push_used(id, 3, n);
            check(
                &format!("num {num} round {round} used at desc {upos}"),
                &a.read(pd(upos), 16),
                &pdesc(0, 3, id, 0),
                &[P_LEN, P_ID],
            );
            assert_eq!(
                avail_used_bits(&a, upos),
                used_bits(uwrap),
                "num {num} round {round}: used flags at desc {upos}"
            );
            (_, upos, uwrap) = spec_positions(num, upos, uwrap, n);
            assert_eq!(drv.get_used().unwrap(), Some((token, 3)));
        }
        // 2.8.14 at 16 * num: untouched so far (ENABLE), DISABLE after
        // disable_cb.
        assert_eq!(a.read(base, 8), [0; 8], "num {num}");
        drv.disable_cb();
        check(
            &format!("num {num} driver area"),
            &a.read(base, 4),
            &event(0, RING_EVENT_FLAGS_DISABLE),
            &[("flags", 2, 4)],
        );
    }
}

// ---------------------------------------------------------------------------
// Packed ring, indirect tables (2.8.7).

/// Our driver with an indirect pool: the ring descriptor and the table must
/// be `pvirtq_desc`s, the table's flags at +14 holding WRITE only.
#[test]
fn packed_indirect_table_bytes_from_driver() {
    let a = Arena::new(0x4000);
    let num = 4;
    let ring = a.mem(0, packed_size(num));
    let pool = a.mem(0x1000, Indirect::<RawMem>::size(num, 4));
    let ind = Indirect::new(pool, num, 4).unwrap();
    let mut drv = PackedDriver::new(ring, num, slots(num), Some(ind), NO_EVENT_IDX).unwrap();

    let id = drv.add(&[O0, O1], &[I0], 7).unwrap();

    // The ring descriptor: "addr and len refer to the indirect table
    // address and length in bytes" (2.8.7); len = 3 * 16; a single
    // descriptor, so it carries the buffer id (2.8.6); flags INDIRECT and
    // the lap-1 AVAIL bit (WRITE is reserved here, 2.8.7).
    let table = a.u64_at(pd(0));
    check(
        "ring descriptor of the indirect buffer",
        &a.read(pd(0), 16),
        &pdesc(table, 3 * 16, id, VIRTQ_DESC_F_INDIRECT | avail_bits(true)),
        P_ALL,
    );
    assert_eq!(a.read(pd(0) + 14, 2), [0x84, 0x00]);
    check("desc 1 untouched", &a.read(pd(1), 16), &[0; 16], P_ALL);

    // The table: len / 16 = 3 consecutive pvirtq_desc entries; flags at +14
    // with only VIRTQ_DESC_F_WRITE (2.8.19: "The driver MUST NOT set any
    // flags except DESC_F_WRITE within an indirect descriptor"), so no NEXT;
    // the id at +12 is reserved (2.8.7) and not checked.
    let t = a.off(table);
    let want = [
        pdesc(O0.addr, O0.len, 0, 0),
        pdesc(O1.addr, O1.len, 0, 0),
        pdesc(I0.addr, I0.len, 0, VIRTQ_DESC_F_WRITE),
    ];
    for (i, w) in want.iter().enumerate() {
        check(
            &format!("packed indirect table entry {i} (struct pvirtq_desc, 2.8.7)"),
            &a.read(t + i * DESC, 16),
            w,
            P_NO_ID,
        );
    }
}

/// Our device reading a packed indirect table encoded per 2.8.7: three
/// consecutive entries (len / 16), flags at +14. The reserved id holds zero
/// or junk, and in one variant every entry carries the reserved NEXT bit:
/// both are "ignored by the device", so the table still has exactly three
/// entries.
#[test]
fn packed_device_pops_spec_indirect_table() {
    for (reserved_id, reserved_flags) in [(0u16, 0u16), (0xa5a5, 0), (0, VIRTQ_DESC_F_NEXT)] {
        let ctx = format!("reserved id {reserved_id:#x}, reserved flags {reserved_flags:#x}");
        let a = Arena::new(0x4000);
        let num = 4;
        let ring = a.mem(0, packed_size(num));
        let mut dev = PackedDevice::new(ring, num, NO_EVENT_IDX).unwrap();
        let table = 0x2000;
        let rf = reserved_flags;
        a.write(table, &pdesc(O0.addr, O0.len, reserved_id, rf));
        a.write(table + 16, &pdesc(O1.addr, O1.len, reserved_id, rf));
        a.write(
            table + 32,
            &pdesc(I0.addr, I0.len, reserved_id, rf | VIRTQ_DESC_F_WRITE),
        );
        a.write(
            pd(0),
            &pdesc(
                DMA + table as u64,
                3 * 16,
                3,
                VIRTQ_DESC_F_INDIRECT | avail_bits(true),
            ),
        );
        let mut descs = [Desc::default(); 8];
        let r = dev.pop(&a, &mut descs);
        assert_eq!(
            r,
            Ok(Some(PackedChain {
                id: 3,
                count: 3,
                ndescs: 1
            })),
            "{ctx}: a 3-entry packed indirect table (2.8.7)"
        );
        assert_eq!(
            descs[..3],
            [desc(O0, false), desc(O1, false), desc(I0, true)],
            "{ctx}"
        );
        dev.push_used(3, 0x10, 1);
        check(
            "used descriptor of the indirect buffer",
            &a.read(pd(0), 16),
            &pdesc(0, 0x10, 3, 0),
            &[P_LEN, P_ID],
        );
        assert_eq!(avail_used_bits(&a, 0), used_bits(true));
    }
}

// ---------------------------------------------------------------------------
// Packed ring, device side, direct descriptors encoded per the spec.

/// Chains written by hand: the buffer id only in the last descriptor (the
/// others hold junk, as the 2.8.21.3 example leaves them), one chain
/// crossing the end of the ring with per-descriptor wrap bits.
#[test]
fn packed_device_pops_spec_chains() {
    let a = Arena::new(0x4000);
    let num = 4;
    let ring = a.mem(0, packed_size(num));
    let mut dev = PackedDevice::new(ring, num, NO_EVENT_IDX).unwrap();
    let mut descs = [Desc::default(); 8];
    // 2.8.13: "The descriptor ring is zero-initialized": nothing available
    // (AVAIL 0 != wrap counter 1).
    assert!(!dev.has_avail());
    assert_eq!(dev.pop(&a, &mut descs), Ok(None));

    // Lap 1; the head's flags written last (2.8.6).
    let f = avail_bits(true);
    a.write(
        pd(1),
        &pdesc(O1.addr, O1.len, 0xffff, VIRTQ_DESC_F_NEXT | f),
    );
    a.write(pd(2), &pdesc(I0.addr, I0.len, 2, VIRTQ_DESC_F_WRITE | f));
    a.write(
        pd(0),
        &pdesc(O0.addr, O0.len, 0xfffe, VIRTQ_DESC_F_NEXT | f),
    );
    let c = dev.pop(&a, &mut descs).unwrap().unwrap();
    assert_eq!(
        c,
        PackedChain {
            id: 2,
            count: 3,
            ndescs: 3
        },
        "2.8.6: the buffer id is the last descriptor's"
    );
    assert_eq!(
        descs[..3],
        [desc(O0, false), desc(O1, false), desc(I0, true)]
    );
    dev.push_used(2, 5, 3);
    check(
        "used at desc 0",
        &a.read(pd(0), 16),
        &pdesc(0, 5, 2, 0),
        &[P_LEN, P_ID],
    );
    assert_eq!(avail_used_bits(&a, 0), used_bits(true));

    // Crossing the end: desc 3 on lap 1, descs 0 and 1 on lap 2.
    a.write(
        pd(0),
        &pdesc(
            O3.addr,
            O3.len,
            0xffff,
            VIRTQ_DESC_F_NEXT | avail_bits(false),
        ),
    );
    a.write(
        pd(1),
        &pdesc(I1.addr, I1.len, 1, VIRTQ_DESC_F_WRITE | avail_bits(false)),
    );
    a.write(
        pd(3),
        &pdesc(
            O2.addr,
            O2.len,
            0xffff,
            VIRTQ_DESC_F_NEXT | avail_bits(true),
        ),
    );
    let c = dev.pop(&a, &mut descs).unwrap().unwrap();
    assert_eq!((c.id, c.count, c.ndescs), (1, 3, 3));
    assert_eq!(
        descs[..3],
        [desc(O2, false), desc(O3, false), desc(I1, true)]
    );
    dev.push_used(1, 6, 3);
    check(
        "used at desc 3",
        &a.read(pd(3), 16),
        &pdesc(0, 6, 1, 0),
        &[P_LEN, P_ID],
    );
    assert_eq!(avail_used_bits(&a, 3), used_bits(true));

    // Wholly on lap 2.
    a.write(
        pd(2),
        &pdesc(I2.addr, I2.len, 0, VIRTQ_DESC_F_WRITE | avail_bits(false)),
    );
    let c = dev.pop(&a, &mut descs).unwrap().unwrap();
    assert_eq!((c.id, c.count, c.ndescs), (0, 1, 1));
    assert_eq!(descs[0], desc(I2, true));
    dev.push_used(0, 7, 1);
    assert_eq!(avail_used_bits(&a, 2), used_bits(false));
    assert!(!dev.has_avail());
}

// ---------------------------------------------------------------------------
// Packed ring, used descriptors.

/// Used descriptors as our device writes them: id, len, AVAIL == USED ==
/// the Device Ring Wrap Counter, in completion order at the device's
/// position (2.8: "Used device descriptors are written in the order in
/// which their processing is complete"), then skipping the list's length
/// (2.8.6: "It then skips forward according to the number of descriptors
/// in the list").
#[test]
fn packed_used_desc_bytes_from_device() {
    let a = Arena::new(0x4000);
    let num = 4;
    let ring = a.mem(0, packed_size(num));
    let mut drv = PackedDriver::new(ring, num, slots(num), None, NO_EVENT_IDX).unwrap();
    let mut dev = PackedDevice::new(ring, num, NO_EVENT_IDX).unwrap();
    let mut descs = [Desc::default(); 8];

    let ida = drv.add(&[O0], &[I0], 10).unwrap(); // descs 0, 1
    let idb = drv.add(&[], &[I1], 11).unwrap(); // desc 2
    let ca = dev.pop(&a, &mut descs).unwrap().unwrap();
    let cb = dev.pop(&a, &mut descs).unwrap().unwrap();
    assert_eq!((ca.id, ca.ndescs, cb.id, cb.ndescs), (ida, 2, idb, 1));

    // B completes first: its used descriptor goes to desc 0 (the device's
    // next position), then A's to desc 1 (0 + B's one descriptor).
    dev.push_used(idb, 0x0a0b_0c0d, 1);
    dev.push_used(ida, 0x0102_0304, 2);
    check(
        "used descriptor of B at desc 0",
        &a.read(pd(0), 16),
        &pdesc(0, 0x0a0b_0c0d, idb, 0),
        &[P_LEN, P_ID],
    );
    check(
        "used descriptor of A at desc 1",
        &a.read(pd(1), 16),
        &pdesc(0, 0x0102_0304, ida, 0),
        &[P_LEN, P_ID],
    );
    assert_eq!(avail_used_bits(&a, 0), used_bits(true));
    assert_eq!(avail_used_bits(&a, 1), used_bits(true));
    // 2.8.6: "VIRTQ_DESC_F_NEXT is reserved in used descriptors"; the spec
    // gives INDIRECT no meaning there either: our device sets neither.
    assert_eq!(
        a.u16_at(pd(0) + 14) & (VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT),
        0
    );
    // Desc 2 was not written by the device: still B's available descriptor.
    check(
        "desc 2 unchanged",
        &a.read(pd(2), 16),
        &pdesc(I1.addr, I1.len, idb, VIRTQ_DESC_F_WRITE | avail_bits(true)),
        P_ALL,
    );
    assert_eq!(drv.get_used().unwrap(), Some((11, 0x0a0b_0c0d)));
    assert_eq!(drv.get_used().unwrap(), Some((10, 0x0102_0304)));
    assert_eq!(drv.get_used().unwrap(), None);
}

/// The WRITE bit of a used descriptor (2.8.3): "In a used descriptor, this
/// bit is used to specify whether any data has been written by the device
/// into any parts of the buffer." and 2.8.4: "Element Length is reserved
/// for used descriptors without the VIRTQ_DESC_F_WRITE flag, and is ignored
/// by drivers." So a used descriptor reporting written bytes has WRITE set.
#[test]
fn packed_used_desc_write_flag() {
    let a = Arena::new(0x4000);
    let num = 4;
    let ring = a.mem(0, packed_size(num));
    let mut drv = PackedDriver::new(ring, num, slots(num), None, NO_EVENT_IDX).unwrap();
    let mut dev = PackedDevice::new(ring, num, NO_EVENT_IDX).unwrap();
    let mut descs = [Desc::default(); 8];

    // Nothing written: WRITE clear, flags exactly AVAIL | USED (0x8080).
    let id = drv.add(&[O0], &[], 1).unwrap();
    let c = dev.pop(&a, &mut descs).unwrap().unwrap();
    dev.push_used(c.id, 0, c.ndescs);
    check(
        "used descriptor, nothing written",
        &a.read(pd(0), 16),
        &pdesc(0, 0, id, used_bits(true)),
        &[P_ID, P_FLAGS],
    );
    assert_eq!(drv.get_used().unwrap(), Some((1, 0)));

    // 0x20 bytes written: WRITE set, flags AVAIL | USED | WRITE (0x8082).
    let id = drv.add(&[O1], &[I0], 2).unwrap();
    let c = dev.pop(&a, &mut descs).unwrap().unwrap();
    dev.push_used(c.id, 0x20, c.ndescs);
    check(
        "used descriptor, 0x20 bytes written (2.8.3: WRITE marks written data)",
        &a.read(pd(1), 16),
        &pdesc(0, 0x20, id, used_bits(true) | VIRTQ_DESC_F_WRITE),
        &[P_LEN, P_ID, P_FLAGS],
    );
}

/// Our driver reading used descriptors encoded per the spec, out of order,
/// and on the second lap (AVAIL == USED == 0).
#[test]
fn packed_driver_reads_spec_used_descs() {
    let a = Arena::new(0x4000);
    let num = 4;
    let ring = a.mem(0, packed_size(num));
    let mut drv = PackedDriver::new(ring, num, slots(num), None, NO_EVENT_IDX).unwrap();

    let ida = drv.add(&[O0, O1], &[I0], 20).unwrap(); // descs 0..2
    let idb = drv.add(&[], &[I1], 21).unwrap(); // desc 3
    assert!(!drv.more_used());
    // B first, at desc 0; then A at desc 1 (after B's single descriptor).
    a.write(
        pd(0),
        &pdesc(0, 0x33, idb, used_bits(true) | VIRTQ_DESC_F_WRITE),
    );
    a.write(
        pd(1),
        &pdesc(0, 0x44, ida, used_bits(true) | VIRTQ_DESC_F_WRITE),
    );
    assert!(drv.more_used());
    assert_eq!(drv.get_used().unwrap(), Some((21, 0x33)));
    assert_eq!(drv.get_used().unwrap(), Some((20, 0x44)));
    assert_eq!(drv.get_used().unwrap(), None);
    assert!(!drv.is_broken());

    // Lap 2: the next buffer goes to desc 0 with USED set, AVAIL clear; the
    // device marks it used with both clear.
    let idc = drv.add(&[], &[I2], 22).unwrap();
    check(
        "lap 2, desc 0",
        &a.read(pd(0), 16),
        &pdesc(I2.addr, I2.len, idc, VIRTQ_DESC_F_WRITE | avail_bits(false)),
        P_ALL,
    );
    assert_eq!(drv.get_used().unwrap(), None);
    a.write(
        pd(0),
        &pdesc(0, 1, idc, used_bits(false) | VIRTQ_DESC_F_WRITE),
    );
    assert_eq!(drv.get_used().unwrap(), Some((22, 1)));
}

// ---------------------------------------------------------------------------
// Packed ring, event suppression (2.8.10, 2.8.14).

/// The Driver Event Suppression structure (Driver Area, at 16 * num here)
/// as our driver writes it.
#[test]
fn packed_driver_event_suppression_bytes() {
    let num = 4;
    let drv_area = num as usize * DESC;

    // Without VIRTIO_F_RING_EVENT_IDX: flags ENABLE / DISABLE only.
    let a = Arena::new(0x4000);
    let ring = a.mem(0, packed_size(num));
    let mut drv = PackedDriver::new(ring, num, slots(num), None, NO_EVENT_IDX).unwrap();
    assert_eq!(a.read(drv_area, 4), event(0, RING_EVENT_FLAGS_ENABLE));
    drv.disable_cb();
    assert_eq!(a.read(drv_area, 4), event(0, RING_EVENT_FLAGS_DISABLE));
    assert!(drv.enable_cb());
    assert_eq!(a.read(drv_area, 4), event(0, RING_EVENT_FLAGS_ENABLE));

    // With it: flags DESC, desc = the descriptor at which the driver wants
    // the event, i.e. where the next used descriptor will be written, with
    // the Device Ring Wrap Counter it will be written with.
    let a = Arena::new(0x4000);
    let ring = a.mem(0, packed_size(num));
    let mut drv = PackedDriver::new(ring, num, slots(num), None, EVENT_IDX).unwrap();
    let mut dev = PackedDevice::new(ring, num, EVENT_IDX).unwrap();
    let mut descs = [Desc::default(); 8];
    assert!(drv.enable_cb());
    assert_eq!(
        a.read(drv_area, 4),
        event(off_wrap(0, true), RING_EVENT_FLAGS_DESC)
    );
    assert_eq!(a.read(drv_area, 4), [0x00, 0x80, 0x02, 0x00]);

    drv.add(&[O0, O1], &[I0], 1).unwrap();
    let c = dev.pop(&a, &mut descs).unwrap().unwrap();
    dev.push_used(c.id, 1, c.ndescs);
    assert_eq!(drv.get_used().unwrap(), Some((1, 1)));
    assert_eq!(
        a.read(drv_area, 4),
        event(off_wrap(3, true), RING_EVENT_FLAGS_DESC),
        "next used descriptor: desc 3, wrap 1"
    );
    drv.disable_cb();
    check(
        "driver area after disable_cb",
        &a.read(drv_area, 4),
        &event(0, RING_EVENT_FLAGS_DISABLE),
        &[("flags", 2, 4)],
    );

    // Around the ring: the next used descriptor is at desc 2 on lap 2.
    drv.add(&[O2, O3], &[I1], 2).unwrap();
    let c = dev.pop(&a, &mut descs).unwrap().unwrap();
    dev.push_used(c.id, 2, c.ndescs);
    assert_eq!(drv.get_used().unwrap(), Some((2, 2)));
    assert!(drv.enable_cb());
    assert_eq!(
        a.read(drv_area, 4),
        event(off_wrap(2, false), RING_EVENT_FLAGS_DESC),
        "next used descriptor: desc 2, wrap 0"
    );
    assert_eq!(a.read(drv_area, 4), [0x02, 0x00, 0x02, 0x00]);
}

/// The Device Event Suppression structure (Device Area, at 16 * num + 4
/// here) as our device writes it.
#[test]
fn packed_device_event_suppression_bytes() {
    let num = 4;
    let dev_area = num as usize * DESC + 4;

    let a = Arena::new(0x4000);
    let ring = a.mem(0, packed_size(num));
    let _drv = PackedDriver::new(ring, num, slots(num), None, NO_EVENT_IDX).unwrap();
    let mut dev = PackedDevice::new(ring, num, NO_EVENT_IDX).unwrap();
    assert_eq!(a.read(dev_area, 4), event(0, RING_EVENT_FLAGS_ENABLE));
    dev.disable_notify();
    assert_eq!(a.read(dev_area, 4), event(0, RING_EVENT_FLAGS_DISABLE));
    assert!(!dev.enable_notify());
    assert_eq!(a.read(dev_area, 4), event(0, RING_EVENT_FLAGS_ENABLE));

    let a = Arena::new(0x4000);
    let ring = a.mem(0, packed_size(num));
    let mut drv = PackedDriver::new(ring, num, slots(num), None, EVENT_IDX).unwrap();
    let mut dev = PackedDevice::new(ring, num, EVENT_IDX).unwrap();
    let mut descs = [Desc::default(); 8];
    // The event is at the next descriptor the driver makes available.
    assert!(!dev.enable_notify());
    assert_eq!(
        a.read(dev_area, 4),
        event(off_wrap(0, true), RING_EVENT_FLAGS_DESC)
    );
    drv.add(&[O0, O1], &[I0], 1).unwrap();
    dev.pop(&a, &mut descs).unwrap().unwrap();
    assert!(!dev.enable_notify());
    assert_eq!(
        a.read(dev_area, 4),
        event(off_wrap(3, true), RING_EVENT_FLAGS_DESC)
    );
    assert_eq!(a.read(dev_area, 4), [0x03, 0x80, 0x02, 0x00]);
    // Disabling after an event position was published writes DISABLE (the
    // position stays): left armed, the driver would notify a device that
    // is awake once it passed the position.
    dev.disable_notify();
    assert_eq!(a.read(dev_area, 4), [0x03, 0x80, 0x01, 0x00]);
    // Lap 2: desc 3 (lap 1), then desc 0 on lap 2 is the next.
    dev.push_used(0, 0, 3);
    drv.get_used().unwrap().unwrap();
    drv.add(&[], &[I1], 2).unwrap();
    dev.pop(&a, &mut descs).unwrap().unwrap();
    assert!(!dev.enable_notify());
    assert_eq!(
        a.read(dev_area, 4),
        event(off_wrap(0, false), RING_EVENT_FLAGS_DESC)
    );
}

/// Our driver's notification decision against Device Event Suppression
/// structures encoded per 2.8.14: "Event will only trigger when this
/// descriptor is made available".
#[test]
fn packed_kick_reads_spec_device_event() {
    let a = Arena::new(0x4000);
    let num = 4;
    let dev_area = num as usize * DESC + 4;
    let ring = a.mem(0, packed_size(num));
    let mut drv = PackedDriver::new(ring, num, slots(num), None, EVENT_IDX).unwrap();
    let mut dev = PackedDevice::new(ring, num, EVENT_IDX).unwrap();
    let mut descs = [Desc::default(); 8];

    // ENABLE: notify.
    drv.add(&[], &[I0], 1).unwrap(); // desc 0
    assert!(drv.kick_prepare(), "flags ENABLE");
    // DISABLE: don't.
    a.write(dev_area, &event(0, RING_EVENT_FLAGS_DISABLE));
    drv.add(&[], &[I0], 2).unwrap(); // desc 1
    assert!(!drv.kick_prepare(), "flags DISABLE");
    // DESC at desc 3, lap 1: not for desc 2, but for desc 3.
    a.write(dev_area, &event(off_wrap(3, true), RING_EVENT_FLAGS_DESC));
    drv.add(&[], &[I0], 3).unwrap(); // desc 2
    assert!(
        !drv.kick_prepare(),
        "event at desc 3, desc 2 made available"
    );
    drv.add(&[], &[I0], 4).unwrap(); // desc 3
    assert!(drv.kick_prepare(), "event at desc 3, desc 3 made available");

    for _ in 0..4 {
        let c = dev.pop(&a, &mut descs).unwrap().unwrap();
        dev.push_used(c.id, 0, c.ndescs);
        drv.get_used().unwrap().unwrap();
    }
    // DESC at desc 1, lap 2.
    a.write(dev_area, &event(off_wrap(1, false), RING_EVENT_FLAGS_DESC));
    drv.add(&[], &[I0], 5).unwrap(); // desc 0, lap 2
    assert!(
        !drv.kick_prepare(),
        "event at desc 1 lap 2, desc 0 made available"
    );
    drv.add(&[], &[I0], 6).unwrap(); // desc 1, lap 2
    assert!(
        drv.kick_prepare(),
        "event at desc 1 lap 2, desc 1 made available"
    );
}

// ---------------------------------------------------------------------------
// Split ring (2.7), for comparison.

/// Spec offsets of a split ring's parts from our driver's addresses, with
/// the spec's alignments (2.7: 16, 2 and 4) and sizes checked.
fn split_areas<S: core::ops::DerefMut<Target = [Slot]>>(
    a: &Arena,
    drv: &SplitDriver<RawMem, S>,
    num: u16,
) -> (usize, usize, usize) {
    let (d, av, u) = drv.addresses();
    let (d, av, u) = (a.off(d), a.off(av), a.off(u));
    let n = num as usize;
    assert!(d % 16 == 0 && av % 2 == 0 && u % 4 == 0);
    assert!(av >= d + 16 * n, "available ring overlaps the table");
    assert!(u >= av + 6 + 2 * n, "used ring overlaps the available ring");
    (d, av, u)
}

/// Our split driver with an indirect pool: the table is `virtq_desc`s
/// chained by `next` from index 0 (2.7.5.3), flags at +12, next at +14.
#[test]
fn split_indirect_table_and_avail_ring_bytes() {
    let a = Arena::new(0x4000);
    let num = 4;
    let ring = a.mem(0, 0x400);
    let pool = a.mem(0x1000, Indirect::<RawMem>::size(num, 4));
    let ind = Indirect::new(pool, num, 4).unwrap();
    let mut drv = SplitDriver::new(ring, num, 4, slots(num), Some(ind), NO_EVENT_IDX).unwrap();
    let (d, av, _) = split_areas(&a, &drv, num);

    let head = drv.add(&[O0, O1], &[I0], 9).unwrap();
    assert!(head < num);
    let hd = d + head as usize * DESC;
    let table = a.u64_at(hd);
    // 2.7.5.3: flags INDIRECT only ("A driver MUST NOT set both
    // VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT"), len = 3 * 16.
    check(
        "split ring descriptor of the indirect buffer",
        &a.read(hd, 16),
        &vdesc(table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0),
        V_NO_NEXT,
    );
    // 2.7.5.3: "The first indirect descriptor is located at start of the
    // indirect descriptor table (index 0), additional indirect descriptors
    // are chained by next." We expect the sequential chain 0 -> 1 -> 2 (the
    // VIRTIO_F_IN_ORDER form; without it any chain from 0 would do).
    let t = a.off(table);
    let want = [
        vdesc(O0.addr, O0.len, VIRTQ_DESC_F_NEXT, 1),
        vdesc(O1.addr, O1.len, VIRTQ_DESC_F_NEXT, 2),
        vdesc(I0.addr, I0.len, VIRTQ_DESC_F_WRITE, 0),
    ];
    for (i, w) in want.iter().enumerate() {
        check(
            &format!("split indirect table entry {i} (struct virtq_desc, 2.7.5)"),
            &a.read(t + i * DESC, 16),
            w,
            if i == 2 { V_NO_NEXT } else { V_ALL },
        );
    }
    // 2.7.6: flags 0, idx 1, ring[0] = head.
    let mut want = Vec::new();
    want.extend_from_slice(&0u16.to_le_bytes());
    want.extend_from_slice(&1u16.to_le_bytes());
    want.extend_from_slice(&head.to_le_bytes());
    assert_eq!(a.read(av, 6), want, "struct virtq_avail");
}

/// Our split device reading a hand-encoded split indirect table, and its
/// used ring element (2.7.8).
#[test]
fn split_device_pops_spec_indirect_table() {
    let a = Arena::new(0x4000);
    let num: u16 = 4;
    let n = num as usize;
    // The legacy layout (2.7.2) with Queue Align 4: the available ring
    // right after the table, the used ring at the next multiple of 4.
    let av = 16 * n;
    let u = (av + 2 * (3 + n) + 3) & !3;
    let ring = a.mem(0, 0x400);
    let mut dev = SplitDevice::new(ring, num, 4, NO_EVENT_IDX).unwrap();
    let table = 0x2000;
    a.write(table, &vdesc(O0.addr, O0.len, VIRTQ_DESC_F_NEXT, 1));
    a.write(table + 16, &vdesc(O1.addr, O1.len, VIRTQ_DESC_F_NEXT, 2));
    a.write(table + 32, &vdesc(I0.addr, I0.len, VIRTQ_DESC_F_WRITE, 0));
    a.write(
        2 * DESC,
        &vdesc(DMA + table as u64, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0),
    );
    a.write(av + 4, &2u16.to_le_bytes()); // ring[0] = 2
    a.write(av + 2, &1u16.to_le_bytes()); // idx = 1
    let mut descs = [Desc::default(); 8];
    assert_eq!(
        dev.pop(&a, &mut descs).unwrap(),
        Some(Chain { id: 2, count: 3 })
    );
    assert_eq!(
        descs[..3],
        [desc(O0, false), desc(O1, false), desc(I0, true)]
    );
    dev.push_used(2, 0x30);
    // 2.7.8: flags 0, idx 1, ring[0] = { id 2, len 0x30 }.
    let mut want = vec![0, 0, 1, 0];
    want.extend_from_slice(&used_elem(2, 0x30));
    assert_eq!(a.read(u, 12), want, "struct virtq_used");
}

/// `used_event` right after the available ring and `avail_event` right
/// after the used ring (2.7.6, 2.7.8), and the flags fields (2.7.7,
/// 2.7.10), for a queue of 4.
#[test]
fn split_event_idx_and_flags_bytes() {
    let num = 4;
    let n = num as usize;

    // With VIRTIO_F_EVENT_IDX.
    let a = Arena::new(0x4000);
    let ring = a.mem(0, 0x400);
    let mut drv = SplitDriver::new(ring, num, 4, slots(num), None, EVENT_IDX).unwrap();
    let mut dev = SplitDevice::new(ring, num, 4, EVENT_IDX).unwrap();
    let (_, av, u) = split_areas(&a, &drv, num);
    let used_event = av + 4 + 2 * n;
    let avail_event = u + 4 + 8 * n;
    let mut descs = [Desc::default(); 8];

    let head = drv.add(&[], &[I0], 1).unwrap();
    dev.pop(&a, &mut descs).unwrap().unwrap();
    assert!(!dev.enable_notify());
    assert_eq!(a.read(avail_event, 2), [1, 0], "avail_event = 1");
    dev.push_used(head, 0x10);
    let mut want = vec![0, 0, 1, 0];
    want.extend_from_slice(&used_elem(u32::from(head), 0x10));
    assert_eq!(a.read(u, 12), want, "struct virtq_used");
    assert_eq!(drv.get_used().unwrap(), Some((1, 0x10)));
    drv.disable_cb();
    assert!(drv.enable_cb());
    assert_eq!(a.read(used_event, 2), [1, 0], "used_event = 1");
    // 2.7.7 / 2.7.10: with EVENT_IDX, the driver and the device "MUST set
    // flags to 0".
    assert_eq!(a.read(av, 2), [0, 0], "avail flags");
    dev.disable_notify();
    assert_eq!(a.read(u, 2), [0, 0], "used flags");
    // Disabling moves the event half the index space ahead (1 + 0x8000),
    // out of the other side's reach, flags untouched.
    assert_eq!(a.read(avail_event, 2), [0x01, 0x80], "avail_event disarmed");
    drv.disable_cb();
    assert_eq!(a.read(used_event, 2), [0x01, 0x80], "used_event disarmed");
    assert_eq!(a.read(av, 2), [0, 0], "avail flags");

    // Without it: flags 1 to suppress, 0 to enable.
    let a = Arena::new(0x4000);
    let ring = a.mem(0, 0x400);
    let mut drv = SplitDriver::new(ring, num, 4, slots(num), None, NO_EVENT_IDX).unwrap();
    let mut dev = SplitDevice::new(ring, num, 4, NO_EVENT_IDX).unwrap();
    let (_, av, u) = split_areas(&a, &drv, num);
    drv.disable_cb();
    assert_eq!(a.u16_at(av), VIRTQ_AVAIL_F_NO_INTERRUPT);
    assert!(drv.enable_cb());
    assert_eq!(a.u16_at(av), 0);
    dev.disable_notify();
    assert_eq!(a.u16_at(u), VIRTQ_USED_F_NO_NOTIFY);
    assert!(!dev.enable_notify());
    assert_eq!(a.u16_at(u), 0);
    assert_eq!(a.u32_at(u + 4), 0, "no used element written");
}
