// SPDX-License-Identifier: GPL-2.0

//! Virtio drivers in Rust on the Rust vring: the bus side, the one place
//! with `unsafe` for them (`Documentation/virtio/drivers.rst`).
//!
//! - [`Driver`] and [`Registration`]: a `struct virtio_driver` on the
//!   kernel's virtio bus. The virtio core negotiates features from
//!   [`Driver::FEATURES`] (and the ring features the C vring and ours both
//!   support) before [`Driver::probe`] runs.
//! - [`Device`]: what a driver may do with its device in probe (features,
//!   typed config reads, [`Device::find_queues`], [`Device::ready`]).
//! - [`Rings`]: the queues' rings in DMA-coherent memory, given to the
//!   device through the transport's raw queue ops (`raw_queue.h`), which
//!   `virtio_rs_core` hands out per device. A device whose transport has
//!   none (virtio-pci, the C virtio-mmio) is refused with `-ENODEV`, so the
//!   driver core offers it to the next driver (the stock C one).
//! - [`MappedBuf`]: a kmalloc'ed buffer mapped for streaming DMA (or at
//!   its physical address: [`DmaDev`]).
//!
//! `drivers/virtio/driver/queue.rs` builds typed queues on these, in safe
//! code.

// Shared by path between modules; each uses part of it.
#![allow(dead_code)]

use super::dma_ring::SharedRing;
use super::virtio::sys;
use core::{
    marker::PhantomData,
    ptr::NonNull,
    sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering},
};
use kernel::{
    bindings, debugfs, device,
    device_id::{IdTable, RawDeviceId},
    dma::{Coherent, DataDirection},
    ffi::c_void,
    new_mutex,
    prelude::*,
    str::{CStr, CString},
    sync::{Arc, Mutex},
    types::Opaque,
};

/// `VIRTIO_DEV_ANY_ID`: any vendor.
pub(crate) const ANY_VENDOR: u32 = 0xffff_ffff;

/// A virtio device id (`struct virtio_device_id`) for an id table made with
/// `kernel::module_device_table!("virtio", ..., @none, [...])`, which also
/// gives the module its `virtio:d<device>v<vendor>` aliases.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct DeviceId {
    device: u32,
    vendor: u32,
}

// The layout of `struct virtio_device_id` (bindgen does not derive `Copy`
// for it, which id tables need).
const _: () = {
    assert!(size_of::<DeviceId>() == size_of::<sys::virtio_device_id>());
    assert!(core::mem::offset_of!(sys::virtio_device_id, device) == 0);
    assert!(core::mem::offset_of!(sys::virtio_device_id, vendor) == 4);
};

impl DeviceId {
    /// Devices of type `device` (`VIRTIO_ID_*`) from `vendor`
    /// ([`ANY_VENDOR`]: any).
    pub(crate) const fn new(device: u32, vendor: u32) -> Self {
        DeviceId { device, vendor }
    }
}

// SAFETY: `DeviceId` has the layout of `struct virtio_device_id` (checked
// above) and is its own raw type.
unsafe impl RawDeviceId for DeviceId {
    type RawType = DeviceId;
}

/// The id table type of a [`Driver`].
pub(crate) type IdTableRef = &'static dyn IdTable<DeviceId, ()>;

/// Queues with their own counters; higher ones count on the last.
pub(crate) const QUEUE_STATS: usize = 16;

/// The counters of one queue: what its ring did (kept by
/// `Queue`) and the interrupt callbacks it got (kept here; with a shared
/// wired interrupt, the transport calls every queue's callback).
#[derive(Default)]
pub(crate) struct QueueStats {
    /// Buffers made available.
    pub(crate) added: AtomicU64,
    /// Notifications sent to the device.
    pub(crate) kicks: AtomicU64,
    /// Kick decisions where the device did not want a notification
    /// (event index / `NO_NOTIFY`).
    pub(crate) kicks_suppressed: AtomicU64,
    /// Used buffers taken back.
    pub(crate) used: AtomicU64,
    /// Interrupt callbacks of the queue.
    pub(crate) callbacks: AtomicU64,
    /// Buffers taken back without the device using them (a device fault,
    /// system sleep, a queue resize): `added` = `used` + `reclaimed` at
    /// rest.
    pub(crate) reclaimed: AtomicU64,
    /// Entries of the queue's ring now (it changes with a resize).
    pub(crate) size: AtomicU32,
    /// The device's largest size of the queue.
    pub(crate) max: AtomicU32,
}

/// The counters of one bound device, in the driver's debugfs directory:
/// `/sys/kernel/debug/<driver>/<virtioN>`:
///
/// ```text
/// queue 0: added 4096 kicks 4090 kicks_suppressed 6 used 4096 callbacks 4001 reclaimed 0 size 256 max 1024
/// dma: physical
/// fault: none
/// ```
///
/// `dma` says how buffers are addressed ([`DmaDev`]): `physical`, or `api`
/// (streaming DMA mappings, `VIRTIO_F_ACCESS_PLATFORM`).
/// `fault` names the queue that found the device misbehaving, if one did.
/// Next to it, `<virtioN>.resize` takes "`<queue> <entries>`" and resizes
/// that queue's ring through [`Driver::resize_queue`].
pub(crate) struct DevStats {
    queues: [QueueStats; QUEUE_STATS],
    /// Queues set up (`find_queues`).
    nqueues: AtomicU32,
    /// Buffers get physical addresses ([`DmaDev::phys`]).
    phys: AtomicBool,
    /// The queue that reported a device fault, or -1.
    fault_queue: AtomicI32,
}

impl DevStats {
    fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(
            DevStats {
                queues: [const {
                    QueueStats {
                        added: AtomicU64::new(0),
                        kicks: AtomicU64::new(0),
                        kicks_suppressed: AtomicU64::new(0),
                        used: AtomicU64::new(0),
                        callbacks: AtomicU64::new(0),
                        reclaimed: AtomicU64::new(0),
                        size: AtomicU32::new(0),
                        max: AtomicU32::new(0),
                    }
                }; QUEUE_STATS],
                nqueues: AtomicU32::new(0),
                phys: AtomicBool::new(false),
                fault_queue: AtomicI32::new(-1),
            },
            GFP_KERNEL,
        )?)
    }

    /// The counters of queue `index`.
    pub(crate) fn queue(&self, index: u16) -> &QueueStats {
        &self.queues[usize::from(index).min(QUEUE_STATS - 1)]
    }

    fn show(s: &Arc<DevStats>, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        let r = Ordering::Relaxed;
        let n = (s.nqueues.load(r) as usize).min(QUEUE_STATS);
        for (i, q) in s.queues[..n].iter().enumerate() {
            writeln!(
                f,
                "queue {}: added {} kicks {} kicks_suppressed {} used {} callbacks {} reclaimed {} size {} max {}",
                i,
                q.added.load(r),
                q.kicks.load(r),
                q.kicks_suppressed.load(r),
                q.used.load(r),
                q.callbacks.load(r),
                q.reclaimed.load(r),
                q.size.load(r),
                q.max.load(r)
            )?;
        }
        if n > 0 {
            let how = if s.phys.load(r) { "physical" } else { "api" };
            writeln!(f, "dma: {}", how)?;
        }
        match s.fault_queue.load(r) {
            q if q < 0 => writeln!(f, "fault: none"),
            q => writeln!(f, "fault: queue {}", q),
        }
    }
}

