// SPDX-License-Identifier: GPL-2.0

//! Virtio ring core: split and packed virtqueues, driver and device side.
//!
//! This module is shared, by path, between the kernel modules (through
//! Kbuild) and the host crate `virtio-ring` (through cargo), so one body of
//! code is both run in the kernel and unit-, property-, model-tested and
//! fuzzed on the host. It is `no_std`, allocates nothing and depends on
//! nothing but `core`.
//!
//! The caller hands in the memory the ring lives in as a [`RingMem`]
//! (DMA-coherent memory in the kernel, a heap buffer on the host) together
//! with the barriers that order accesses to it, and the private per-buffer
//! bookkeeping as a slice of [`Slot`]s. Every field of the ring is read and
//! written through [`RingMem`]'s atomic accessors; no Rust reference to
//! shared ring memory is ever created.
//!
//! See `Documentation/virtio/vring.rst` for the layout, the memory ordering
//! argument and the hardening rules.

#[path = "mem.rs"]
pub mod mem;
#[path = "packed.rs"]
pub mod packed;
#[path = "queue.rs"]
pub mod queue;
#[path = "split.rs"]
pub mod split;

pub use mem::RingMem;

/// Largest queue size of either format (virtio 1.2, 2.6 and 2.7).
pub const MAX_QUEUE_SIZE: u16 = 32768;

/// Descriptor flag: the buffer continues in the `next` descriptor.
pub const VRING_DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the buffer is device write-only.
pub const VRING_DESC_F_WRITE: u16 = 2;
/// Descriptor flag: the buffer is a table of indirect descriptors.
pub const VRING_DESC_F_INDIRECT: u16 = 4;
/// Feature bit: indirect descriptors (`VIRTIO_RING_F_INDIRECT_DESC`).
pub const VIRTIO_RING_F_INDIRECT_DESC: u32 = 28;
/// Feature bit: event index (`VIRTIO_RING_F_EVENT_IDX`).
pub const VIRTIO_RING_F_EVENT_IDX: u32 = 29;
/// Feature bit: packed ring layout (`VIRTIO_F_RING_PACKED`).
pub const VIRTIO_F_RING_PACKED: u32 = 34;
/// Size of one descriptor, split or packed, in bytes.
pub const DESC_SIZE: usize = 16;

/// One segment of a buffer: a device address and a length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Buf {
    /// Device (DMA) address of the segment.
    pub addr: u64,
    /// Length of the segment in bytes.
    pub len: u32,
}

/// A descriptor as the device sees it after validation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Desc {
    /// Device address of the segment.
    pub addr: u64,
    /// Length of the segment in bytes.
    pub len: u32,
    /// The device may write (true) or only read (false) this segment.
    pub write: bool,
}

/// What the other side did wrong. Each fault marks the queue broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The device returned a buffer id outside the queue.
    UsedIdOutOfRange {
        /// The id the device wrote.
        id: u32,
    },
    /// The device returned a buffer id that is not in flight.
    UsedIdNotInFlight {
        /// The id the device wrote.
        id: u32,
    },
    /// The device claims to have written more than the buffer holds.
    UsedLenTooLarge {
        /// The id of the buffer.
        id: u32,
        /// The length the device wrote.
        len: u32,
        /// The writable size of the buffer.
        max: u32,
    },
    /// A ring index moved by more than the queue holds.
    IndexJump {
        /// The index seen.
        idx: u16,
        /// The last index processed.
        last: u16,
    },
    /// A packed descriptor's wrap counter / flags are inconsistent.
    WrapCounter {
        /// Ring position of the descriptor.
        pos: u16,
        /// Its flags.
        flags: u16,
    },
    /// A descriptor's `next` is outside the table.
    NextOutOfRange {
        /// The offending `next` (or position).
        next: u16,
    },
    /// A descriptor chain loops or is longer than the table.
    ChainLoop,
    /// An indirect table is malformed (bad length, nested, or unmapped).
    BadIndirect,
    /// A head index in the available ring is outside the queue.
    AvailHeadOutOfRange {
        /// The head the driver wrote.
        head: u16,
    },
}

