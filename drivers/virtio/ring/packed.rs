// SPDX-License-Identifier: GPL-2.0

//! The packed virtqueue (virtio 1.2, section 2.8), driver and device side.
//!
//! Layout in one region:
//!
//! ```text
//! desc  [num] { addr: le64, len: le32, id: le16, flags: le16 }   align 16
//! driver event suppression { off_wrap: le16, flags: le16 }       (driver writes)
//! device event suppression { off_wrap: le16, flags: le16 }       (device writes)
//! ```
//!
//! A descriptor is available when its AVAIL flag equals the driver's wrap
//! counter and USED differs; used when AVAIL == USED == the wrap counter.

use super::{
    segments,
    split::{Indirect, Options},
    total_len, vring_need_event, BrokenFlag, Buf, Desc, DeviceMemory, Error, Fault, Result,
    RingMem, Slot, UsedLen, DESC_SIZE, MAX_QUEUE_SIZE, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE,
};
use core::ops::DerefMut;

/// Descriptor flag: available (compared with the driver's wrap counter).
pub const VRING_PACKED_DESC_F_AVAIL: u16 = 1 << 7;
/// Descriptor flag: used (compared with the device's wrap counter).
pub const VRING_PACKED_DESC_F_USED: u16 = 1 << 15;
/// Event suppression: notifications on.
pub const VRING_PACKED_EVENT_FLAG_ENABLE: u16 = 0;
/// Event suppression: notifications off.
pub const VRING_PACKED_EVENT_FLAG_DISABLE: u16 = 1;
/// Event suppression: notify at the descriptor in `off_wrap`.
pub const VRING_PACKED_EVENT_FLAG_DESC: u16 = 2;
/// Event suppression: bit of `off_wrap` holding the wrap counter.
pub const VRING_PACKED_EVENT_F_WRAP_CTR: u16 = 15;

/// Where the parts of a packed ring lie in its memory region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedLayout {
    /// Queue size (any value from 1 to 32768).
    pub num: u16,
    /// Offset of the descriptor ring (always 0).
    pub desc: usize,
    /// Offset of the driver event suppression structure.
    pub driver: usize,
    /// Offset of the device event suppression structure.
    pub device: usize,
    /// Total bytes.
    pub size: usize,
}

impl PackedLayout {
    /// The layout of a packed ring of `num` descriptors.
    pub fn new(num: u16) -> Result<Self> {
        if num == 0 || num > MAX_QUEUE_SIZE {
            return Err(Error::Invalid);
        }
        let d = num as usize * DESC_SIZE;
        Ok(PackedLayout {
            num,
            desc: 0,
            driver: d,
            device: d + 4,
            size: d + 8,
        })
    }

    #[inline]
    fn d(&self, pos: u16) -> usize {
        self.desc + pos as usize * DESC_SIZE
    }
}

#[inline]
fn avail_flags(wrap: bool) -> u16 {
    if wrap {
        VRING_PACKED_DESC_F_AVAIL
    } else {
        VRING_PACKED_DESC_F_USED
    }
}

#[inline]
fn used_flags(wrap: bool) -> u16 {
    if wrap {
        VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED
    } else {
        0
    }
}

#[inline]
fn is_used(flags: u16, wrap: bool) -> bool {
    let a = flags & VRING_PACKED_DESC_F_AVAIL != 0;
    let u = flags & VRING_PACKED_DESC_F_USED != 0;
    a == u && u == wrap
}

/// Advance ring position `pos` with wrap counter `wrap` by `n`.
#[inline]
fn advance(num: u16, pos: u16, wrap: bool, n: u16) -> (u16, bool) {
    let p = u32::from(pos) + u32::from(n);
    if p >= u32::from(num) {
        ((p - u32::from(num)) as u16, !wrap)
    } else {
        (p as u16, wrap)
    }
}

