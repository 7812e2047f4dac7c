// SPDX-License-Identifier: GPL-2.0

//! The command-line devices of `cmdline.c` (the `device=` parameter).

extern "C" {
    fn vrs_mmio_cmdline_unregister();
}

/// The platform devices the `device=` parameter registered (before module
/// init ran): the module holds this from init on, and dropping it removes
/// them, on unload or when init fails.
pub(crate) struct Devices;

impl Drop for Devices {
    fn drop(&mut self) {
        // SAFETY: called once, from module exit or a failed init, when the
        // parameter can no longer be written (it is 0400 and parsed only
        // at load); safe when no device was registered.
        unsafe { vrs_mmio_cmdline_unregister() }
    }
}
