// SPDX-License-Identifier: GPL-2.0

//! virtio-mmio transport (virtio spec 4.2) in Rust: a drop-in for the
//! kernel's `virtio_mmio.ko`.
//!
//! A platform driver for DT `virtio,mmio`, ACPI `LNRO0005` and devices
//! given with `device=<size>@<base>:<irq>[:<id>]` (`cmdline.c`). Each
//! device goes on the kernel's virtio bus through
//! [`virtio::Registration`], with the queues on the kernel's vring, so the
//! kernel's own virtio drivers bind unmodified. Version 2 and legacy
//! version 1 devices; per-queue reset (`VIRTIO_F_RING_RESET`) through
//! `QueueReset`, which the C driver does not offer.
//!
//! The driver is Rust over the kernel's `platform`, `io`, `irq` and `dma`
//! abstractions and `drivers/virtio/bindings`. It has five `unsafe`
//! blocks, each a call whose contract is a rule about lifetime or context
//! that the type system cannot express, with the reason it holds: the DMA
//! mask set before any DMA mapping exists, the interrupt request (the
//! registration must not be leaked), its name, the virtio registration
//! (must be dropped before unbind), and the queue walk that only the
//! interrupt handler may do.

use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use kernel::{
    acpi,
    device::{Bound, Core as CoreCtx},
    dma::{Device as _, DmaMask},
    driver,
    io::{mem::IoMem, Io},
    irq::{self, IrqReturn},
    new_mutex, of, platform,
    prelude::*,
    sync::{Arc, Mutex},
    time::{delay::fsleep, Delta},
};

mod cmdline;
mod msi;
#[path = "../bindings/platform_msi.rs"]
mod platform_msi;
mod pm;
#[path = "../bindings/region.rs"]
mod region;
mod regs;
mod stats;
#[path = "../bindings/virtio.rs"]
mod virtio;

use msi::{Fallback, Msi};
use region::MemRegion;
use stats::{Root, Stats, StatsFile};
use virtio::{DeviceRef, QueuePlan, RingAddrs, ShmRegion, Transport};

/// The register window; the configuration space above it is checked at
/// run time against the size of the device's memory resource.
type Regs<'a> = IoMem<'a, { regs::REGS_SIZE }>;

/// What the interrupt handler and the config ops share.
struct Core<'a> {
    regs: Regs<'a>,
    /// The window claimed in the iomem tree (as
    /// `devm_platform_ioremap_resource()` in virtio_mmio.c), so no other
    /// driver takes the device; released after the mapping is gone.
    _region: MemRegion<'a>,
    version: u32,
    irq: u32,
    stats: Arc<Stats>,
    /// The device offered `VIRTIO_F_MMIO_MSI` (version 2 only).
    msi_offered: bool,
    /// The transport accepted `VIRTIO_F_MMIO_MSI` in the last
    /// `finalize_features`.
    msi_accepted: AtomicBool,
}

/// The transport's interrupts between `find_vqs` and `del_vqs`.
enum Irq<'a> {
    None,
    /// The wired interrupt, shared by configuration changes and queues.
    Wired(Pin<KBox<irq::Registration<'a, IrqHandler<'a>>>>),
    /// MSI vectors: planned (allocated) by `queues_plan`, requested and
    /// enabled by `queues_ready`.
    Msi(Msi<'a>),
}

/// The wired-interrupt handler (virtio spec 4.2.3.4).
struct IrqHandler<'a> {
    core: Arc<Core<'a>>,
    dev: DeviceRef,
}

impl irq::Handler for IrqHandler<'_> {
    fn handle(&self) -> IrqReturn {
        let c = &self.core;
        let status = c.regs.read32(regs::INTERRUPT_STATUS);
        if status & (regs::INT_VRING | regs::INT_CONFIG) == 0 {
            // Not ours (the line may be shared), or nothing we know.
            c.stats.spurious.fetch_add(1, Relaxed);
            return IrqReturn::None;
        }
        c.regs.write32(
            status & (regs::INT_VRING | regs::INT_CONFIG),
            regs::INTERRUPT_ACK,
        );
        c.stats.interrupts.fetch_add(1, Relaxed);
        if status & regs::INT_CONFIG != 0 {
            c.stats.config.fetch_add(1, Relaxed);
            self.dev.config_changed();
        }
        if status & regs::INT_VRING != 0 {
            // SAFETY: this handler is requested in `queues_ready` and freed
            // in `queues_end`.
            unsafe { self.dev.vring_interrupt_all(c.irq) };
        }
        IrqReturn::Handled
    }
}