#[inline]
fn off_wrap(pos: u16, wrap: bool) -> u16 {
    pos | (u16::from(wrap) << VRING_PACKED_EVENT_F_WRAP_CTR)
}

/// The notification decision against an event suppression structure at
/// `ev`: `new` is the current position (lap `wrap`), `added` how many
/// descriptors were made available/used since the last decision.
fn need_event<M: RingMem>(mem: &M, ev: usize, num: u16, new: u16, wrap: bool, added: u32) -> bool {
    if added == 0 {
        return false;
    }
    let flags = mem.load16(ev + 2);
    if flags != VRING_PACKED_EVENT_FLAG_DESC {
        return flags != VRING_PACKED_EVENT_FLAG_DISABLE;
    }
    // The other side writes the position, then (wmb) the flags that make
    // it count: read them in the opposite order, or a DESC just written
    // could come with the position before it (QEMU's
    // vring_packed_event_read() has the same smp_rmb()).
    mem.rmb();
    if added >= u32::from(num) {
        // More than a lap since the last decision: the event is behind us.
        return true;
    }
    let ow = mem.load16(ev);
    let mut event = ow & !(1 << VRING_PACKED_EVENT_F_WRAP_CTR);
    if (ow >> VRING_PACKED_EVENT_F_WRAP_CTR != 0) != wrap {
        // The event index is on the previous lap: number it linearly.
        event = event.wrapping_sub(num);
    }
    vring_need_event(event, new, new.wrapping_sub(added as u16))
}

/// Write a packed indirect table for `out` + `inb` at `slot` of the pool;
/// returns its device address and byte length.
///
/// The entries are `struct pvirtq_desc` (virtio 1.2, 2.8.7; driver rules in
/// 2.8.19): `addr` at 0,
/// `len` at 8, `id` at 12 (unused: written 0), `flags` at 14, of which only
/// `VIRTQ_DESC_F_WRITE` is meaningful. There is no `next`: the table is
/// read in order and holds `len / 16` entries.
fn fill_indirect<M: RingMem>(ind: &Indirect<M>, slot: u16, out: &[Buf], inb: &[Buf]) -> (u64, u32) {
    let base = ind.table(slot);
    let n = out.len() + inb.len();
    for (i, (b, w)) in segments(out, inb).enumerate() {
        let d = base + i * DESC_SIZE;
        ind.mem.store64(d, b.addr);
        ind.mem.store32(d + 8, b.len);
        ind.mem.store16(d + 12, 0);
        ind.mem.store16(d + 14, w);
    }
    (ind.table_addr(slot), (n * DESC_SIZE) as u32)
}

/// Driver side of a packed virtqueue.
///
/// `S` is the private bookkeeping, one [`Slot`] per buffer id.
pub struct PackedDriver<M: RingMem, S: DerefMut<Target = [Slot]>> {
    mem: M,
    lay: PackedLayout,
    slots: S,
    indirect: Option<Indirect<M>>,
    opts: Options,
    free_id: u16,
    num_free: u16,
    next_avail: u16,
    avail_wrap: bool,
    last_used: u16,
    used_wrap: bool,
    /// Descriptors made available since the last kick decision.
    num_added: u32,
    event_flags: u16,
    used_len: UsedLen,
    broken: BrokenFlag,
}

