// SPDX-License-Identifier: GPL-2.0

//! Platform-MSI vectors of a platform device, and interrupt handlers on
//! them.
//!
//! The 7.3 kernel crate has no abstraction for message signalled
//! interrupts of non-PCI devices (`drivers/base/platform-msi.c`), and its
//! [`kernel::irq::Registration`] takes only interrupts that come from a
//! device's resources. This module is the one place that calls the C API,
//! through the shim in `platform_msi_shim.c`:
//!
//! - [`Vectors`] allocates `n` vectors from the device's MSI domain
//!   (`platform_device_msi_init_and_alloc_irqs()`) and frees them, with
//!   the per-device domain, when dropped;
//! - [`VectorIrqs`] owns the vectors and one handler per requested vector;
//!   its field order makes every `free_irq()` happen before the vectors are
//!   freed;
//! - the message (address, data) of a requested vector, its affinity hint.
//!
//! The write-message callback only caches the message in the MSI
//! descriptor (see the shim for why); the driver programs its device from
//! process context with [`VectorIrqs::message`].

// Shared by path between modules; each uses part of it.
#![allow(dead_code)]

use core::{ffi::c_void, marker::PhantomPinned};
use kernel::{
    bindings,
    cpumask::{Cpumask, CpumaskVar},
    device::Bound,
    irq::{Handler, IrqReturn},
    new_mutex, platform,
    prelude::*,
    str::CString,
    sync::Mutex,
};

extern "C" {
    // `struct device *` (as `void *`: bindgen's `device` embeds an opaque
    // lockdep map that rustc calls FFI-unsafe, though only a pointer
    // crosses).
    fn vrs_msi_has_domain(dev: *mut c_void) -> bool;
    fn vrs_msi_alloc(dev: *mut c_void, nvec: u32) -> i32;
    fn vrs_msi_free(dev: *mut c_void);
    fn vrs_msi_virq(dev: *mut c_void, index: u32) -> u32;
    fn vrs_msi_message(virq: u32, addr: *mut u64, data: *mut u32);
    fn vrs_irq_set_affinity_hint(irq: u32, m: *const bindings::cpumask) -> i32;
    fn vrs_irq_clear_affinity_hint(irq: u32) -> i32;
}

/// A cpumask the irq core holds as an interrupt's affinity hint.
///
/// `CpumaskVar` is an owned allocation (or an inline mask) with no tie to
/// the thread that made it, but the 7.3 kernel crate does not mark it
/// `Send`/`Sync`; this wrapper does, so that the masks can live in a
/// transport shared between threads.
struct HintMask(KBox<CpumaskVar>);

// SAFETY: `CpumaskVar` owns its memory (see above); moving it between
// threads moves the ownership only.
unsafe impl Send for HintMask {}
// SAFETY: shared access only reads the mask (`as_raw` hands the pointer to
// the irq core, which reads it under the descriptor lock).
unsafe impl Sync for HintMask {}

/// An MSI message: what the device writes, and where, to raise a vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) addr: u64,
    pub(crate) data: u32,
}

/// The CPUs that can ever be online (`cpu_possible_mask`).
pub(crate) fn cpu_possible() -> &'static Cpumask {
    // SAFETY: the possible mask is final before any module loads and is
    // never written again.
    unsafe { Cpumask::from_raw(&raw const bindings::__cpu_possible_mask) }
}

/// The `struct device` of a platform device.
fn raw(dev: &platform::Device<Bound>) -> *mut c_void {
    let d: &kernel::device::Device<Bound> = dev.as_ref();
    // `device::Device` is a transparent wrapper of `struct device`.
    core::ptr::from_ref(d).cast::<c_void>().cast_mut()
}

/// `n` vectors allocated from a platform device's MSI domain.
///
/// # Invariants
///
/// `n` vectors, indices `0..n`, are allocated for `dev` in its default
/// MSI domain; they (and the per-device domain) are freed on drop.
pub(crate) struct Vectors<'a> {
    dev: &'a platform::Device<Bound>,
    n: u32,
}

impl<'a> Vectors<'a> {
    /// Whether the device has an MSI domain to allocate from (a DT node
    /// with `msi-parent`, on a platform with an MSI controller).
    pub(crate) fn has_domain(dev: &platform::Device<Bound>) -> bool {
        // SAFETY: a valid, bound device.
        unsafe { vrs_msi_has_domain(raw(dev)) }
    }