/// The [`Transport`] of one virtio-mmio device.
#[pin_data]
struct MmioTransport<'a> {
    pdev: &'a platform::Device<Bound>,
    core: Arc<Core<'a>>,
    /// The interrupts, requested while the driver has queues (as the C
    /// driver does: `find_vqs` to `del_vqs`). Taken before `sel`.
    #[pin]
    irq: Mutex<Irq<'a>>,
    /// Held across each select-then-access sequence of QueueSel, SHMSel,
    /// DeviceFeaturesSel and DriverFeaturesSel. The virtio core runs config
    /// ops from probe, remove, PM and driver paths (a queue reset from
    /// ethtool, a shared-memory lookup) without one lock of its own over
    /// all of them, so the transport serialises its selectors itself.
    /// Process context only; the interrupt handler and `notify` use no
    /// selector.
    #[pin]
    sel: Mutex<()>,
}

/// The 64 feature bits the device offers, high word first (spec 4.2.2:
/// `DeviceFeaturesSel` selects the word `DeviceFeatures` shows).
fn read_device_features(r: &Regs<'_>) -> u64 {
    r.write32(1, regs::DEVICE_FEATURES_SEL);
    let hi = r.read32(regs::DEVICE_FEATURES);
    r.write32(0, regs::DEVICE_FEATURES_SEL);
    let lo = r.read32(regs::DEVICE_FEATURES);
    (u64::from(hi) << 32) | u64::from(lo)
}

/// How long a device may take to complete a (queue) reset.
const RESET_POLLS: u32 = 1000;