/// A virtio driver on the Rust vring.
///
/// Its callbacks run in process context unless said otherwise, serialised
/// per device by the driver core, except `config_changed` and
/// `device_fault` (work items).
pub(crate) trait Driver: Sized + 'static {
    /// Per-device data, made by [`Driver::probe`], dropped at removal after
    /// the device was reset.
    type Data: Send + Sync;
    /// The driver's name on the bus.
    const NAME: &'static CStr;
    /// The devices it drives.
    const ID_TABLE: IdTableRef;
    /// The device-class feature bits it understands; the ring's own
    /// (indirect, event index, packed, version 1, notification data, ring
    /// reset) are negotiated by the virtio core and the transport.
    const FEATURES: &'static [u32];

    /// Set the device up: features are negotiated (`FEATURES_OK`); create
    /// the queues with [`Device::find_queues`], then [`Device::ready`].
    fn probe(dev: &Device<'_>) -> Result<Pin<KBox<Self::Data>>>;

    /// Queue `index` has used buffers (or may have). Hard-irq context; may
    /// also run once right after probe, for buffers that completed before
    /// the data existed.
    fn queue_done(data: &Self::Data, index: u16);

    /// After probe, with the data published (`DRIVER_OK` set): the place
    /// to register with other subsystems that may do I/O right away (a
    /// disk's partition scan), whose completions need `queue_done`.
    fn scan(_dev: &Device<'_>, _data: Pin<&Self::Data>) {}

    /// Before removal: stop submitting, unregister from other subsystems.
    /// The device is still live (callbacks run); it is reset afterwards.
    fn remove(_dev: &Device<'_>, _data: Pin<&Self::Data>) {}

    /// The device's configuration changed. Process context (a work item:
    /// the transport reports the change from its interrupt handler).
    fn config_changed(_dev: &Device<'_>, _data: Pin<&Self::Data>) {}

    /// A queue found that the device misbehaved (a used id or length it
    /// cannot have written, a ring index that jumped): the layer logged it
    /// once for the device. Process context (a work item), at most once
    /// per binding, and not serialised with the other callbacks: it may
    /// run while `remove` waits for the requests it fails. The device
    /// still runs: take back what is in flight with `Queue::reclaim`
    /// (which resets the device first) and fail it; the default does
    /// nothing, which leaves the buffers with the device until removal.
    /// The device stays unusable until it is bound again.
    fn device_fault(_dev: &Device<'_>, _data: Pin<&Self::Data>) {}

    /// System sleep begins (`virtio_device_freeze`; configuration change
    /// reports are off). Stop submitting, wait for or take back what is in
    /// flight, and end with `Queue::suspend` on every queue (which resets
    /// the device). The layer then deletes the queues; the rings stay.
    /// It may fail (sleep is then aborted) only before its first
    /// `Queue::suspend`, and must then be running as before: a suspended
    /// queue's device is reset, and only `restore` gives the queues back.
    /// The default refuses sleep with `EOPNOTSUPP`.
    fn freeze(dev: &Device<'_>, _data: Pin<&Self::Data>) -> Result {
        dev_warn!(
            dev.as_dev(),
            "system sleep is not supported by this driver\n"
        );
        Err(EOPNOTSUPP)
    }

    /// System sleep ended: the device was reset and its features
    /// negotiated again (the same ones). Give every queue back with
    /// [`Device::restore_queues`], set [`Device::ready`] and resume
    /// submitting. On error the virtio core marks the device `FAILED`; the
    /// queues are dead (I/O fails with `EIO`) until the device is bound
    /// again. If the core fails before it calls `restore` (the device
    /// refuses the features), the queues stay suspended (`add` fails with
    /// `EIO`) and whatever the driver held back at `freeze` must be let go
    /// at `remove`. A device that misbehaved before sleep starts afresh.
    fn restore(_dev: &Device<'_>, _data: Pin<&Self::Data>) -> Result {
        Err(EOPNOTSUPP)
    }

    /// Someone asked for queue `index` to have a ring of `size` entries
    /// (the device's `<virtioN>.resize` file in the driver's debugfs
    /// directory; `virtqueue_resize()`'s users in C take it from
    /// `ethtool -G`). Process context, after `scan` and before `remove`,
    /// never during system sleep, but not serialised with
    /// `config_changed` or `device_fault`. Quiesce the queue's users,
    /// call `Queue::resize` and let them go again. The default refuses
    /// with `EOPNOTSUPP`.
    fn resize_queue(_dev: &Device<'_>, _data: Pin<&Self::Data>, _index: u16, _size: u16) -> Result {
        Err(EOPNOTSUPP)
    }
}

/// What [`Device::restore_queues`] needs of a queue (`Queue<T>` for any
/// token type, so that one call takes every queue of a device).
pub(crate) trait Restore {
    /// The device's queues it belongs to.
    fn shared(&self) -> &Arc<Shared>;
    /// Its index on the device.
    fn index(&self) -> u16;
    /// Start the ring afresh on its memory (zeroed, indexes at 0). Only
    /// after `Queue::suspend`: `EBUSY` otherwise.
    fn rearm(&self) -> Result;
    /// Refuse buffers for good (the device did not take the queues back).
    fn kill(&self);
}

/// The driver's state of one device, in `vdev->priv`.
#[repr(C)]
struct Bound<D: Driver> {
    /// Runs `config_changed` in process context (first field: the work
    /// function finds the `Bound` from it).
    work: Opaque<bindings::work_struct>,
    /// Runs `device_fault` in process context.
    fault_work: Opaque<bindings::work_struct>,
    /// The driver's data once probe returned; null before and after.
    data: AtomicPtr<Pin<KBox<D::Data>>>,
    vdev: NonNull<sys::virtio_device>,
    ops: &'static sys::vrs_raw_queue_ops,
    /// The device's counters and their debugfs file.
    stats: Arc<DevStats>,
    _stats_file: Option<Pin<KBox<debugfs::File<Arc<DevStats>>>>>,
    /// The `<virtioN>.resize` debugfs file (from `scan`; removed first
    /// thing in `remove`, which waits for running writes): from
    /// `KBox::into_raw` of a pinned box, or null.
    ctl_file: AtomicPtr<debugfs::File<Ctl>>,
}

/// What a device's `<virtioN>.resize` file calls.
struct Ctl {
    vdev: NonNull<sys::virtio_device>,
    /// `Registration::<D>::resize` of the bound driver.
    resize: unsafe fn(*mut sys::virtio_device, u16, u16) -> Result,
}

// SAFETY: the device pointer is only used while the driver is bound (the
// file goes first in remove), from any thread.
unsafe impl Send for Ctl {}
// SAFETY: as above.
unsafe impl Sync for Ctl {}

impl Ctl {
    /// A write of "`<queue> <entries>`".
    fn write(&self, r: &mut kernel::uaccess::UserSliceReader) -> Result {
        let mut buf = [0u8; 32];
        let n = r.len();
        if n == 0 || n > buf.len() {
            return Err(EINVAL);
        }
        r.read_slice(&mut buf[..n])?;
        let text = core::str::from_utf8(&buf[..n]).map_err(|_| EINVAL)?;
        let mut words = text.split_ascii_whitespace();
        let mut number =
            || -> Result<u16> { words.next().ok_or(EINVAL)?.parse().map_err(|_| EINVAL) };
        let (index, size) = (number()?, number()?);
        if words.next().is_some() {
            return Err(EINVAL);
        }
        // SAFETY: the file exists only while the driver is bound, after
        // `scan`: remove deletes it first, which waits for this write.
        unsafe { (self.resize)(self.vdev.as_ptr(), index, size) }
    }
}

/// What `Registration::published` finds: the transport's raw queue ops, our
/// [`Bound`] and the driver's data.
type Published<'a, D> = (
    &'a sys::vrs_raw_queue_ops,
    &'a Bound<D>,
    Pin<&'a <D as Driver>::Data>,
);

/// A virtio device during a [`Driver`] callback.
pub(crate) struct Device<'a> {
    vdev: NonNull<sys::virtio_device>,
    /// The raw queue ops of its transport.
    ops: &'static sys::vrs_raw_queue_ops,
    /// Calls the driver's `queue_done` (set by the probe of `D`).
    dispatch: unsafe fn(*mut sys::virtio_device, u16),
    /// Schedules the driver's `device_fault`.
    fault: unsafe fn(*mut sys::virtio_device),
    /// Queues found (the highest index + 1), for the poll after probe.
    nqueues: AtomicU32,
    /// The device's counters.
    stats: Arc<DevStats>,
    _p: PhantomData<&'a sys::virtio_device>,
}

impl Device<'_> {
    /// The generic device, for `dev_info!` and friends.
    pub(crate) fn as_dev(&self) -> &device::Device {
        // SAFETY: the virtio device is alive during the callback.
        unsafe { device::Device::<device::Normal>::from_raw(&raw mut (*self.vdev.as_ptr()).dev) }
    }

    /// The device's name (`virtio<N>`).
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: the device is alive during the callback; its name was
        // set at registration and never changes.
        unsafe { CStr::from_char_ptr(bindings::dev_name(&raw const (*self.vdev.as_ptr()).dev)) }
    }

    /// Whether feature `bit` was negotiated.
    pub(crate) fn has_feature(&self, bit: u32) -> bool {
        // SAFETY: the device is alive; features are final after probe began.
        unsafe { sys::vrs_virtio_test_bit(self.vdev.as_ptr(), bit) }
    }

    /// The device's type (`VIRTIO_ID_*`).
    pub(crate) fn device_type(&self) -> u32 {
        // SAFETY: the device is alive; its id never changes.
        unsafe { (*self.vdev.as_ptr()).id.device }
    }

    fn config_raw(&self, off: usize, buf: &mut [u8]) {
        // SAFETY: the device is alive; `config` points to its transport's
        // ops; `get` writes `buf.len()` bytes to `buf`.
        unsafe {
            let ops = &*(*self.vdev.as_ptr()).config;
            if let Some(get) = ops.get {
                get(
                    self.vdev.as_ptr(),
                    off as u32,
                    buf.as_mut_ptr().cast(),
                    buf.len() as u32,
                );
            }
        }
    }

    fn generation(&self) -> u32 {
        // SAFETY: as in `config_raw`.
        unsafe {
            let ops = &*(*self.vdev.as_ptr()).config;
            ops.generation.map_or(0, |g| g(self.vdev.as_ptr()))
        }
    }

    /// Read `N` bytes of device configuration at `off`, retried until the
    /// configuration generation is stable (virtio 1.2, 2.5.1: a field wider
    /// than 32 bits may otherwise be torn). Little-endian fields of modern
    /// devices; legacy devices are native-endian, which is the same on our
    /// little-endian targets.
    pub(crate) fn config<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut buf = [0u8; N];
        loop {
            let before = self.generation();
            self.config_raw(off, &mut buf);
            if self.generation() == before {
                return buf;
            }
        }
    }

    /// A little-endian 32-bit configuration field.
    pub(crate) fn config_u32(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.config(off))
    }

    /// A little-endian 64-bit configuration field.
    pub(crate) fn config_u64(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.config(off))
    }

    /// Set `DRIVER_OK`: the device may use the queues from now on.
    pub(crate) fn ready(&self) {
        // SAFETY: the device is alive; called from probe.
        unsafe { sys::vrs_virtio_device_ready(self.vdev.as_ptr()) }
    }

    /// Allocate the rings of `specs` (queue `i` of the device is
    /// `specs[i]`) and give them to the device, with interrupts that end in
    /// [`Driver::queue_done`]. `spread`: spread the queues' interrupts over
    /// the CPUs (blk-mq).
    pub(crate) fn find_queues(&self, specs: &[QueueSpec<'_>], spread: bool) -> Result<KVec<Rings>> {
        let n = u16::try_from(specs.len()).map_err(|_| EINVAL)?;
        // SAFETY: the device is bound to our driver during the callback.
        let dma_dev = unsafe { dma_dev_of(self.vdev, self.ops) }?;
        let legacy = !self.has_feature(sys::VIRTIO_F_VERSION_1);
        // A device without VIRTIO_F_ACCESS_PLATFORM uses physical addresses
        // and bypasses any IOMMU (virtio 1.2, 6.1). Its buffers then get
        // their physical addresses, not streaming mappings, as
        // `virtio_ring.c`'s `vring_use_dma_api()` decides, except where the
        // DMA API is required anyway (Xen; encrypted guest memory, where
        // only bounce buffers are shared with the host). Its rings still
        // come from the DMA API: where an IOMMU, DMA ops or a bus offset
        // make DMA addresses differ from physical ones (no virtio-mmio
        // device QEMU offers), we refuse the device rather than hand it
        // addresses it cannot use.
        // SAFETY: reads variables fixed at boot.
        let required = unsafe { sys::vrs_dma_api_required() };
        let phys = !self.has_feature(sys::VIRTIO_F_ACCESS_PLATFORM) && !required;
        // SAFETY: `dma_dev` is a live, bound device.
        if phys && !unsafe { sys::vrs_dma_is_phys(raw_dev(dma_dev)) } {
            dev_err!(
                self.as_dev(),
                "DMA addresses of the transport are not physical (IOMMU, DMA ops or offset) but the device uses physical ones (no VIRTIO_F_ACCESS_PLATFORM): not supported\n"
            );
            return Err(ENODEV);
        }
        self.stats.phys.store(phys, Ordering::Relaxed);
        let packed = self.has_feature(sys::VIRTIO_F_RING_PACKED);
        let indirect = self.has_feature(super::vring::VIRTIO_RING_F_INDIRECT_DESC);
        let mut mems = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
        for (index, spec) in (0..n).zip(specs) {
            // SAFETY: as above.
            let max = unsafe { (self.ops.queue_max.ok_or(EINVAL)?)(self.vdev.as_ptr(), index) };
            if max <= 0 {
                dev_err!(
                    self.as_dev(),
                    "queue {} ({}) is not available\n",
                    index,
                    spec.name
                );
                return Err(if max < 0 {
                    Error::from_errno(max)
                } else {
                    ENOENT
                });
            }
            let max = max.min(i32::from(super::vring::MAX_QUEUE_SIZE)) as u16;
            let want = if spec.size == 0 {
                max
            } else {
                spec.size.min(max)
            };
            // Split rings need a power of two; so do we for packed, to keep
            // one rule.
            let num = 1u16 << (15 - want.leading_zeros().min(15));
            let ind_max = if indirect && spec.indirect_max >= 2 {
                spec.indirect_max
            } else {
                0
            };
            mems.push(
                RingAlloc::new(dma_dev, num, max, legacy, packed, ind_max)?,
                GFP_KERNEL,
            )?;
        }
        // The callback contexts and the queue descriptions live in `Shared`
        // (their heap buffers do not move) until the queues are deleted;
        // a restore after system sleep gives the same descriptions again.
        let mut ctxs = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
        for index in 0..n {
            ctxs.push(
                QueueCtx {
                    vdev: self.vdev,
                    index,
                    dispatch: self.dispatch,
                    stats: self.stats.clone(),
                    in_flight: AtomicU32::new(0),
                },
                GFP_KERNEL,
            )?;
        }
        let mut infos = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
        for (((index, m), spec), ctx) in (0..n).zip(&mems).zip(specs).zip(ctxs.iter()) {
            let (desc, avail, used) = m.addrs;
            infos.push(
                sys::vrs_raw_queue_info {
                    index,
                    size: m.num,
                    desc,
                    avail,
                    used,
                    callback: if spec.callback {
                        Some(queue_callback)
                    } else {
                        None
                    },
                    ctx: core::ptr::from_ref(ctx).cast_mut().cast(),
                    name: spec.name.as_char_ptr(),
                },
                GFP_KERNEL,
            )?;
        }
        let shared = Arc::pin_init(
            try_pin_init!(Shared {
                vdev: self.vdev,
                ops: self.ops,
                fault: self.fault,
                faulted: AtomicBool::new(false),
                stats: self.stats.clone(),
                stopped: AtomicBool::new(false),
                ctxs,
                ctl <- new_mutex!(infos),
                spread,
                enabled: AtomicBool::new(false),
            }? Error),
            GFP_KERNEL,
        )?;
        let mut rings = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
        for (index, m) in (0..n).zip(mems) {
            let st = self.stats.queue(index);
            st.size.store(u32::from(m.num), Ordering::Relaxed);
            st.max.store(u32::from(m.max), Ordering::Relaxed);
            rings.push(
                Rings {
                    shared: shared.clone(),
                    index,
                    num: m.num,
                    max: m.max,
                    packed,
                    legacy,
                    ring: m.ring,
                    indirect: m.indirect,
                    dma_dev: DmaDev {
                        dev: {
                            let d: &device::Device = dma_dev;
                            d.into()
                        },
                        phys,
                    },
                },
                GFP_KERNEL,
            )?;
        }
        shared.give_queues()?;
        self.nqueues.store(u32::from(n), Ordering::Relaxed);
        self.stats.nqueues.store(u32::from(n), Ordering::Relaxed);
        Ok(rings)
    }

    /// After system sleep ([`Driver::restore`]): start every queue of the
    /// device afresh on its rings and give them to the device again, as
    /// [`Device::find_queues`] did. `queues` are all the device's queues,
    /// each once, every one suspended by [`Driver::freeze`]. On error
    /// they are all dead.
    pub(crate) fn restore_queues(&self, queues: &[&dyn Restore]) -> Result {
        let r = self.restore_queues_inner(queues);
        if r.is_err() {
            for q in queues {
                q.kill();
            }
        }
        r
    }

    fn restore_queues_inner(&self, queues: &[&dyn Restore]) -> Result {
        let shared = queues.first().ok_or(EINVAL)?.shared();
        let n = shared.ctxs.len();
        if shared.vdev != self.vdev || queues.len() != n {
            return Err(EINVAL);
        }
        let mut seen = KVec::with_capacity(n, GFP_KERNEL)?;
        seen.resize(n, false, GFP_KERNEL)?;
        for q in queues {
            let i = usize::from(q.index());
            if !core::ptr::eq(&**q.shared(), &**shared) || i >= n || seen[i] {
                return Err(EINVAL);
            }
            seen[i] = true;
        }
        for q in queues {
            q.rearm()?;
        }
        shared.stopped.store(false, Ordering::Release);
        if let Err(e) = shared.give_queues() {
            shared.stopped.store(true, Ordering::Release);
            dev_err!(
                self.as_dev(),
                "the device did not take its queues back: {:?}\n",
                e
            );
            return Err(e);
        }
        // The device was reset and took the queues: a fault before sleep
        // is history.
        shared.faulted.store(false, Ordering::Release);
        shared.stats.fault_queue.store(-1, Ordering::Relaxed);
        Ok(())
    }
}

