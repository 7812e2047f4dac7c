// SPDX-License-Identifier: GPL-2.0

//! PCI pieces the 7.3 kernel crate lacks, as owned values: the device
//! enabled until dropped (7.3 has `enable_device_mem` but nothing that
//! disables), and a BAR claimed with a write-combining memory type but not
//! mapped into the kernel (the shared memory can be many GiB; user space
//! maps it). Thin layer: the C calls are in `pci_shim.c` and here.

use core::ffi::c_void;
use kernel::{bindings, device::Bound, ffi::c_int, pci, prelude::*};

extern "C" {
    // `struct pci_dev *` as `void *`.
    fn vrs_pci_claim_wc(pdev: *mut c_void, bar: c_int, name: *const kernel::ffi::c_char) -> c_int;
    fn vrs_pci_release_wc(pdev: *mut c_void, bar: c_int);
}

/// `pci::Device` is a transparent wrapper of `struct pci_dev`.
fn raw(pdev: &pci::Device<Bound>) -> *mut c_void {
    core::ptr::from_ref(pdev).cast::<c_void>().cast_mut()
}

/// The device enabled for memory decoding; disabled (bus mastering off
/// too) when dropped, so that a rebind starts from the same state.
pub(crate) struct Enabled<'a>(&'a pci::Device<Bound>);

impl<'a> Enabled<'a> {
    pub(crate) fn new(pdev: &'a pci::Device<kernel::device::Core<'_>>) -> Result<Self> {
        pdev.enable_device_mem()?;
        Ok(Self(pdev))
    }
}

impl Drop for Enabled<'_> {
    fn drop(&mut self) {
        // SAFETY: enabled in `new`; one disable per enable.
        unsafe { bindings::pci_disable_device(raw(self.0).cast()) }
    }
}

/// A BAR claimed (`pci_request_region`) with a write-combining memory
/// type, released when dropped.
pub(crate) struct WcBar<'a> {
    pdev: &'a pci::Device<Bound>,
    bar: u32,
}

impl<'a> WcBar<'a> {
    pub(crate) fn new(pdev: &'a pci::Device<Bound>, bar: u32, name: &'static CStr) -> Result<Self> {
        // SAFETY: `pdev` is bound; `name` outlives the claim (static).
        kernel::error::to_result(unsafe {
            vrs_pci_claim_wc(raw(pdev), bar as c_int, name.as_char_ptr())
        })?;
        Ok(Self { pdev, bar })
    }
}

impl Drop for WcBar<'_> {
    fn drop(&mut self) {
        // SAFETY: claimed in `new`.
        unsafe { vrs_pci_release_wc(raw(self.pdev), self.bar as c_int) }
    }
}
