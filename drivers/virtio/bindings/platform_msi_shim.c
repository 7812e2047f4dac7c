// SPDX-License-Identifier: GPL-2.0
/*
 * C side of drivers/virtio/bindings/platform_msi.rs: platform-MSI vectors
 * (drivers/base/platform-msi.c) for a platform device. Included by one C
 * file of each module that uses it, as virtio_shim.c is.
 */
#include <linux/device.h>
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/irqdomain.h>
#include <linux/msi.h>
#include "platform_msi_shim.h"

/*
 * The platform-MSI write callback. It runs under the interrupt
 * descriptor's raw spinlock with interrupts off, where the transport
 * cannot take the sleeping lock that guards its selector registers. So it
 * only caches the message in the descriptor, as PCI's
 * __pci_write_msi_msg() does; the transport reads it back with
 * get_cached_msi_msg() once the vector is requested (activated) and
 * programs the device from process context. On a GICv3 ITS the message of
 * a vector never changes after activation (affinity moves are ITS
 * commands, not new messages).
 */
static void vrs_msi_write_msg(struct msi_desc *desc, struct msi_msg *msg)
{
	desc->msg = *msg;
}

bool vrs_msi_has_domain(struct device *dev)
{
	return dev_get_msi_domain(dev) != NULL;
}

int vrs_msi_alloc(struct device *dev, unsigned int nvec)
{
	int ret = platform_device_msi_init_and_alloc_irqs(dev, nvec, vrs_msi_write_msg);

	/* A failed allocation leaves the per-device domain behind, and the
	 * next attempt would find it and fail: remove it. */
	if (ret)
		platform_device_msi_free_irqs_all(dev);
	return ret;
}

void vrs_msi_free(struct device *dev)
{
	platform_device_msi_free_irqs_all(dev);
}

unsigned int vrs_msi_virq(struct device *dev, unsigned int index)
{
	int virq = msi_get_virq(dev, index);

	return virq > 0 ? virq : 0;
}

void vrs_msi_message(unsigned int virq, u64 *addr, u32 *data)
{
	struct msi_msg m;

	get_cached_msi_msg(virq, &m);
	*addr = ((u64)m.address_hi << 32) | m.address_lo;
	*data = m.data;
}

int vrs_irq_set_affinity_hint(unsigned int irq, const struct cpumask *m)
{
	return irq_set_affinity_and_hint(irq, m);
}

int vrs_irq_clear_affinity_hint(unsigned int irq)
{
	return irq_update_affinity_hint(irq, NULL);
}