    /// Allocate `n` vectors (1 to 2048).
    pub(crate) fn alloc(dev: &'a platform::Device<Bound>, n: u32) -> Result<Self> {
        if n == 0 || n > 2048 {
            return Err(EINVAL);
        }
        // SAFETY: a valid, bound device. The per-device domain this
        // creates is device-managed; `drop` removes it first, since `Self`
        // borrows the bound device and so goes before the unbind; on
        // failure the shim removes it before returning.
        kernel::error::to_result(unsafe { vrs_msi_alloc(raw(dev), n) })?;
        // INVARIANT: allocated above.
        Ok(Vectors { dev, n })
    }

    /// The number of vectors.
    pub(crate) fn len(&self) -> u32 {
        self.n
    }

    /// The Linux interrupt number of vector `index`, if it exists.
    fn irq(&self, index: u32) -> Option<u32> {
        if index >= self.n {
            return None;
        }
        // SAFETY: a valid device; the vectors are allocated (invariant).
        match unsafe { vrs_msi_virq(raw(self.dev), index) } {
            0 => None,
            irq => Some(irq),
        }
    }
}

impl Drop for Vectors<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated (invariant); no handler is requested on them
        // any more ([`VectorIrqs`] frees its handlers first).
        unsafe { vrs_msi_free(raw(self.dev)) };
    }
}

/// A handler requested on one vector, with its name and affinity hint.
///
/// # Invariants
///
/// While this exists, `irq` has a handler requested with `request_irq()`
/// whose cookie is a pointer to `Self`, named by `name`; an affinity hint
/// set on `irq` points into `hint`.
#[pin_data(PinnedDrop)]
struct VectorIrq<T: Handler> {
    irq: u32,
    index: u32,
    name: CString,
    /// The affinity hint given to the irq core, which keeps the pointer.
    #[pin]
    hint: Mutex<Option<HintMask>>,
    #[pin]
    handler: T,
    #[pin]
    _pin: PhantomPinned,
}

impl<T: Handler> VectorIrq<T> {
    /// # Safety
    ///
    /// The result must be dropped before the vector `irq` belongs to is
    /// freed, and must not be leaked.
    unsafe fn new(virq: u32, index: u32, name: CString, handler: T) -> impl PinInit<Self, Error> {
        try_pin_init!(&this in Self {
            irq: virq,
            index,
            name,
            hint <- new_mutex!(None),
            handler,
            _pin: PhantomPinned,
            _: {
                // SAFETY: `this` is pinned and initialised (all fields are
                // set above) and stays valid until `drop`, which frees the
                // interrupt first; the name lives in `this` as well.
                kernel::error::to_result(unsafe {
                    bindings::request_irq(
                        virq,
                        Some(handle_vector::<T>),
                        0,
                        (*this.as_ptr()).name.as_char_ptr(),
                        this.as_ptr().cast::<c_void>(),
                    )
                })?;
            },
        })
    }
}

#[pinned_drop]
impl<T: Handler> PinnedDrop for VectorIrq<T> {
    fn drop(self: Pin<&mut Self>) {
        // The irq core keeps the hint pointer: withdraw it before the mask
        // goes (and before free_irq(), which warns about a left-over hint).
        if self.hint.lock().is_some() {
            // SAFETY: the interrupt is ours (invariant).
            unsafe { vrs_irq_clear_affinity_hint(self.irq) };
        }
        // SAFETY: requested with this cookie in `new` (invariant);
        // free_irq() waits for a running handler.
        unsafe {
            bindings::free_irq(
                self.irq,
                core::ptr::from_mut::<Self>(self.get_unchecked_mut()).cast::<c_void>(),
            )
        };
    }
}

/// # Safety
///
/// Only as the handler passed to `request_irq` by [`VectorIrq::new`].
unsafe extern "C" fn handle_vector<T: Handler>(
    _irq: i32,
    ptr: *mut c_void,
) -> bindings::irqreturn_t {
    // SAFETY: the cookie is the pinned `VectorIrq` (its invariant), which
    // outlives the registration.
    let v = unsafe { &*ptr.cast_const().cast::<VectorIrq<T>>() };
    bindings::irqreturn_t(match v.handler.handle() {
        IrqReturn::None => bindings::irqreturn::IRQ_NONE.0,
        IrqReturn::Handled => bindings::irqreturn::IRQ_HANDLED.0,
    })
}

/// Vectors and the handlers requested on them. Dropping it frees every
/// handler (waiting for running ones), then the vectors.
pub(crate) struct VectorIrqs<'a, T: Handler> {
    // Declared first: dropped before `vectors`.
    irqs: KVec<Pin<KBox<VectorIrq<T>>>>,
    vectors: Vectors<'a>,
}