impl<M: RingMem, S: DerefMut<Target = [Slot]>> PackedDriver<M, S> {
    /// Set up a packed ring of `num` descriptors in `mem` (zeroed here),
    /// with private state `slots` (at least `num` entries) and optionally a
    /// pool of indirect tables (one per buffer id).
    pub fn new(
        mem: M,
        num: u16,
        mut slots: S,
        indirect: Option<Indirect<M>>,
        opts: Options,
    ) -> Result<Self> {
        let lay = PackedLayout::new(num)?;
        if mem.len() < lay.size || mem.dma_addr() % 16 != 0 || slots.len() < num as usize {
            return Err(Error::BadMemory);
        }
        if let Some(ind) = &indirect {
            if ind.mem.len() < Indirect::<M>::size(num, ind.max) {
                return Err(Error::BadMemory);
            }
        }
        for off in (0..lay.size).step_by(2) {
            mem.store16(off, 0);
        }
        for (i, s) in slots.iter_mut().take(num as usize).enumerate() {
            *s = Slot {
                next: (i as u16).wrapping_add(1),
                ..Slot::default()
            };
        }
        Ok(PackedDriver {
            mem,
            lay,
            slots,
            indirect,
            opts,
            free_id: 0,
            num_free: num,
            next_avail: 0,
            avail_wrap: true,
            last_used: 0,
            used_wrap: true,
            num_added: 0,
            event_flags: VRING_PACKED_EVENT_FLAG_ENABLE,
            used_len: UsedLen::default(),
            broken: BrokenFlag::default(),
        })
    }

    /// The ring's layout.
    pub fn layout(&self) -> &PackedLayout {
        &self.lay
    }

    /// The "next" part of the notification data
    /// (`VIRTIO_F_NOTIFICATION_DATA`, virtio 1.2, 2.9): the offset of the
    /// next descriptor to be made available in bits 0..15 and the driver's
    /// wrap counter in bit 15. The value to write is
    /// `next << 16 | queue_index`.
    pub fn notification_data(&self) -> u16 {
        (self.next_avail & 0x7fff) | (u16::from(self.avail_wrap) << 15)
    }

    /// Queue size.
    pub fn num(&self) -> u16 {
        self.lay.num
    }

    /// Free descriptors.
    pub fn num_free(&self) -> u16 {
        self.num_free
    }

    /// Whether a fault marked the queue broken.
    pub fn is_broken(&self) -> bool {
        self.broken.is_broken()
    }

    /// Mark the queue broken; further operations fail.
    pub fn set_broken(&mut self) {
        self.broken.set();
    }

    /// See [`SplitDriver::set_strict_used_len`].
    ///
    /// [`SplitDriver::set_strict_used_len`]: super::split::SplitDriver::set_strict_used_len
    pub fn set_strict_used_len(&mut self, strict: bool) {
        self.used_len.strict = strict;
    }

    /// How many used lengths were clamped to the buffer's writable size.
    pub fn used_len_clamped(&self) -> u32 {
        self.used_len.clamped
    }

    /// Make a buffer available (see [`SplitDriver::add`]). Returns its id.
    ///
    /// [`SplitDriver::add`]: super::split::SplitDriver::add
    pub fn add(&mut self, out: &[Buf], inb: &[Buf], token: usize) -> Result<u16> {
        self.broken.check()?;
        let n = out.len() + inb.len();
        // No chain, direct or through an indirect table, may be longer than
        // the queue (virtio 1.2, 2.8.19 and 2.8.22.1).
        if n == 0 || n > self.lay.num as usize {
            return Err(Error::Invalid);
        }
        let use_indirect = match &self.indirect {
            Some(ind) => n > 1 && n <= ind.max as usize,
            None => false,
        };
        let ndescs = if use_indirect { 1 } else { n as u16 };
        if self.num_free < ndescs {
            return Err(Error::NoSpace);
        }
        let id = self.free_id;
        let head = self.next_avail;
        let head_flags;
        if use_indirect {
            let ind = self.indirect.as_ref().ok_or(Error::Invalid)?;
            let (addr, len) = fill_indirect(ind, id, out, inb);
            let d = self.lay.d(head);
            self.mem.store64(d, addr);
            self.mem.store32(d + 8, len);
            self.mem.store16(d + 12, id);
            head_flags = VRING_DESC_F_INDIRECT | avail_flags(self.avail_wrap);
        } else {
            let (mut pos, mut wrap) = (head, self.avail_wrap);
            let mut hf = 0;
            for (k, (b, w)) in segments(out, inb).enumerate() {
                let more = if k + 1 < n { VRING_DESC_F_NEXT } else { 0 };
                let flags = w | more | avail_flags(wrap);
                let d = self.lay.d(pos);
                self.mem.store64(d, b.addr);
                self.mem.store32(d + 8, b.len);
                self.mem.store16(d + 12, id);
                if k == 0 {
                    hf = flags;
                } else {
                    self.mem.store16(d + 14, flags);
                }
                (pos, wrap) = advance(self.lay.num, pos, wrap, 1);
            }
            head_flags = hf;
        }
        (self.next_avail, self.avail_wrap) =
            advance(self.lay.num, self.next_avail, self.avail_wrap, ndescs);
        self.free_id = self.slots[id as usize].next;
        self.num_free -= ndescs;
        self.num_added = self.num_added.saturating_add(u32::from(ndescs));
        let s = &mut self.slots[id as usize];
        s.token = token;
        s.ndescs = ndescs;
        s.in_len = total_len(inb);
        // Publish: every descriptor of the chain before the head's flags.
        self.mem.wmb();
        self.mem.store16(self.lay.d(head) + 14, head_flags);
        Ok(id)
    }

