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

/* virtio_device_ready(): set DRIVER_OK (a driver's probe, queues set up). */
void vrs_virtio_device_ready(struct virtio_device *vdev);

/* The driver data of @vdev (vdev->priv) with acquire / release ordering:
 * a raw queue callback may read it from hard-irq context. */
void *vrs_virtio_priv_acquire(struct virtio_device *vdev);
void vrs_virtio_priv_release(struct virtio_device *vdev, void *priv);

/* INIT_WORK / schedule_work (macro / static inline). */
void vrs_virtio_work_init(struct work_struct *work, void (*fn)(struct work_struct *));
void vrs_virtio_schedule_work(struct work_struct *work);

/* The virtio device of a device on the virtio bus. */
struct virtio_device *vrs_virtio_from_dev(struct device *dev);

/*
 * Streaming DMA of @len bytes of kmalloc'ed (physically contiguous,
 * directly mapped) memory at @ptr for @dev in direction @dir (a
 * dma_map_single()); 0 and *@addr, or -ENOMEM when the mapping failed.
 */
int vrs_dma_map_kmem(struct device *dev, void *ptr, size_t len, int dir, u64 *addr);
/* Undo vrs_dma_map_kmem() (dma_unmap_single()). */
void vrs_dma_unmap_kmem(struct device *dev, u64 addr, size_t len, int dir);
/*
 * Whether the DMA addresses of @dev are its physical addresses: no IOMMU
 * translates for it (device_iommu_mapped()), no DMA ops of an architecture
 * IOMMU (get_dma_ops()), and no bus offset applies (a region of
 * dev->dma_range_map, from "dma-ranges" / _DMA, whose CPU and DMA starts
 * differ).
 */
bool vrs_dma_is_phys(struct device *dev);
/*
 * Whether buffers must go through the DMA API even for a device without
 * VIRTIO_F_ACCESS_PLATFORM: a Xen guest (grants, as virtio_ring.c), or
 * encrypted guest memory (cc_platform_has(CC_ATTR_MEM_ENCRYPT): SME,
 * SEV/TDX, arm64 Realms and protected guests, whose device-visible
 * memory is the shared, decrypted bounce buffers).
 */
bool vrs_dma_api_required(void);
/* The physical address of directly mapped (kmalloc'ed) memory at @ptr. */
u64 vrs_virt_to_phys(void *ptr);

#endif
