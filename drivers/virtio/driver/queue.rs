// SPDX-License-Identifier: GPL-2.0

//! Typed virtqueues for Rust virtio drivers, on the Rust vring
//! (`Documentation/virtio/drivers.rst`). Safe code: the `unsafe` is in
//! `drivers/virtio/bindings/driver.rs` and `dma_ring.rs`, which
//! a driver module includes next to this file as `driver` and `dma_ring`.
//!
//! A [`Queue<T>`] owns one ring (split or packed, from the negotiated
//! features) and, for each buffer in flight, the caller's token of type
//! `T` and the buffers' DMA mappings. [`Queue::add`] maps the buffers
//! (device-readable: `DMA_TO_DEVICE`, device-writable: `DMA_FROM_DEVICE`;
//! a device without `VIRTIO_F_ACCESS_PLATFORM` gets physical addresses
//! instead, see `DmaDev`) and [`Queue::pop`] unmaps them and gives token
//! and buffers back. The ring's integer id is only the index of the token's
//! slot; a device that returns an id that is not in flight, or a bad
//! length, is caught by the ring's hardening and reported once per device
//! (`Shared::report_fault`: one log line, then the driver's
//! `device_fault`, which takes the buffers in flight back with
//! [`Queue::reclaim`]). [`Queue::pop`] returns `EIO` from then on.
//!
//! Locking: one `SpinLockIrq` per queue around every ring operation; the
//! queue's interrupt callback takes it too. The notification (an MMIO write
//! that traps to the host) happens after the lock is dropped, as in
//! `virtio_ring.c`.

// Shared by path between modules; each uses part of it.
#![allow(dead_code)]

use super::vring::{
    packed::PackedDriver,
    queue::{AnyDriver, DriverQueue},
    split::{Indirect, Options, SplitDriver},
    Buf, Error as RingError, Slot,
};
use super::{
    dma_ring::SharedRing,
    driver::{DmaDev, DmaSegments, MappedBuf, QueueStats, Restore, Rings, Shared},
};
use core::sync::atomic::{
    AtomicU32,
    Ordering::{Acquire, Relaxed},
};
use kernel::{
    dma::DataDirection,
    new_spinlock_irq,
    prelude::*,
    sync::{Arc, SpinLockIrq, SpinLockIrqGuard},
};

/// The errno of a failed ring `add`.
fn ring_errno(e: RingError) -> Error {
    match e {
        RingError::NoSpace => ENOSPC,
        RingError::Broken | RingError::Fault(_) => EIO,
        _ => EINVAL,
    }
}

/// Most segments of one buffer.
pub(crate) const MAX_SEGS: usize = 32;

/// One segment of a buffer: kmalloc'ed memory the queue maps for DMA.
pub(crate) struct Seg {
    /// The memory (its length is the segment's length).
    pub(crate) buf: KVec<u8>,
    /// The device writes it (else it only reads it).
    pub(crate) write: bool,
}

/// A used buffer back from the device.
pub(crate) struct Used<T> {
    /// The token given to [`Queue::add`].
    pub(crate) token: T,
    /// The segments, unmapped, in the order given; `None` for a token
    /// that carries its own mapped buffers ([`Queue::add_mapped`]), so
    /// that its completion allocates and frees nothing.
    pub(crate) segs: Option<KVec<Seg>>,
    /// Bytes the device says it wrote (at most the writable size).
    pub(crate) len: u32,
}

struct InFlight<T> {
    token: T,
    /// What [`Queue::add`] mapped; `None` after [`Queue::add_mapped`].
    segs: Option<KVec<(MappedBuf, bool)>>,
}

struct Inner<T> {
    ring: AnyDriver<SharedRing, KVec<Slot>>,
    /// Per ring slot: the token and mappings in flight.
    entries: KVec<Option<InFlight<T>>>,
    /// Free entry indexes.
    free: KVec<u16>,
    /// The device misbehaved (reported once).
    faulted: bool,
    /// [`Queue::reclaim`] took everything back: nothing is added again.
    dead: bool,
    /// [`Queue::suspend`] took everything back: nothing is added until
    /// the ring is rearmed (system sleep).
    suspended: bool,
    /// Used lengths above the buffer's size are faults.
    strict: bool,
    /// Between a resize's ring swap and the queue's re-enable: the device
    /// is not told of new buffers (the resize kicks afterwards).
    resetting: bool,
    /// The ring's size.
    num: u16,
    /// The ring's memory (a resize replaces it).
    layout: Layout,
}

