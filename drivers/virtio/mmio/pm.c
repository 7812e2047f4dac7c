// SPDX-License-Identifier: GPL-2.0
/*
 * System sleep for virtio_mmio_rs: freeze/restore (and suspend/resume,
 * thaw, poweroff) of the virtio device on each bound platform device, as
 * virtio_mmio.c does.
 *
 * The 7.3 kernel's Rust platform driver abstraction has no dev_pm_ops, so
 * these are attached to the registered driver by name right after the
 * Rust module registers it (vrs_mmio_pm_attach()). The transport's own
 * work on restore (GuestPageSize for legacy devices, queues, interrupt)
 * happens in the Rust config ops that virtio_device_restore() calls.
 */
#include <linux/device.h>
#include <linux/platform_device.h>
#include <linux/pm.h>
#include <linux/string.h>
#include <linux/virtio.h>

static int vrs_mmio_is_virtio(struct device *dev, const void *data)
{
	return dev->bus && !strcmp(dev->bus->name, "virtio");
}

/* The virtio device the transport registered under @dev, if any. */
static struct virtio_device *vrs_mmio_vdev(struct device *dev)
{
	struct device *child = device_find_child(dev, NULL, vrs_mmio_is_virtio);

	if (!child)
		return NULL;
	/* It lives as long as @dev is bound, which it is during PM calls. */
	put_device(child);
	return dev_to_virtio(child);
}

static int vrs_mmio_freeze(struct device *dev)
{
	struct virtio_device *vdev = vrs_mmio_vdev(dev);

	return vdev ? virtio_device_freeze(vdev) : 0;
}

static int vrs_mmio_restore(struct device *dev)
{
	struct virtio_device *vdev = vrs_mmio_vdev(dev);

	return vdev ? virtio_device_restore(vdev) : 0;
}

static DEFINE_SIMPLE_DEV_PM_OPS(vrs_mmio_pm_ops, vrs_mmio_freeze, vrs_mmio_restore);

int vrs_mmio_pm_attach(void);
int vrs_mmio_pm_attach(void)
{
	struct device_driver *drv = driver_find(KBUILD_MODNAME, &platform_bus_type);

	if (!drv)
		return -ENOENT;
	drv->pm = pm_sleep_ptr(&vrs_mmio_pm_ops);
	return 0;
}
