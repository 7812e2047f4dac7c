// SPDX-License-Identifier: GPL-2.0

//! The split virtqueue (virtio 1.2, section 2.7), driver and device side.
//!
//! Layout in one region (legacy devices need the used ring aligned to
//! `QueueAlign`; modern ones accept any placement, we use the same):
//!
//! ```text
//! desc  [num] { addr: le64, len: le32, flags: le16, next: le16 }  align 16
//! avail       { flags: le16, idx: le16, ring[num]: le16, used_event: le16 }
//! used        { flags: le16, idx: le16, ring[num]: { id: le32, len: le32 },
//!               avail_event: le16 }                                align
//! ```

use super::{
    segments, total_len, vring_need_event, BrokenFlag, Buf, Desc, DeviceMemory, Error, Fault,
    Result, RingMem, Slot, UsedLen, DESC_SIZE, MAX_QUEUE_SIZE, VRING_DESC_F_INDIRECT,
    VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
};
use core::ops::DerefMut;

/// `avail->flags`: the driver does not want used-buffer notifications.
pub const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// `used->flags`: the device does not want available-buffer notifications.
pub const VRING_USED_F_NO_NOTIFY: u16 = 1;

/// Where the parts of a split ring lie in its memory region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitLayout {
    /// Queue size.
    pub num: u16,
    /// Offset of the descriptor table (always 0).
    pub desc: usize,
    /// Offset of the available ring.
    pub avail: usize,
    /// Offset of the used ring.
    pub used: usize,
    /// Total bytes.
    pub size: usize,
}

impl SplitLayout {
    /// The layout of a ring of `num` entries (a power of two up to 32768)
    /// with the used ring aligned to `align` (a power of two, at least 4;
    /// 4096 for legacy devices).
    pub fn new(num: u16, align: usize) -> Result<Self> {
        if num == 0 || !num.is_power_of_two() || num > MAX_QUEUE_SIZE {
            return Err(Error::Invalid);
        }
        if align < 4 || !align.is_power_of_two() {
            return Err(Error::Invalid);
        }
        let n = num as usize;
        let avail = n * DESC_SIZE;
        let avail_end = avail + 6 + 2 * n;
        let used = (avail_end + align - 1) & !(align - 1);
        Ok(SplitLayout {
            num,
            desc: 0,
            avail,
            used,
            size: used + 6 + 8 * n,
        })
    }

    #[inline]
    fn avail_flags(&self) -> usize {
        self.avail
    }
    #[inline]
    fn avail_idx(&self) -> usize {
        self.avail + 2
    }
    #[inline]
    fn avail_ring(&self, i: u16) -> usize {
        self.avail + 4 + 2 * (i & (self.num - 1)) as usize
    }
    #[inline]
    fn used_event(&self) -> usize {
        self.avail + 4 + 2 * self.num as usize
    }
    #[inline]
    fn used_flags(&self) -> usize {
        self.used
    }
    #[inline]
    fn used_idx(&self) -> usize {
        self.used + 2
    }
    #[inline]
    fn used_ring(&self, i: u16) -> usize {
        self.used + 4 + 8 * (i & (self.num - 1)) as usize
    }
    #[inline]
    fn avail_event(&self) -> usize {
        self.used + 4 + 8 * self.num as usize
    }
}

#[inline]
fn write_desc<M: RingMem>(m: &M, off: usize, addr: u64, len: u32, flags: u16, next: u16) {
    m.store64(off, addr);
    m.store32(off + 8, len);
    m.store16(off + 12, flags);
    m.store16(off + 14, next);
}

/// Options of a queue, from the negotiated features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `VIRTIO_RING_F_EVENT_IDX` was negotiated.
    pub event_idx: bool,
}

/// Pool of indirect descriptor tables: one table of `max` descriptors per
/// ring slot (descriptor head for split, buffer id for packed).
#[derive(Debug)]
pub struct Indirect<M> {
    pub(crate) mem: M,
    pub(crate) max: u16,
}

