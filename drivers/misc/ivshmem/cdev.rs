// SPDX-License-Identifier: GPL-2.0

//! A character device with what the 7.3 kernel crate's `miscdevice` lacks:
//! a parent device, a name chosen at run time, sysfs attributes, `poll`, a
//! blocking `read` without lost wake-ups, and a revocable mapping of a
//! physical range. The C half is `cdev_shim.c`; this is the thin layer
//! that holds the `unsafe`, so the driver above it is safe code.

use core::ptr::NonNull;
use kernel::{
    device::Device,
    error::to_result,
    ffi::{c_int, c_long, c_uint, c_ulong, c_void},
    prelude::*,
    sync::{Arc, ArcBorrow},
};

/// The sysfs attributes of the device node (`struct vrs_cdev_attrs`).
#[repr(C)]
pub(crate) struct Attrs {
    /// `shm_size`: the shared memory's size in bytes.
    pub(crate) shm_size: u64,
    /// `peer_id`: the device's id on its ivshmem server.
    pub(crate) peer_id: u32,
    /// `vectors`: interrupt vectors in use.
    pub(crate) vectors: u32,
    /// `doorbell`: 1 for ivshmem-doorbell, 0 for ivshmem-plain.
    pub(crate) doorbell: u32,
    /// `revision`: the PCI revision.
    pub(crate) revision: u32,
}

#[repr(C)]
struct RawCdev {
    _opaque: [u8; 0],
}

/// `struct vrs_cdev_ops`: must match cdev_shim.h.
#[repr(C)]
struct RawOps {
    open: unsafe extern "C" fn(*mut c_void, *mut *mut c_void) -> c_int,
    release: unsafe extern "C" fn(*mut c_void),
    read: unsafe extern "C" fn(*mut c_void, *mut u8, usize, bool) -> c_long,
    poll: unsafe extern "C" fn(*mut c_void, *mut bool, *mut bool),
    ioctl: unsafe extern "C" fn(*mut c_void, c_uint, c_ulong) -> c_long,
    mmap_range: unsafe extern "C" fn(*mut c_void, *mut u64, *mut u64) -> c_int,
}

extern "C" {
    fn vrs_cdev_alloc() -> *mut RawCdev;
    fn vrs_cdev_get(c: *mut RawCdev);
    fn vrs_cdev_put(c: *mut RawCdev);
    fn vrs_cdev_register(
        c: *mut RawCdev,
        // `struct device *` (as `void *`: bindgen's `device` embeds an
        // opaque lockdep type that is not FFI-safe).
        parent: *mut c_void,
        name: *const kernel::ffi::c_char,
        attrs: *const Attrs,
        ops: *const RawOps,
        data: *mut c_void,
    ) -> c_int;
    fn vrs_cdev_deregister(c: *mut RawCdev);
    fn vrs_cdev_set_p2p(c: *mut RawCdev, pdev: *mut c_void, bar: c_int) -> c_int;
    fn vrs_cdev_export_dmabuf(c: *mut RawCdev, start: u64, size: u64, flags: u32) -> c_int;
    fn vrs_cdev_revoke(c: *mut RawCdev);
    fn vrs_cdev_wake(c: *mut RawCdev);
    fn vrs_cdev_wait(
        c: *mut RawCdev,
        cond: unsafe extern "C" fn(*mut c_void) -> bool,
        arg: *mut c_void,
    ) -> c_int;
}

/// What an open file of the device does. `Data` is the device's, shared
/// by every open file (each holds an [`Arc`] of it, so it outlives the
/// device's unbind while a file is open).
pub(crate) trait FileOps: Sized + Send + Sync + 'static {
    /// The device's data.
    type Data: Send + Sync + 'static;
    /// A new open file.
    fn open(data: ArcBorrow<'_, Self::Data>) -> Result<KBox<Self>>;
    /// `read()`: fill `buf` (at most 8 bytes); may sleep unless `nonblock`.
    fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize>;
    /// `poll()`: (readable, gone).
    fn poll(&self) -> (bool, bool);
    /// `ioctl()`; `arg` is a user address for the commands that take one.
    fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize>;
    /// The physical range `mmap()` maps (start, length), or an error once
    /// the device is gone.
    fn mmap_range(&self) -> Result<(u64, u64)>;
}

/// A counted reference to a device's character device: its wait queue
/// stays valid as long as one exists.
pub(crate) struct CdevRef(NonNull<RawCdev>);

// SAFETY: the C object is reference counted and its operations (wake,
// wait, revoke) are safe from any thread.
unsafe impl Send for CdevRef {}
// SAFETY: as above.
unsafe impl Sync for CdevRef {}