/// How to (re)build a queue's ring on its memory.
#[derive(Clone)]
struct Layout {
    ring: SharedRing,
    indirect: Option<(SharedRing, u16)>,
    packed: bool,
    align: usize,
    opts: Options,
}

impl Layout {
    /// A ring of `num` entries, starting afresh (the ring's `new` zeroes
    /// its memory).
    fn build(&self, num: u16) -> Result<AnyDriver<SharedRing, KVec<Slot>>> {
        let indirect = match &self.indirect {
            Some((mem, max)) => Some(Indirect::new(mem.clone(), num, *max).map_err(|_| EINVAL)?),
            None => None,
        };
        let mut slots = KVec::with_capacity(usize::from(num), GFP_KERNEL)?;
        slots.resize(usize::from(num), Slot::default(), GFP_KERNEL)?;
        Ok(if self.packed {
            AnyDriver::Packed(
                PackedDriver::new(self.ring.clone(), num, slots, indirect, self.opts)
                    .map_err(|_| EINVAL)?,
            )
        } else {
            AnyDriver::Split(
                SplitDriver::new(
                    self.ring.clone(),
                    num,
                    self.align,
                    slots,
                    indirect,
                    self.opts,
                )
                .map_err(|_| EINVAL)?,
            )
        })
    }
}

/// Empty entries and the free list of a ring of `num` entries.
#[allow(clippy::type_complexity)]
fn fresh_entries<T>(num: u16) -> Result<(KVec<Option<InFlight<T>>>, KVec<u16>)> {
    let mut entries = KVec::with_capacity(usize::from(num), GFP_KERNEL)?;
    let mut free = KVec::with_capacity(usize::from(num), GFP_KERNEL)?;
    for i in 0..num {
        entries.push(None, GFP_KERNEL)?;
        free.push(num - 1 - i, GFP_KERNEL)?;
    }
    Ok((entries, free))
}

/// A virtqueue with tokens of type `T`.
#[pin_data(PinnedDrop)]
pub(crate) struct Queue<T: Send> {
    #[pin]
    inner: SpinLockIrq<Inner<T>>,
    shared: Arc<Shared>,
    dma_dev: DmaDev,
    index: u16,
    /// The device's largest size of this queue.
    max: u16,
    ndata: bool,
}

impl<T: Send> Queue<T> {
    /// A queue on the rings [`super::driver::Device::find_queues`]
    /// set up.
    pub(crate) fn new(rings: Rings) -> Result<impl PinInit<Self, Error>> {
        let num = rings.num;
        let layout = Layout {
            align: rings.align(),
            ring: rings.ring,
            indirect: rings.indirect,
            packed: rings.packed,
            opts: Options {
                event_idx: rings.shared.event_idx(),
            },
        };
        let ring = layout.build(num)?;
        let (entries, free) = fresh_entries(num)?;
        let ndata = rings.shared.notification_data();
        Ok(try_pin_init!(Self {
            inner <- new_spinlock_irq!(Inner {
                ring,
                entries,
                free,
                faulted: false,
                dead: false,
                suspended: false,
                strict: false,
                resetting: false,
                num,
                layout,
            }),
            shared: rings.shared,
            dma_dev: rings.dma_dev,
            index: rings.index,
            max: rings.max,
            ndata,
        }? Error))
    }

    /// Buffers in the entry table (changed under the lock; read without
    /// it by [`Queue::drain_used`] and the layer's interrupt callback).
    fn in_flight(&self) -> &AtomicU32 {
        self.shared.in_flight(self.index)
    }

    /// The queue's counters (also in the driver's debugfs file).
    pub(crate) fn stats(&self) -> &QueueStats {
        self.shared.queue_stats(self.index)
    }

    /// The queue's index on the device.
    pub(crate) fn index(&self) -> u16 {
        self.index
    }

    /// Whether the queue can be reset and resized now (see
    /// [`Queue::resize`], which checks again).
    pub(crate) fn resets_queues(&self) -> bool {
        self.shared.resets_queues()
    }

