// SPDX-License-Identifier: GPL-2.0

//! Our split-ring driver against an independent device: rust-vmm's
//! `virtio-queue` (a separately written, Kani-verified device-side
//! implementation) over `vm-memory` guest memory.
//!
//! The ring, the indirect-table pool and every data buffer live in one
//! `GuestMemoryMmap` region at [`GUEST_BASE`]; our driver reaches it through
//! a [`RawMem`] over the region's host mapping, with the guest address as
//! device address, and `virtio_queue::Queue` reaches it through `vm-memory`,
//! exactly as a VMM would. Each side only sees what the other wrote into
//! guest memory. Checked:
//!
//! 1. every descriptor the device walks (direct or through an indirect
//!    table) has the address, length and direction the driver added, in
//!    order; the device's writes and used lengths arrive at the driver;
//! 2. under random interleavings of add / pop / out-of-order completion /
//!    get_used, also across the 16-bit index wrap, every token comes back
//!    exactly once and no descriptor leaks;
//! 3. notification suppression: the driver never suppresses a kick the
//!    device asked for (nor kicks when the device did not ask), an enabled
//!    callback always gets its interrupt, and a system driven only by
//!    notifications returns every buffer; in lock step (every notification
//!    needed) the decisions are checked at every index across the wrap;
//! 4. a full queue completed in an arbitrary order is accepted.
//!
//! Everything runs on one thread: the interleavings are modelled, which is
//! what makes the mix of `vm-memory`'s plain volatile accesses and our
//! atomic ones race-free.

