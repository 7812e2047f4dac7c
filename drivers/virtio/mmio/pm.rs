// SPDX-License-Identifier: GPL-2.0

//! System sleep (`pm.c`): the kernel's Rust platform driver abstraction
//! has no `dev_pm_ops` yet, so `pm.c` attaches them to the registered
//! driver.

use kernel::prelude::*;

extern "C" {
    fn vrs_mmio_pm_attach() -> core::ffi::c_int;
}

/// Give the registered platform driver its freeze/restore ops. Call right
/// after the driver is registered.
pub(crate) fn attach() -> Result {
    // SAFETY: `vrs_mmio_pm_attach` looks the driver up by name on the
    // platform bus and only sets its `pm` pointer to static ops; it has no
    // preconditions.
    kernel::error::to_result(unsafe { vrs_mmio_pm_attach() })
}