impl CdevRef {
    /// A new, unregistered character device.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: no precondition; NULL means no memory.
        NonNull::new(unsafe { vrs_cdev_alloc() })
            .map(CdevRef)
            .ok_or(ENOMEM)
    }

    /// Lets dma-buf importers map BAR `bar` of `pdev` peer to peer (until
    /// the device is unbound: the provider is device-managed).
    pub(crate) fn set_p2p(
        &self,
        pdev: &kernel::pci::Device<kernel::device::Bound>,
        bar: u32,
    ) -> Result {
        // `pci::Device` is a transparent wrapper of `struct pci_dev`.
        let raw = core::ptr::from_ref(pdev).cast::<c_void>().cast_mut();
        // SAFETY: `self` holds a reference; `pdev` is bound, as the
        // device-managed provider requires; `bar` is checked by the callee.
        to_result(unsafe { vrs_cdev_set_p2p(self.0.as_ptr(), raw, bar as c_int) })
    }

    /// Exports the physical range `[start, start + size)` as a dma-buf and
    /// returns its new file descriptor (opened with `flags`). The caller
    /// checks that the range is the device's; revocation covers it.
    pub(crate) fn export_dmabuf(&self, start: u64, size: u64, flags: u32) -> Result<i32> {
        // SAFETY: `self` holds a reference; the shim validates nothing else
        // of the range, which is the caller's contract (see above).
        let fd = unsafe { vrs_cdev_export_dmabuf(self.0.as_ptr(), start, size, flags) };
        to_result(fd.min(0))?;
        Ok(fd)
    }

    /// Wakes every reader and poller; callable from interrupt handlers.
    pub(crate) fn wake(&self) {
        // SAFETY: `self` holds a reference, so the object is alive.
        unsafe { vrs_cdev_wake(self.0.as_ptr()) }
    }

    /// Makes every mapping of the range fault with SIGBUS from now on
    /// ([`FileOps::mmap_range`] must fail from now on too) and wakes every
    /// sleeper. Sleeps.
    pub(crate) fn revoke(&self) {
        // SAFETY: `self` holds a reference.
        unsafe { vrs_cdev_revoke(self.0.as_ptr()) }
    }

    /// Sleeps until `cond()` holds (`Ok`) or a signal is pending
    /// (`ERESTARTSYS`). `cond` runs each time the queue is woken, with no
    /// wake-up lost between a check and the sleep.
    pub(crate) fn wait<F: Fn() -> bool>(&self, cond: F) -> Result {
        /// # Safety
        /// `arg` is a `&F` valid for the call.
        unsafe extern "C" fn tramp<F: Fn() -> bool>(arg: *mut c_void) -> bool {
            // SAFETY: `arg` is the `&F` passed below, alive for the call.
            let f = unsafe { &*arg.cast::<F>() };
            f()
        }
        let arg = core::ptr::from_ref(&cond).cast_mut().cast::<c_void>();
        // SAFETY: `self` holds a reference; `tramp::<F>` matches `arg`,
        // which outlives the call.
        to_result(unsafe { vrs_cdev_wait(self.0.as_ptr(), tramp::<F>, arg) })
    }
}

impl Clone for CdevRef {
    fn clone(&self) -> Self {
        // SAFETY: `self` holds a reference, so taking another is valid.
        unsafe { vrs_cdev_get(self.0.as_ptr()) };
        CdevRef(self.0)
    }
}

impl Drop for CdevRef {
    fn drop(&mut self) {
        // SAFETY: the reference this value held.
        unsafe { vrs_cdev_put(self.0.as_ptr()) }
    }
}

/// The device node, registered until dropped.
pub(crate) struct Registration<T: FileOps> {
    cdev: CdevRef,
    data: *const T::Data,
}

// SAFETY: `data` is an `Arc` held in raw form; `T::Data` is Send + Sync.
unsafe impl<T: FileOps> Send for Registration<T> {}
// SAFETY: as above; no method mutates.
unsafe impl<T: FileOps> Sync for Registration<T> {}

impl<T: FileOps> Registration<T> {
    const OPS: RawOps = RawOps {
        open: open_tramp::<T>,
        release: release_tramp::<T>,
        read: read_tramp::<T>,
        poll: poll_tramp::<T>,
        ioctl: ioctl_tramp::<T>,
        mmap_range: mmap_range_tramp::<T>,
    };

