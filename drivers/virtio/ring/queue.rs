// SPDX-License-Identifier: GPL-2.0

//! Format-independent views of a queue: the operations split and packed
//! rings share, so that tests, benchmarks and drivers can be written once.

use super::{
    packed::{PackedDevice, PackedDriver},
    split::{SplitDevice, SplitDriver},
    Buf, Desc, DeviceMemory, Result, RingMem, Slot,
};
use core::ops::DerefMut;

/// The driver side of a virtqueue.
pub trait DriverQueue {
    /// Make a buffer available; see [`SplitDriver::add`].
    fn add(&mut self, out: &[Buf], inb: &[Buf], token: usize) -> Result<u16>;
    /// Whether to notify the device now.
    fn kick_prepare(&mut self) -> bool;
    /// Next used buffer (token, written length).
    fn get_used(&mut self) -> Result<Option<(usize, u32)>>;
    /// Whether a used buffer is waiting.
    fn more_used(&self) -> bool;
    /// Ask for no interrupts.
    fn disable_cb(&mut self);
    /// Ask for interrupts; `false` if buffers are already pending.
    fn enable_cb(&mut self) -> bool;
    /// Ask for an interrupt after ~3/4 of the outstanding buffers.
    fn enable_cb_delayed(&mut self) -> bool;
    /// Take back an unused buffer after device reset.
    fn detach_unused(&mut self) -> Option<usize>;
    /// Free descriptors.
    fn num_free(&self) -> u16;
    /// Whether the queue is broken.
    fn is_broken(&self) -> bool;
    /// Fault on a used length beyond the buffer instead of clamping it.
    fn set_strict_used_len(&mut self, strict: bool);
    /// How many used lengths were clamped.
    fn used_len_clamped(&self) -> u32;
    /// The "next" part of the notification data (`<< 16 | index`).
    fn notification_data(&self) -> u16;
}

/// A chain the device took from either format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Popped {
    /// Id to return.
    pub id: u16,
    /// Descriptors written to the caller's slice.
    pub count: usize,
    /// Ring descriptors the chain occupies (packed; 1 for split).
    pub ndescs: u16,
}

/// The device side of a virtqueue.
pub trait DeviceQueue {
    /// Take the next available chain into `descs`.
    fn pop_desc<D: DeviceMemory>(&mut self, dm: &D, descs: &mut [Desc]) -> Result<Option<Popped>>;
    /// Return a chain with `len` bytes written.
    fn push(&mut self, p: &Popped, len: u32);
    /// Whether to notify the driver now.
    fn should_notify(&mut self) -> bool;
    /// Ask for no notifications.
    fn disable_notify(&mut self);
    /// Ask for notifications; `true` if buffers are already available.
    fn enable_notify(&mut self) -> bool;
    /// Whether the driver misbehaved and the queue is stopped.
    fn is_broken(&self) -> bool;
}

macro_rules! forward_driver {
    ($t:ident) => {
        impl<M: RingMem, S: DerefMut<Target = [Slot]>> DriverQueue for $t<M, S> {
            fn add(&mut self, out: &[Buf], inb: &[Buf], token: usize) -> Result<u16> {
                $t::add(self, out, inb, token)
            }
            fn kick_prepare(&mut self) -> bool {
                $t::kick_prepare(self)
            }
            fn get_used(&mut self) -> Result<Option<(usize, u32)>> {
                $t::get_used(self)
            }
            fn more_used(&self) -> bool {
                $t::more_used(self)
            }
            fn disable_cb(&mut self) {
                $t::disable_cb(self)
            }
            fn enable_cb(&mut self) -> bool {
                $t::enable_cb(self)
            }
            fn enable_cb_delayed(&mut self) -> bool {
                $t::enable_cb_delayed(self)
            }
            fn detach_unused(&mut self) -> Option<usize> {
                $t::detach_unused(self)
            }
            fn num_free(&self) -> u16 {
                $t::num_free(self)
            }
            fn is_broken(&self) -> bool {
                $t::is_broken(self)
            }
            fn set_strict_used_len(&mut self, strict: bool) {
                $t::set_strict_used_len(self, strict)
            }
            fn used_len_clamped(&self) -> u32 {
                $t::used_len_clamped(self)
            }
            fn notification_data(&self) -> u16 {
                $t::notification_data(self)
            }
        }
    };
}
forward_driver!(SplitDriver);
forward_driver!(PackedDriver);

impl<M: RingMem> DeviceQueue for SplitDevice<M> {
    fn pop_desc<D: DeviceMemory>(&mut self, dm: &D, descs: &mut [Desc]) -> Result<Option<Popped>> {
        Ok(self.pop(dm, descs)?.map(|c| Popped {
            id: c.id,
            count: c.count,
            ndescs: 1,
        }))
    }
    fn push(&mut self, p: &Popped, len: u32) {
        self.push_used(p.id, len)
    }
    fn should_notify(&mut self) -> bool {
        SplitDevice::should_notify(self)
    }
    fn disable_notify(&mut self) {
        SplitDevice::disable_notify(self)
    }
    fn enable_notify(&mut self) -> bool {
        SplitDevice::enable_notify(self)
    }
    fn is_broken(&self) -> bool {
        SplitDevice::is_broken(self)
    }
}