impl<M: RingMem> Indirect<M> {
    /// Use `mem` as `num` tables of `max` descriptors each.
    pub fn new(mem: M, num: u16, max: u16) -> Result<Self> {
        if max < 2 {
            return Err(Error::Invalid);
        }
        if mem.len() < num as usize * max as usize * DESC_SIZE {
            return Err(Error::BadMemory);
        }
        Ok(Indirect { mem, max })
    }

    /// Bytes needed for `num` tables of `max` descriptors.
    pub const fn size(num: u16, max: u16) -> usize {
        num as usize * max as usize * DESC_SIZE
    }

    #[inline]
    pub(crate) fn table(&self, slot: u16) -> usize {
        slot as usize * self.max as usize * DESC_SIZE
    }

    /// Device address of the table at `slot`.
    #[inline]
    pub(crate) fn table_addr(&self, slot: u16) -> u64 {
        self.mem.dma_addr() + self.table(slot) as u64
    }
}

/// Write a split indirect table (an array of `struct virtq_desc`, chained
/// through `next`; virtio 1.2, 2.7.5.3) for `out` + `inb` at `slot` of the
/// pool; returns its device address and byte length. The packed ring has
/// its own writer (`packed.rs`): its table entries are `struct pvirtq_desc`.
fn fill_indirect<M: RingMem>(ind: &Indirect<M>, slot: u16, out: &[Buf], inb: &[Buf]) -> (u64, u32) {
    let base = ind.table(slot);
    let n = out.len() + inb.len();
    for (i, (b, w)) in segments(out, inb).enumerate() {
        let next = if i + 1 < n { VRING_DESC_F_NEXT } else { 0 };
        write_desc(
            &ind.mem,
            base + i * DESC_SIZE,
            b.addr,
            b.len,
            w | next,
            (i + 1) as u16,
        );
    }
    (ind.table_addr(slot), (n * DESC_SIZE) as u32)
}

/// Driver side of a split virtqueue.
///
/// `S` is the private bookkeeping, one [`Slot`] per descriptor.
pub struct SplitDriver<M: RingMem, S: DerefMut<Target = [Slot]>> {
    mem: M,
    lay: SplitLayout,
    slots: S,
    indirect: Option<Indirect<M>>,
    opts: Options,
    free_head: u16,
    num_free: u16,
    /// Next `avail->idx` to publish (a shadow: the device never writes it).
    avail_idx: u16,
    /// `avail->idx` at the last kick decision.
    kicked_idx: u16,
    /// Buffers added since the last kick decision.
    num_added: u32,
    last_used: u16,
    /// `used->idx` as last read: buffers up to it are known used without
    /// touching the cache line the device keeps writing (as a device
    /// keeps a shadow of `avail->idx`, e.g. vhost's `avail_idx`).
    seen_used: u16,
    avail_flags: u16,
    cb_enabled: bool,
    used_len: UsedLen,
    broken: BrokenFlag,
}

impl<M: RingMem, S: DerefMut<Target = [Slot]>> SplitDriver<M, S> {
    /// Set up a ring of `num` entries in `mem` (zeroed here), with used ring
    /// alignment `align`, private state `slots` (at least `num` entries) and
    /// optionally a pool of indirect tables.
    pub fn new(
        mem: M,
        num: u16,
        align: usize,
        mut slots: S,
        indirect: Option<Indirect<M>>,
        opts: Options,
    ) -> Result<Self> {
        let lay = SplitLayout::new(num, align)?;
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
        Ok(SplitDriver {
            mem,
            lay,
            slots,
            indirect,
            opts,
            free_head: 0,
            num_free: num,
            avail_idx: 0,
            kicked_idx: 0,
            num_added: 0,
            last_used: 0,
            seen_used: 0,
            avail_flags: 0,
            cb_enabled: true,
            used_len: UsedLen::default(),
            broken: BrokenFlag::default(),
        })
    }

    /// The ring's layout.
    pub fn layout(&self) -> &SplitLayout {
        &self.lay
    }

    /// Queue size.
    pub fn num(&self) -> u16 {
        self.lay.num
    }