impl<'a, T: Handler> VectorIrqs<'a, T> {
    /// Take ownership of `vectors`, with no handler requested yet.
    pub(crate) fn new(vectors: Vectors<'a>) -> Self {
        VectorIrqs {
            irqs: KVec::new(),
            vectors,
        }
    }

    /// The number of vectors.
    pub(crate) fn len(&self) -> u32 {
        self.vectors.len()
    }

    fn find(&self, index: u32) -> Option<&VectorIrq<T>> {
        self.irqs.iter().find(|v| v.index == index).map(|v| &**v)
    }

    /// Request `handler` on vector `index`, named `name` in
    /// `/proc/interrupts`. Once this returns the vector is activated and
    /// [`Self::message`] has its message.
    pub(crate) fn request(&mut self, index: u32, name: CString, handler: T) -> Result {
        if self.find(index).is_some() {
            return Err(EBUSY);
        }
        let irq = self.vectors.irq(index).ok_or(EINVAL)?;
        self.irqs.reserve(1, GFP_KERNEL)?;
        // SAFETY: the registration goes into `self.irqs`, which is dropped
        // before `self.vectors` (field order) and never leaked.
        let reg = unsafe { VectorIrq::new(irq, index, name, handler) };
        let v = KBox::pin_init(reg, GFP_KERNEL)?;
        self.irqs.push(v, GFP_KERNEL)?;
        Ok(())
    }

    /// The Linux interrupt number of vector `index`, requested or not.
    pub(crate) fn vector_irq(&self, index: u32) -> Option<u32> {
        self.vectors.irq(index)
    }

    /// The Linux interrupt number of a requested vector.
    pub(crate) fn irq(&self, index: u32) -> Option<u32> {
        self.find(index).map(|v| v.irq)
    }

    /// The message of a requested vector.
    pub(crate) fn message(&self, index: u32) -> Option<Message> {
        let v = self.find(index)?;
        let (mut addr, mut data) = (0u64, 0u32);
        // SAFETY: `v.irq` is requested, hence activated: its descriptor
        // holds the message the domain composed.
        unsafe { vrs_msi_message(v.irq, &mut addr, &mut data) };
        Some(Message { addr, data })
    }

    /// Route vector `index` to `cpus` and keep `cpus` as its affinity
    /// hint; `None` withdraws the hint (the routing stays).
    pub(crate) fn set_affinity(&self, index: u32, cpus: Option<&Cpumask>) -> Result {
        let v = self.find(index).ok_or(EINVAL)?;
        let mut hint = v.hint.lock();
        match cpus {
            Some(cpus) => {
                // Boxed: without CONFIG_CPUMASK_OFFSTACK a `CpumaskVar`
                // holds the mask inline, and the address handed to the
                // irq core must not move when `new` is stored below.
                let new = HintMask(KBox::new(CpumaskVar::try_clone(cpus)?, GFP_KERNEL)?);
                // SAFETY: the interrupt is ours; the boxed mask stays at
                // this address until it is replaced below or withdrawn
                // (drop).
                kernel::error::to_result(unsafe {
                    vrs_irq_set_affinity_hint(v.irq, new.0.as_raw())
                })?;
                // The core now points at `new`: the old mask may go.
                *hint = Some(new);
            }
            None => {
                // SAFETY: the interrupt is ours.
                unsafe { vrs_irq_clear_affinity_hint(v.irq) };
                *hint = None;
            }
        }
        Ok(())
    }

    /// The affinity hint of vector `index` as a raw mask pointer, valid
    /// until the next [`Self::set_affinity`] of that vector or until this
    /// is dropped (what `get_vq_affinity` hands to blk-mq).
    pub(crate) fn affinity_ptr(&self, index: u32) -> *const bindings::cpumask {
        match self.find(index) {
            Some(v) => match v.hint.lock().as_ref() {
                Some(m) => m.0.as_raw(),
                None => core::ptr::null(),
            },
            None => core::ptr::null(),
        }
    }

    /// The handler of a requested vector.
    pub(crate) fn handler(&self, index: u32) -> Option<&T> {
        self.find(index).map(|v| &v.handler)
    }

    /// Wait for running handlers of every vector.
    pub(crate) fn synchronize(&self) {
        for v in self.irqs.iter() {
            // SAFETY: requested (invariant of `VectorIrq`).
            unsafe { bindings::synchronize_irq(v.irq) };
        }
    }
}