use crate::mem::RawMem;
use crate::split::{Indirect, Options, SplitDriver, SplitLayout};
use crate::{Buf, Desc, Error, Slot};
use core::sync::atomic::Ordering;
use proptest::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::sync::Arc;
use std::vec;
use std::vec::Vec;
use virtio_queue::{DescriptorChain, Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

type Gm = Arc<GuestMemoryMmap>;

/// Guest address of the one memory region.
const GUEST_BASE: u64 = 0x4000_0000;
/// Largest queue size the tests use.
const MAX_NUM: u16 = 256;
/// Largest number of segments of one buffer.
const MAX_SEGS: usize = 16;
/// Offsets in the region: ring, indirect pool, data slots.
const RING_OFF: usize = 0;
const RING_SPACE: usize = 0x4000;
const IND_OFF: usize = RING_OFF + RING_SPACE;
const IND_SPACE: usize = MAX_NUM as usize * MAX_SEGS * crate::DESC_SIZE;
const DATA_OFF: usize = IND_OFF + IND_SPACE;
/// Each in-flight buffer gets a data slot of `MAX_SEGS` segment windows.
const SEG_STRIDE: usize = 512;
const SLOT_STRIDE: usize = SEG_STRIDE * MAX_SEGS;
const MEM_SIZE: usize = DATA_OFF + (MAX_NUM as usize + 1) * SLOT_STRIDE;

/// `avail->flags` bit `VRING_AVAIL_F_NO_INTERRUPT`.
const AVAIL_F_NO_INTERRUPT: u16 = 1;

/// splitmix64: the long runs draw their choices from a seed proptest picks.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Clone, Copy, Debug)]
struct Seg {
    len: u32,
    /// Where in its window the segment starts (modulo the room left).
    skew: u32,
}

#[derive(Clone, Debug)]
struct Shape {
    outs: Vec<Seg>,
    ins: Vec<Seg>,
}

impl Shape {
    fn n(&self) -> usize {
        self.outs.len() + self.ins.len()
    }

    /// Trim to at most `num` segments (no chain may be longer than the
    /// queue, virtio 1.2, 2.7.5.3.1), keeping at least one segment and the
    /// first device-readable one.
    fn fit(&self, num: u16) -> Shape {
        let mut s = self.clone();
        while s.n() > num as usize {
            if s.ins.len() > 1 || (s.ins.len() == 1 && !s.outs.is_empty()) {
                s.ins.pop();
            } else {
                s.outs.pop();
            }
        }
        s
    }
}

fn seg(max_len: u32) -> impl Strategy<Value = Seg> {
    (1..=max_len, any::<u32>()).prop_map(|(len, skew)| Seg { len, skew })
}

fn shape(
    outs: core::ops::RangeInclusive<usize>,
    ins: core::ops::RangeInclusive<usize>,
    max_len: u32,
) -> impl Strategy<Value = Shape> {
    (
        prop::collection::vec(seg(max_len), outs),
        prop::collection::vec(seg(max_len), ins),
    )
        .prop_filter("at least one segment", |(o, i)| {
            !o.is_empty() || !i.is_empty()
        })
        .prop_map(|(outs, ins)| Shape { outs, ins })
}

/// A random shape drawn from `rng` (for the long runs).
fn random_shape(rng: &mut Rng, max_segs: usize, max_len: u32) -> Shape {
    let no = rng.below(max_segs + 1);
    let ni = rng.below(max_segs + 1);
    let mut segs = |n: usize| -> Vec<Seg> {
        (0..n)
            .map(|_| Seg {
                len: 1 + (rng.next() % u64::from(max_len)) as u32,
                skew: rng.next() as u32,
            })
            .collect()
    };
    let outs = segs(no);
    let mut ins = segs(ni);
    if outs.is_empty() && ins.is_empty() {
        ins = segs(1);
    }
    Shape { outs, ins }
}

/// Queue configuration.
#[derive(Clone, Copy, Debug)]
struct Cfg {
    num: u16,
    align: usize,
    event_idx: bool,
    /// Indirect pool with tables of this many descriptors, if any.
    ind_max: Option<u16>,
}

fn cfg(num: impl Strategy<Value = u16>) -> impl Strategy<Value = Cfg> {
    (
        num,
        prop_oneof![Just(4usize), Just(4096usize)],
        any::<bool>(),
        prop_oneof![Just(None), (2u16..=MAX_SEGS as u16).prop_map(Some)],
    )
        .prop_map(|(num, align, event_idx, ind_max)| Cfg {
            num,
            align,
            event_idx,
            ind_max,
        })
}

/// Queue sizes 2..=256.
fn any_num() -> impl Strategy<Value = u16> {
    (1u32..=8).prop_map(|e| 1u16 << e)
}

/// Device-readable data the driver puts in segment `k` of `token`.
fn out_byte(token: usize, k: usize, i: usize) -> u8 {
    ((token.wrapping_mul(131) + k * 17 + i) % 251) as u8 + 1
}

/// What the device writes at byte `i` of the writable part of a chain.
fn in_byte(stamp: u8, i: usize) -> u8 {
    ((usize::from(stamp) * 7 + i * 13) % 255) as u8 + 1
}

/// A buffer the driver made available and has not taken back.
struct Req {
    head: u16,
    slot: usize,
    out: Vec<Buf>,
    inb: Vec<Buf>,
    /// Ring descriptors it occupies.
    ndescs: u16,
}

impl Req {
    fn descs(&self) -> Vec<Desc> {
        let d = |b: &Buf, write| Desc {
            addr: b.addr,
            len: b.len,
            write,
        };
        self.out
            .iter()
            .map(|b| d(b, false))
            .chain(self.inb.iter().map(|b| d(b, true)))
            .collect()
    }
}

/// A chain the device popped and has not completed.
struct Held {
    token: usize,
    chain: DescriptorChain<Gm>,
    descs: Vec<Desc>,
}

/// A chain the device completed that the driver has not taken back.
struct Done {
    token: usize,
    written: u32,
    stamp: u8,
}

/// Our driver and virtio-queue's device over one guest memory, plus the
/// bookkeeping that checks every step of either.
struct Rig {
    // Declared before `gm`: it holds a `RawMem` into the mapping.
    drv: SplitDriver<RawMem, Vec<Slot>>,
    q: Queue,
    gm: Gm,
    cfg: Cfg,
    free_slots: Vec<usize>,
    reqs: HashMap<usize, Req>,
    head_busy: Vec<bool>,
    /// Made available, not yet popped, in avail-ring order.
    avail: VecDeque<usize>,
    held: Vec<Held>,
    /// Completed, not yet taken back, in used-ring order.
    used: VecDeque<Done>,
    back: Vec<bool>,
    next_token: usize,
    /// Successful adds (the driver's `avail->idx`).
    added: u16,
    stamp: u8,
    in_flight_descs: u16,
}

impl Rig {
    fn new(cfg: Cfg) -> Rig {
        let gm = Arc::new(
            GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(GUEST_BASE), MEM_SIZE)]).unwrap(),
        );
        let host = gm.get_host_address(GuestAddress(GUEST_BASE)).unwrap();
        assert_eq!(host as usize % 4096, 0, "mmap is page aligned");
        // SAFETY: the mapping is page aligned, `MEM_SIZE` bytes long, and
        // lives in `gm`, which `Rig` keeps (behind an `Arc` that never moves
        // it) for longer than the driver and its copies of the `RawMem`. The
        // only other accesses are `vm-memory`'s, made from this same thread
        // and so never concurrent with ours: no data race.
        let whole = unsafe { RawMem::new(host, MEM_SIZE, GUEST_BASE) };
        let lay = SplitLayout::new(cfg.num, cfg.align).unwrap();
        assert!(lay.size <= RING_SPACE);
        let ring = whole.slice(RING_OFF, lay.size).unwrap();
        let ind = cfg.ind_max.map(|max| {
            let size = Indirect::<RawMem>::size(cfg.num, max);
            assert!(size <= IND_SPACE);
            Indirect::new(whole.slice(IND_OFF, size).unwrap(), cfg.num, max).unwrap()
        });
        let drv = SplitDriver::new(
            ring,
            cfg.num,
            cfg.align,
            vec![Slot::default(); cfg.num as usize],
            ind,
            Options {
                event_idx: cfg.event_idx,
            },
        )
        .unwrap();
        let (desc, avail, used) = drv.addresses();
        let mut q = Queue::new(MAX_NUM).unwrap();
        q.try_set_size(cfg.num).unwrap();
        q.try_set_desc_table_address(GuestAddress(desc)).unwrap();
        q.try_set_avail_ring_address(GuestAddress(avail)).unwrap();
        q.try_set_used_ring_address(GuestAddress(used)).unwrap();
        q.set_event_idx(cfg.event_idx);
        q.set_ready(true);
        assert!(q.is_valid(&*gm), "virtio-queue rejects our layout");
        Rig {
            drv,
            q,
            gm,
            cfg,
            // One spare, for the add a full queue must refuse.
            free_slots: (0..=MAX_NUM as usize).rev().collect(),
            reqs: HashMap::new(),
            head_busy: vec![false; cfg.num as usize],
            avail: VecDeque::new(),
            held: Vec::new(),
            used: VecDeque::new(),
            back: Vec::new(),
            next_token: 0,
            added: 0,
            stamp: 0,
            in_flight_descs: 0,
        }
    }

    fn num(&self) -> u16 {
        self.cfg.num
    }

    /// Ring descriptors a buffer of `n` segments takes.
    fn ndescs(&self, n: usize) -> u16 {
        match self.cfg.ind_max {
            Some(max) if n > 1 && n <= max as usize => 1,
            _ => n as u16,
        }
    }

    fn check_num_free(&self) {
        assert_eq!(
            self.drv.num_free(),
            self.num() - self.in_flight_descs,
            "num_free disagrees with the descriptors in flight"
        );
    }

    /// Driver: add a buffer of shape `sh` (which must fit the queue).
    /// Returns `false` when the ring has no room for it.
    fn drv_add(&mut self, sh: &Shape) -> bool {
        let n = sh.n();
        assert!(n >= 1 && n <= self.num() as usize && n <= MAX_SEGS);
        let ndescs = self.ndescs(n);
        let free = self.drv.num_free();
        let slot = self
            .free_slots
            .pop()
            .expect("more buffers in flight than the queue holds");
        let token = self.next_token;
        let base = GUEST_BASE + (DATA_OFF + slot * SLOT_STRIDE) as u64;
        let mut bufs = sh
            .outs
            .iter()
            .chain(sh.ins.iter())
            .enumerate()
            .map(|(k, s)| {
                let room = (SEG_STRIDE - s.len as usize) as u32 + 1;
                Buf {
                    addr: base + (k * SEG_STRIDE) as u64 + u64::from(s.skew % room),
                    len: s.len,
                }
            });
        let out: Vec<Buf> = bufs.by_ref().take(sh.outs.len()).collect();
        let inb: Vec<Buf> = bufs.collect();
        for (k, b) in out.iter().enumerate() {
            let data: Vec<u8> = (0..b.len as usize).map(|i| out_byte(token, k, i)).collect();
            self.gm.write_slice(&data, GuestAddress(b.addr)).unwrap();
        }
        for b in &inb {
            self.gm
                .write_slice(&vec![0u8; b.len as usize], GuestAddress(b.addr))
                .unwrap();
        }
        match self.drv.add(&out, &inb, token) {
            Ok(head) => {
                assert!(
                    free >= ndescs,
                    "add succeeded with {free} free descriptors for {ndescs}"
                );
                assert!(head < self.num(), "head {head} outside the queue");
                assert!(
                    !self.head_busy[head as usize],
                    "head {head} already in flight"
                );
                self.head_busy[head as usize] = true;
                self.reqs.insert(
                    token,
                    Req {
                        head,
                        slot,
                        out,
                        inb,
                        ndescs,
                    },
                );
                self.avail.push_back(token);
                self.back.push(false);
                self.next_token += 1;
                self.added = self.added.wrapping_add(1);
                self.in_flight_descs += ndescs;
                self.check_num_free();
                true
            }
            Err(Error::NoSpace) => {
                assert!(
                    free < ndescs,
                    "NoSpace with {free} free descriptors for {ndescs}"
                );
                self.free_slots.push(slot);
                self.check_num_free();
                false
            }
            Err(e) => panic!("add of {n} segments ({sh:?}) failed: {e:?}"),
        }
    }

    /// The descriptors of a chain as virtio-queue walks them.
    fn walk(chain: DescriptorChain<Gm>) -> Vec<Desc> {
        chain
            .map(|d| Desc {
                addr: d.addr().0,
                len: d.len(),
                write: d.is_write_only(),
            })
            .collect()
    }

    /// Device: pop the next available chain and check it against what the
    /// driver added. `false` if there is none.
    fn dev_pop(&mut self) -> bool {
        let Some(chain) = self.q.pop_descriptor_chain(self.gm.clone()) else {
            assert!(
                self.avail.is_empty(),
                "virtio-queue pops nothing with {} buffers available",
                self.avail.len()
            );
            return false;
        };
        let token = self
            .avail
            .pop_front()
            .expect("virtio-queue popped a chain the driver never made available");
        let req = &self.reqs[&token];
        assert_eq!(
            chain.head_index(),
            req.head,
            "chain of token {token} popped at the wrong head"
        );
        let descs = Self::walk(chain.clone());
        assert_eq!(
            descs,
            req.descs(),
            "token {token}: the device walks other descriptors than were added"
        );
        // Gather the device-readable bytes with virtio-queue's Reader.
        let want: Vec<u8> = req
            .out
            .iter()
            .enumerate()
            .flat_map(|(k, b)| (0..b.len as usize).map(move |i| out_byte(token, k, i)))
            .collect();
        let mut rd = chain.clone().reader(&*self.gm).unwrap();
        assert_eq!(
            rd.available_bytes(),
            want.len(),
            "token {token}: readable bytes"
        );
        let mut got = vec![0u8; want.len()];
        rd.read_exact(&mut got).unwrap();
        assert!(
            got == want,
            "token {token}: device read other data than the driver wrote"
        );
        self.held.push(Held {
            token,
            chain,
            descs,
        });
        true
    }

    /// Device: complete held chain `which`, writing some of its writable
    /// bytes (all of them when `r % 4 == 0`).
    fn dev_complete(&mut self, which: usize, r: u64) {
        let h = self.held.remove(which);
        // The driver must not have touched a chain the device still owns.
        assert_eq!(
            Self::walk(h.chain.clone()),
            h.descs,
            "token {}: descriptors changed while in flight",
            h.token
        );
        let writable: u64 = h
            .descs
            .iter()
            .filter(|d| d.write)
            .map(|d| u64::from(d.len))
            .sum();
        let written = if r % 4 == 0 {
            writable
        } else {
            (r >> 2) % (writable + 1)
        } as u32;
        let stamp = self.stamp;
        self.stamp = self.stamp.wrapping_add(1);
        // Scatter into the device-writable segments with virtio-queue's
        // Writer.
        let mut wr = h.chain.clone().writer(&*self.gm).unwrap();
        assert_eq!(
            wr.available_bytes() as u64,
            writable,
            "token {}: writable bytes",
            h.token
        );
        let data: Vec<u8> = (0..written as usize).map(|i| in_byte(stamp, i)).collect();
        wr.write_all(&data).unwrap();
        self.q
            .add_used(&*self.gm, h.chain.head_index(), written)
            .unwrap();
        self.used.push_back(Done {
            token: h.token,
            written,
            stamp,
        });
    }

    /// Driver: take back one used buffer and check it. `false` if there is
    /// none.
    fn drv_get_used(&mut self) -> bool {
        let got = match self.drv.get_used() {
            Ok(got) => got,
            Err(e) => panic!("driver rejected what virtio-queue wrote: {e:?}"),
        };
        let Some((token, len)) = got else {
            assert!(
                self.used.is_empty(),
                "get_used sees nothing with {} buffers used",
                self.used.len()
            );
            assert!(!self.drv.more_used());
            return false;
        };
        let done = self
            .used
            .pop_front()
            .expect("get_used returned a buffer the device never used");
        assert_eq!(token, done.token, "get_used out of used-ring order");
        assert!(!self.back[token], "token {token} came back twice");
        self.back[token] = true;
        assert_eq!(len, done.written, "token {token}: used length");
        let req = self.reqs.remove(&token).unwrap();
        let mut off = 0usize;
        for (k, b) in req.inb.iter().enumerate() {
            let mut data = vec![0u8; b.len as usize];
            self.gm.read_slice(&mut data, GuestAddress(b.addr)).unwrap();
            for (i, &v) in data.iter().enumerate() {
                let want = if off + i < len as usize {
                    in_byte(done.stamp, off + i)
                } else {
                    0
                };
                assert_eq!(v, want, "token {token}: in segment {k} byte {i}");
            }
            off += b.len as usize;
        }
        self.head_busy[req.head as usize] = false;
        self.free_slots.push(req.slot);
        self.in_flight_descs -= req.ndescs;
        self.check_num_free();
        true
    }

    /// Everything the driver added came back; the queue is empty again.
    fn check_all_back(&mut self) {
        assert!(self.avail.is_empty() && self.held.is_empty() && self.used.is_empty());
        if let Some(t) = self.back.iter().position(|&b| !b) {
            panic!("token {t} never came back");
        }
        assert!(self.reqs.is_empty());
        assert_eq!(self.drv.num_free(), self.num(), "descriptors leaked");
        assert!(!self.drv.more_used());
        assert!(!self.drv.is_broken());
        assert_eq!(self.drv.get_used().unwrap(), None);
        assert_eq!(self.q.next_avail(), self.added);
        assert_eq!(self.q.next_used(), self.added);
    }

    fn load16(&self, addr: u64) -> u16 {
        u16::from_le(self.gm.load(GuestAddress(addr), Ordering::Relaxed).unwrap())
    }

    /// `avail->flags` as the device reads it.
    fn avail_flags(&self) -> u16 {
        self.load16(self.q.avail_ring())
    }
}