    /// The queue's size (the ring's entries).
    pub(crate) fn num(&self) -> u16 {
        self.inner.lock().num
    }

    /// Reset this queue alone and start it again on a new ring of `num`
    /// entries (`VIRTIO_F_RING_RESET`; the C `virtqueue_resize()`), while
    /// the device's other queues keep running. `num` is a power of two up
    /// to the device's maximum for the queue; the same `num` starts the
    /// queue afresh. Buffers still in flight come back, unmapped, through
    /// `recycle` (call it quiesced, so there are none). Process context.
    ///
    /// Errors: `EINVAL` (bad size), `EOPNOTSUPP` (no `RING_RESET`), `EIO`
    /// (the device was reset, the queue is dead or suspended, or the
    /// device ignored the reset), `ENOMEM`: the queue runs on as before.
    /// If the device does not complete the reset (`ETIMEDOUT`) or does
    /// not enable the queue again, the error is the transport's and the
    /// device is reported as misbehaving (`Driver::device_fault`, which
    /// resets it and takes back what is in flight).
    pub(crate) fn resize(&self, num: u16, mut recycle: impl FnMut(T)) -> Result {
        if num == 0 || !num.is_power_of_two() || num > self.max {
            return Err(EINVAL);
        }
        if !self.shared.resets_queues() {
            return Err(EOPNOTSUPP);
        }
        let layout = self.inner.lock().layout.clone();
        let indirect_max = layout.indirect.as_ref().map_or(0, |(_, m)| *m);
        // Everything that can fail for want of memory, before the reset.
        let mem = self.shared.alloc_ring(num, self.max, indirect_max)?;
        let mut layout = Layout {
            ring: mem.ring.clone(),
            indirect: mem.indirect.clone(),
            ..layout
        };
        let mut ring = layout.build(num)?;
        let (mut entries, mut free) = fresh_entries(num)?;
        let mut ctl = self.shared.control()?;
        {
            let inner = self.inner.lock();
            if inner.dead || inner.suspended {
                return Err(EIO);
            }
        }
        if let Err(e) = ctl.reset(self.index) {
            if e == ETIMEDOUT {
                drop(ctl);
                self.shared
                    .report_fault(self.index, &"queue reset not completed");
            }
            return Err(e);
        }
        // The device no longer uses the old ring and no callback of the
        // queue runs: swap the rings. What was added to the old one is in
        // the old entry table.
        let mut inner = self.inner.lock();
        ring.set_strict_used_len(inner.strict);
        core::mem::swap(&mut inner.ring, &mut ring);
        core::mem::swap(&mut inner.entries, &mut entries);
        core::mem::swap(&mut inner.free, &mut free);
        core::mem::swap(&mut inner.layout, &mut layout);
        self.in_flight().store(0, Relaxed);
        inner.num = num;
        inner.resetting = true;
        drop(inner);
        let r = ctl.enable(self.index, &mem);
        {
            let mut inner = self.inner.lock();
            inner.resetting = false;
            if r.is_err() {
                inner.dead = true;
            }
        }
        drop(ctl);
        if r.is_err() {
            self.shared
                .report_fault(self.index, &"queue not enabled again after its reset");
        }
        self.give_back_entries(entries, &mut recycle);
        // The old ring and its memory go here, after the device let go.
        drop(ring);
        drop(layout);
        if r.is_ok() {
            // Buffers added between the swap and the enable.
            self.kick();
        }
        r
    }

