// SPDX-License-Identifier: GPL-2.0

//! MSI-X vectors of a PCI device with one handler each, owned together.
//!
//! 7.3's [`kernel::pci::IrqVectorRegistration`] hands out vectors that
//! borrow the allocation, so a driver cannot keep both in its data without
//! a self-reference. [`MsixIrqs`] owns the allocation and the handlers in
//! one value whose field order frees every handler before the vectors.
//! This is the one place of the driver that calls the C API for it.

use core::{ffi::c_void, marker::PhantomPinned};
use kernel::{
    bindings,
    irq::{Handler, IrqReturn},
    pci,
    prelude::*,
    str::CString,
};

/// A handler requested on one vector.
///
/// # Invariants
///
/// While this exists, `irq` has a handler requested with `request_irq()`
/// whose cookie is a pointer to `Self`, named by `name`.
#[pin_data(PinnedDrop)]
struct VectorIrq<T: Handler> {
    irq: u32,
    name: CString,
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
    unsafe fn new(irq: u32, name: CString, handler: T) -> impl PinInit<Self, Error> {
        try_pin_init!(&this in Self {
            irq,
            name,
            handler,
            _pin: PhantomPinned,
            _: {
                // SAFETY: `this` is pinned and initialised (all fields are
                // set above) and stays valid until `drop`, which frees the
                // interrupt first; the name lives in `this` as well.
                kernel::error::to_result(unsafe {
                    bindings::request_irq(
                        (*this.as_ptr()).irq,
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

/// The `struct pci_dev` of `pdev` (`pci::Device` is a transparent wrapper
/// of it; its own `as_raw` is private to the kernel crate).
fn raw(pdev: &pci::Device<kernel::device::Bound>) -> *mut bindings::pci_dev {
    core::ptr::from_ref(pdev)
        .cast::<bindings::pci_dev>()
        .cast_mut()
}

/// The size of the device's MSI-X table; 0 without an MSI-X capability.
pub(crate) fn table_size(pdev: &pci::Device<kernel::device::Bound>) -> u32 {
    // SAFETY: `pdev` is a bound PCI device; the call only reads its
    // configuration space.
    let n = unsafe { bindings::pci_msix_vec_count(raw(pdev)) };
    u32::try_from(n).unwrap_or(0)
}

/// The device's MSI-X vectors, allocated while this exists.
///
/// # Invariants
///
/// `pdev` has `n` MSI-X vectors allocated.
struct Vectors<'a> {
    pdev: &'a pci::Device<kernel::device::Bound>,
}

impl Drop for Vectors<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated (invariant); [`MsixIrqs`] frees its handlers
        // first.
        unsafe { bindings::pci_free_irq_vectors(raw(self.pdev)) };
    }
}

/// `n` MSI-X vectors, each with its own handler. Dropping it frees every
/// handler (waiting for running ones), then the vectors.
pub(crate) struct MsixIrqs<'a, T: Handler> {
    // Held for their drop only; declared first: dropped before `_vectors`.
    _irqs: KVec<Pin<KBox<VectorIrq<T>>>>,
    _vectors: Vectors<'a>,
}

impl<'a, T: Handler> MsixIrqs<'a, T> {
    /// Allocates exactly `n` MSI-X vectors and requests `handler(v)` on
    /// vector `v`, named `<name>-<v>` in /proc/interrupts.
    pub(crate) fn new(
        pdev: &'a pci::Device<kernel::device::Bound>,
        n: u32,
        name: &CStr,
        mut handler: impl FnMut(u32) -> Result<T>,
    ) -> Result<Self> {
        // SAFETY: `pdev` is a bound PCI device.
        let got =
            unsafe { bindings::pci_alloc_irq_vectors(raw(pdev), n, n, bindings::PCI_IRQ_MSIX) };
        if got < 0 {
            return Err(Error::from_errno(got));
        }
        let vectors = Vectors { pdev };
        let mut irqs = KVec::with_capacity(n as usize, GFP_KERNEL)?;
        for v in 0..n {
            // SAFETY: `v` < `n` allocated vectors.
            let irq = unsafe { bindings::pci_irq_vector(raw(pdev), v) };
            if irq < 0 {
                return Err(Error::from_errno(irq));
            }
            let label =
                CString::try_from_fmt(fmt!("{}-{}", name.to_str().unwrap_or("ivshmem"), v))?;
            // SAFETY: the handler is kept in `irqs`, dropped before
            // `vectors` (field order), and never leaked.
            let reg = unsafe { VectorIrq::new(irq as u32, label, handler(v)?) };
            irqs.push(KBox::pin_init(reg, GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(Self {
            _irqs: irqs,
            _vectors: vectors,
        })
    }
}