// ---------------------------------------------------------------------
// 1. Scatter-gather shapes.

fn run_shapes(cfg: Cfg, shapes: &[Shape], seed: u64) {
    let mut rig = Rig::new(cfg);
    let mut rng = Rng(seed);
    let mut i = 0;
    while i < shapes.len() {
        let batch = 1 + rng.below(8);
        let mut added = 0;
        while added < batch && i < shapes.len() && rig.drv_add(&shapes[i].fit(cfg.num)) {
            i += 1;
            added += 1;
        }
        assert!(added > 0, "an empty queue refused a buffer that fits");
        rig.drv.kick_prepare();
        while rig.dev_pop() {}
        while !rig.held.is_empty() {
            rig.dev_complete(0, rng.next());
        }
        rig.q.needs_notification(&*rig.gm).unwrap();
        while rig.drv_get_used() {}
        assert_eq!(rig.drv.num_free(), cfg.num);
    }
    rig.check_all_back();
}

// ---------------------------------------------------------------------
// 2. Random interleavings.

/// Run `total` buffers through the queue, choosing each step with `op`:
/// add, pop, complete any held chain (out of order), take back.
fn run_interleaved(
    cfg: Cfg,
    total: usize,
    mut shape_at: impl FnMut(usize) -> Shape,
    mut op: impl FnMut() -> u64,
) -> Rig {
    let mut rig = Rig::new(cfg);
    let mut steps = 0usize;
    while rig.back.len() < total || !rig.reqs.is_empty() {
        // Every step below does something, and each thing can be done at
        // most `total` times.
        steps += 1;
        assert!(steps <= 4 * total, "no progress");
        let r = op();
        let mut add = |rig: &mut Rig| {
            rig.next_token < total && rig.drv_add(&shape_at(rig.next_token).fit(cfg.num)) && {
                if r & 8 != 0 {
                    rig.drv.kick_prepare();
                }
                true
            }
        };
        let complete = |rig: &mut Rig| {
            !rig.held.is_empty() && {
                let which = (r >> 8) as usize % rig.held.len();
                rig.dev_complete(which, r >> 16);
                if r & 8 != 0 {
                    rig.q.needs_notification(&*rig.gm).unwrap();
                }
                true
            }
        };
        let did = match r % 8 {
            0..=2 => add(&mut rig),
            3 | 4 => rig.dev_pop(),
            5 => complete(&mut rig),
            6 => rig.drv_get_used(),
            _ => {
                let mut did = false;
                while rig.drv_get_used() {
                    did = true;
                }
                did
            }
        };
        if !did {
            // The chosen step had nothing to do: progress another way, so
            // that every schedule ends.
            assert!(
                add(&mut rig) || rig.dev_pop() || complete(&mut rig) || rig.drv_get_used(),
                "nothing to do with {} buffers not back",
                rig.reqs.len()
            );
        }
    }
    rig.check_all_back();
    rig
}