impl MmioTransport<'_> {
    fn regs(&self) -> &Regs<'_> {
        &self.core.regs
    }

    fn legacy(&self) -> bool {
        self.core.version == 1
    }

    /// Poll `reg` until it reads 0, sleeping 100 us between reads.
    fn wait_zero(&self, reg: usize) -> Result {
        for _ in 0..RESET_POLLS {
            if self.regs().read32(reg) == 0 {
                return Ok(());
            }
            fsleep(Delta::from_micros(100));
        }
        Err(ETIMEDOUT)
    }

    fn config_read(&self, off: usize, buf: &mut [u8]) -> Result {
        let r = self.regs();
        let at = regs::CONFIG.checked_add(off).ok_or(EINVAL)?;
        // Legacy devices: byte accesses only (as virtio_mmio.c). Modern:
        // accesses as wide as the field, 64-bit as two 32-bit halves
        // (spec 4.2.2.2).
        match (self.legacy(), buf.len()) {
            (false, 1) => buf[0] = r.try_read8(at)?,
            (false, 2) => buf.copy_from_slice(&r.try_read16(at)?.to_le_bytes()),
            (false, 4) => buf.copy_from_slice(&r.try_read32(at)?.to_le_bytes()),
            (false, 8) => {
                buf[..4].copy_from_slice(&r.try_read32(at)?.to_le_bytes());
                buf[4..].copy_from_slice(&r.try_read32(at + 4)?.to_le_bytes());
            }
            _ => {
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = r.try_read8(at + i)?;
                }
            }
        }
        Ok(())
    }

    fn config_write(&self, off: usize, buf: &[u8]) -> Result {
        let r = self.regs();
        let at = regs::CONFIG.checked_add(off).ok_or(EINVAL)?;
        let le32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        match (self.legacy(), buf.len()) {
            (false, 1) => r.try_write8(buf[0], at)?,
            (false, 2) => r.try_write16(u16::from_le_bytes([buf[0], buf[1]]), at)?,
            (false, 4) => r.try_write32(le32(buf), at)?,
            (false, 8) => {
                r.try_write32(le32(&buf[..4]), at)?;
                r.try_write32(le32(&buf[4..]), at + 4)?;
            }
            _ => {
                for (i, b) in buf.iter().enumerate() {
                    r.try_write8(*b, at + i)?;
                }
            }
        }
        Ok(())
    }

    /// Select queue `index`; the returned guard keeps the selection until
    /// dropped.
    fn select(&self, index: u16) -> kernel::sync::MutexGuard<'_, ()> {
        let g = self.sel.lock();
        self.regs().write32(u32::from(index), regs::QUEUE_SEL);
        g
    }
    /// Whether to accept `VIRTIO_F_MMIO_MSI`: the device offers it, the
    /// platform gave the device an MSI domain, the device has at least two
    /// vectors and `force_wired` is not set. Says why not when offered.
    fn msi_usable(&self) -> bool {
        if !self.core.msi_offered {
            return false;
        }
        let why = if module_parameters::force_wired.value() {
            "force_wired=1"
        } else if !platform_msi::Vectors::has_domain(self.pdev) {
            "no MSI domain (no msi-parent)"
        } else {
            let n = {
                let _sel = self.sel.lock();
                self.regs().read32(regs::MSI_VEC_NUM)
            };
            if n >= 2 {
                return true;
            }
            "the device has fewer than 2 MSI vectors"
        };
        dev_info!(
            self.pdev.as_ref(),
            "MSI offered, using the wired interrupt: {}\n",
            why
        );
        false
    }

    /// Log why this `find_vqs` falls back to the wired interrupt.
    fn wired_because(&self, why: &Fallback) {
        dev_warn!(
            self.pdev.as_ref(),
            "MSI not used, using the wired interrupt: {}\n",
            why
        );
    }

    /// Program queue `index` (selected by the caller) and make it ready;
    /// `vector` goes to `QueueMsiVec` first.
    fn queue_activate_locked(
        &self,
        index: u16,
        size: u32,
        a: &RingAddrs,
        vector: Option<u32>,
    ) -> Result {
        let r = self.regs();
        r.write32(size, regs::QUEUE_NUM);
        if self.legacy() {
            let pfn = a.desc >> bindings_page_shift();
            let Ok(pfn) = u32::try_from(pfn) else {
                dev_err!(
                    self.pdev.as_ref(),
                    "legacy virtio-mmio cannot use a ring above 16 TiB (page {:#x})\n",
                    pfn
                );
                return Err(E2BIG);
            };
            // Again here, not only at probe: after a restore from
            // hibernation the device has forgotten it.
            r.write32(PAGE_SIZE as u32, regs::GUEST_PAGE_SIZE);
            r.write32(PAGE_SIZE as u32, regs::QUEUE_ALIGN);
            r.write32(pfn, regs::QUEUE_PFN);
        } else {
            r.write32(a.desc as u32, regs::QUEUE_DESC_LOW);
            r.write32((a.desc >> 32) as u32, regs::QUEUE_DESC_HIGH);
            r.write32(a.avail as u32, regs::QUEUE_DRIVER_LOW);
            r.write32((a.avail >> 32) as u32, regs::QUEUE_DRIVER_HIGH);
            r.write32(a.used as u32, regs::QUEUE_DEVICE_LOW);
            r.write32((a.used >> 32) as u32, regs::QUEUE_DEVICE_HIGH);
            if let Some(v) = vector {
                // Spec (mmio-msi.rst): before QueueReady, read back.
                r.write32(v, regs::QUEUE_MSI_VEC);
                if r.read32(regs::QUEUE_MSI_VEC) != v {
                    dev_warn!(
                        self.pdev.as_ref(),
                        "device refused MSI vector {} for queue {}\n",
                        v,
                        index
                    );
                    return Err(EIO);
                }
            }
            r.write32(1, regs::QUEUE_READY);
        }
        Ok(())
    }
}