    /// Whether the device must be notified of the buffers added since the
    /// last call.
    pub fn kick_prepare(&mut self) -> bool {
        self.mem.mb();
        let added = core::mem::take(&mut self.num_added);
        need_event(
            &self.mem,
            self.lay.device,
            self.lay.num,
            self.next_avail,
            self.avail_wrap,
            added,
        )
    }

    fn used_at(&self, pos: u16, wrap: bool) -> bool {
        is_used(self.mem.load16(self.lay.d(pos) + 14), wrap)
    }

    /// Whether a used buffer is waiting, or something [`get_used`] would
    /// report as a fault (the oldest buffer's descriptor with an AVAIL flag
    /// that is not this lap's): an interrupt handler that checks this
    /// first (as `vring_interrupt()` does) must not miss a misbehaving
    /// device.
    ///
    /// [`get_used`]: PackedDriver::get_used
    pub fn more_used(&self) -> bool {
        if self.num_free == self.lay.num {
            return false;
        }
        let flags = self.mem.load16(self.lay.d(self.last_used) + 14);
        let a = flags & VRING_PACKED_DESC_F_AVAIL != 0;
        let u = flags & VRING_PACKED_DESC_F_USED != 0;
        a != self.used_wrap || u == self.used_wrap
    }

    /// Take the next used buffer: its token and the length the device
    /// wrote. `Ok(None)` when there is none.
    pub fn get_used(&mut self) -> Result<Option<(usize, u32)>> {
        self.broken.check()?;
        if self.num_free == self.lay.num {
            return Ok(None);
        }
        let d = self.lay.d(self.last_used);
        let flags = self.mem.load16(d + 14);
        let a = flags & VRING_PACKED_DESC_F_AVAIL != 0;
        let u = flags & VRING_PACKED_DESC_F_USED != 0;
        // We made this position available on the current lap: it is either
        // still ours (AVAIL = lap, USED = !lap) or used (both = lap).
        if a != self.used_wrap {
            return Err(self.broken.fault(Fault::WrapCounter {
                pos: self.last_used,
                flags,
            }));
        }
        if u != self.used_wrap {
            return Ok(None);
        }
        self.mem.rmb();
        let id = u32::from(self.mem.load16(d + 12));
        let len = self.mem.load32(d + 8);
        if id >= u32::from(self.lay.num) {
            return Err(self.broken.fault(Fault::UsedIdOutOfRange { id }));
        }
        let s = self.slots[id as usize];
        if s.ndescs == 0 {
            return Err(self.broken.fault(Fault::UsedIdNotInFlight { id }));
        }
        let len = match self.used_len.check(id, len, s.in_len) {
            Ok(len) => len,
            Err(f) => return Err(self.broken.fault(f)),
        };
        (self.last_used, self.used_wrap) =
            advance(self.lay.num, self.last_used, self.used_wrap, s.ndescs);
        self.free_id_slot(id as u16);
        // As in the split ring (and virtqueue_get_buf_ctx_packed()): the
        // new event position must be visible before the caller looks for
        // the next used descriptor.
        if self.event_flags == VRING_PACKED_EVENT_FLAG_DESC {
            self.mem
                .store16(self.lay.driver, off_wrap(self.last_used, self.used_wrap));
            self.mem.mb();
        }
        Ok(Some((s.token, len)))
    }