// ---------------------------------------------------------------------
// 3. Notification suppression.

#[derive(Clone, Copy, Debug)]
struct Arm {
    delayed: bool,
    /// Device's `used->idx` and driver's `avail->idx` when armed.
    used_at: u16,
    avail_at: u16,
}

struct Notify {
    rig: Rig,
    // Device model.
    dev_sleeping: bool,
    kick_pending: bool,
    /// Flags mode: virtio-queue last wrote `VRING_USED_F_NO_NOTIFY`.
    vq_no_notify: bool,
    /// Event mode: what virtio-queue last wrote to `avail_event`.
    vq_avail_event: u16,
    /// The driver's `avail->idx` at its last `kick_prepare`.
    kicked_at: u16,
    // Driver model.
    /// Callbacks on, waiting for an interrupt (else polling, callbacks off).
    drv_waiting: bool,
    irq_pending: bool,
    /// `enable_cb[_delayed]()` returned true and no interrupt came since.
    armed: Option<Arm>,
    kicks: usize,
    calls: usize,
}

impl Notify {
    fn new(cfg: Cfg) -> Notify {
        let mut rig = Rig::new(cfg);
        // The device starts asleep with notifications on.
        assert!(!rig.q.enable_notification(&*rig.gm).unwrap());
        let used_at = rig.q.next_used();
        assert!(rig.drv.enable_cb());
        let n = Notify {
            rig,
            dev_sleeping: true,
            kick_pending: false,
            vq_no_notify: false,
            vq_avail_event: 0,
            kicked_at: 0,
            drv_waiting: true,
            irq_pending: false,
            armed: Some(Arm {
                delayed: false,
                used_at,
                avail_at: 0,
            }),
            kicks: 0,
            calls: 0,
        };
        n.check_driver_flags();
        n
    }