impl Transport for MmioTransport<'_> {
    fn bus_name(&self) -> &CStr {
        self.pdev.as_ref().name()
    }

    fn get_config(&self, offset: usize, buf: &mut [u8]) {
        if self.config_read(offset, buf).is_err() {
            dev_warn_ratelimited(self.pdev, offset, buf.len());
            buf.fill(0);
        }
    }

    fn set_config(&self, offset: usize, buf: &[u8]) {
        if self.config_write(offset, buf).is_err() {
            dev_warn_ratelimited(self.pdev, offset, buf.len());
        }
    }

    fn generation(&self) -> u32 {
        if self.legacy() {
            0
        } else {
            self.regs().read32(regs::CONFIG_GENERATION)
        }
    }

    fn status(&self) -> u8 {
        (self.regs().read32(regs::STATUS) & 0xff) as u8
    }

    fn set_status(&self, status: u8) {
        // 0 would be a reset: that is `reset()`.
        if status != 0 {
            self.regs().write32(u32::from(status), regs::STATUS);
        }
    }

    fn reset(&self) {
        self.regs().write32(0, regs::STATUS);
        // Spec 4.2.2.1 / 2.4: the reset is complete when Status reads 0.
        if self.wait_zero(regs::STATUS).is_err() {
            dev_err!(self.pdev.as_ref(), "device did not complete its reset\n");
        }
    }

    fn device_features(&self) -> u64 {
        let _sel = self.sel.lock();
        read_device_features(self.regs())
    }

    fn finalize_features(&self, features: u64) -> Result {
        if !self.legacy() && features & (1 << virtio::sys::VIRTIO_F_VERSION_1) == 0 {
            dev_err!(
                self.pdev.as_ref(),
                "version 2 devices must offer VIRTIO_F_VERSION_1\n"
            );
            return Err(EINVAL);
        }
        // VIRTIO_F_MMIO_MSI is above the transport range the core keeps:
        // the transport accepts it itself when it will use MSI.
        let msi = self.msi_usable();
        self.core.msi_accepted.store(msi, Relaxed);
        let features = if msi {
            features | (1u64 << regs::F_MMIO_MSI)
        } else {
            features & !(1u64 << regs::F_MMIO_MSI)
        };
        let r = self.regs();
        let _sel = self.sel.lock();
        r.write32(1, regs::DRIVER_FEATURES_SEL);
        r.write32((features >> 32) as u32, regs::DRIVER_FEATURES);
        r.write32(0, regs::DRIVER_FEATURES_SEL);
        r.write32(features as u32, regs::DRIVER_FEATURES);
        Ok(())
    }

    fn queues_plan(&self, queues: &[QueuePlan<'_>], spread: bool) -> Result {
        let mut irq = self.irq.lock();
        if !matches!(*irq, Irq::None) {
            return Err(EBUSY);
        }
        self.core.stats.queue_setups.fetch_add(1, Relaxed);
        if !self.core.msi_accepted.load(Relaxed) {
            return Ok(());
        }
        let available = {
            let _sel = self.sel.lock();
            self.regs().read32(regs::MSI_VEC_NUM)
        };
        match Msi::plan(
            self.pdev,
            self.pdev.as_ref().name(),
            available,
            queues,
            spread,
        ) {
            Ok(m) => *irq = Irq::Msi(m),
            Err(why) => self.wired_because(&why),
        }
        Ok(())
    }

    fn queues_ready(&self, dev: DeviceRef) -> Result {
        let mut irq = self.irq.lock();
        match core::mem::replace(&mut *irq, Irq::None) {
            Irq::Wired(w) => {
                *irq = Irq::Wired(w);
                return Err(EBUSY);
            }
            Irq::Msi(mut m) => {
                let started = if m.refused {
                    Err(Fallback("device refused a QueueMsiVec", EIO))
                } else {
                    let _sel = self.sel.lock();
                    m.start(&self.core, self.regs(), &dev)
                };
                match started {
                    Ok(()) => {
                        dev_info!(
                            self.pdev.as_ref(),
                            "MSI: {} vectors, {}\n",
                            m.irqs.len(),
                            match m.mode {
                                msi::Mode::PerQueue => "config + one per queue",
                                msi::Mode::Shared => "config + one shared by the queues",
                            }
                        );
                        self.core.stats.set_mode(m.mode, m.irqs.len());
                        *irq = Irq::Msi(m);
                        return Ok(());
                    }
                    Err(why) => {
                        {
                            let _sel = self.sel.lock();
                            m.disable(self.regs());
                        }
                        // Frees the handlers, then the vectors.
                        drop(m);
                        self.wired_because(&why);
                    }
                }
            }
            Irq::None => {}
        }
        self.core.stats.set_wired();
        // Named after the virtio device, as virtio_mmio.c does, so that
        // /proc/interrupts tells the devices apart.
        // SAFETY: the name is used by the interrupt registration only,
        // which frees the interrupt before it drops its handler, which
        // owns `dev`.
        let name = unsafe { dev.name_static() };
        let handler = IrqHandler {
            core: self.core.clone(),
            dev,
        };
        // SAFETY: the registration is kept in `self.irq` until
        // `queues_end()` or the transport's drop, and the transport is
        // dropped only by the `virtio::Registration`, which the probe
        // keeps in the driver's data until unbind (its contract).
        let reg = unsafe {
            self.pdev
                .request_irq_by_index(irq::Flags::SHARED, 0, name, Ok::<_, Error>(handler))
        };
        *irq = Irq::Wired(KBox::pin_init(reg, GFP_KERNEL)?);
        Ok(())
    }

    fn queues_end(&self) {
        let mut irq = self.irq.lock();
        if let Irq::Msi(m) = &mut *irq {
            let _sel = self.sel.lock();
            m.disable(self.regs());
        }
        // Dropping a registration frees the interrupt (and waits for a
        // running handler); dropping the vectors frees them.
        drop(core::mem::replace(&mut *irq, Irq::None));
    }

    fn queue_affinity(&self, index: u16) -> *const kernel::bindings::cpumask {
        match &*self.irq.lock() {
            Irq::Msi(m) => match m.own_vector(index) {
                Some(v) => m.irqs.affinity_ptr(v),
                None => core::ptr::null(),
            },
            _ => core::ptr::null(),
        }
    }

    fn set_queue_affinity(&self, index: u16, cpus: Option<&kernel::cpumask::Cpumask>) -> Result {
        match &mut *self.irq.lock() {
            Irq::Msi(m) => {
                let _sel = self.sel.lock();
                m.set_affinity(self.regs(), index, cpus)
            }
            _ => Ok(()),
        }
    }

    fn queue_max(&self, index: u16) -> Result<u32> {
        let _sel = self.select(index);
        let in_use = if self.legacy() {
            regs::QUEUE_PFN
        } else {
            regs::QUEUE_READY
        };
        if self.regs().read32(in_use) != 0 {
            return Err(ENOENT);
        }
        match self.regs().read32(regs::QUEUE_NUM_MAX) {
            0 => Err(ENOENT),
            n => Ok(n),
        }
    }

    fn queue_activate(&self, index: u16, size: u32, a: &RingAddrs) -> Result {
        // The queue's MSI vector, if MSI is planned or on. A refusal while
        // the queues are first set up falls back to the wired interrupt
        // (in `queues_ready`); after that (a queue reset) it fails the
        // activation.
        let mut irq = self.irq.lock();
        let vector = match &*irq {
            Irq::Msi(m) => Some(m.queue_vector(index)),
            _ => None,
        };
        let _sel = self.select(index);
        let res = self.queue_activate_locked(index, size, a, vector);
        if res.is_err() && vector.is_some() {
            if let Irq::Msi(m) = &mut *irq {
                if !m.enabled {
                    m.refused = true;
                    // Activate without the vector; the wired interrupt
                    // takes over in `queues_ready`.
                    return self.queue_activate_locked(index, size, a, None);
                }
            }
        }
        res
    }

    fn queue_deactivate(&self, index: u16) {
        let r = self.regs();
        let _sel = self.select(index);
        if self.legacy() {
            r.write32(0, regs::QUEUE_PFN);
        } else {
            r.write32(0, regs::QUEUE_READY);
            // Spec 4.2.2.2: read back to synchronise with the device.
            if r.read32(regs::QUEUE_READY) != 0 {
                dev_warn!(self.pdev.as_ref(), "queue {} stays ready\n", index);
            }
        }
    }

    fn resets_queues(&self) -> bool {
        !self.legacy()
    }

    fn queue_reset(&self, index: u16) -> Result {
        if self.legacy() {
            return Err(EOPNOTSUPP);
        }
        let _sel = self.select(index);
        self.regs().write32(1, regs::QUEUE_RESET);
        // Spec 4.2.2.2: not complete until QueueReset reads 0.
        self.wait_zero(regs::QUEUE_RESET).inspect_err(|_| {
            dev_err!(self.pdev.as_ref(), "queue {} reset timed out\n", index);
        })?;
        // A completed reset also clears QueueReady. A device that offers
        // VIRTIO_F_RING_RESET without the register (QEMU 10.0's
        // virtio-mmio) reads QueueReset as 0 and keeps the queue running:
        // refuse, so that the driver keeps its ring and loses nothing.
        if self.regs().read32(regs::QUEUE_READY) != 0 {
            dev_err!(
                self.pdev.as_ref(),
                "queue {} not reset: still ready after QueueReset (device offers VIRTIO_F_RING_RESET without implementing it)\n",
                index
            );
            return Err(EIO);
        }
        self.core.stats.queue_resets.fetch_add(1, Relaxed);
        Ok(())
    }

    fn queue_busy(&self, index: u16) -> bool {
        let _sel = self.select(index);
        self.regs().read32(regs::QUEUE_RESET) != 0 || self.regs().read32(regs::QUEUE_READY) != 0
    }

    fn notify(&self, index: u16, data: u32) {
        self.regs().write32(data, regs::QUEUE_NOTIFY);
        self.core.stats.notified(index);
    }

    fn synchronize_cbs(&self) {
        match &*self.irq.lock() {
            Irq::Wired(reg) => reg.synchronize(),
            Irq::Msi(m) => m.irqs.synchronize(),
            Irq::None => {}
        }
    }

    fn shm_region(&self, id: u8) -> Option<ShmRegion> {
        let r = self.regs();
        let _sel = self.sel.lock();
        r.write32(u32::from(id), regs::SHM_SEL);
        let len = u64::from(r.read32(regs::SHM_LEN_LOW))
            | (u64::from(r.read32(regs::SHM_LEN_HIGH)) << 32);
        // A region that does not exist reads as length -1 (spec 4.2.2).
        if len == u64::MAX {
            return None;
        }
        let addr = u64::from(r.read32(regs::SHM_BASE_LOW))
            | (u64::from(r.read32(regs::SHM_BASE_HIGH)) << 32);
        Some(ShmRegion { addr, len })
    }
}