impl<M: RingMem> DeviceQueue for PackedDevice<M> {
    fn pop_desc<D: DeviceMemory>(&mut self, dm: &D, descs: &mut [Desc]) -> Result<Option<Popped>> {
        Ok(self.pop(dm, descs)?.map(|c| Popped {
            id: c.id,
            count: c.count,
            ndescs: c.ndescs,
        }))
    }
    fn push(&mut self, p: &Popped, len: u32) {
        self.push_used(p.id, len, p.ndescs)
    }
    fn should_notify(&mut self) -> bool {
        PackedDevice::should_notify(self)
    }
    fn disable_notify(&mut self) {
        PackedDevice::disable_notify(self)
    }
    fn enable_notify(&mut self) -> bool {
        PackedDevice::enable_notify(self)
    }
    fn is_broken(&self) -> bool {
        PackedDevice::is_broken(self)
    }
}

/// A driver queue of either format.
pub enum AnyDriver<M: RingMem, S: DerefMut<Target = [Slot]>> {
    /// Split ring.
    Split(SplitDriver<M, S>),
    /// Packed ring.
    Packed(PackedDriver<M, S>),
}

/// A device queue of either format.
pub enum AnyDevice<M: RingMem> {
    /// Split ring.
    Split(SplitDevice<M>),
    /// Packed ring.
    Packed(PackedDevice<M>),
}

macro_rules! any_fwd {
    ($self:ident, $q:ident => $e:expr) => {
        match $self {
            AnyDriver::Split($q) => $e,
            AnyDriver::Packed($q) => $e,
        }
    };
}

impl<M: RingMem, S: DerefMut<Target = [Slot]>> DriverQueue for AnyDriver<M, S> {
    fn add(&mut self, out: &[Buf], inb: &[Buf], token: usize) -> Result<u16> {
        any_fwd!(self, q => q.add(out, inb, token))
    }
    fn kick_prepare(&mut self) -> bool {
        any_fwd!(self, q => q.kick_prepare())
    }
    fn get_used(&mut self) -> Result<Option<(usize, u32)>> {
        any_fwd!(self, q => q.get_used())
    }
    fn more_used(&self) -> bool {
        any_fwd!(self, q => q.more_used())
    }
    fn disable_cb(&mut self) {
        any_fwd!(self, q => q.disable_cb())
    }
    fn enable_cb(&mut self) -> bool {
        any_fwd!(self, q => q.enable_cb())
    }
    fn enable_cb_delayed(&mut self) -> bool {
        any_fwd!(self, q => q.enable_cb_delayed())
    }
    fn detach_unused(&mut self) -> Option<usize> {
        any_fwd!(self, q => q.detach_unused())
    }
    fn num_free(&self) -> u16 {
        any_fwd!(self, q => q.num_free())
    }
    fn is_broken(&self) -> bool {
        any_fwd!(self, q => q.is_broken())
    }
    fn set_strict_used_len(&mut self, strict: bool) {
        any_fwd!(self, q => q.set_strict_used_len(strict))
    }
    fn used_len_clamped(&self) -> u32 {
        any_fwd!(self, q => q.used_len_clamped())
    }
    fn notification_data(&self) -> u16 {
        any_fwd!(self, q => q.notification_data())
    }
}

impl<M: RingMem> DeviceQueue for AnyDevice<M> {
    fn pop_desc<D: DeviceMemory>(&mut self, dm: &D, descs: &mut [Desc]) -> Result<Option<Popped>> {
        match self {
            AnyDevice::Split(q) => q.pop_desc(dm, descs),
            AnyDevice::Packed(q) => q.pop_desc(dm, descs),
        }
    }
    fn push(&mut self, p: &Popped, len: u32) {
        match self {
            AnyDevice::Split(q) => q.push(p, len),
            AnyDevice::Packed(q) => q.push(p, len),
        }
    }
    fn should_notify(&mut self) -> bool {
        match self {
            AnyDevice::Split(q) => DeviceQueue::should_notify(q),
            AnyDevice::Packed(q) => DeviceQueue::should_notify(q),
        }
    }
    fn disable_notify(&mut self) {
        match self {
            AnyDevice::Split(q) => DeviceQueue::disable_notify(q),
            AnyDevice::Packed(q) => DeviceQueue::disable_notify(q),
        }
    }
    fn enable_notify(&mut self) -> bool {
        match self {
            AnyDevice::Split(q) => DeviceQueue::enable_notify(q),
            AnyDevice::Packed(q) => DeviceQueue::enable_notify(q),
        }
    }
    fn is_broken(&self) -> bool {
        match self {
            AnyDevice::Split(q) => q.is_broken(),
            AnyDevice::Packed(q) => q.is_broken(),
        }
    }
}
