// SPDX-License-Identifier: GPL-2.0
/*
 * The "device=<size>@<base>:<irq>[:<id>]" parameter of virtio_mmio.c
 * (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES), for virtio_mmio_rs: each value
 * registers a platform device named like this module, with one memory and
 * one interrupt resource, which the Rust platform driver then probes.
 *
 * Kept in C because the kernel's Rust module parameters are integers only;
 * it only parses and registers platform devices, the driver is Rust.
 */
#include <linux/device.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

#include "../bindings/virtio_shim.c"

static struct device *vm_cmdline_parent;
static int vm_cmdline_id;

static void vm_cmdline_parent_release(struct device *dev)
{
	kfree(dev);
}

static int vm_cmdline_set(const char *device, const struct kernel_param *kp)
{
	struct resource resources[2] = {};
	char *str;
	long long base, size;
	unsigned int irq;
	int processed, consumed = 0;
	struct platform_device *pdev;

	/* Consume "size" part of the command line parameter */
	size = memparse(device, &str);

	/* Get "@<base>:<irq>[:<id>]" chunks */
	processed = sscanf(str, "@%lli:%u%n:%d%n", &base, &irq, &consumed,
			   &vm_cmdline_id, &consumed);

	/* At least 2 chunks and nothing after the last one. */
	if (processed < 2 || str[consumed] || irq == 0 || size <= 0) {
		pr_err("bad device=%s: want <size>@<base>:<irq>[:<id>]\n", device);
		return -EINVAL;
	}

	resources[0].flags = IORESOURCE_MEM;
	resources[0].start = base;
	resources[0].end = base + size - 1;

	resources[1].flags = IORESOURCE_IRQ;
	resources[1].start = resources[1].end = irq;

	if (!vm_cmdline_parent) {
		/*
		 * Not root_device_register(): parameters are parsed before the
		 * module's sysfs kobject exists, so its "module" link fails.
		 * Not a static device either: it needs a release function.
		 */
		struct device *parent = kzalloc(sizeof(*parent), GFP_KERNEL);
		int err;

		if (!parent)
			return -ENOMEM;
		device_initialize(parent);
		parent->release = vm_cmdline_parent_release;
		err = dev_set_name(parent, "virtio-mmio-rs-cmdline");
		if (!err)
			err = device_add(parent);
		if (err) {
			put_device(parent);
			pr_err("Failed to register parent device: %d\n", err);
			return err;
		}
		vm_cmdline_parent = parent;
	}

	pr_info("Registering device %s.%d at 0x%llx-0x%llx, IRQ %d.\n", KBUILD_MODNAME,
		vm_cmdline_id, (unsigned long long)resources[0].start,
		(unsigned long long)resources[0].end, (int)resources[1].start);

	pdev = platform_device_register_resndata(vm_cmdline_parent, KBUILD_MODNAME,
						 vm_cmdline_id++, resources,
						 ARRAY_SIZE(resources), NULL, 0);
	return PTR_ERR_OR_ZERO(pdev);
}

static int vm_cmdline_get_device(struct device *dev, void *data)
{
	char *buffer = data;
	unsigned int len = strlen(buffer);
	struct platform_device *pdev = to_platform_device(dev);

	snprintf(buffer + len, PAGE_SIZE - len, "0x%llx@0x%llx:%llu:%d\n",
		 pdev->resource[0].end - pdev->resource[0].start + 1ULL,
		 (unsigned long long)pdev->resource[0].start,
		 (unsigned long long)pdev->resource[1].start, pdev->id);
	return 0;
}

static int vm_cmdline_get(char *buffer, const struct kernel_param *kp)
{
	buffer[0] = '\0';
	if (vm_cmdline_parent)
		device_for_each_child(vm_cmdline_parent, buffer, vm_cmdline_get_device);
	return strlen(buffer) + 1;
}

static const struct kernel_param_ops vm_cmdline_param_ops = {
	.set = vm_cmdline_set,
	.get = vm_cmdline_get,
};

device_param_cb(device, &vm_cmdline_param_ops, NULL, 0400);
MODULE_PARM_DESC(device, "a virtio-mmio device: <size>@<base>:<irq>[:<id>] (repeatable)");

static int vm_unregister_cmdline_device(struct device *dev, void *data)
{
	platform_device_unregister(to_platform_device(dev));
	return 0;
}

/* Called by the Rust module on unload (and when its init fails). */
void vrs_mmio_cmdline_unregister(void);
void vrs_mmio_cmdline_unregister(void)
{
	if (vm_cmdline_parent) {
		device_for_each_child(vm_cmdline_parent, NULL, vm_unregister_cmdline_device);
		device_unregister(vm_cmdline_parent);
		vm_cmdline_parent = NULL;
	}
}
