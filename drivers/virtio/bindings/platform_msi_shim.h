/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of drivers/virtio/bindings/platform_msi.rs (declared there
 * too, as an extern block): platform-MSI vectors of a platform device.
 */
#ifndef VRS_PLATFORM_MSI_SHIM_H
#define VRS_PLATFORM_MSI_SHIM_H

#include <linux/cpumask.h>
#include <linux/device.h>
#include <linux/types.h>

/* Whether @dev has an MSI domain (dev_get_msi_domain()). */
bool vrs_msi_has_domain(struct device *dev);
/* platform_device_msi_init_and_alloc_irqs() with the caching callback. */
int vrs_msi_alloc(struct device *dev, unsigned int nvec);
/* platform_device_msi_free_irqs_all(). */
void vrs_msi_free(struct device *dev);
/* The Linux irq of vector @index, 0 if none. */
unsigned int vrs_msi_virq(struct device *dev, unsigned int index);
/* The cached message of an activated vector. */
void vrs_msi_message(unsigned int virq, u64 *addr, u32 *data);
/* irq_set_affinity_and_hint(); irq_update_affinity_hint(irq, NULL). */
int vrs_irq_set_affinity_hint(unsigned int irq, const struct cpumask *m);
int vrs_irq_clear_affinity_hint(unsigned int irq);

#endif