/// What [`Device::find_queues`] sets up for one queue.
pub(crate) struct QueueSpec<'a> {
    /// Its name (`/proc/interrupts` shows it with per-queue vectors).
    pub(crate) name: &'static CStr,
    /// Entries wanted (0: the device's maximum); rounded down to a power
    /// of two and to the device's maximum.
    pub(crate) size: u16,
    /// Descriptors per indirect table (0 or 1: no indirect tables). Used
    /// only if `VIRTIO_RING_F_INDIRECT_DESC` was negotiated.
    pub(crate) indirect_max: u16,
    /// Whether it wants used-buffer interrupts.
    pub(crate) callback: bool,
    pub(crate) _p: PhantomData<&'a ()>,
}

/// The callback context of one raw queue.
struct QueueCtx {
    vdev: NonNull<sys::virtio_device>,
    index: u16,
    dispatch: unsafe fn(*mut sys::virtio_device, u16),
    stats: Arc<DevStats>,
    /// Buffers the queue has given the device and not taken back (kept
    /// by its `Queue`, see [`Shared::in_flight`]).
    in_flight: AtomicU32,
}

/// # Safety
///
/// Only as the raw queue callback, with a `QueueCtx` of a live `Shared`.
unsafe extern "C" fn queue_callback(ctx: *mut c_void) -> bool {
    // SAFETY: the transport passes back the context we gave it, which
    // lives until `del_queues` returns (after the interrupt is freed).
    let ctx = unsafe { &*ctx.cast::<QueueCtx>() };
    // Nothing in flight, nothing the device can have used: the count goes
    // up before a buffer is made available, so the interrupt for it sees
    // it. With a wired interrupt the transport runs every queue's callback
    // (as `vring_interrupt()` checks `more_used()`); the idle ones end
    // here. A device that writes used entries for nothing is caught at the
    // next buffer.
    if ctx.in_flight.load(Ordering::Acquire) == 0 {
        return false;
    }
    ctx.stats
        .queue(ctx.index)
        .callbacks
        .fetch_add(1, Ordering::Relaxed);
    // SAFETY: the dispatch function of the bound driver.
    unsafe { (ctx.dispatch)(ctx.vdev.as_ptr(), ctx.index) };
    true
}