    fn event_idx(&self) -> bool {
        self.rig.cfg.event_idx
    }

    /// `avail->flags` says what the driver asked for: with event index
    /// always 0 (virtio 1.2, 2.7.7.1), else NO_INTERRUPT iff callbacks off.
    fn check_driver_flags(&self) {
        let want = if !self.event_idx() && !self.drv_waiting {
            AVAIL_F_NO_INTERRUPT
        } else {
            0
        };
        assert_eq!(self.rig.avail_flags(), want, "avail->flags");
    }

    /// Driver: add up to `k` buffers, then decide on a kick. `false` if
    /// nothing fit.
    fn add_batch(
        &mut self,
        shapes: &mut impl FnMut(usize) -> Shape,
        k: usize,
        total: usize,
    ) -> bool {
        let mut added = 0;
        while added < k && self.rig.next_token < total {
            let sh = shapes(self.rig.next_token).fit(self.rig.num());
            if !self.rig.drv_add(&sh) {
                break;
            }
            added += 1;
        }
        let old = self.kicked_at;
        let new = self.rig.added;
        self.kicked_at = new;
        let kick = self.rig.drv.kick_prepare();
        // What the device asked for, by virtio-queue's writes.
        let needed = added > 0
            && if self.event_idx() {
                // Spec 2.7.10: notify iff avail_event in [old, new).
                new.wrapping_sub(self.vq_avail_event).wrapping_sub(1) < new.wrapping_sub(old)
            } else {
                !self.vq_no_notify
            };
        if self.dev_sleeping && !self.kick_pending && added > 0 {
            assert!(
                needed,
                "model: a sleeping, unkicked device must want a kick"
            );
        }
        assert!(
            kick || !needed,
            "driver suppressed a kick the device asked for (event_idx {}, avail {old}->{new}, \
             avail_event {}, no_notify {}, device sleeping {})",
            self.event_idx(),
            self.vq_avail_event,
            self.vq_no_notify,
            self.dev_sleeping
        );
        assert!(
            !kick || needed,
            "driver kicked though the device asked not to (event_idx {}, avail {old}->{new}, \
             avail_event {}, no_notify {})",
            self.event_idx(),
            self.vq_avail_event,
            self.vq_no_notify
        );
        if kick {
            self.kick_pending = true;
            self.kicks += 1;
        }
        added > 0
    }

