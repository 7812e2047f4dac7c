// SPDX-License-Identifier: GPL-2.0

//! Claiming a device's memory window in the iomem tree, as
//! `devm_request_mem_region()` does for `virtio_mmio.c`.
//!
//! The 7.3 kernel crate's `IoRequest::iomap_exclusive_sized()` requests the
//! region under the device's own `struct resource` but releases it from the
//! root (`release_mem_region()`). For device-tree platform devices, whose
//! resources are not in the iomem tree, the release fails ("Trying to free
//! nonexistent resource") and the window stays claimed: the next probe of
//! the device gets `EBUSY`. This requests and releases from the root.
//!
//! This is one of the thin layers that hold `unsafe`; code above it is safe.

use core::marker::PhantomData;
use kernel::{bindings, io::resource::Resource, prelude::*, str::CStr};

/// A claimed (busy) memory region, released on drop.
///
/// # Invariants
///
/// `__request_region(&iomem_resource, ..)` succeeded for
/// `[start, start + size)` with a name borrowed for `'a`, and the region is
/// not released yet.
pub(crate) struct MemRegion<'a> {
    start: bindings::resource_size_t,
    size: bindings::resource_size_t,
    _name: PhantomData<&'a CStr>,
}

// SAFETY: the region is only released (once, in drop), from any thread.
unsafe impl Send for MemRegion<'_> {}
// SAFETY: no method takes `&self` to touch the region.
unsafe impl Sync for MemRegion<'_> {}

impl<'a> MemRegion<'a> {
    /// Claim the memory window `res` under `name` (which the iomem tree
    /// shows while the region lives); `EBUSY` if any part is claimed.
    pub(crate) fn request(res: &Resource, name: &'a CStr) -> Result<Self> {
        let (start, size) = (res.start(), res.size());
        // SAFETY: `iomem_resource` is the kernel's root of the iomem tree,
        // always valid; `__request_region` takes its own lock. It keeps the
        // name pointer, valid for `'a`, which the region does not outlive.
        let r = unsafe {
            bindings::__request_region(
                &raw mut bindings::iomem_resource,
                start,
                size,
                name.as_char_ptr(),
                0,
            )
        };
        if r.is_null() {
            return Err(EBUSY);
        }
        // INVARIANT: requested just above from the root.
        Ok(MemRegion {
            start,
            size,
            _name: PhantomData,
        })
    }
}

impl Drop for MemRegion<'_> {
    fn drop(&mut self) {
        // SAFETY: requested from the root and not released (invariant).
        unsafe {
            bindings::__release_region(&raw mut bindings::iomem_resource, self.start, self.size)
        };
    }
}