/// The queues of one device, shared by their [`Rings`]: deleting them
/// (after a device reset) when the last ring goes.
#[pin_data(PinnedDrop)]
pub(crate) struct Shared {
    vdev: NonNull<sys::virtio_device>,
    ops: &'static sys::vrs_raw_queue_ops,
    /// Schedules the driver's `device_fault` (`Registration::fault`).
    fault: unsafe fn(*mut sys::virtio_device),
    /// A queue reported a device fault.
    faulted: AtomicBool,
    /// The device's counters.
    stats: Arc<DevStats>,
    /// The device was reset: it no longer uses the rings or buffers.
    stopped: AtomicBool,
    /// `find_queues` succeeded: `del_queues` is due.
    enabled: AtomicBool,
    ctxs: KVec<QueueCtx>,
    /// What the transport has of each queue (pointing into `ctxs`): from
    /// `find_queues`, updated by a resize, given again by
    /// [`Device::restore_queues`]. The lock also serialises a queue's
    /// reset and re-enable ([`QueueControl`]) with the device reset of
    /// [`Shared::stop`] (a fault, a queue's drop) and with `del_queues` in
    /// our drop. The layer's remove and freeze reset the device and delete
    /// the queues without it: no resize overlaps them (remove deletes the
    /// resize file first, which waits for a write in progress; user space
    /// is frozen before devices are).
    #[pin]
    ctl: Mutex<KVec<sys::vrs_raw_queue_info>>,
    /// Spread the queues' interrupts over the CPUs.
    spread: bool,
}

