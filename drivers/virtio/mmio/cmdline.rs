// SPDX-License-Identifier: GPL-2.0

//! The command-line devices of `cmdline.c` (the `device=` parameter).

extern "C" {
    fn vrs_mmio_cmdline_unregister();
}

/// Remove every platform device the `device=` parameter registered.
pub(crate) fn unregister_all() {
    // SAFETY: `cmdline.c` serialises against nothing else at module exit
    // (parameters can no longer be written); safe to call when none exist.
    unsafe { vrs_mmio_cmdline_unregister() }
}