    /// The "next" part of the notification data
    /// (`VIRTIO_F_NOTIFICATION_DATA`, virtio 1.2, 2.9): the `avail->idx`
    /// the device will see after the buffers added so far. The value to
    /// write is `next << 16 | queue_index`.
    pub fn notification_data(&self) -> u16 {
        self.avail_idx
    }

    /// Free descriptors.
    pub fn num_free(&self) -> u16 {
        self.num_free
    }

    /// Whether a fault marked the queue broken.
    pub fn is_broken(&self) -> bool {
        self.broken.is_broken()
    }

    /// Mark the queue broken (e.g. on device removal); further operations fail.
    pub fn set_broken(&mut self) {
        self.broken.set();
    }

    /// Choose what a used length beyond the buffer's writable size does:
    /// clamp it (the default, see [`UsedLen`]) or, with `strict`, fault
    /// and break the queue.
    pub fn set_strict_used_len(&mut self, strict: bool) {
        self.used_len.strict = strict;
    }

    /// How many used lengths were clamped to the buffer's writable size.
    pub fn used_len_clamped(&self) -> u32 {
        self.used_len.clamped
    }

    /// Make a buffer of device-readable `out` and device-writable `inb`
    /// segments available, with `token` to get back when it is used.
    /// Uses an indirect table when there is one and more than one segment.
    /// Returns the head descriptor index.
    pub fn add(&mut self, out: &[Buf], inb: &[Buf], token: usize) -> Result<u16> {
        self.broken.check()?;
        let n = out.len() + inb.len();
        // No chain, direct or through an indirect table, may be longer than
        // the queue (virtio 1.2, 2.7.5.3.1 and 2.7.13.3.1).
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
        let head = self.free_head;
        let mut last = head;
        if use_indirect {
            let ind = self.indirect.as_ref().ok_or(Error::Invalid)?;
            let (addr, len) = fill_indirect(ind, head, out, inb);
            write_desc(
                &self.mem,
                self.lay.desc + head as usize * DESC_SIZE,
                addr,
                len,
                VRING_DESC_F_INDIRECT,
                0,
            );
        } else {
            let mut i = head;
            for (k, (b, w)) in segments(out, inb).enumerate() {
                let next = self.slots[i as usize].next;
                let more = if k + 1 < n { VRING_DESC_F_NEXT } else { 0 };
                write_desc(
                    &self.mem,
                    self.lay.desc + i as usize * DESC_SIZE,
                    b.addr,
                    b.len,
                    w | more,
                    next,
                );
                last = i;
                i = next;
            }
        }
        self.free_head = self.slots[last as usize].next;
        self.num_free -= ndescs;
        let s = &mut self.slots[head as usize];
        s.token = token;
        s.ndescs = ndescs;
        s.in_len = total_len(inb);

        // Publish: the ring entry, then (after the descriptors and the entry
        // are visible) the index.
        self.mem.store16(self.lay.avail_ring(self.avail_idx), head);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.num_added = self.num_added.saturating_add(1);
        self.mem.wmb();
        self.mem.store16(self.lay.avail_idx(), self.avail_idx);
        Ok(head)
    }

    /// Whether the device must be notified of the buffers added since the
    /// last call (`virtqueue_kick_prepare`).
    pub fn kick_prepare(&mut self) -> bool {
        // The new avail->idx must be visible before we read the device's
        // suppression state.
        self.mem.mb();
        let old = self.kicked_idx;
        let new = self.avail_idx;
        self.kicked_idx = new;
        let added = core::mem::take(&mut self.num_added);
        if added == 0 {
            return false;
        }
        if added >= 0xffff {
            // The 16-bit window cannot tell: notify to be safe.
            return true;
        }
        if self.opts.event_idx {
            vring_need_event(self.mem.load16(self.lay.avail_event()), new, old)
        } else {
            self.mem.load16(self.lay.used_flags()) & VRING_USED_F_NO_NOTIFY == 0
        }
    }