// SAFETY: the device pointer stays valid while we exist (the driver is
// bound; a queue lives in the driver's data) and the ops may be called
// from any thread.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    /// The count of buffers queue `index` has in flight: raised before a
    /// buffer is made available, lowered when it is taken back. The
    /// queue's interrupt callback returns at once while it is 0.
    pub(crate) fn in_flight(&self, index: u16) -> &AtomicU32 {
        // Queues index their own `ctxs` entry; a bad index gets a counter
        // of its own that no callback reads.
        static NONE: AtomicU32 = AtomicU32::new(0);
        self.ctxs
            .get(usize::from(index))
            .map_or(&NONE, |c| &c.in_flight)
    }

    /// Give the queues to the device (`find_queues` of the transport).
    fn give_queues(&self) -> Result {
        let find = self.ops.find_queues.ok_or(EINVAL)?;
        let infos = self.ctl.lock();
        // SAFETY: `infos` describe the rings of this device's queues, which
        // are alive: at probe they are the `Rings` just allocated (owned by
        // the caller's result), at restore the caller borrows every queue
        // (`restore_queues` checks it has all of them); a queue's ring goes
        // only with the queue, which resets the device first (`stop`), or
        // in a resize, after the queue was reset and `infos` got the new
        // ring (under this lock).
        // Names are 'static; the contexts live in `ctxs` until `del_queues`
        // (in `drop`).
        let r = unsafe {
            find(
                self.vdev.as_ptr(),
                infos.len() as u32,
                infos.as_ptr(),
                self.spread,
            )
        };
        kernel::error::to_result(r)?;
        // The sizes the device has now (a resized ring's after a restore).
        for i in infos.iter() {
            self.stats
                .queue(i.index)
                .size
                .store(u32::from(i.size), Ordering::Relaxed);
        }
        self.enabled.store(true, Ordering::Release);
        Ok(())
    }

    /// Tell the device queue `index` has new buffers (`data`: the index,
    /// or the notification data). Any context.
    pub(crate) fn notify(&self, index: u16, data: u32) {
        if let Some(f) = self.ops.notify {
            // SAFETY: the ops are valid while we are bound.
            unsafe { f(self.vdev.as_ptr(), index, data) };
        }
    }

    /// Whether `VIRTIO_F_NOTIFICATION_DATA` was negotiated.
    pub(crate) fn notification_data(&self) -> bool {
        // SAFETY: the device is alive.
        unsafe { sys::vrs_virtio_test_bit(self.vdev.as_ptr(), sys::VIRTIO_F_NOTIFICATION_DATA) }
    }

    /// Whether `VIRTIO_RING_F_EVENT_IDX` was negotiated.
    pub(crate) fn event_idx(&self) -> bool {
        // SAFETY: the device is alive.
        unsafe {
            sys::vrs_virtio_test_bit(self.vdev.as_ptr(), super::vring::VIRTIO_RING_F_EVENT_IDX)
        }
    }

    /// Queue `index` found the device misbehaving (`what`): log it, once
    /// per device, and have the driver's [`Driver::device_fault`] run.
    /// Any context (the queue finds it in its interrupt callback).
    pub(crate) fn report_fault(&self, index: u16, what: &dyn core::fmt::Debug) {
        if self.faulted.swap(true, Ordering::AcqRel) {
            return;
        }
        self.stats
            .fault_queue
            .store(i32::from(index), Ordering::Relaxed);
        // SAFETY: the device is alive while we exist.
        let dev: &device::Device =
            unsafe { device::Device::from_raw(&raw mut (*self.vdev.as_ptr()).dev) };
        dev_err!(
            dev,
            "queue {}: device misbehaved ({:?}); stopping the device\n",
            index,
            what
        );
        // SAFETY: the bound driver's function for its own device.
        unsafe { (self.fault)(self.vdev.as_ptr()) };
    }

    /// The counters of queue `index`.
    pub(crate) fn queue_stats(&self, index: u16) -> &QueueStats {
        self.stats.queue(index)
    }

    /// Whether a queue reported a device fault.
    pub(crate) fn faulted(&self) -> bool {
        self.faulted.load(Ordering::Acquire)
    }

    /// Make sure the device no longer touches rings or buffers: reset it
    /// unless that was done. Process context. Called before buffers of an
    /// in-flight token are unmapped and before ring memory is freed.
    pub(crate) fn stop(&self) {
        // Not in the middle of a queue's reset and re-enable.
        let _ctl = self.ctl.lock();
        if !self.stopped.swap(true, Ordering::AcqRel) {
            // SAFETY: the device is alive; `virtio_reset_device` also
            // waits for running callbacks.
            unsafe { sys::virtio_reset_device(self.vdev.as_ptr()) };
        }
    }

    /// New ring memory for one of the queues: `num` entries, indirect
    /// tables of `indirect_max` descriptors (0: none), `max` the device's
    /// largest size of that queue. Process context.
    pub(crate) fn alloc_ring(&self, num: u16, max: u16, indirect_max: u16) -> Result<RingAlloc> {
        // SAFETY: a `Shared` lives in the queues of a bound driver.
        let dma_dev = unsafe { dma_dev_of(self.vdev, self.ops) }?;
        // SAFETY: the device is alive; features are final.
        let (legacy, packed) = unsafe {
            (
                !sys::vrs_virtio_test_bit(self.vdev.as_ptr(), sys::VIRTIO_F_VERSION_1),
                sys::vrs_virtio_test_bit(self.vdev.as_ptr(), sys::VIRTIO_F_RING_PACKED),
            )
        };
        RingAlloc::new(dma_dev, num, max, legacy, packed, indirect_max)
    }

    /// Whether a queue can be reset alone now (`VIRTIO_F_RING_RESET`, the
    /// device not reset): a cheap check before quiescing for
    /// [`Shared::control`], which checks again.
    pub(crate) fn resets_queues(&self) -> bool {
        // SAFETY: the device is alive; features are final.
        let offered =
            unsafe { sys::vrs_virtio_test_bit(self.vdev.as_ptr(), sys::VIRTIO_F_RING_RESET) };
        offered && !self.stopped.load(Ordering::Acquire) && self.enabled.load(Ordering::Acquire)
    }

    /// Take the queues' control for a reset and re-enable of one queue:
    /// `EOPNOTSUPP` without `VIRTIO_F_RING_RESET`, `EIO` once the device
    /// was reset (a fault, system sleep, removal). Process context.
    pub(crate) fn control(&self) -> Result<QueueControl<'_>> {
        // SAFETY: the device is alive; features are final.
        if !unsafe { sys::vrs_virtio_test_bit(self.vdev.as_ptr(), sys::VIRTIO_F_RING_RESET) } {
            return Err(EOPNOTSUPP);
        }
        let infos = self.ctl.lock();
        if self.stopped.load(Ordering::Acquire) || !self.enabled.load(Ordering::Acquire) {
            return Err(EIO);
        }
        Ok(QueueControl {
            shared: self,
            infos,
        })
    }
}

/// The queues of a device under [`Shared::control`]: one queue can be reset
/// alone and given a new ring (`VIRTIO_F_RING_RESET`, virtio 1.2, 2.6.1)
/// while the device keeps running.
pub(crate) struct QueueControl<'a> {
    shared: &'a Shared,
    infos: kernel::sync::MutexGuard<'a, KVec<sys::vrs_raw_queue_info>>,
}

impl QueueControl<'_> {
    /// Reset queue `index`: on success the device no longer uses its ring
    /// or buffers and no callback of it runs, until [`Self::enable`].
    /// `ETIMEDOUT`: the device did not say it completed the reset, so the
    /// queue's state is unknown; any other error: the queue runs on
    /// untouched (`EOPNOTSUPP`; `EIO`: the device ignored the request).
    pub(crate) fn reset(&self, index: u16) -> Result {
        let reset = self.shared.ops.queue_reset.ok_or(EOPNOTSUPP)?;
        // SAFETY: our device's queue; the queue ops that could run
        // meanwhile are excluded by the lock (see `Shared::ctl`).
        kernel::error::to_result(unsafe { reset(self.shared.vdev.as_ptr(), index) })
    }

    /// Give the reset queue `index` the ring `mem` and enable it again.
    /// The ring must stay alive until the device is reset or the queue is
    /// given another one (the queue keeps it). On error the queue stays
    /// off.
    pub(crate) fn enable(&mut self, index: u16, mem: &RingAlloc) -> Result {
        let enable = self.shared.ops.queue_enable.ok_or(EOPNOTSUPP)?;
        let info = self
            .infos
            .iter_mut()
            .find(|i| i.index == index)
            .ok_or(EINVAL)?;
        let (desc, avail, used) = mem.addrs;
        // Also what a restore after system sleep gives the device.
        info.size = mem.num;
        info.desc = desc;
        info.avail = avail;
        info.used = used;
        // SAFETY: our device's queue, reset by `reset`; the ring at these
        // addresses lives with the queue (see above).
        kernel::error::to_result(unsafe {
            enable(self.shared.vdev.as_ptr(), index, mem.num, desc, avail, used)
        })?;
        self.shared
            .stats
            .queue(index)
            .size
            .store(u32::from(mem.num), Ordering::Relaxed);
        Ok(())
    }
}

/// The transport's DMA device of `vdev`.
///
/// # Safety
///
/// `vdev` is bound to a driver of ours and `ops` are its raw queue ops.
unsafe fn dma_dev_of<'a>(
    vdev: NonNull<sys::virtio_device>,
    ops: &sys::vrs_raw_queue_ops,
) -> Result<&'a device::Device<device::Bound>> {
    // SAFETY: the transport's ops are valid while we are bound.
    let dma_dev = unsafe { (ops.dma_dev.ok_or(EINVAL)?)(vdev.as_ptr()) };
    if dma_dev.is_null() {
        return Err(ENODEV);
    }
    // SAFETY: the transport's device is bound while its virtio device
    // exists (it unregisters the device before it unbinds).
    Ok(unsafe {
        let d: &device::Device = device::Device::from_raw(dma_dev);
        d.as_bound()
    })
}

#[pinned_drop]
impl PinnedDrop for Shared {
    fn drop(self: Pin<&mut Self>) {
        self.stop();
        let _ctl = self.ctl.lock();
        if self.enabled.load(Ordering::Acquire) {
            if let Some(del) = self.ops.del_queues {
                // SAFETY: the queues of our `find_queues`; the device is
                // reset. Frees the interrupts before `ctxs` goes.
                unsafe { del(self.vdev.as_ptr()) };
            }
        }
    }
}

/// One queue's ring memory: the ring, and the indirect table pool.
pub(crate) struct Rings {
    pub(crate) shared: Arc<Shared>,
    pub(crate) index: u16,
    pub(crate) num: u16,
    /// The device's largest size of this queue.
    pub(crate) max: u16,
    pub(crate) packed: bool,
    pub(crate) legacy: bool,
    /// The ring's memory.
    pub(crate) ring: SharedRing,
    /// `num` tables of `indirect_max` descriptors, if any.
    pub(crate) indirect: Option<(SharedRing, u16)>,
    /// The device that maps buffers, and how.
    pub(crate) dma_dev: DmaDev,
}