    /// Registers `/dev/<name>` (a `/` in `name` makes a subdirectory)
    /// under `parent`, with `attrs` in sysfs; opening it calls
    /// [`FileOps::open`] with `data`.
    pub(crate) fn new(
        cdev: &CdevRef,
        parent: &Device,
        name: &CStr,
        attrs: &Attrs,
        data: Arc<T::Data>,
    ) -> Result<Self> {
        let data = Arc::into_raw(data);
        // SAFETY: `cdev` is alive; `parent` is a valid device; `name` and
        // `attrs` are copied; `OPS` is a static item of this module, which
        // the file operations' owner keeps loaded while a file is open; the
        // `Arc` in `data` is released only in `drop`, after deregistration,
        // and no open can start after it.
        let ret = unsafe {
            vrs_cdev_register(
                cdev.0.as_ptr(),
                // `device::Device` is a transparent wrapper of `struct device`.
                core::ptr::from_ref(parent).cast::<c_void>().cast_mut(),
                name.as_char_ptr(),
                attrs,
                &Self::OPS,
                data.cast_mut().cast(),
            )
        };
        if let Err(e) = to_result(ret) {
            // SAFETY: from `Arc::into_raw` above, not handed out.
            drop(unsafe { Arc::from_raw(data) });
            return Err(e);
        }
        Ok(Self {
            cdev: cdev.clone(),
            data,
        })
    }
}

impl<T: FileOps> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `new`.
        unsafe { vrs_cdev_deregister(self.cdev.0.as_ptr()) };
        // SAFETY: from `Arc::into_raw` in `new`; after deregistration no
        // open can borrow it any more.
        drop(unsafe { Arc::from_raw(self.data) });
    }
}

/// # Safety
/// `data` is the pointer given to `vrs_cdev_register` by `new`, still
/// registered (misc_open() runs under the misc lock, before deregistration).
unsafe extern "C" fn open_tramp<T: FileOps>(data: *mut c_void, priv_: *mut *mut c_void) -> c_int {
    // SAFETY: `data` came from `Arc::into_raw` and the registration holds it.
    let data = unsafe { ArcBorrow::from_raw(data.cast_const().cast::<T::Data>()) };
    match T::open(data) {
        Ok(f) => {
            // SAFETY: `priv_` is valid for writing (cdev_shim.c).
            unsafe { *priv_ = KBox::into_raw(f).cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Borrows an open file's `T` from its `priv`.
///
/// # Safety
/// `p` is a `priv` set by `open_tramp::<T>` and not yet released.
unsafe fn file<'a, T: FileOps>(p: *mut c_void) -> &'a T {
    // SAFETY: by the function's contract.
    unsafe { &*p.cast::<T>() }
}

/// # Safety
/// `p` is a `priv` set by `open_tramp::<T>`, released exactly once.
unsafe extern "C" fn release_tramp<T: FileOps>(p: *mut c_void) {
    // SAFETY: the shim calls release once per open, last.
    drop(unsafe { KBox::from_raw(p.cast::<T>()) });
}

/// # Safety
/// `p` is an open file's `priv`; `buf` is valid for writing `len` bytes.
unsafe extern "C" fn read_tramp<T: FileOps>(
    p: *mut c_void,
    buf: *mut u8,
    len: usize,
    nonblock: bool,
) -> c_long {
    // SAFETY: the shim passes a kernel buffer of `len` bytes (at most 8)
    // and an open file's `priv`.
    let (f, buf) = unsafe { (file::<T>(p), core::slice::from_raw_parts_mut(buf, len)) };
    match f.read(buf, nonblock) {
        Ok(n) => n as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// # Safety
/// `p` is an open file's `priv`; the out pointers are valid for writing.
unsafe extern "C" fn poll_tramp<T: FileOps>(p: *mut c_void, readable: *mut bool, gone: *mut bool) {
    // SAFETY: an open file's `priv`; the out pointers are valid.
    unsafe {
        let (r, g) = file::<T>(p).poll();
        *readable = r;
        *gone = g;
    }
}

/// # Safety
/// `p` is an open file's `priv`.
unsafe extern "C" fn ioctl_tramp<T: FileOps>(p: *mut c_void, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: an open file's `priv`.
    match unsafe { file::<T>(p) }.ioctl(cmd, arg) {
        Ok(v) => v as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// # Safety
/// `p` is an open file's `priv`; the out pointers are valid for writing.
unsafe extern "C" fn mmap_range_tramp<T: FileOps>(
    p: *mut c_void,
    start: *mut u64,
    len: *mut u64,
) -> c_int {
    // SAFETY: an open file's `priv` (the VMA holds the file open).
    match unsafe { file::<T>(p) }.mmap_range() {
        Ok((s, l)) => {
            // SAFETY: valid out pointers (cdev_shim.c).
            unsafe {
                *start = s;
                *len = l;
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}