    /// Whether a used buffer is waiting.
    pub fn more_used(&self) -> bool {
        self.seen_used != self.last_used || self.mem.load16(self.lay.used_idx()) != self.last_used
    }

    /// Take the next used buffer: its token and the length the device
    /// wrote. `Ok(None)` when there is none.
    pub fn get_used(&mut self) -> Result<Option<(usize, u32)>> {
        self.broken.check()?;
        if self.seen_used == self.last_used {
            // Everything we saw is taken: look at the device's index.
            let used_idx = self.mem.load16(self.lay.used_idx());
            if used_idx == self.last_used {
                return Ok(None);
            }
            let pending = used_idx.wrapping_sub(self.last_used);
            let in_flight = self.lay.num - self.num_free;
            if pending > in_flight {
                return Err(self.broken.fault(Fault::IndexJump {
                    idx: used_idx,
                    last: self.last_used,
                }));
            }
            // Read the elements only after seeing the index that publishes
            // them (this barrier orders every later load, so it covers the
            // elements up to `used_idx` taken in later calls too).
            self.mem.rmb();
            self.seen_used = used_idx;
        }
        let e = self.lay.used_ring(self.last_used);
        let id = self.mem.load32(e);
        let len = self.mem.load32(e + 4);
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
        self.free_chain(id as u16);
        self.last_used = self.last_used.wrapping_add(1);
        // With event index and callbacks on, ask for an interrupt at the
        // next buffer, and make that request visible before the caller's
        // next look at used->idx (virtio_store_mb() in
        // virtqueue_get_buf_ctx_split()): a driver that keeps callbacks on
        // and drains in its callback (virtio_rng, virtio_console) would
        // otherwise read a stale used->idx while the device reads a stale
        // used_event, and the last buffer would never be signalled
        // (loom_tests.rs, `drain_side`). Only when this was the last buffer
        // we saw: with more seen the caller comes back for them, and a
        // used_event behind the device's last signal cannot make it signal
        // anyway, so the store and the barrier would buy nothing.
        if self.opts.event_idx && self.cb_enabled && self.last_used == self.seen_used {
            self.mem.store16(self.lay.used_event(), self.last_used);
            self.mem.mb();
        }
        Ok(Some((s.token, len)))
    }

    /// Return a chain to the free list, walking our private links only.
    fn free_chain(&mut self, head: u16) {
        let n = self.slots[head as usize].ndescs;
        let mut last = head;
        for _ in 1..n {
            last = self.slots[last as usize].next;
        }
        self.slots[head as usize].ndescs = 0;
        self.slots[last as usize].next = self.free_head;
        self.free_head = head;
        self.num_free += n;
    }

    /// Ask the device not to interrupt (best effort, `virtqueue_disable_cb`).
    pub fn disable_cb(&mut self) {
        if !self.cb_enabled {
            return;
        }
        self.cb_enabled = false;
        if self.opts.event_idx {
            // Move used_event out of the device's way (Linux writes 0
            // here, virtqueue_disable_cb_split()). Left where it was, the
            // device interrupts once more for an event the driver stopped
            // waiting for; e.g. after enable_cb() found buffers pending.
            // Half the index space ahead: the device is at most a queue
            // (<= 32768) ahead of last_used, so it cannot pass that until
            // the driver has taken 0x8001 - num more buffers with
            // callbacks off; after that at most one spurious interrupt
            // per 2^16 buffers (suppression is only an optimisation).
            // Every enable writes a real position again before it looks.
            self.mem
                .store16(self.lay.used_event(), self.last_used.wrapping_add(0x8000));
        } else {
            self.avail_flags |= VRING_AVAIL_F_NO_INTERRUPT;
            self.mem.store16(self.lay.avail_flags(), self.avail_flags);
        }
    }

