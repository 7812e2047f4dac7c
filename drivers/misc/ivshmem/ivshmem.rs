// SPDX-License-Identifier: GPL-2.0

//! ivshmem PCI driver: QEMU's inter-VM shared memory device (PCI
//! 1af4:1110, revision 1), ivshmem-plain and ivshmem-doorbell.
//!
//! Each device gets `/dev/ivshmem/<PCI address>` (uapi:
//! `include/uapi/linux/ivshmem.h`, documentation:
//! `Documentation/misc-devices/ivshmem.rst`): `mmap` of the shared memory
//! (BAR2), `read`/`poll` of the vectors that fired, ioctls for the device
//! info, ringing a peer's doorbell, and an eventfd per vector. Unbinding
//! revokes it all: mappings fault with SIGBUS, calls fail with ENODEV,
//! sleepers wake; the open files stay valid until closed.
//!
//! Safe code over the kernel's `pci`, `irq`, `devres` and `uaccess`
//! abstractions and three thin layers of this directory: `cdev` (the
//! character device), `msix` (vectors with handlers), `eventfd`.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::{
    device::Core,
    io::Io,
    irq::{self, IrqReturn},
    new_spinlock_irq, pci,
    pci::DevresBar,
    prelude::*,
    str::CString,
    sync::{Arc, ArcBorrow, SpinLockIrq},
    uaccess::{UserPtr, UserSlice},
};

mod cdev;
mod eventfd;
mod msix;
mod pciext;

use cdev::{Attrs, CdevRef, FileOps};
use eventfd::EventFd;

/// BAR0: the registers (256 bytes).
const BAR0_SIZE: usize = 256;
const IV_POSITION: usize = 8;
const DOORBELL: usize = 12;
/// The most vectors (bits of the read() mask).
const MAX_VECTORS: u32 = 64;

// include/uapi/linux/ivshmem.h
const IOC_MAGIC: u32 = 0xBC;
const INFO_DOORBELL: u32 = 1;

const IOCTL_INFO: u32 = kernel::ioctl::_IOR::<Info>(IOC_MAGIC, 0);
const IOCTL_RING: u32 = kernel::ioctl::_IOW::<Pair>(IOC_MAGIC, 1);
const IOCTL_SET_EVENTFD: u32 = kernel::ioctl::_IOW::<Pair>(IOC_MAGIC, 2);
const IOCTL_EXPORT_DMABUF: u32 = kernel::ioctl::_IOW::<DmaBufReq>(IOC_MAGIC, 3);
/// The flags a dma-buf descriptor may be opened with.
const DMABUF_FLAGS: u32 = kernel::bindings::O_CLOEXEC | kernel::bindings::O_ACCMODE;
const PAGE_SIZE: u64 = kernel::page::PAGE_SIZE as u64;

/// `struct ivshmem_info` (56 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Info {
    shm_size: u64,
    flags: u32,
    peer_id: u32,
    vectors: u32,
    revision: u32,
    reserved: [u64; 4],
}

// SAFETY: plain integers, no padding (8 + 4 * 4 + 32 bytes, 8-aligned).
unsafe impl kernel::transmute::AsBytes for Info {}

/// `struct ivshmem_ring` and `struct ivshmem_eventfd`: two 32-bit words.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Pair {
    a: u32,
    b: u32,
}

// SAFETY: two u32, any bit pattern valid.
unsafe impl kernel::transmute::FromBytes for Pair {}

/// Each vector's eventfd and the open file that set it.
type EventfdSlots = Pin<KBox<SpinLockIrq<KVec<Option<(EventFd, u64)>>>>>;

/// `struct ivshmem_dmabuf` (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct DmaBufReq {
    offset: u64,
    size: u64,
    flags: u32,
    reserved: u32,
}

// SAFETY: integers only, no padding (8 + 8 + 4 + 4), any bit pattern valid.
unsafe impl kernel::transmute::FromBytes for DmaBufReq {}

