// SPDX-License-Identifier: GPL-2.0
/* The platform-MSI shim (drivers/virtio/bindings/platform_msi.rs). */
#include "../bindings/platform_msi_shim.c"
