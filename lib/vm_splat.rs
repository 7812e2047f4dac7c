// SPDX-License-Identifier: GPL-2.0

//! VM runner self-test helper.
//!
//! Loads silently by default. Loaded with `warn=1` it triggers one kernel
//! `WARNING:` (and so the `W` taint), which the VM runner must report as a
//! failed run; `tools/testing/vm/selftest.sh` checks that it does.

use kernel::prelude::*;

module! {
    type: VmSplat,
    name: "vm_splat",
    authors: ["virtio-rs developers"],
    description: "Triggers a kernel warning on request, to test the VM runner",
    license: "GPL",
    params: {
        warn: bool {
            default: false,
            description: "Trigger a WARNING when loaded",
        },
    },
}

struct VmSplat;

impl kernel::Module for VmSplat {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if module_parameters::warn.value() {
            pr_info!("triggering a warning on purpose (warn=1)\n");
            kernel::warn_on!(true);
        }
        Ok(VmSplat)
    }
}