    fn free_id_slot(&mut self, id: u16) {
        let s = &mut self.slots[id as usize];
        self.num_free += s.ndescs;
        s.ndescs = 0;
        s.next = self.free_id;
        self.free_id = id;
    }

    fn set_event_flags(&mut self, f: u16) {
        if self.event_flags != f {
            self.event_flags = f;
            self.mem.store16(self.lay.driver + 2, f);
        }
    }

    /// Ask the device not to interrupt.
    pub fn disable_cb(&mut self) {
        self.set_event_flags(VRING_PACKED_EVENT_FLAG_DISABLE);
    }

    /// Re-enable interrupts; returns the opaque position for [`poll`].
    ///
    /// [`poll`]: Self::poll
    pub fn enable_cb_prepare(&mut self) -> u16 {
        if self.opts.event_idx {
            self.mem
                .store16(self.lay.driver, off_wrap(self.last_used, self.used_wrap));
            // The event index before the flag that makes it count.
            self.mem.wmb();
        }
        self.set_event_flags(if self.opts.event_idx {
            VRING_PACKED_EVENT_FLAG_DESC
        } else {
            VRING_PACKED_EVENT_FLAG_ENABLE
        });
        off_wrap(self.last_used, self.used_wrap)
    }

    /// Whether buffers were used after `enable_cb_prepare` returned `pos`.
    pub fn poll(&self, pos: u16) -> bool {
        self.mem.mb();
        let p = pos & !(1 << VRING_PACKED_EVENT_F_WRAP_CTR);
        self.used_at(p, pos >> VRING_PACKED_EVENT_F_WRAP_CTR != 0)
    }

    /// Re-enable interrupts; `false` if buffers are already pending (the
    /// caller must process them).
    pub fn enable_cb(&mut self) -> bool {
        let pos = self.enable_cb_prepare();
        !self.poll(pos)
    }

    /// Re-enable interrupts for when about 3/4 of the outstanding buffers
    /// are used; `false` if buffers are already pending.
    pub fn enable_cb_delayed(&mut self) -> bool {
        if self.opts.event_idx {
            let bufs = u32::from(self.lay.num - self.num_free) * 3 / 4;
            let (p, w) = advance(self.lay.num, self.last_used, self.used_wrap, bufs as u16);
            self.mem.store16(self.lay.driver, off_wrap(p, w));
            self.mem.wmb();
        }
        self.set_event_flags(if self.opts.event_idx {
            VRING_PACKED_EVENT_FLAG_DESC
        } else {
            VRING_PACKED_EVENT_FLAG_ENABLE
        });
        self.mem.mb();
        !self.more_used()
    }

    /// Take back one buffer the device never used (after a device reset).
    pub fn detach_unused(&mut self) -> Option<usize> {
        let id = (0..self.lay.num).find(|&i| self.slots[i as usize].ndescs != 0)?;
        let token = self.slots[id as usize].token;
        self.free_id_slot(id);
        Some(token)
    }

    /// Device addresses of the descriptor ring, driver and device areas.
    pub fn addresses(&self) -> (u64, u64, u64) {
        let b = self.mem.dma_addr();
        (
            b + self.lay.desc as u64,
            b + self.lay.driver as u64,
            b + self.lay.device as u64,
        )
    }
}