    /// Device: complete `count` held chains (random ones), then decide on
    /// an interrupt, and check that decision against the driver's request.
    fn complete(&mut self, count: usize, r: u64) {
        let mut rng = Rng(r);
        for _ in 0..count.min(self.rig.held.len()) {
            let which = rng.below(self.rig.held.len());
            self.rig.dev_complete(which, rng.next());
        }
        let used_now = self.rig.q.next_used();
        let call = self.rig.q.needs_notification(&*self.rig.gm).unwrap();
        if let (Some(arm), false) = (self.armed, call) {
            let since = used_now.wrapping_sub(arm.used_at);
            let outstanding = arm.avail_at.wrapping_sub(arm.used_at);
            assert!(
                arm.delayed,
                "enable_cb() returned true, yet {since} buffers were used without an interrupt \
                 (event_idx {})",
                self.event_idx()
            );
            assert!(
                since < outstanding,
                "enable_cb_delayed() returned true, yet all {outstanding} outstanding buffers \
                 were used without an interrupt (event_idx {})",
                self.event_idx()
            );
        }
        if call {
            self.irq_pending = true;
            self.calls += 1;
            self.armed = None;
        }
    }

    /// One device step, driven by kicks; `true` if it did something.
    fn dev_step(&mut self, r: u64) -> bool {
        if self.dev_sleeping {
            if !self.kick_pending {
                return false;
            }
            self.kick_pending = false;
            self.rig.q.disable_notification(&*self.rig.gm).unwrap();
            if !self.event_idx() {
                self.vq_no_notify = true;
            }
            self.dev_sleeping = false;
            return true;
        }
        if (r % 3 != 0 || self.rig.held.is_empty()) && self.rig.dev_pop() {
            return true;
        }
        if !self.rig.held.is_empty() {
            let count = if r & 4 != 0 { self.rig.held.len() } else { 1 };
            self.complete(count, r >> 3);
            return true;
        }
        // Nothing to do: re-enable notifications and re-check.
        let pending = self.rig.q.enable_notification(&*self.rig.gm).unwrap();
        if self.event_idx() {
            self.vq_avail_event = self.rig.q.next_avail();
        } else {
            self.vq_no_notify = false;
        }
        assert_eq!(pending, !self.rig.avail.is_empty(), "enable_notification");
        if pending {
            self.rig.q.disable_notification(&*self.rig.gm).unwrap();
            if !self.event_idx() {
                self.vq_no_notify = true;
            }
        } else {
            self.dev_sleeping = true;
        }
        true
    }

    /// One driver completion step, driven by interrupts; `true` if it did
    /// something. With `drain`, a waiting driver takes back what is there
    /// with callbacks left on (as drivers draining in their callback do).
    fn drv_step(&mut self, r: u64, drain: bool) -> bool {
        let did = self.drv_step_inner(r, drain);
        self.check_driver_flags();
        did
    }

