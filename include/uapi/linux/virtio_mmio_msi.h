/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/*
 * virtio-mmio MSI extension: register offsets, commands and state bits.
 *
 * The specification is Documentation/virtio/mmio-msi.rst. This header is
 * the one source of these numbers: the Rust transport checks its constants
 * against it at compile time (drivers/virtio/mmio/regs.rs, through
 * bindgen) and the QEMU device model includes it (tools/qemu/build.sh
 * copies it into QEMU's include/standard-headers/linux/).
 *
 * Everything here is provisional: the feature bit and the offsets are this
 * project's choice, made not to clash with virtio 1.4 (see the spec text),
 * not assigned by the virtio TC.
 */
#ifndef _UAPI_LINUX_VIRTIO_MMIO_MSI_H
#define _UAPI_LINUX_VIRTIO_MMIO_MSI_H

/*
 * Feature bit: the device has the MSI registers below. Bit 42 is the first
 * bit above the transport range (28..41, all assigned or reserved in
 * virtio 1.4) and below the device-specific range that starts at 50, so
 * no device type and no transport feature uses it.
 */
#define VIRTIO_F_MMIO_MSI		42

/*
 * Registers: 32 bits wide, little endian, in the gap between QueueReset
 * (0x0c0) and ConfigGeneration (0x0fc). 0x0c4..0x0cc and 0x0f4..0x0f8
 * stay free.
 */

/* Number of vectors the device has, 0..VIRTIO_MMIO_MSI_MAX_VECTORS - R */
#define VIRTIO_MMIO_MSI_VEC_NUM		0x0d0
/* MSI state, VIRTIO_MMIO_MSI_STATE_* bits - R */
#define VIRTIO_MMIO_MSI_STATE		0x0d4
/* MSI command, VIRTIO_MMIO_MSI_CMD_* - W */
#define VIRTIO_MMIO_MSI_CMD		0x0d8
/* Vector that CONFIGURE, MASK, UNMASK and the staged address/data and
 * the MASKED/PENDING state bits refer to - RW (reads NO_VECTOR after an
 * out-of-range write) */
#define VIRTIO_MMIO_MSI_VEC_SEL		0x0dc
/* Staged message address, low and high 32 bits - RW */
#define VIRTIO_MMIO_MSI_ADDR_LOW	0x0e0
#define VIRTIO_MMIO_MSI_ADDR_HIGH	0x0e4
/* Staged message data - RW */
#define VIRTIO_MMIO_MSI_DATA		0x0e8
/* Vector of the queue selected by QueueSel, or NO_VECTOR - RW */
#define VIRTIO_MMIO_QUEUE_MSI_VEC	0x0ec
/* Vector of configuration change notifications, or NO_VECTOR - RW */
#define VIRTIO_MMIO_CONFIG_MSI_VEC	0x0f0

/* MsiCmd values (the 2020 proposal's numbering) */
#define VIRTIO_MMIO_MSI_CMD_ENABLE	0x1
#define VIRTIO_MMIO_MSI_CMD_DISABLE	0x2
#define VIRTIO_MMIO_MSI_CMD_CONFIGURE	0x3
#define VIRTIO_MMIO_MSI_CMD_MASK	0x4
#define VIRTIO_MMIO_MSI_CMD_UNMASK	0x5

/* MsiState bits */
#define VIRTIO_MMIO_MSI_STATE_ENABLED	(1 << 0)
/* The vector selected by MsiVecSel is masked */
#define VIRTIO_MMIO_MSI_STATE_MASKED	(1 << 1)
/* The vector selected by MsiVecSel has a message held back by its mask */
#define VIRTIO_MMIO_MSI_STATE_PENDING	(1 << 2)

/* No vector: no notification for this event while MSI is enabled */
#define VIRTIO_MMIO_MSI_NO_VECTOR	0xffffffff

/* Largest VIRTIO_MMIO_MSI_VEC_NUM a device may report (as MSI-X) */
#define VIRTIO_MMIO_MSI_MAX_VECTORS	2048

#endif /* _UAPI_LINUX_VIRTIO_MMIO_MSI_H */