fn bindings_page_shift() -> u32 {
    PAGE_SIZE.trailing_zeros()
}

fn dev_warn_ratelimited(pdev: &platform::Device<Bound>, off: usize, len: usize) {
    dev_warn!(
        pdev.as_ref(),
        "config access at {:#x}+{} outside the device's region\n",
        off,
        len
    );
}

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// The platform driver.
struct MmioDriver;

/// Per-device driver data: the virtio device on the bus and its counters
/// file.
struct MmioData<'a> {
    // Dropped first: the device leaves the bus before its file goes.
    _vdev: virtio::Registration<MmioTransport<'a>>,
    _stats: Option<StatsFile>,
}

kernel::of_device_table!(
    OF_TABLE,
    <MmioDriver as platform::Driver>::IdInfo,
    [(of::DeviceId::new(c"virtio,mmio"), ())]
);

kernel::acpi_device_table!(
    ACPI_TABLE,
    <MmioDriver as platform::Driver>::IdInfo,
    [(acpi::DeviceId::new(c"LNRO0005"), ())]
);

impl platform::Driver for MmioDriver {
    type IdInfo = ();
    type Data<'bound> = MmioData<'bound>;
    const OF_ID_TABLE: Option<of::IdTable<Self::IdInfo>> = Some(&OF_TABLE);
    const ACPI_ID_TABLE: Option<acpi::IdTable<Self::IdInfo>> = Some(&ACPI_TABLE);