    /// Map `segs` (device-readable ones first) and make them available
    /// with `token`. Does not notify the device: call [`Queue::kick`]
    /// after the last buffer of a batch. On failure the buffers and the
    /// token come back: `ENOSPC` when the ring is full, `EIO` when the
    /// device broke the queue, `EINVAL` for a malformed buffer, `ENOMEM`
    /// when a mapping failed.
    pub(crate) fn add(&self, segs: KVec<Seg>, token: T) -> Result<(), (Error, KVec<Seg>, T)> {
        let bad = segs.is_empty()
            || segs.len() > MAX_SEGS
            || segs.windows(2).any(|w| w[0].write && !w[1].write);
        if bad {
            return Err((EINVAL, segs, token));
        }
        let mut mapped = match KVec::with_capacity(segs.len(), GFP_ATOMIC) {
            Ok(v) => v,
            Err(e) => return Err((e.into(), segs, token)),
        };
        // Map outside the lock (an IOMMU mapping may take its time).
        let mut bufs = [Buf::default(); MAX_SEGS];
        let mut nout = 0;
        let mut rest = segs;
        let mut iter = rest.drain_all();
        let mut failed = None;
        for (i, s) in iter.by_ref().enumerate() {
            let dir = if s.write {
                DataDirection::FromDevice
            } else {
                DataDirection::ToDevice
            };
            match MappedBuf::map(&self.dma_dev, s.buf, dir) {
                Ok(m) => {
                    bufs[i] = Buf {
                        addr: m.addr(),
                        len: m.len(),
                    };
                    nout += usize::from(!s.write);
                    // Within the capacity reserved above: cannot fail.
                    let _ = mapped.push((m, s.write), GFP_ATOMIC);
                }
                Err((e, buf)) => {
                    failed = Some((
                        e,
                        Seg {
                            buf,
                            write: s.write,
                        },
                    ));
                    break;
                }
            }
        }
        let mut unmapped = KVec::new();
        for s in iter {
            // Only after a failed mapping; an allocation failure here drops
            // the remaining buffers (freed, not leaked).
            let _ = unmapped.push(s, GFP_ATOMIC);
        }
        if let Some((e, seg)) = failed {
            return Err((e, Self::give_back(mapped, Some(seg), unmapped), token));
        }
        let n = mapped.len();
        let mut inner = self.inner.lock();
        if inner.dead || inner.suspended {
            drop(inner);
            return Err((EIO, Self::give_back(mapped, None, unmapped), token));
        }
        let Some(slot) = inner.free.pop() else {
            drop(inner);
            return Err((ENOSPC, Self::give_back(mapped, None, unmapped), token));
        };
        // Counted before the ring makes the buffer available (its barrier
        // orders the two), so that the interrupt for it sees the count.
        self.in_flight().fetch_add(1, Relaxed);
        if let Err(e) = inner
            .ring
            .add(&bufs[..nout], &bufs[nout..n], usize::from(slot))
        {
            self.in_flight().fetch_sub(1, Relaxed);
            // `free` has room: we just took from it.
            let _ = inner.free.push(slot, GFP_ATOMIC);
            drop(inner);
            let e = ring_errno(e);
            return Err((e, Self::give_back(mapped, None, unmapped), token));
        }
        inner.entries[usize::from(slot)] = Some(InFlight {
            token,
            segs: Some(mapped),
        });
        drop(inner);
        self.stats().added.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Make a token that carries its own mapped buffers available (a block
    /// request, `blk::Rq::map`); with `kick`, also notify the device if it
    /// wants (as [`Queue::kick`], without taking the lock twice). On
    /// failure the token comes back (`ENOSPC`: ring full; `EIO`: the device
    /// broke the queue; `EINVAL`: not mapped or too many segments).
    ///
    /// `on_full` runs under the queue's lock when the ring is full, so that
    /// a block driver stops its hardware queue before a completion (which
    /// takes the same lock) can restart it.
    pub(crate) fn add_mapped(
        &self,
        token: T,
        kick: bool,
        on_full: impl FnOnce(&T),
    ) -> Result<(), (Error, T)>
    where
        T: DmaSegments,
    {
        let mut inner = self.inner.lock();
        if inner.dead || inner.suspended {
            drop(inner);
            return Err((EIO, token));
        }
        let (bufs, nout) = token.segments();
        if bufs.is_empty() || nout > bufs.len() {
            drop(inner);
            return Err((EINVAL, token));
        }
        let Some(slot) = inner.free.pop() else {
            on_full(&token);
            drop(inner);
            return Err((ENOSPC, token));
        };
        // As in `add`.
        self.in_flight().fetch_add(1, Relaxed);
        if let Err(e) = inner
            .ring
            .add(&bufs[..nout], &bufs[nout..], usize::from(slot))
        {
            self.in_flight().fetch_sub(1, Relaxed);
            // `free` has room: we just took from it.
            let _ = inner.free.push(slot, GFP_ATOMIC);
            let e = ring_errno(e);
            if e == ENOSPC {
                on_full(&token);
            }
            drop(inner);
            return Err((e, token));
        }
        inner.entries[usize::from(slot)] = Some(InFlight { token, segs: None });
        // The kick decision under the same lock; the notification after it.
        let notify = kick && !inner.resetting && inner.ring.kick_prepare();
        let next = inner.ring.notification_data();
        drop(inner);
        self.stats().added.fetch_add(1, Relaxed);
        if kick {
            self.notify(notify, next);
        }
        Ok(())
    }

    /// Unmap `mapped` onto the end of `out`, in order (a segment that finds
    /// no room, after a failed allocation, is freed).
    fn push_unmapped(out: &mut KVec<Seg>, mapped: KVec<(MappedBuf, bool)>) {
        for (m, write) in mapped {
            let _ = out.push(
                Seg {
                    buf: m.unmap(),
                    write,
                },
                GFP_ATOMIC,
            );
        }
    }

    /// The segments of a failed [`Queue::add`], unmapped, in their order.
    fn give_back(
        mapped: KVec<(MappedBuf, bool)>,
        failed: Option<Seg>,
        rest: KVec<Seg>,
    ) -> KVec<Seg> {
        let mut out =
            KVec::with_capacity(mapped.len() + 1 + rest.len(), GFP_ATOMIC).unwrap_or_default();
        Self::push_unmapped(&mut out, mapped);
        for s in Iterator::chain(failed.into_iter(), rest) {
            let _ = out.push(s, GFP_ATOMIC);
        }
        out
    }

    /// Notify the device of the buffers added since the last kick, if it
    /// wants a notification (event index / flags). Returns whether it was
    /// notified.
    pub(crate) fn kick(&self) -> bool {
        let (kick, next) = {
            let mut inner = self.inner.lock();
            if inner.dead || inner.suspended || inner.resetting {
                return false;
            }
            let kick = inner.ring.kick_prepare();
            (kick, inner.ring.notification_data())
        };
        self.notify(kick, next)
    }

    fn notify(&self, kick: bool, next: u16) -> bool {
        if !kick {
            self.stats().kicks_suppressed.fetch_add(1, Relaxed);
            return false;
        }
        let data = if self.ndata {
            (u32::from(next) << 16) | u32::from(self.index)
        } else {
            u32::from(self.index)
        };
        self.shared.notify(self.index, data);
        self.stats().kicks.fetch_add(1, Relaxed);
        true
    }

    /// The next used buffer, if any. `Some(Err(EIO))` once the device
    /// misbehaved (reported in the log the first time).
    pub(crate) fn pop(&self) -> Option<Result<Used<T>>> {
        let mut inner = self.inner.lock();
        if inner.dead || inner.suspended {
            return None;
        }
        let (slot, len) = match inner.ring.get_used() {
            Ok(Some(x)) => x,
            Ok(None) => return None,
            Err(e) => {
                self.fault(inner, e);
                return Some(Err(EIO));
            }
        };
        let entry = self.take_entry(&mut inner, slot);
        drop(inner);
        let entry = entry?;
        self.stats().used.fetch_add(1, Relaxed);
        Some(Ok(Self::finish(entry, len)))
    }

    /// For an interrupt callback: every used buffer to `f`, as
    /// `virtblk_done()` takes them under its lock: interrupts off, take
    /// what is there, interrupts on again, take what arrived meanwhile (the
    /// device may not interrupt for it). Up to `N` per lock round trip;
    /// `f` runs outside the lock. `Err(EIO)` after a device fault (reported
    /// once, in the log; what came before it went to `f`).
    ///
    /// A queue where nothing waits is left alone (one read; no lock when
    /// nothing is in flight): with a wired interrupt the transport runs
    /// every queue's callback, as `vring_interrupt()` checks
    /// `more_used()`.
    pub(crate) fn drain_used<const N: usize>(&self, mut f: impl FnMut(Used<T>)) -> Result {
        // Nothing in flight, nothing the device can have used: the count
        // goes up before a buffer is made available, so the interrupt for
        // it sees it. No lock round trip for the other queues of a wired
        // interrupt (a device that writes used entries for nothing is
        // caught at the next buffer).
        if self.in_flight().load(Acquire) == 0 {
            return Ok(());
        }
        const { assert!(N > 0) };
        // Set once interrupts are off: a round that took `N` leaves them
        // off, and the next must not skip an empty-looking ring.
        let mut polling = false;
        loop {
            let mut taken: [Option<(InFlight<T>, u32)>; N] = [const { None }; N];
            let mut n = 0;
            let mut more = false;
            let mut inner = self.inner.lock();
            if inner.dead || inner.suspended {
                return Ok(());
            }
            if !polling {
                if !inner.ring.more_used() {
                    return Ok(());
                }
                inner.ring.disable_cb();
                polling = true;
            }
            let mut fault = None;
            loop {
                if n == N {
                    more = true;
                    break;
                }
                match inner.ring.get_used() {
                    Ok(Some((slot, len))) => {
                        if let Some(entry) = self.take_entry(&mut inner, slot) {
                            taken[n] = Some((entry, len));
                            n += 1;
                        }
                    }
                    Ok(None) => {
                        if inner.ring.enable_cb() {
                            break;
                        }
                        // Arrived between the look and the enable.
                        inner.ring.disable_cb();
                    }
                    Err(e) => {
                        fault = Some(e);
                        break;
                    }
                }
            }
            let faulted = fault.is_some();
            match fault {
                Some(e) => self.fault(inner, e),
                None => drop(inner),
            }
            if n > 0 {
                self.stats().used.fetch_add(n as u64, Relaxed);
            }
            // In place: the array is not moved (copied) to be iterated.
            for (entry, len) in taken.iter_mut().filter_map(Option::take) {
                f(Self::finish(entry, len));
            }
            if faulted {
                return Err(EIO);
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// Mark the queue faulted (the device misbehaved) and report it the
    /// first time; the lock is given up before the report.
    fn fault(&self, mut inner: SpinLockIrqGuard<'_, Inner<T>>, e: RingError) {
        let first = !inner.faulted;
        inner.faulted = true;
        drop(inner);
        if first {
            match e {
                RingError::Fault(f) => self.shared.report_fault(self.index, &f),
                e => self.shared.report_fault(self.index, &e),
            }
        }
    }

    /// The entry of a used ring slot, its slot freed. The ring hands back
    /// only ids it has in flight: the entry is there.
    fn take_entry(&self, inner: &mut Inner<T>, slot: usize) -> Option<InFlight<T>> {
        let entry = inner.entries.get_mut(slot).and_then(Option::take);
        if entry.is_some() {
            self.in_flight().fetch_sub(1, Relaxed);
        }
        if let Ok(s) = u16::try_from(slot) {
            let _ = inner.free.push(s, GFP_ATOMIC);
        }
        entry
    }

    /// A used entry for the caller (outside the lock): its segments
    /// unmapped.
    fn finish(entry: InFlight<T>, len: u32) -> Used<T> {
        let segs = entry.segs.map(|mapped| {
            let mut segs = KVec::with_capacity(mapped.len(), GFP_ATOMIC).unwrap_or_default();
            Self::push_unmapped(&mut segs, mapped);
            segs
        });
        Used {
            token: entry.token,
            segs,
            len,
        }
    }

    /// Whether a used buffer (or a device fault) waits to be popped: a
    /// read, no write to the ring. An interrupt callback that finds
    /// nothing returns at once: with a wired interrupt the transport runs
    /// every queue's callback (as `vring_interrupt()` does with
    /// `more_used()`).
    pub(crate) fn more_used(&self) -> bool {
        let inner = self.inner.lock();
        !inner.dead && !inner.suspended && inner.ring.more_used()
    }

    /// Ask for used-buffer interrupts; `false` if buffers are already
    /// waiting (pop them first, then ask again).
    /// Nothing to wait for (`true`) on a dead or suspended queue.
    pub(crate) fn enable_cb(&self) -> bool {
        let mut inner = self.inner.lock();
        inner.dead || inner.suspended || inner.ring.enable_cb()
    }

    /// Ask the device not to interrupt (a hint).
    pub(crate) fn disable_cb(&self) {
        let mut inner = self.inner.lock();
        if !inner.dead && !inner.suspended {
            inner.ring.disable_cb()
        }
    }

    /// Free ring entries.
    pub(crate) fn num_free(&self) -> u16 {
        self.inner.lock().ring.num_free()
    }

    /// Whether the device broke the queue.
    pub(crate) fn is_broken(&self) -> bool {
        self.inner.lock().ring.is_broken()
    }

    /// Treat a used length above what the buffer can take as a device
    /// fault (for drivers that trust the device's length) instead of
    /// clamping it (the default).
    pub(crate) fn set_strict_used_len(&self, strict: bool) {
        let mut inner = self.inner.lock();
        inner.strict = strict;
        inner.ring.set_strict_used_len(strict)
    }

    /// Take back every buffer in flight, for a device that misbehaved
    /// (`Driver::device_fault`): reset the device (once for all its
    /// queues, so it no longer touches any buffer), unmap the buffers and
    /// return the tokens, in no particular order. The queue is dead
    /// afterwards: `add` fails with `EIO`, `pop` finds nothing. Process
    /// context (the reset waits for running interrupt callbacks).
    pub(crate) fn reclaim(&self) -> KVec<T> {
        self.take_back(false)
    }

    /// Take back every buffer in flight before system sleep
    /// (`Driver::freeze`, after the driver stopped adding): reset the
    /// device (once for all its queues), unmap the buffers and return the
    /// tokens. Until `Device::restore_queues` rearms the ring, `add` fails
    /// with `EIO` and `pop` finds nothing. Process context.
    pub(crate) fn suspend(&self) -> KVec<T> {
        self.take_back(true)
    }

    fn take_back(&self, suspend: bool) -> KVec<T> {
        self.shared.stop();
        let entries = {
            let mut inner = self.inner.lock();
            if suspend {
                inner.suspended = true;
            } else {
                inner.dead = true;
            }
            while inner.ring.detach_unused().is_some() {}
            // `add` is refused from here on: no entry is looked up until
            // `rearm` puts a new table in.
            self.in_flight().store(0, Relaxed);
            core::mem::take(&mut inner.entries)
        };
        let mut out = KVec::with_capacity(entries.len(), GFP_KERNEL).unwrap_or_default();
        // A failed push drops the token: freed, not leaked (only with a
        // failed allocation above).
        self.give_back_entries(entries, |token| {
            let _ = out.push(token, GFP_KERNEL);
        });
        out
    }

    /// The tokens of a table taken from the queue (the device no longer
    /// uses its buffers) to `f`, their buffers unmapped, each counted as
    /// reclaimed.
    fn give_back_entries(&self, entries: KVec<Option<InFlight<T>>>, mut f: impl FnMut(T)) {
        for InFlight { token, segs } in entries.into_iter().flatten() {
            drop(segs);
            self.stats().reclaimed.fetch_add(1, Relaxed);
            f(token);
        }
    }
}

impl<T: Send> Restore for Queue<T> {
    fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn index(&self) -> u16 {
        self.index
    }

    fn rearm(&self) -> Result {
        if !self.inner.lock().suspended {
            return Err(EBUSY);
        }
        // Built outside the lock: the device is reset and the queue
        // suspended, and no method of a suspended queue touches the ring
        // memory (`kick`, `pop`, `more_used`, `enable_cb`, `disable_cb`
        // check first; `num_free` reads the ring's own state).
        let (layout, num) = {
            let inner = self.inner.lock();
            (inner.layout.clone(), inner.num)
        };
        let mut ring = layout.build(num)?;
        let (mut entries, mut free) = fresh_entries(num)?;
        let mut inner = self.inner.lock();
        ring.set_strict_used_len(inner.strict);
        core::mem::swap(&mut inner.ring, &mut ring);
        core::mem::swap(&mut inner.entries, &mut entries);
        core::mem::swap(&mut inner.free, &mut free);
        inner.suspended = false;
        inner.dead = false;
        inner.faulted = false;
        drop(inner);
        // The old ring, table and free list go here, outside the lock.
        Ok(())
    }

    fn kill(&self) {
        self.inner.lock().dead = true;
    }
}

#[pinned_drop]
impl<T: Send> PinnedDrop for Queue<T> {
    fn drop(self: Pin<&mut Self>) {
        // The device must not touch the buffers we are about to unmap or
        // the ring we free: reset it unless the driver's removal did.
        self.shared.stop();
        let mut inner = self.inner.lock();
        while inner.ring.detach_unused().is_some() {}
        let entries = core::mem::take(&mut inner.entries);
        drop(inner);
        // Unmaps and drops whatever was in flight (tokens included).
        drop(entries);
    }
}