/// What the device and its open files share; outlives the unbind while a
/// file is open.
struct Shared {
    /// The registers, revoked at unbind (ring then fails with ENODEV).
    bar0: DevresBar<BAR0_SIZE>,
    /// BAR2: the shared memory.
    shm_start: u64,
    shm_len: u64,
    info: Info,
    alive: AtomicBool,
    /// Interrupts per vector since probe.
    fired: KVec<AtomicU64>,
    /// The eventfd of each vector and the open file that set it.
    eventfds: EventfdSlots,
    cdev: CdevRef,
    next_file: AtomicU64,
}

impl Shared {
    fn alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
}

/// One vector's interrupt handler.
struct VectorHandler {
    shared: Arc<Shared>,
    v: usize,
}

impl irq::Handler for VectorHandler {
    fn handle(&self) -> IrqReturn {
        let s = &self.shared;
        s.fired[self.v].fetch_add(1, Ordering::Release);
        if let Some((e, _)) = &s.eventfds.lock()[self.v] {
            e.signal();
        }
        s.cdev.wake();
        IrqReturn::Handled
    }
}

/// An open file.
struct OpenFile {
    shared: Arc<Shared>,
    id: u64,
    /// `fired` as of this file's last read.
    seen: KVec<AtomicU64>,
}

impl OpenFile {
    fn pending(&self) -> u64 {
        let f = &self.shared.fired;
        (0..f.len()).fold(0, |m, v| {
            if f[v].load(Ordering::Acquire) != self.seen[v].load(Ordering::Relaxed) {
                m | 1 << v
            } else {
                m
            }
        })
    }

    fn take_pending(&self) -> u64 {
        let f = &self.shared.fired;
        (0..f.len()).fold(0, |m, v| {
            let now = f[v].load(Ordering::Acquire);
            if self.seen[v].swap(now, Ordering::Relaxed) != now {
                m | 1 << v
            } else {
                m
            }
        })
    }

    fn set_eventfd(&self, vector: u32, fd: i32) -> Result<isize> {
        let s = &self.shared;
        if vector >= s.info.vectors {
            return Err(EINVAL);
        }
        let new = if fd >= 0 {
            Some(EventFd::from_fd(fd)?)
        } else {
            None
        };
        let old = {
            let mut slots = s.eventfds.lock();
            let slot = &mut slots[vector as usize];
            match slot {
                Some((_, owner)) if *owner != self.id => return Err(EBUSY),
                _ => core::mem::replace(slot, new.map(|e| (e, self.id))),
            }
        };
        // The old context is released outside the lock.
        drop(old);
        Ok(0)
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        // The eventfds this file set go with it.
        let mut gone = KVec::new();
        {
            let mut slots = self.shared.eventfds.lock();
            for slot in slots.iter_mut() {
                if matches!(slot, Some((_, o)) if *o == self.id) {
                    let _ = gone.push(slot.take(), GFP_ATOMIC);
                }
            }
        }
        drop(gone);
    }
}

impl FileOps for OpenFile {
    type Data = Shared;

    fn open(data: ArcBorrow<'_, Shared>) -> Result<KBox<Self>> {
        let mut seen = KVec::with_capacity(data.fired.len(), GFP_KERNEL)?;
        for f in data.fired.iter() {
            seen.push(AtomicU64::new(f.load(Ordering::Acquire)), GFP_KERNEL)?;
        }
        let id = data.next_file.fetch_add(1, Ordering::Relaxed);
        Ok(KBox::new(
            OpenFile {
                shared: data.into(),
                id,
                seen,
            },
            GFP_KERNEL,
        )?)
    }

    fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize> {
        if buf.len() < 8 {
            return Err(EINVAL);
        }
        loop {
            let m = self.take_pending();
            if m != 0 {
                buf[..8].copy_from_slice(&m.to_ne_bytes());
                return Ok(8);
            }
            if !self.shared.alive() {
                return Err(ENODEV);
            }
            if nonblock {
                return Err(EAGAIN);
            }
            self.shared
                .cdev
                .wait(|| self.pending() != 0 || !self.shared.alive())?;
        }
    }

