/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C shims for what the kernel's virtio API offers only as macros or static
 * inlines. Compiled into each module that uses drivers/virtio/bindings.
 */
#ifndef VRS_VIRTIO_SHIM_H
#define VRS_VIRTIO_SHIM_H

#include <linux/interrupt.h>
#include <linux/virtio.h>

/* vring_interrupt() for every virtqueue of @vdev not in reset. */
irqreturn_t vrs_virtio_vring_interrupt_all(struct virtio_device *vdev, int irq);

/* vring_interrupt() for the virtqueue of @vdev with @index, unless in reset. */
irqreturn_t vrs_virtio_vring_interrupt_index(struct virtio_device *vdev, int irq,
					     unsigned int index);

/* The first virtqueue of @vdev (to delete them one by one), or NULL. */
struct virtqueue *vrs_virtio_first_vq(struct virtio_device *vdev);

/* Whether the driver accepted feature @bit (__virtio_test_bit). */
bool vrs_virtio_test_bit(const struct virtio_device *vdev, unsigned int bit);

#endif