    fn probe<'bound>(
        pdev: &'bound platform::Device<CoreCtx<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        let dev = pdev.as_ref();
        let region = MemRegion::request(pdev.resource_by_index(0).ok_or(ENODEV)?, dev.name())?;
        let regs: Regs<'bound> = pdev
            .io_request_by_index(0)
            .ok_or(ENODEV)?
            .iomap_sized::<{ regs::REGS_SIZE }>()?;

        // Spec 4.2.3.1.1: magic and version first; device id 0 is a
        // placeholder to ignore without an error.
        let magic = regs.read32(regs::MAGIC_VALUE);
        if magic != regs::MAGIC {
            dev_warn!(dev, "Wrong magic value {:#010x}!\n", magic);
            return Err(ENODEV);
        }
        let version = regs.read32(regs::VERSION);
        if !(1..=2).contains(&version) {
            dev_err!(dev, "Version {} not supported!\n", version);
            return Err(ENXIO);
        }
        let device = regs.read32(regs::DEVICE_ID);
        if device == 0 {
            // Boards (QEMU virt: 32) fill unused slots with id 0; the spec
            // (4.2.3.1.1) forbids reporting an error, and virtio_mmio.c is
            // silent.
            dev_dbg!(dev, "no device (DeviceID 0), slot left unbound\n");
            return Err(ENODEV);
        }
        let vendor = regs.read32(regs::VENDOR_ID);