    fn poll(&self) -> (bool, bool) {
        (self.pending() != 0, !self.shared.alive())
    }

    fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        let s = &self.shared;
        if !s.alive() {
            return Err(ENODEV);
        }
        match cmd {
            IOCTL_INFO => {
                let mut w =
                    UserSlice::new(UserPtr::from_addr(arg), core::mem::size_of::<Info>()).writer();
                w.write(&s.info)?;
                Ok(0)
            }
            IOCTL_RING => {
                let r: Pair = UserSlice::new(UserPtr::from_addr(arg), 8).reader().read()?;
                if s.info.flags & INFO_DOORBELL == 0 {
                    return Err(EOPNOTSUPP);
                }
                if r.a > 0xffff || r.b > 0xffff {
                    return Err(EINVAL);
                }
                s.bar0
                    .try_access_with(|bar| bar.write32(r.a << 16 | r.b, DOORBELL))
                    .ok_or(ENODEV)?;
                Ok(0)
            }
            IOCTL_SET_EVENTFD => {
                let e: Pair = UserSlice::new(UserPtr::from_addr(arg), 8).reader().read()?;
                self.set_eventfd(e.a, e.b as i32)
            }
            IOCTL_EXPORT_DMABUF => {
                let r: DmaBufReq = UserSlice::new(UserPtr::from_addr(arg), 24)
                    .reader()
                    .read()?;
                let end = r.offset.checked_add(r.size).ok_or(EINVAL)?;
                if r.size == 0
                    || r.offset % PAGE_SIZE != 0
                    || r.size % PAGE_SIZE != 0
                    || end > s.shm_len
                    || r.flags & !DMABUF_FLAGS != 0
                    || r.reserved != 0
                {
                    return Err(EINVAL);
                }
                let fd = s
                    .cdev
                    .export_dmabuf(s.shm_start + r.offset, r.size, r.flags)?;
                Ok(fd as isize)
            }
            _ => Err(ENOTTY),
        }
    }

    fn mmap_range(&self) -> Result<(u64, u64)> {
        if !self.shared.alive() {
            return Err(ENODEV);
        }
        Ok((self.shared.shm_start, self.shared.shm_len))
    }
}

/// Per-device driver data.
struct IvshmemData<'a> {
    // Drop order: the device node, the interrupts, the BAR2 claim, then
    // the device is disabled.
    _node: cdev::Registration<OpenFile>,
    _irqs: Option<msix::MsixIrqs<'a, VectorHandler>>,
    _shm: pciext::WcBar<'a>,
    _enabled: pciext::Enabled<'a>,
    shared: Arc<Shared>,
}

struct IvshmemDriver;

kernel::pci_device_table!(
    PCI_TABLE,
    <IvshmemDriver as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_id(pci::Vendor::REDHAT_QUMRANET, 0x1110),
        ()
    )]
);