/// A chain the device took from a packed ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedChain {
    /// Buffer id (return it with `push_used`).
    pub id: u16,
    /// Number of descriptors written to the caller's slice.
    pub count: usize,
    /// Ring descriptors the chain occupies (return it with `push_used`).
    pub ndescs: u16,
}

/// Device side of a packed virtqueue (for tests and user-space peers).
pub struct PackedDevice<M: RingMem> {
    mem: M,
    lay: PackedLayout,
    opts: Options,
    next_avail: u16,
    avail_wrap: bool,
    used_pos: u16,
    used_wrap: bool,
    /// Descriptors used since the last notification decision.
    num_used: u32,
    /// What we last wrote to the device event suppression flags.
    event_flags: u16,
    broken: BrokenFlag,
}

impl<M: RingMem> PackedDevice<M> {
    /// Attach to a packed ring the driver set up in `mem`.
    pub fn new(mem: M, num: u16, opts: Options) -> Result<Self> {
        let lay = PackedLayout::new(num)?;
        if mem.len() < lay.size {
            return Err(Error::BadMemory);
        }
        Ok(PackedDevice {
            mem,
            lay,
            opts,
            next_avail: 0,
            avail_wrap: true,
            used_pos: 0,
            used_wrap: true,
            num_used: 0,
            event_flags: VRING_PACKED_EVENT_FLAG_ENABLE,
            broken: BrokenFlag::default(),
        })
    }

    /// Whether a fault marked the queue broken.
    pub fn is_broken(&self) -> bool {
        self.broken.is_broken()
    }

    fn avail_at(&self, pos: u16, wrap: bool) -> bool {
        let f = self.mem.load16(self.lay.d(pos) + 14);
        (f & VRING_PACKED_DESC_F_AVAIL != 0) == wrap && (f & VRING_PACKED_DESC_F_USED != 0) != wrap
    }

    /// Whether the driver has made a buffer available that was not taken.
    pub fn has_avail(&self) -> bool {
        self.avail_at(self.next_avail, self.avail_wrap)
    }

    /// Take the next available chain into `descs`.
    pub fn pop<D: DeviceMemory>(
        &mut self,
        dm: &D,
        descs: &mut [Desc],
    ) -> Result<Option<PackedChain>> {
        self.broken.check()?;
        if !self.avail_at(self.next_avail, self.avail_wrap) {
            return Ok(None);
        }
        self.mem.rmb();
        let (mut pos, mut wrap) = (self.next_avail, self.avail_wrap);
        let mut count = 0usize;
        let mut ndescs = 0u16;
        let id;
        loop {
            if ndescs >= self.lay.num {
                return Err(self.broken.fault(Fault::ChainLoop));
            }
            if ndescs > 0 && !self.avail_at(pos, wrap) {
                // The chain continues into a descriptor that is not available.
                return Err(self.broken.fault(Fault::NextOutOfRange { next: pos }));
            }
            let d = self.lay.d(pos);
            let addr = self.mem.load64(d);
            let len = self.mem.load32(d + 8);
            let did = self.mem.load16(d + 12);
            let flags = self.mem.load16(d + 14);
            ndescs += 1;
            (pos, wrap) = advance(self.lay.num, pos, wrap, 1);
            if flags & VRING_DESC_F_INDIRECT != 0 {
                // The only descriptor of its buffer, not chained, whole
                // `struct pvirtq_desc` entries, no more than the queue
                // holds (virtio 1.2, 2.8.19, 2.8.22.1).
                if count != 0
                    || flags & VRING_DESC_F_NEXT != 0
                    || len == 0
                    || len as usize % DESC_SIZE != 0
                    || len as usize / DESC_SIZE > usize::from(self.lay.num)
                {
                    return Err(self.broken.fault(Fault::BadIndirect));
                }
                let n = len as usize / DESC_SIZE;
                let Some(tbl) = dm.map(addr, len as usize) else {
                    return Err(self.broken.fault(Fault::BadIndirect));
                };
                if descs.len() < n {
                    return Err(Error::ChainTooLong);
                }
                // Entries in order, flags at +14; only WRITE counts (id and
                // the other flag bits are ignored, as QEMU and Linux do),
                // but a nested table is refused.
                for (i, d) in descs[..n].iter_mut().enumerate() {
                    let off = i * DESC_SIZE;
                    let f = tbl.load16(off + 14);
                    if f & VRING_DESC_F_INDIRECT != 0 {
                        return Err(self.broken.fault(Fault::BadIndirect));
                    }
                    *d = Desc {
                        addr: tbl.load64(off),
                        len: tbl.load32(off + 8),
                        write: f & VRING_DESC_F_WRITE != 0,
                    };
                }
                count = n;
                id = did;
                break;
            }
            *descs.get_mut(count).ok_or(Error::ChainTooLong)? = Desc {
                addr,
                len,
                write: flags & VRING_DESC_F_WRITE != 0,
            };
            count += 1;
            if flags & VRING_DESC_F_NEXT == 0 {
                id = did;
                break;
            }
        }
        (self.next_avail, self.avail_wrap) = (pos, wrap);
        Ok(Some(PackedChain { id, count, ndescs }))
    }