    /// Re-enable interrupts and return the opaque position to [`poll`]
    /// (`virtqueue_enable_cb_prepare`).
    ///
    /// [`poll`]: Self::poll
    pub fn enable_cb_prepare(&mut self) -> u16 {
        self.cb_enabled = true;
        if self.avail_flags & VRING_AVAIL_F_NO_INTERRUPT != 0 {
            self.avail_flags &= !VRING_AVAIL_F_NO_INTERRUPT;
            if !self.opts.event_idx {
                self.mem.store16(self.lay.avail_flags(), self.avail_flags);
            }
        }
        if self.opts.event_idx {
            self.mem.store16(self.lay.used_event(), self.last_used);
        }
        self.last_used
    }

    /// Whether buffers were used after `enable_cb_prepare` returned `pos`.
    pub fn poll(&self, pos: u16) -> bool {
        // Our enable must be visible before we look at used->idx, or the
        // device could see interrupts off while we see no work.
        self.mem.mb();
        self.mem.load16(self.lay.used_idx()) != pos
    }

    /// Re-enable interrupts. Returns `false` if buffers are already pending,
    /// in which case the caller must process them: no interrupt may come
    /// for them (`virtqueue_enable_cb`).
    pub fn enable_cb(&mut self) -> bool {
        let pos = self.enable_cb_prepare();
        !self.poll(pos)
    }

    /// Re-enable interrupts, but ask for one only after about 3/4 of the
    /// outstanding buffers are used (`virtqueue_enable_cb_delayed`).
    /// Returns `false` if that many are already pending.
    pub fn enable_cb_delayed(&mut self) -> bool {
        self.cb_enabled = true;
        if self.avail_flags & VRING_AVAIL_F_NO_INTERRUPT != 0 {
            self.avail_flags &= !VRING_AVAIL_F_NO_INTERRUPT;
            if !self.opts.event_idx {
                self.mem.store16(self.lay.avail_flags(), self.avail_flags);
            }
        }
        // 3/4 of what is outstanding, computed wide: up to 32768 buffers
        // can be in flight, and 3 * 32768 does not fit in 16 bits.
        let bufs = (u32::from(self.avail_idx.wrapping_sub(self.last_used)) * 3 / 4) as u16;
        if self.opts.event_idx {
            self.mem
                .store16(self.lay.used_event(), self.last_used.wrapping_add(bufs));
        }
        self.mem.mb();
        self.mem
            .load16(self.lay.used_idx())
            .wrapping_sub(self.last_used)
            <= bufs
    }

    /// Take back one buffer the device never used (on teardown, after the
    /// device was reset). `None` when all are back.
    pub fn detach_unused(&mut self) -> Option<usize> {
        let i = (0..self.lay.num).find(|&i| self.slots[i as usize].ndescs != 0)?;
        let token = self.slots[i as usize].token;
        self.free_chain(i);
        Some(token)
    }

    /// Device address of the descriptor table / available / used ring.
    pub fn addresses(&self) -> (u64, u64, u64) {
        let base = self.mem.dma_addr();
        (
            base + self.lay.desc as u64,
            base + self.lay.avail as u64,
            base + self.lay.used as u64,
        )
    }
}

/// A chain the device took from the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain {
    /// Head descriptor index (the id to return with `push_used`).
    pub id: u16,
    /// Number of descriptors written to the caller's slice.
    pub count: usize,
}

/// Device side of a split virtqueue (for tests and user-space peers).
pub struct SplitDevice<M: RingMem> {
    mem: M,
    lay: SplitLayout,
    opts: Options,
    last_avail: u16,
    /// `avail->idx` as last read (vhost's and QEMU's shadow of it): chains
    /// up to it are taken without reading the driver's index again.
    seen_avail: u16,
    used_idx: u16,
    /// `used->idx` when we last notified the driver.
    signalled: u16,
    /// Notifications enabled (`enable_notify` since the last
    /// `disable_notify`).
    notify_on: bool,
    broken: BrokenFlag,
}

impl<M: RingMem> SplitDevice<M> {
    /// Attach to a ring the driver set up in `mem`.
    pub fn new(mem: M, num: u16, align: usize, opts: Options) -> Result<Self> {
        let lay = SplitLayout::new(num, align)?;
        if mem.len() < lay.size {
            return Err(Error::BadMemory);
        }
        Ok(SplitDevice {
            mem,
            lay,
            opts,
            last_avail: 0,
            seen_avail: 0,
            used_idx: 0,
            signalled: 0,
            notify_on: true,
            broken: BrokenFlag::default(),
        })
    }