/// Errors of ring operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not enough free descriptors (or buffer ids) for this buffer.
    NoSpace,
    /// The request itself is malformed (no segment, too many segments,
    /// a size that is not allowed).
    Invalid,
    /// The memory handed in is too small or misaligned for the layout.
    BadMemory,
    /// The other side misbehaved: this is the first report, the queue is
    /// now broken. Report it (once) to the user.
    Fault(Fault),
    /// The queue was marked broken earlier; nothing more is done on it.
    Broken,
    /// The caller's scratch space is too small for the chain (device side).
    ChainTooLong,
}

/// Result type of ring operations.
pub type Result<T> = core::result::Result<T, Error>;

/// Private per-descriptor (split) or per-buffer-id (packed) bookkeeping,
/// kept by the driver outside the shared memory so that nothing the
/// device can write is trusted when buffers are freed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Slot {
    pub(crate) token: usize,
    /// Free list / chain link (split), free id list (packed).
    pub(crate) next: u16,
    /// Number of ring descriptors the buffer occupies; 0 = not in flight.
    pub(crate) ndescs: u16,
    /// Sum of the device-writable segment lengths.
    pub(crate) in_len: u32,
}

/// The event index rule (virtio 1.2, 2.7.10): notify when the other side's
/// event index lies in `(old, new]`, all modulo 2^16.
#[inline]
pub const fn vring_need_event(event_idx: u16, new_idx: u16, old: u16) -> bool {
    new_idx.wrapping_sub(event_idx).wrapping_sub(1) < new_idx.wrapping_sub(old)
}

/// Memory that the device side reads indirect tables from, by device
/// address. The driver side never needs this.
pub trait DeviceMemory {
    /// The ring memory type of a mapped region.
    type Mem: RingMem;
    /// Map `len` bytes at device address `addr`, or `None` if the range is
    /// not guest memory the device may access.
    fn map(&self, addr: u64, len: usize) -> Option<Self::Mem>;
}

/// Sticky broken state: the first fault is reported, later calls only see
/// [`Error::Broken`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BrokenFlag(bool);

impl BrokenFlag {
    #[inline]
    pub(crate) fn check(&self) -> Result<()> {
        if self.0 {
            Err(Error::Broken)
        } else {
            Ok(())
        }
    }

    #[cold]
    pub(crate) fn fault(&mut self, f: Fault) -> Error {
        if self.0 {
            Error::Broken
        } else {
            self.0 = true;
            Error::Fault(f)
        }
    }

    pub(crate) fn is_broken(&self) -> bool {
        self.0
    }

    /// Mark broken without a device fault (e.g. on removal).
    pub(crate) fn set(&mut self) {
        self.0 = true;
    }
}

/// What the driver does with a used length larger than the buffer's
/// device-writable size.
///
/// By default the length is clamped to what the buffer can hold and
/// counted: real devices report lengths for out-only buffers, and Linux
/// reverted making this fatal ("breaking too many guests", commit
/// f124034faa91). A driver that must not trust the length at all can ask
/// for the strict behaviour, which reports [`Fault::UsedLenTooLarge`] and
/// breaks the queue.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct UsedLen {
    pub(crate) strict: bool,
    pub(crate) clamped: u32,
}

impl UsedLen {
    /// The length to hand to the caller for buffer `id` that holds `max`
    /// writable bytes, of which the device claims to have written `len`.
    #[inline]
    pub(crate) fn check(
        &mut self,
        id: u32,
        len: u32,
        max: u32,
    ) -> core::result::Result<u32, Fault> {
        if len <= max {
            return Ok(len);
        }
        if self.strict {
            return Err(Fault::UsedLenTooLarge { id, len, max });
        }
        self.clamped = self.clamped.saturating_add(1);
        Ok(max)
    }
}

/// The segments of a buffer in ring order, each with the descriptor flag
/// of its direction: the device-readable `out` ones (0), then the
/// device-writable `inb` ones (`VRING_DESC_F_WRITE`).
pub(crate) fn segments<'a>(out: &'a [Buf], inb: &'a [Buf]) -> impl Iterator<Item = (&'a Buf, u16)> {
    out.iter()
        .map(|b| (b, 0))
        .chain(inb.iter().map(|b| (b, VRING_DESC_F_WRITE)))
}

/// Sum of segment lengths, saturating at `u32::MAX`.
pub(crate) fn total_len(bufs: &[Buf]) -> u32 {
    bufs.iter().fold(0u32, |acc, b| acc.saturating_add(b.len))
}