    /// Return buffer `id`, which occupied `ndescs` descriptors, with `len`
    /// bytes written.
    pub fn push_used(&mut self, id: u16, len: u32, ndescs: u16) {
        let d = self.lay.d(self.used_pos);
        self.mem.store32(d + 8, len);
        self.mem.store16(d + 12, id);
        self.mem.wmb();
        // WRITE in a used descriptor says the device wrote data; `len` is
        // reserved without it (virtio 1.2, 2.8.3, 2.8.4).
        let written = if len > 0 { VRING_DESC_F_WRITE } else { 0 };
        self.mem
            .store16(d + 14, used_flags(self.used_wrap) | written);
        (self.used_pos, self.used_wrap) =
            advance(self.lay.num, self.used_pos, self.used_wrap, ndescs);
        self.num_used = self.num_used.saturating_add(u32::from(ndescs));
    }

    /// Whether the driver must be notified of the buffers used since the
    /// last decision.
    pub fn should_notify(&mut self) -> bool {
        self.mem.mb();
        let added = core::mem::take(&mut self.num_used);
        need_event(
            &self.mem,
            self.lay.driver,
            self.lay.num,
            self.used_pos,
            self.used_wrap,
            added,
        )
    }

    fn set_event_flags(&mut self, f: u16) {
        if self.event_flags != f {
            self.event_flags = f;
            self.mem.store16(self.lay.device + 2, f);
        }
    }

    /// Ask the driver not to notify (while the device is polling).
    ///
    /// Also after [`enable_notify`] published an event position: left
    /// there, it makes the driver notify once more when it passes it,
    /// which is wasted when the device is awake anyway (e.g.
    /// `enable_notify` found descriptors). Written only when it changes.
    ///
    /// [`enable_notify`]: Self::enable_notify
    pub fn disable_notify(&mut self) {
        self.set_event_flags(VRING_PACKED_EVENT_FLAG_DISABLE);
    }

    /// Ask for a notification at the next buffer; `true` if buffers are
    /// already available.
    pub fn enable_notify(&mut self) -> bool {
        if self.opts.event_idx {
            self.mem
                .store16(self.lay.device, off_wrap(self.next_avail, self.avail_wrap));
            self.mem.wmb();
            self.set_event_flags(VRING_PACKED_EVENT_FLAG_DESC);
        } else {
            self.set_event_flags(VRING_PACKED_EVENT_FLAG_ENABLE);
        }
        self.mem.mb();
        self.avail_at(self.next_avail, self.avail_wrap)
    }
}