impl pci::Driver for IvshmemDriver {
    type IdInfo = ();
    type Data<'bound> = IvshmemData<'bound>;
    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        let rev = pdev.revision_id();
        if rev != 1 {
            dev_err!(
                pdev,
                "revision {} not supported: revision 0 (QEMU before 2.6, \"-device ivshmem\") may expose BAR2 before it holds memory; use ivshmem-plain or ivshmem-doorbell\n",
                rev
            );
            return Err(ENODEV);
        }
        let enabled = pciext::Enabled::new(pdev)?;
        let bar0 = pdev.iomap_region_sized::<BAR0_SIZE>(0, c"ivshmem_rs")?;
        let shm_start = pdev.resource_start(2)?;
        let shm_len = pdev.resource_len(2)?;
        if shm_len == 0 {
            dev_err!(pdev, "BAR2 (the shared memory) is empty\n");
            return Err(ENODEV);
        }
        // Claimed, not mapped into the kernel: user space maps it,
        // write-combining (the memory type is reserved for that).
        let shm = pciext::WcBar::new(pdev, 2, c"ivshmem_rs")?;
        // Only ivshmem-doorbell has MSI-X (BAR1): its table size is the
        // device's `vectors` property.
        let table = msix::table_size(pdev);
        let doorbell = table > 0;
        let peer_id = if doorbell {
            bar0.read32(IV_POSITION)
        } else {
            0
        };
        let vectors = table.min(MAX_VECTORS);
        let info = Info {
            shm_size: shm_len,
            flags: if doorbell { INFO_DOORBELL } else { 0 },
            peer_id,
            vectors,
            revision: u32::from(rev),
            reserved: [0; 4],
        };
        let mut fired = KVec::with_capacity(vectors as usize, GFP_KERNEL)?;
        let mut slots = KVec::with_capacity(vectors as usize, GFP_KERNEL)?;
        for _ in 0..vectors {
            fired.push(AtomicU64::new(0), GFP_KERNEL)?;
            slots.push(None, GFP_KERNEL)?;
        }
        let cdev = CdevRef::new()?;
        let shared = Arc::new(
            Shared {
                bar0: bar0.into_devres()?,
                shm_start,
                shm_len,
                info,
                alive: AtomicBool::new(true),
                fired,
                eventfds: KBox::pin_init(new_spinlock_irq!(slots), GFP_KERNEL)?,
                cdev: cdev.clone(),
                next_file: AtomicU64::new(0),
            },
            GFP_KERNEL,
        )?;
        let pdev_b: &'bound pci::Device<kernel::device::Bound> = pdev;
        // dma-buf importers may map BAR2 peer to peer; without it, dma-bufs
        // still map into processes, and attaching is refused.
        if let Err(e) = cdev.set_p2p(pdev_b, 2) {
            dev_info!(
                pdev,
                "no peer-to-peer DMA for BAR2 ({:?}): dma-bufs are CPU-only\n",
                e
            );
        }
        let name = pdev.as_ref().name();
        let irqs = if vectors > 0 {
            // MSI-X messages are the device's writes: without bus mastering
            // QEMU drops them (the guest would never see a doorbell).
            pdev.set_master();
            let label = CString::try_from_fmt(fmt!("ivshmem-{}", name.to_str().unwrap_or("?")))?;
            Some(msix::MsixIrqs::new(pdev_b, vectors, &label, |v| {
                Ok(VectorHandler {
                    shared: shared.clone(),
                    v: v as usize,
                })
            })?)
        } else {
            None
        };
        let node_name = CString::try_from_fmt(fmt!("ivshmem/{}", name.to_str().unwrap_or("?")))?;
        let attrs = Attrs {
            shm_size: shm_len,
            peer_id,
            vectors,
            doorbell: u32::from(doorbell),
            revision: u32::from(rev),
        };
        let node =
            cdev::Registration::new(&cdev, pdev.as_ref(), &node_name, &attrs, shared.clone())?;
        let node_str = node_name.to_str().unwrap_or("?");
        if doorbell {
            dev_info!(
                pdev,
                "ivshmem-doorbell: {} KiB shared memory, peer id {}, {} vectors, /dev/{}\n",
                shm_len >> 10,
                peer_id,
                vectors,
                node_str
            );
        } else {
            dev_info!(
                pdev,
                "ivshmem-plain: {} KiB shared memory, /dev/{}\n",
                shm_len >> 10,
                node_str
            );
        }
        Ok(IvshmemData {
            _node: node,
            _irqs: irqs,
            _shm: shm,
            _enabled: enabled,
            shared,
        })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        let s = &this.shared;
        s.alive.store(false, Ordering::Release);
        // Mappings fault from now on, sleepers wake and see ENODEV.
        s.cdev.revoke();
    }
}

kernel::module_pci_driver! {
    type: IvshmemDriver,
    name: "ivshmem_rs",
    authors: ["virtio-rs developers"],
    description: "ivshmem (QEMU inter-VM shared memory) PCI driver: ivshmem-plain and ivshmem-doorbell",
    license: "GPL v2",
}