    fn drv_step_inner(&mut self, r: u64, drain: bool) -> bool {
        if self.drv_waiting {
            let callback_drain = self.irq_pending && r & 2 != 0;
            if callback_drain {
                // Handle the interrupt without turning callbacks off.
                self.irq_pending = false;
                self.armed = None;
            }
            if drain || callback_drain {
                let mut got = 0;
                while self.rig.drv_get_used() {
                    got += 1;
                }
                if got > 0 {
                    // Taking back buffers with callbacks on asks for an
                    // interrupt at the next one (used_event = last_used
                    // with event index; nothing to ask for without): the
                    // next completion must interrupt, or a driver that
                    // drains in its callback never hears of it.
                    self.armed = Some(Arm {
                        delayed: false,
                        used_at: self.rig.q.next_used(),
                        avail_at: self.rig.added,
                    });
                }
                return got > 0 || callback_drain;
            }
            if !self.irq_pending {
                return false;
            }
            self.irq_pending = false;
            self.armed = None;
            self.rig.drv.disable_cb();
            self.drv_waiting = false;
            return true;
        }
        if self.rig.drv_get_used() {
            return true;
        }
        let delayed = r & 1 != 0;
        let used_at = self.rig.q.next_used();
        let avail_at = self.rig.added;
        let quiet = if delayed {
            self.rig.drv.enable_cb_delayed()
        } else {
            self.rig.drv.enable_cb()
        };
        if !delayed || !quiet {
            assert_eq!(
                quiet,
                self.rig.used.is_empty(),
                "enable_cb{}() on {} pending buffers",
                if delayed { "_delayed" } else { "" },
                self.rig.used.len()
            );
        }
        if quiet {
            self.drv_waiting = true;
            self.armed = Some(Arm {
                delayed,
                used_at,
                avail_at,
            });
        } else {
            self.rig.drv.disable_cb();
        }
        true
    }
}

fn run_notify(
    cfg: Cfg,
    total: usize,
    mut shapes: impl FnMut(usize) -> Shape,
    mut op: impl FnMut() -> u64,
) {
    let mut n = Notify::new(cfg);
    // Phase 1: random interleaving while the driver adds.
    let mut steps = 0usize;
    while n.rig.next_token < total {
        steps += 1;
        assert!(steps < 100 * total + 10_000, "no progress");
        let r = op();
        let did = match r % 5 {
            2 => n.dev_step(r >> 3),
            3 => n.drv_step(r >> 3, false),
            4 => n.drv_step(r >> 3, r & 8 != 0),
            _ => false,
        };
        if did {
            continue;
        }
        let k = 1 + (r >> 4) as usize % 4;
        if !n.add_batch(&mut shapes, k, total) {
            // Full: only a notification can make progress now.
            let progressed = n.drv_step(1, false) || n.dev_step(r >> 5);
            assert!(
                progressed,
                "lost notification: queue full, device sleeping {} (kick pending {}), \
                 driver waiting {} (irq pending {})",
                n.dev_sleeping, n.kick_pending, n.drv_waiting, n.irq_pending
            );
        }
    }
    // Phase 2: only notifications drive progress; everything must return.
    let mut idle = 0;
    let mut steps = 0usize;
    while idle < 3 {
        steps += 1;
        assert!(steps < 100 * total + 10_000, "no progress");
        let r = op();
        let a = n.dev_step(r >> 3);
        let b = n.drv_step(r >> 3, false);
        idle = if a || b { 0 } else { idle + 1 };
    }
    assert!(
        n.rig.reqs.is_empty(),
        "lost notification: {} buffers never came back (device sleeping {}, driver waiting {}, \
         {} popped, {} used)",
        n.rig.reqs.len(),
        n.dev_sleeping,
        n.drv_waiting,
        n.rig.held.len(),
        n.rig.used.len()
    );
    n.rig.check_all_back();
    assert!(n.kicks <= total && n.calls <= total);
}

/// Lock step: the driver adds a batch while the device sleeps, the device
/// wakes on the kick, drains and sleeps again, the driver takes the
/// interrupt, drains and re-enables. Every kick and every interrupt is then
/// needed, so the exact suppression decisions are checked at every index,
/// the 16-bit wrap included.
fn run_lockstep(cfg: Cfg, total: usize, seed: u64) {
    let mut n = Notify::new(cfg);
    let mut rng = Rng(seed);
    let mut shapes = Rng(seed ^ 0x5eed);
    let mut shape = |_| random_shape(&mut shapes, 2, 8);
    while n.rig.next_token < total {
        assert!(n.dev_sleeping && !n.kick_pending && n.drv_waiting);
        let k = 1 + rng.below(n.rig.num() as usize);
        assert!(
            n.add_batch(&mut shape, k, total),
            "an empty queue refused a batch"
        );
        assert!(n.kick_pending, "no kick for a sleeping device");
        // Pop first (r % 3 != 0), then complete everything (r & 4).
        while n.dev_step(5) {}
        assert!(n.dev_sleeping && n.rig.held.is_empty());
        assert!(n.irq_pending, "no interrupt for an armed driver");
        // Alternate between disabling callbacks and draining with them on,
        // and between enable_cb() and enable_cb_delayed().
        let r = rng.next();
        while n.drv_step(r, false) {}
        assert!(n.rig.used.is_empty() && n.rig.reqs.is_empty());
    }
    n.rig.check_all_back();
    assert_eq!(n.kicks, n.calls);
}

// ---------------------------------------------------------------------
// 4. A full queue completed in any order.