/// The device a virtio device's buffers are mapped for, and how: through
/// the DMA API (`VIRTIO_F_ACCESS_PLATFORM`: streaming mappings, so an
/// IOMMU or swiotlb bounce buffers work), or at their physical addresses
/// (a device without that feature bypasses any IOMMU; `virtio_ring.c`
/// does the same, which saves a map and an unmap per buffer).
#[derive(Clone)]
pub(crate) struct DmaDev {
    dev: ARef<device::Device>,
    phys: bool,
}

impl DmaDev {
    /// The transport's DMA device.
    pub(crate) fn device(&self) -> &ARef<device::Device> {
        &self.dev
    }

    /// Buffers get physical addresses, not DMA mappings.
    pub(crate) fn phys(&self) -> bool {
        self.phys
    }
}

use kernel::sync::aref::ARef;

impl Rings {
    /// The used-ring alignment of a split ring here.
    pub(crate) fn align(&self) -> usize {
        if self.legacy {
            bindings::PAGE_SIZE
        } else {
            64
        }
    }
}

/// The memory of one queue's ring.
pub(crate) struct RingAlloc {
    pub(crate) num: u16,
    pub(crate) max: u16,
    pub(crate) ring: SharedRing,
    pub(crate) indirect: Option<(SharedRing, u16)>,
    /// Device addresses of descriptor / driver / device areas.
    addrs: (u64, u64, u64),
}

impl RingAlloc {
    fn new(
        dev: &device::Device<device::Bound>,
        num: u16,
        max: u16,
        legacy: bool,
        packed: bool,
        indirect_max: u16,
    ) -> Result<Self> {
        use super::vring::{packed::PackedLayout, split::Indirect, split::SplitLayout};
        // Legacy MMIO gives the device a page frame number and QueueAlign:
        // the used ring must start on a page.
        let align = if legacy { bindings::PAGE_SIZE } else { 64 };
        let (size, offs) = if packed {
            let l = PackedLayout::new(num).map_err(|_| EINVAL)?;
            (l.size, (l.desc, l.driver, l.device))
        } else {
            let l = SplitLayout::new(num, align).map_err(|_| EINVAL)?;
            (l.size, (l.desc, l.avail, l.used))
        };
        let mem = Coherent::<u64>::zeroed_slice(dev, size.div_ceil(8), GFP_KERNEL)?;
        let ring = SharedRing::new(Arc::new(mem, GFP_KERNEL)?);
        let a = super::vring::RingMem::dma_addr(&ring);
        let addrs = (a + offs.0 as u64, a + offs.1 as u64, a + offs.2 as u64);
        let indirect = if indirect_max >= 2 {
            let bytes = Indirect::<SharedRing>::size(num, indirect_max);
            let mem = Coherent::<u64>::zeroed_slice(dev, bytes.div_ceil(8), GFP_KERNEL)?;
            Some((SharedRing::new(Arc::new(mem, GFP_KERNEL)?), indirect_max))
        } else {
            None
        };
        Ok(RingAlloc {
            num,
            max,
            ring,
            indirect,
            addrs,
        })
    }
}

fn raw_dev(dev: &device::Device) -> *mut bindings::device {
    // `Device` is a transparent wrapper of `struct device`.
    core::ptr::from_ref(dev).cast_mut().cast()
}

/// A token that carries its own DMA-mapped buffers (a block request mapped
/// by `blk::Rq::map`), for `Queue::add_mapped`.
///
/// # Safety
///
/// `segments` returns device addresses of memory the token keeps mapped
/// for the device, in the direction the split says (device-readable first,
/// then `len - nout` device-writable ones), until the token is given back
/// by the queue. Implemented only by the bindings.
pub(crate) unsafe trait DmaSegments {
    /// The segments, and how many of them come first as device-readable.
    fn segments(&self) -> (&[super::vring::Buf], usize);
}

/// A kmalloc'ed buffer mapped for streaming DMA, or at its physical address
/// for a device without the DMA API ([`DmaDev::phys`]): the device owns it until
/// [`MappedBuf::unmap`] (or drop) gives it back to the CPU.
pub(crate) struct MappedBuf {
    buf: KVec<u8>,
    addr: u64,
    dir: DataDirection,
    /// The device it is mapped for; `None`: at its physical address.
    dev: Option<ARef<device::Device>>,
}

impl MappedBuf {
    /// Map `buf` (not empty) for `dev` in direction `dir`; on failure the
    /// buffer comes back with the error.
    pub(crate) fn map(
        dev: &DmaDev,
        buf: KVec<u8>,
        dir: DataDirection,
    ) -> core::result::Result<Self, (Error, KVec<u8>)> {
        if buf.is_empty() {
            return Err((EINVAL, buf));
        }
        if dev.phys {
            // SAFETY: `buf` is a live kmalloc allocation (directly mapped).
            let addr = unsafe { sys::vrs_virt_to_phys(buf.as_ptr().cast_mut().cast()) };
            return Ok(MappedBuf {
                buf,
                addr,
                dir,
                dev: None,
            });
        }
        let dev = &dev.dev;
        let mut addr = 0u64;
        // SAFETY: `buf` is a live kmalloc allocation (KVec) of at least
        // `len` bytes that nobody else can access until `unmap`: we own
        // it; `dev` is a device that does DMA.
        let r = unsafe {
            sys::vrs_dma_map_kmem(
                raw_dev(dev),
                buf.as_ptr().cast_mut().cast(),
                buf.len(),
                dir as i32,
                &mut addr,
            )
        };
        if r != 0 {
            return Err((Error::from_errno(r), buf));
        }
        Ok(MappedBuf {
            buf,
            addr,
            dir,
            dev: Some(dev.clone()),
        })
    }

    /// The device address.
    pub(crate) fn addr(&self) -> u64 {
        self.addr
    }

    /// The length in bytes.
    pub(crate) fn len(&self) -> u32 {
        self.buf.len() as u32
    }

    fn unmap_raw(&self) {
        let Some(dev) = &self.dev else {
            return;
        };
        // SAFETY: mapped in `map` with these arguments, unmapped once
        // (`unmap` forgets `self` after this call).
        unsafe {
            sys::vrs_dma_unmap_kmem(raw_dev(dev), self.addr, self.buf.len(), self.dir as i32)
        };
    }

    /// Give the buffer back to the CPU (device writes become visible).
    pub(crate) fn unmap(self) -> KVec<u8> {
        self.unmap_raw();
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; we move its
        // fields out exactly once.
        unsafe {
            drop(core::ptr::read(&this.dev));
            core::ptr::read(&this.buf)
        }
    }
}

impl Drop for MappedBuf {
    fn drop(&mut self) {
        self.unmap_raw();
    }
}

/// The registration of driver `D` on the virtio bus.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<D: Driver> {
    /// `/sys/kernel/debug/<driver>/`: a counters file per device.
    dir: debugfs::Dir,
    #[pin]
    drv: Opaque<sys::virtio_driver>,
    features: KVec<u32>,
    _d: PhantomData<D>,
}

// SAFETY: registration and unregistration may happen on any thread.
unsafe impl<D: Driver> Send for Registration<D> {}
// SAFETY: no `&self` method touches the driver.
unsafe impl<D: Driver> Sync for Registration<D> {}