        // SAFETY: nothing allocates or maps DMA memory for this device yet.
        let dma = unsafe {
            if version == 1 {
                regs.write32(PAGE_SIZE as u32, regs::GUEST_PAGE_SIZE);
                // The legacy ring address is a 32-bit page number.
                pdev.dma_set_mask(DmaMask::new::<64>()).and_then(|()| {
                    pdev.dma_set_coherent_mask(DmaMask::try_new(32 + bindings_page_shift())?)
                })
            } else {
                pdev.dma_set_mask_and_coherent(DmaMask::new::<64>())
            }
            .or_else(|_| pdev.dma_set_mask_and_coherent(DmaMask::new::<32>()))
        };
        if dma.is_err() {
            dev_warn!(dev, "no 64-bit or 32-bit DMA; trying to continue\n");
        }

        let irq = pdev.irq_by_index(0)?.irq();
        // What the device offers, for the debugfs file.
        let features = read_device_features(&regs);
        let msi_offered = version == 2 && features & (1u64 << regs::F_MMIO_MSI) != 0;
        let stats = Stats::new(version, device, features)?;
        let stats_file = Root::file(dev.name(), stats.clone());
        let core = Arc::new(
            Core {
                regs,
                _region: region,
                version,
                irq,
                stats,
                msi_offered,
                msi_accepted: AtomicBool::new(false),
            },
            GFP_KERNEL,
        )?;
        let pdev: &'bound platform::Device<Bound> = pdev;
        let transport = try_pin_init!(MmioTransport {
            pdev,
            core,
            irq <- new_mutex!(Irq::None),
            sel <- new_mutex!(()),
        });
        // SAFETY: the registration is kept in `MmioData`, which the driver
        // core drops when the device is unbound.
        let vdev = unsafe {
            virtio::Registration::new(dev, virtio::DeviceId { device, vendor }, transport)?
        };
        dev_info!(
            dev,
            "virtio-mmio v{} device {} (vendor {:#x}), irq {}\n",
            version,
            device,
            vendor,
            irq
        );
        Ok(MmioData {
            _vdev: vdev,
            _stats: stats_file,
        })
    }
}

/// The module: the platform driver, and the command-line devices to
/// remove on unload.
#[pin_data]
struct VirtioMmioModule {
    /// Dropped first: the command-line devices leave while the driver is
    /// still registered (each is unbound, then removed).
    _cmdline: cmdline::Devices,
    /// Created before the driver registers, so probe finds it.
    _debugfs: Root,
    #[pin]
    driver: driver::Registration<platform::Adapter<MmioDriver>>,
}

impl kernel::InPlaceModule for VirtioMmioModule {
    fn init(module: &'static kernel::ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _cmdline: cmdline::Devices,
            _debugfs: Root::create(<Self as kernel::ModuleMetadata>::NAME),
            driver <- driver::Registration::new(<Self as kernel::ModuleMetadata>::NAME, module),
        })
        .pin_chain(|_| {
            if let Err(e) = pm::attach() {
                pr_warn!("no system sleep support: {:?}\n", e);
            }
            Ok(())
        })
    }
}

module! {
    type: VirtioMmioModule,
    name: "virtio_mmio_rs",
    authors: ["virtio-rs developers"],
    description: "virtio-mmio transport (Rust)",
    license: "GPL",
    params: {
        force_wired: bool {
            default: false,
            description: "Use the wired interrupt even when the device offers MSI",
        },
    },
}
