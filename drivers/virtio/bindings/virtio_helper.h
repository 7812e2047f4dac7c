/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel's virtio API as seen from Rust: bindgen reads this header in
 * the module build (tools/testing/vm/build.sh) with the exact clang flags
 * the kernel's own Rust bindings were generated with, and allowlists only
 * the virtio items (everything else resolves to kernel::bindings).
 */
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <uapi/linux/virtio_mmio.h>
#include <uapi/linux/virtio_ids.h>
/* The project's MSI extension (Documentation/virtio/mmio-msi.rst). */
#include "../../../include/uapi/linux/virtio_mmio_msi.h"

#include <linux/hw_random.h>

#include "virtio_shim.h"
#include "raw_queue.h"
#include "blk_shim.h"