    /// Whether a fault marked the queue broken.
    pub fn is_broken(&self) -> bool {
        self.broken.is_broken()
    }

    /// Whether the driver has made a buffer available that was not taken.
    pub fn has_avail(&self) -> bool {
        self.seen_avail != self.last_avail
            || self.mem.load16(self.lay.avail_idx()) != self.last_avail
    }

    /// Take the next available chain, writing its descriptors (indirect
    /// tables resolved through `dm`) into `descs`.
    pub fn pop<D: DeviceMemory>(&mut self, dm: &D, descs: &mut [Desc]) -> Result<Option<Chain>> {
        self.broken.check()?;
        if self.seen_avail == self.last_avail {
            let avail_idx = self.mem.load16(self.lay.avail_idx());
            if avail_idx == self.last_avail {
                return Ok(None);
            }
            if avail_idx.wrapping_sub(self.last_avail) > self.lay.num {
                return Err(self.broken.fault(Fault::IndexJump {
                    idx: avail_idx,
                    last: self.last_avail,
                }));
            }
            // Entries and descriptors only after the index that publishes
            // them (for the entries up to it taken in later calls too).
            self.mem.rmb();
            self.seen_avail = avail_idx;
        }
        let head = self.mem.load16(self.lay.avail_ring(self.last_avail));
        if head >= self.lay.num {
            return Err(self.broken.fault(Fault::AvailHeadOutOfRange { head }));
        }
        let count = match walk_chain(&self.mem, self.lay.desc, self.lay.num, head, dm, descs) {
            Ok(c) => c,
            Err(Error::Fault(f)) => return Err(self.broken.fault(f)),
            Err(e) => return Err(e),
        };
        self.last_avail = self.last_avail.wrapping_add(1);
        Ok(Some(Chain { id: head, count }))
    }

    /// Return chain `id` with `len` bytes written.
    pub fn push_used(&mut self, id: u16, len: u32) {
        let e = self.lay.used_ring(self.used_idx);
        self.mem.store32(e, u32::from(id));
        self.mem.store32(e + 4, len);
        self.used_idx = self.used_idx.wrapping_add(1);
        self.mem.wmb();
        self.mem.store16(self.lay.used_idx(), self.used_idx);
    }

    /// Whether the driver must be notified of the buffers used since the
    /// last notification.
    pub fn should_notify(&mut self) -> bool {
        self.mem.mb();
        let old = self.signalled;
        let new = self.used_idx;
        self.signalled = new;
        if old == new {
            return false;
        }
        if self.opts.event_idx {
            vring_need_event(self.mem.load16(self.lay.used_event()), new, old)
        } else {
            self.mem.load16(self.lay.avail_flags()) & VRING_AVAIL_F_NO_INTERRUPT == 0
        }
    }

    /// Ask the driver not to notify (while the device is polling).
    ///
    /// With event index, `avail_event` is moved out of the driver's way:
    /// left where [`enable_notify`] put it, the driver notifies once more
    /// when it passes it, which is wasted when the device is awake anyway
    /// (e.g. `enable_notify` found buffers, or the device was woken by
    /// something else). It goes half the index space ahead: the driver is
    /// at most a queue (<= 32768) ahead of the device, so it cannot pass
    /// it before the device has taken 0x8001 - num more chains; after that
    /// at most one spurious notification per 2^16 chains. Every
    /// [`enable_notify`] writes a real position again before it looks.
    ///
    /// [`enable_notify`]: Self::enable_notify
    pub fn disable_notify(&mut self) {
        if !self.notify_on {
            return;
        }
        self.notify_on = false;
        if self.opts.event_idx {
            self.mem
                .store16(self.lay.avail_event(), self.last_avail.wrapping_add(0x8000));
        } else {
            self.mem
                .store16(self.lay.used_flags(), VRING_USED_F_NO_NOTIFY);
        }
    }

