// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for drivers/virtio/bindings (see virtio_shim.h). Included by a C
 * file of each module that uses the bindings, so every module carries its
 * own copy and nothing extra is exported.
 */
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/dma-mapping.h>
#include <linux/mm.h>
#include <linux/workqueue.h>
#include <linux/cc_platform.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <xen/xen.h>
#include "virtio_shim.h"

irqreturn_t vrs_virtio_vring_interrupt_all(struct virtio_device *vdev, int irq)
{
	struct virtqueue *vq;
	irqreturn_t ret = IRQ_NONE;

	/* Queues in reset (disable_vq_and_reset) may have their ring replaced. */
	virtio_device_for_each_vq(vdev, vq)
		if (!READ_ONCE(vq->reset))
			ret |= vring_interrupt(irq, vq);
	return ret;
}

irqreturn_t vrs_virtio_vring_interrupt_index(struct virtio_device *vdev, int irq,
					     unsigned int index)
{
	struct virtqueue *vq;

	virtio_device_for_each_vq(vdev, vq)
		if (vq->index == index)
			return READ_ONCE(vq->reset) ? IRQ_NONE : vring_interrupt(irq, vq);
	return IRQ_NONE;
}

struct virtqueue *vrs_virtio_first_vq(struct virtio_device *vdev)
{
	return list_first_entry_or_null(&vdev->vqs, struct virtqueue, list);
}

bool vrs_virtio_test_bit(const struct virtio_device *vdev, unsigned int bit)
{
	return __virtio_test_bit(vdev, bit);
}

void vrs_virtio_device_ready(struct virtio_device *vdev)
{
	virtio_device_ready(vdev);
}

void *vrs_virtio_priv_acquire(struct virtio_device *vdev)
{
	return smp_load_acquire(&vdev->priv);
}

void vrs_virtio_priv_release(struct virtio_device *vdev, void *priv)
{
	smp_store_release(&vdev->priv, priv);
}

void vrs_virtio_work_init(struct work_struct *work, void (*fn)(struct work_struct *))
{
	INIT_WORK(work, fn);
}

void vrs_virtio_schedule_work(struct work_struct *work)
{
	schedule_work(work);
}

struct virtio_device *vrs_virtio_from_dev(struct device *dev)
{
	return dev_to_virtio(dev);
}

int vrs_dma_map_kmem(struct device *dev, void *ptr, size_t len, int dir, u64 *addr)
{
	dma_addr_t a;

	if (WARN_ON_ONCE(!virt_addr_valid(ptr)))
		return -EINVAL;
	a = dma_map_single(dev, ptr, len, (enum dma_data_direction)dir);
	if (dma_mapping_error(dev, a))
		return -ENOMEM;
	*addr = a;
	return 0;
}

void vrs_dma_unmap_kmem(struct device *dev, u64 addr, size_t len, int dir)
{
	dma_unmap_single(dev, addr, len, (enum dma_data_direction)dir);
}

bool vrs_dma_is_phys(struct device *dev)
{
	const struct bus_dma_region *m;

	if (device_iommu_mapped(dev) || get_dma_ops(dev))
		return false;
	/* A "dma-ranges" / _DMA window without an offset only limits. */
	for (m = dev->dma_range_map; m && m->size; m++)
		if (m->cpu_start != m->dma_start)
			return false;
	return true;
}

bool vrs_dma_api_required(void)
{
	return xen_domain() || cc_platform_has(CC_ATTR_MEM_ENCRYPT);
}

u64 vrs_virt_to_phys(void *ptr)
{
	return virt_to_phys(ptr);
}
