// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection for the virtio transport tests: makes the next N
 * register_virtio_device() calls fail.
 *
 * Debian's kernels have no CONFIG_FAULT_INJECTION, so this uses a
 * kretprobe instead: on return from dev_set_name() for a device on the
 * virtio bus (register_virtio_device() names the device after assigning
 * its bus) it replaces the result with -ENOMEM while fail_register > 0.
 * register_virtio_device() then takes its own error path (it frees the
 * index, marks the device FAILED and returns the error before
 * device_add()), and the name that was allocated is freed with the
 * device by the caller's put_device(), so nothing leaks and nothing is
 * half-registered: exactly the failure a transport's probe must survive.
 *
 *   echo 1 > /sys/module/test_virtio_fail/parameters/fail_register
 *
 * Loaded, it does nothing until the parameter is set.
 */
#include <linux/atomic.h>
#include <linux/device.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/virtio.h>

static int fail_register;
module_param(fail_register, int, 0644);
MODULE_PARM_DESC(fail_register, "Number of virtio device registrations to fail");

static atomic_t failed = ATOMIC_INIT(0);
module_param_named(failed, failed.counter, int, 0444);
MODULE_PARM_DESC(failed, "Registrations failed so far");

struct call {
	bool virtio;
};

static int entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct call *c = (struct call *)ri->data;
	struct device *dev = (struct device *)regs_get_kernel_argument(regs, 0);

	c->virtio = dev && is_virtio_device(dev);
	return 0;
}

static int ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct call *c = (struct call *)ri->data;
	int left;

	if (!c->virtio || (int)regs_return_value(regs) != 0)
		return 0;
	left = READ_ONCE(fail_register);
	if (left <= 0 || cmpxchg(&fail_register, left, left - 1) != left)
		return 0;
	regs_set_return_value(regs, -ENOMEM);
	atomic_inc(&failed);
	pr_info("test_virtio_fail: failing the registration of a virtio device\n");
	return 0;
}

static struct kretprobe probe = {
	.kp.symbol_name = "dev_set_name",
	.entry_handler = entry,
	.handler = ret,
	.data_size = sizeof(struct call),
	.maxactive = 16,
};

static int __init test_virtio_fail_init(void)
{
	return register_kretprobe(&probe);
}

static void __exit test_virtio_fail_exit(void)
{
	unregister_kretprobe(&probe);
}

module_init(test_virtio_fail_init);
module_exit(test_virtio_fail_exit);
MODULE_DESCRIPTION("Fail virtio device registrations on request (transport tests)");
MODULE_LICENSE("GPL");