fn run_full_permuted(cfg: Cfg, rounds: &[Vec<Shape>], seed: u64) {
    let mut rig = Rig::new(cfg);
    let mut rng = Rng(seed);
    let one = Shape {
        outs: Vec::new(),
        ins: vec![Seg { len: 8, skew: 0 }],
    };
    for shapes in rounds {
        // Fill with the round's shapes, then top up with single segments.
        let mut i = 0;
        while rig.drv_add(&shapes[i % shapes.len()].fit(cfg.num)) {
            i += 1;
        }
        while rig.drv.num_free() > 0 {
            assert!(rig.drv_add(&one), "a free descriptor refused one segment");
        }
        assert!(!rig.drv_add(&one), "a full queue took another buffer");
        rig.drv.kick_prepare();
        while rig.dev_pop() {}
        assert_eq!(rig.held.len(), rig.reqs.len());
        // Complete in a random order, the driver taking some back between.
        while !rig.held.is_empty() {
            let which = rng.below(rig.held.len());
            rig.dev_complete(which, rng.next());
            if rng.below(4) == 0 {
                rig.q.needs_notification(&*rig.gm).unwrap();
                for _ in 0..rng.below(3) {
                    rig.drv_get_used();
                }
            }
        }
        while rig.drv_get_used() {}
        assert_eq!(rig.drv.num_free(), cfg.num);
    }
    rig.check_all_back();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// 1. Every descriptor virtio-queue walks is the one we added, and what
    /// it writes arrives.
    #[test]
    fn vmm_sg_shapes(
        cfg in cfg(any_num()),
        shapes in prop::collection::vec(shape(1..=8, 0..=8, SEG_STRIDE as u32), 1..48),
        seed in any::<u64>(),
    ) {
        run_shapes(cfg, &shapes, seed);
    }

    /// 2. Random interleavings of add / pop / out-of-order completion /
    /// get_used.
    #[test]
    fn vmm_interleaved(
        cfg in cfg(any_num()),
        shapes in prop::collection::vec(shape(0..=8, 0..=8, 256), 1..32),
        total in 1usize..400,
        ops in prop::collection::vec(any::<u64>(), 1..256),
    ) {
        let mut ops = ops.into_iter().cycle();
        run_interleaved(cfg, total, |t| shapes[t % shapes.len()].clone(), || ops.next().unwrap());
    }

    /// 3. Kicks and interrupts: neither side suppresses a notification the
    /// other asked for, and notifications alone bring every buffer back.
    #[test]
    fn vmm_notification_agreement(
        cfg in cfg(any_num()),
        shapes in prop::collection::vec(shape(0..=4, 0..=4, 64), 1..16),
        total in 1usize..400,
        ops in prop::collection::vec(any::<u64>(), 1..128),
    ) {
        let mut ops = ops.into_iter().cycle();
        run_notify(cfg, total, |t| shapes[t % shapes.len()].clone(), || ops.next().unwrap());
    }

    /// 4. A full queue, completed in a random permutation, several rounds
    /// (so later chains are built from a scrambled free list).
    #[test]
    fn vmm_full_queue_any_order(
        cfg in cfg(any_num()),
        rounds in prop::collection::vec(
            prop::collection::vec(shape(0..=8, 0..=8, 64), 1..8),
            1..5,
        ),
        seed in any::<u64>(),
    ) {
        run_full_permuted(cfg, &rounds, seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]

    /// 2, long: past the 16-bit wrap of both ring indices on a small queue.
    #[test]
    fn vmm_interleaved_index_wrap(
        num in prop_oneof![Just(2u16), Just(4), Just(8)],
        event_idx in any::<bool>(),
        ind_max in prop_oneof![Just(None), Just(Some(2u16)), Just(Some(4))],
        seed in any::<u64>(),
    ) {
        let cfg = Cfg { num, align: 4, event_idx, ind_max };
        let total = 65_536 + 300 + (seed % 700) as usize;
        let mut shapes = Rng(seed ^ 0x5eed);
        let mut ops = Rng(seed);
        let rig = run_interleaved(
            cfg,
            total,
            |_| random_shape(&mut shapes, 3, 16),
            || ops.next(),
        );
        // Both 16-bit indices went past 65535.
        prop_assert!(rig.next_token > 65_536);
        prop_assert_eq!(rig.q.next_used(), (rig.next_token % 65_536) as u16);
    }

    /// 3, long: kick and interrupt decisions in lock step, across the
    /// 16-bit wrap.
    #[test]
    fn vmm_notification_lockstep_wrap(
        num in prop_oneof![Just(2u16), Just(4), Just(8)],
        event_idx in any::<bool>(),
        ind_max in prop_oneof![Just(None), Just(Some(2u16))],
        seed in any::<u64>(),
    ) {
        let cfg = Cfg { num, align: 4096, event_idx, ind_max };
        run_lockstep(cfg, 65_536 + 64 + (seed % 300) as usize, seed);
    }

    /// 3, long: notification agreement across the 16-bit wrap.
    #[test]
    fn vmm_notification_index_wrap(
        num in prop_oneof![Just(2u16), Just(4), Just(8)],
        event_idx in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let cfg = Cfg { num, align: 4, event_idx, ind_max: Some(4) };
        let total = 65_536 + 300 + (seed % 700) as usize;
        let mut shapes = Rng(seed ^ 0x5eed);
        let mut ops = Rng(seed);
        run_notify(cfg, total, |_| random_shape(&mut shapes, 2, 16), || ops.next());
    }
}