    /// Ask for a notification at the next buffer. Returns `true` if buffers
    /// are already available (no notification will come for them).
    pub fn enable_notify(&mut self) -> bool {
        self.notify_on = true;
        if self.opts.event_idx {
            self.mem.store16(self.lay.avail_event(), self.last_avail);
        } else {
            self.mem.store16(self.lay.used_flags(), 0);
        }
        self.mem.mb();
        self.mem.load16(self.lay.avail_idx()) != self.last_avail
    }
}

/// Walk the descriptor chain at `head` of a table of `num` entries at
/// `table` in `mem`, following an indirect table through `dm`.
///
/// Zero or more direct descriptors may precede a single indirect one,
/// which ends the chain (virtio 1.2, 2.7.5.3.2: the device must handle
/// that layout). The whole chain, indirect entries included, may not be
/// longer than the queue (2.7.5.3.1).
pub(crate) fn walk_chain<M: RingMem, D: DeviceMemory>(
    mem: &M,
    table: usize,
    num: u16,
    head: u16,
    dm: &D,
    descs: &mut [Desc],
) -> Result<usize> {
    let mut i = head;
    let mut count = 0usize;
    loop {
        if count >= usize::from(num) {
            // More descriptors than the table holds: it loops.
            return Err(Error::Fault(Fault::ChainLoop));
        }
        let off = table + i as usize * DESC_SIZE;
        let addr = mem.load64(off);
        let len = mem.load32(off + 8);
        let flags = mem.load16(off + 12);
        let next = mem.load16(off + 14);
        if flags & VRING_DESC_F_INDIRECT != 0 {
            // Not chained further (2.7.5.3.1), whole descriptors, and the
            // chain it completes no longer than the queue.
            if flags & VRING_DESC_F_NEXT != 0
                || len == 0
                || len as usize % DESC_SIZE != 0
                || count + len as usize / DESC_SIZE > usize::from(num)
            {
                return Err(Error::Fault(Fault::BadIndirect));
            }
            let n = (len as usize / DESC_SIZE) as u16;
            let Some(tbl) = dm.map(addr, len as usize) else {
                return Err(Error::Fault(Fault::BadIndirect));
            };
            return walk_indirect(&tbl, n, descs, count);
        }
        *descs.get_mut(count).ok_or(Error::ChainTooLong)? = Desc {
            addr,
            len,
            write: flags & VRING_DESC_F_WRITE != 0,
        };
        count += 1;
        if flags & VRING_DESC_F_NEXT == 0 {
            return Ok(count);
        }
        if next >= num {
            return Err(Error::Fault(Fault::NextOutOfRange { next }));
        }
        i = next;
    }
}

/// Walk a split indirect table of `n` `struct virtq_desc` entries from
/// entry 0 along `next`, appending to `descs` after the `start` direct
/// descriptors that preceded it.
fn walk_indirect<M: RingMem>(tbl: &M, n: u16, descs: &mut [Desc], start: usize) -> Result<usize> {
    let mut i = 0u16;
    let mut count = start;
    for _ in 0..n {
        let off = i as usize * DESC_SIZE;
        let flags = tbl.load16(off + 12);
        if flags & VRING_DESC_F_INDIRECT != 0 {
            return Err(Error::Fault(Fault::BadIndirect));
        }
        *descs.get_mut(count).ok_or(Error::ChainTooLong)? = Desc {
            addr: tbl.load64(off),
            len: tbl.load32(off + 8),
            write: flags & VRING_DESC_F_WRITE != 0,
        };
        count += 1;
        if flags & VRING_DESC_F_NEXT == 0 {
            return Ok(count);
        }
        let next = tbl.load16(off + 14);
        if next >= n {
            return Err(Error::Fault(Fault::NextOutOfRange { next }));
        }
        i = next;
    }
    // Visited more entries than the table has: it loops.
    Err(Error::Fault(Fault::ChainLoop))
}