impl<D: Driver> Registration<D> {
    /// Register `D` for `module`.
    pub(crate) fn new(module: &'static kernel::ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(&this in Self {
            dir: debugfs::Dir::new(D::NAME),
            features: {
                let mut v = KVec::with_capacity(D::FEATURES.len(), GFP_KERNEL)?;
                v.extend_from_slice(D::FEATURES, GFP_KERNEL)?;
                v
            },
            drv <- Opaque::try_ffi_init(|drv: *mut sys::virtio_driver| {
                // SAFETY: `drv` is valid for writes; `this` is pinned, so
                // the features vector (initialised before, field order)
                // stays where it is for the registration's life.
                unsafe {
                    core::ptr::write_bytes(drv, 0, 1);
                    let feats = &(*this.as_ptr()).features;
                    (*drv).driver.name = D::NAME.as_char_ptr();
                    (*drv).id_table = D::ID_TABLE.as_ptr().cast();
                    (*drv).feature_table = feats.as_ptr();
                    (*drv).feature_table_size = feats.len() as u32;
                    (*drv).probe = Some(Self::probe);
                    (*drv).remove = Some(Self::remove);
                    (*drv).config_changed = Some(Self::config_changed);
                    (*drv).scan = Some(Self::scan);
                    (*drv).freeze = Some(Self::freeze);
                    (*drv).restore = Some(Self::restore);
                    kernel::error::to_result(sys::__register_virtio_driver(drv, module.as_ptr()))
                }
            }),
            _d: PhantomData,
        })
    }

    /// # Safety
    ///
    /// `vdev` is the device of a callback of ours.
    unsafe fn bound<'a>(vdev: *mut sys::virtio_device) -> Option<&'a Bound<D>> {
        // SAFETY: set by our probe to a `Bound<D>` that lives until our
        // remove (or is null).
        unsafe {
            sys::vrs_virtio_priv_acquire(vdev)
                .cast::<Bound<D>>()
                .as_ref()
        }
    }

    /// The transport's raw queue ops, our [`Bound`] and the driver's
    /// data of a device, for the callbacks that run between probe and
    /// remove (scan, freeze, restore). `None` when the transport is not
    /// ours any more or the data is not (or no longer) published.
    ///
    /// # Safety
    ///
    /// `vdev` is bound to us, and remove cannot run while the returned
    /// references are in use (the caller says why).
    unsafe fn published<'a>(vdev: *mut sys::virtio_device) -> Option<Published<'a, D>> {
        // SAFETY: `vdev` is bound to us, per the function's contract.
        let ops = unsafe { sys::vrs_raw_queue_ops_get(vdev).as_ref() }?;
        // SAFETY: as above.
        let b = unsafe { Self::bound(vdev) }?;
        // SAFETY: non-null data lives until remove, which the caller
        // excludes.
        let data = unsafe { b.data.load(Ordering::Acquire).as_ref() }?;
        Some((ops, b, data.as_ref()))
    }

    /// # Safety
    ///
    /// As the dispatch of a [`QueueCtx`]: `vdev` is bound to us.
    unsafe fn dispatch(vdev: *mut sys::virtio_device, index: u16) {
        // SAFETY: per the function's contract.
        let Some(b) = (unsafe { Self::bound(vdev) }) else {
            return;
        };
        let data = b.data.load(Ordering::Acquire);
        // SAFETY: non-null `data` stays valid until remove swapped it out
        // and waited for callbacks (`virtio_reset_device`).
        if let Some(data) = unsafe { data.as_ref() } {
            D::queue_done(data, index);
        }
    }

    fn device<'a>(b: &Bound<D>) -> Device<'a> {
        Device {
            vdev: b.vdev,
            ops: b.ops,
            dispatch: Self::dispatch,
            fault: Self::fault,
            nqueues: AtomicU32::new(0),
            stats: b.stats.clone(),
            _p: PhantomData,
        }
    }

    /// # Safety
    ///
    /// `vdev` is being probed by our driver (`dev.driver` is ours).
    unsafe fn of_probed_device<'a>(vdev: *mut sys::virtio_device) -> &'a Self {
        // SAFETY: during probe `dev.driver` is the `device_driver` inside
        // the `virtio_driver` of our registration (its first field), which
        // lives until the driver is unregistered, after every removal.
        unsafe {
            let drv = (*vdev).dev.driver.cast::<u8>();
            &*drv.sub(core::mem::offset_of!(Self, drv)).cast::<Self>()
        }
    }

    /// # Safety
    ///
    /// Only as the `virtio_driver` callback.
    unsafe extern "C" fn probe(vdev: *mut sys::virtio_device) -> i32 {
        // SAFETY: a valid device being probed.
        let ops = unsafe { sys::vrs_raw_queue_ops_get(vdev) };
        // SAFETY: valid while the device is registered (raw_queue.h).
        let Some(ops) = (unsafe { ops.as_ref() }) else {
            // SAFETY: the device is valid.
            let dev: &device::Device = unsafe { device::Device::from_raw(&raw mut (*vdev).dev) };
            dev_info!(
                dev,
                "transport has no raw queue ops, leaving the device to another driver\n"
            );
            return ENODEV.to_errno();
        };
        let stats = match DevStats::new() {
            Ok(s) => s,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: we are probing `vdev`.
        let reg = unsafe { Self::of_probed_device(vdev) };
        // SAFETY: the device is valid; its name was set at registration.
        let name = unsafe { CStr::from_char_ptr(bindings::dev_name(&raw const (*vdev).dev)) };
        // Without debugfs (or memory for the file) the counters still run.
        let file = KBox::pin_init(
            reg.dir
                .read_callback_file(name, stats.clone(), &DevStats::show),
            GFP_KERNEL,
        )
        .ok();
        let bound = match KBox::new(
            Bound::<D> {
                work: Opaque::uninit(),
                fault_work: Opaque::uninit(),
                data: AtomicPtr::new(core::ptr::null_mut()),
                // SAFETY: the core calls us with a valid device.
                vdev: unsafe { NonNull::new_unchecked(vdev) },
                ops,
                stats,
                _stats_file: file,
                ctl_file: AtomicPtr::new(core::ptr::null_mut()),
            },
            GFP_KERNEL,
        ) {
            Ok(b) => KBox::into_raw(b),
            Err(e) => return Error::from(e).to_errno(),
        };
        // SAFETY: `bound` is valid and not shared yet; the work items are
        // initialised before anyone can schedule them.
        unsafe {
            sys::vrs_virtio_work_init((*bound).work.get().cast(), Some(Self::config_work));
            sys::vrs_virtio_work_init((*bound).fault_work.get().cast(), Some(Self::fault_work));
        }
        // SAFETY: the device is ours during probe; callbacks read it.
        unsafe { sys::vrs_virtio_priv_release(vdev, bound.cast()) };
        // SAFETY: ours until remove (or the error path below).
        let dev = Self::device(unsafe { &*bound });
        match D::probe(&dev).and_then(|d| KBox::new(d, GFP_KERNEL).map_err(Error::from)) {
            Ok(data) => {
                // SAFETY: `bound` is ours until remove.
                unsafe { (*bound).data.store(KBox::into_raw(data), Ordering::Release) };
                // Buffers that completed before the data was there.
                for i in 0..dev.nqueues.load(Ordering::Relaxed) {
                    // SAFETY: bound to us.
                    unsafe { Self::dispatch(vdev, i as u16) };
                }
                0
            }
            Err(e) => {
                // The driver's queues are gone with its error path (their
                // drop reset the device); nothing calls back any more, and
                // nothing queues the work items again: wait for any that a
                // queue polled in probe may have queued.
                // SAFETY: as above; the work items were initialised.
                unsafe {
                    bindings::cancel_work_sync((*bound).work.get().cast());
                    bindings::cancel_work_sync((*bound).fault_work.get().cast());
                    sys::vrs_virtio_priv_release(vdev, core::ptr::null_mut());
                    drop(KBox::from_raw(bound));
                }
                e.to_errno()
            }
        }
    }

    /// # Safety
    ///
    /// Only as the `virtio_driver` callback.
    unsafe extern "C" fn remove(vdev: *mut sys::virtio_device) {
        // SAFETY: bound to us: probe succeeded.
        let ops = unsafe { sys::vrs_raw_queue_ops_get(vdev).as_ref() };
        // SAFETY: as above.
        let Some(b) = (unsafe { Self::bound(vdev) }) else {
            return;
        };
        // No resize from here on; one being written finishes first.
        let ctl = b.ctl_file.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !ctl.is_null() {
            // SAFETY: from `KBox::into_raw` of a pinned box in `scan`,
            // taken once (the swap); dropping it in place keeps the pin.
            drop(unsafe { Pin::new_unchecked(KBox::from_raw(ctl)) });
        }
        let data = b.data.load(Ordering::Acquire);
        if ops.is_some() {
            let dev = Self::device(b);
            // SAFETY: set by probe, dropped below only.
            if let Some(d) = unsafe { data.as_ref() } {
                D::remove(&dev, d.as_ref());
            }
        }
        // The core disabled configuration changes before calling us: no
        // new work is queued; wait for one that runs.
        // SAFETY: initialised in probe.
        unsafe { bindings::cancel_work_sync(b.work.get().cast()) };
        // Work started from here on finds no data.
        b.data.store(core::ptr::null_mut(), Ordering::Release);
        // The device stops; running callbacks (which may still hold the
        // old data pointer) finish before this returns, and no callback
        // reports a fault any more.
        // SAFETY: valid device.
        unsafe { sys::virtio_reset_device(vdev) };
        // Only now the fault work: `D::remove` may have waited for requests
        // that it fails (a disk's del_gendisk), and a callback could queue
        // it until the reset. A run that took the data before it was
        // cleared finishes before the data goes.
        // SAFETY: initialised in probe.
        unsafe { bindings::cancel_work_sync(b.fault_work.get().cast()) };
        if !data.is_null() {
            // SAFETY: from `KBox::into_raw` in probe; no callback uses it.
            // Dropping it drops the queues (unmapping buffers, freeing the
            // interrupts and rings).
            drop(unsafe { KBox::from_raw(data) });
        }
        // Queues the driver leaked (`mem::forget` is safe) would keep the
        // interrupt and its callback, which reads `vdev->priv`, past our
        // `Bound`: delete whatever is left (nothing, normally; the op is
        // idempotent).
        if let Some(del) = ops.and_then(|o| o.del_queues) {
            // SAFETY: our device, reset above; no queue of ours is in use.
            unsafe { del(vdev) };
        }
        // SAFETY: as above; ours from probe.
        unsafe {
            sys::vrs_virtio_priv_release(vdev, core::ptr::null_mut());
            drop(KBox::from_raw(core::ptr::from_ref(b).cast_mut()));
        }
    }

    /// # Safety
    ///
    /// Only as the `virtio_driver` callback.
    unsafe extern "C" fn freeze(vdev: *mut sys::virtio_device) -> i32 {
        // SAFETY: the PM core calls only drivers that are bound, and remove
        // cannot run during system sleep: user space (sysfs unbind, rmmod)
        // is frozen before devices are, and the transport's own devices are
        // not removed by the PM core.
        let Some((ops, b, data)) = (unsafe { Self::published(vdev) }) else {
            return 0;
        };
        // The core disabled configuration changes: finish a report that
        // is being handled (it may read the configuration).
        // SAFETY: initialised in probe.
        unsafe { bindings::flush_work(b.work.get().cast()) };
        let dev = Self::device(b);
        if let Err(e) = D::freeze(&dev, data) {
            return e.to_errno();
        }
        // The driver suspended its queues (which reset the device); reset
        // anyway, in case it has none, then let a fault report that a
        // callback queued before the reset finish (it takes the buffers
        // back from suspended queues: there are none).
        // SAFETY: a valid device, bound to us.
        unsafe {
            sys::virtio_reset_device(vdev);
            bindings::flush_work(b.fault_work.get().cast());
        }
        // Interrupts and the transport's queue state go; the rings stay
        // with the driver's queues for restore.
        if let Some(del) = ops.del_queues {
            // SAFETY: our device, reset above; no callback runs.
            unsafe { del(vdev) };
        }
        0
    }

    /// # Safety
    ///
    /// Only as the `virtio_driver` callback.
    unsafe extern "C" fn restore(vdev: *mut sys::virtio_device) -> i32 {
        // SAFETY: as in `freeze`.
        let Some((_, b, data)) = (unsafe { Self::published(vdev) }) else {
            return 0;
        };
        match D::restore(&Self::device(b), data) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Only as the `virtio_driver` callback.
    unsafe extern "C" fn scan(vdev: *mut sys::virtio_device) {
        // SAFETY: the core runs scan right after our probe succeeded, with
        // the device lock held: remove cannot run concurrently.
        let Some((_, b, data)) = (unsafe { Self::published(vdev) }) else {
            return;
        };
        D::scan(&Self::device(b), data);
        // SAFETY: we are bound to `vdev` (scan follows our probe), so
        // `dev.driver` is ours.
        let reg = unsafe { Self::of_probed_device(vdev) };
        // SAFETY: the device is valid; its name never changes.
        let dev_name = unsafe { CStr::from_char_ptr(bindings::dev_name(&raw const (*vdev).dev)) };
        let Ok(name) = CString::try_from_fmt(fmt!("{}.resize", dev_name.to_str().unwrap_or("?")))
        else {
            return;
        };
        let ctl = Ctl {
            vdev: b.vdev,
            resize: Self::resize,
        };
        // Without debugfs (or memory for the file) there is no resize.
        if let Ok(f) = KBox::pin_init(
            reg.dir.write_callback_file(&name, ctl, &Ctl::write),
            GFP_KERNEL,
        ) {
            // SAFETY: kept pinned: only `remove` takes it back, with
            // `Pin::new_unchecked`.
            let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(f) });
            b.ctl_file.store(raw, Ordering::Release);
        }
    }

    /// # Safety
    ///
    /// As the resize function of a [`Ctl`]: `vdev` is bound to us and
    /// remove waits for us (the file is deleted first).
    unsafe fn resize(vdev: *mut sys::virtio_device, index: u16, size: u16) -> Result {
        // SAFETY: per the function's contract.
        let (_, b, data) = unsafe { Self::published(vdev) }.ok_or(ENODEV)?;
        let dev = Self::device(b);
        let r = D::resize_queue(&dev, data, index, size);
        match r {
            Ok(()) => dev_info!(dev.as_dev(), "queue {}: ring of {} entries\n", index, size),
            Err(e) => dev_info!(
                dev.as_dev(),
                "queue {}: no resize to {} entries: {:?}\n",
                index,
                size,
                e
            ),
        }
        r
    }

    /// # Safety
    ///
    /// Only as the `virtio_driver` callback: it runs in the transport's
    /// interrupt handler, so it only queues the work item.
    unsafe extern "C" fn config_changed(vdev: *mut sys::virtio_device) {
        // SAFETY: as above; the acquire read is interrupt-safe.
        if let Some(b) = unsafe { Self::bound(vdev) } {
            // SAFETY: initialised in probe; cancelled in remove.
            unsafe { sys::vrs_virtio_schedule_work(b.work.get().cast()) };
        }
    }

    /// # Safety
    ///
    /// As the fault function of a [`Shared`]: `vdev` is bound to us.
    unsafe fn fault(vdev: *mut sys::virtio_device) {
        // SAFETY: per the function's contract.
        if let Some(b) = unsafe { Self::bound(vdev) } {
            // SAFETY: initialised in probe; cancelled in remove.
            unsafe { sys::vrs_virtio_schedule_work(b.fault_work.get().cast()) };
        }
    }

    /// # Safety
    ///
    /// Only as the fault work function of a `Bound<D>`.
    unsafe extern "C" fn fault_work(work: *mut bindings::work_struct) {
        // SAFETY: `work` is the `fault_work` field of a live `Bound<D>`:
        // remove cancels the work before freeing it.
        let b = unsafe {
            &*work
                .cast::<u8>()
                .sub(core::mem::offset_of!(Bound<D>, fault_work))
                .cast::<Bound<D>>()
        };
        // SAFETY: as in `config_work`.
        if let Some(d) = unsafe { b.data.load(Ordering::Acquire).as_ref() } {
            D::device_fault(&Self::device(b), d.as_ref());
        }
    }

    /// # Safety
    ///
    /// Only as the work function of a `Bound<D>`.
    unsafe extern "C" fn config_work(work: *mut bindings::work_struct) {
        // SAFETY: `work` is the first field of a live `Bound<D>` (repr(C)):
        // remove cancels the work before freeing it.
        let b = unsafe { &*work.cast::<Bound<D>>() };
        // SAFETY: non-null data lives until remove, which cancels (waits
        // for) this work before dropping it.
        if let Some(d) = unsafe { b.data.load(Ordering::Acquire).as_ref() } {
            D::config_changed(&Self::device(b), d.as_ref());
        }
    }
}

#[pinned_drop]
impl<D: Driver> PinnedDrop for Registration<D> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered in `new` (a failed init never reaches drop).
        unsafe { sys::unregister_virtio_driver(self.drv.get()) };
    }
}
