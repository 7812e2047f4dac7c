// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_rs_core: which virtio devices have raw queue ops, for the Rust
 * virtio drivers (Documentation/virtio/drivers.rst). A transport announces
 * its table per device; a driver looks it up by device. Nothing else.
 *
 * A small C module because a registry shared by several out-of-tree
 * modules must export symbols, and out-of-tree Rust cannot export Rust
 * items; the table itself is C ABI (raw_queue.h).
 */
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/list.h>
#include "../bindings/raw_queue.h"

struct vrs_entry {
	struct list_head list;
	struct virtio_device *vdev;
	const struct vrs_raw_queue_ops *ops;
};

static LIST_HEAD(vrs_entries);
static DEFINE_MUTEX(vrs_lock);

static struct vrs_entry *vrs_find(struct virtio_device *vdev)
{
	struct vrs_entry *e;

	lockdep_assert_held(&vrs_lock);
	list_for_each_entry(e, &vrs_entries, list)
		if (e->vdev == vdev)
			return e;
	return NULL;
}

int vrs_raw_queue_ops_add(struct virtio_device *vdev,
			  const struct vrs_raw_queue_ops *ops)
{
	struct vrs_entry *e;
	int ret = 0;

	if (!vdev || !ops || ops->abi != VRS_RAW_QUEUE_ABI)
		return -EINVAL;
	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	e->vdev = vdev;
	e->ops = ops;
	mutex_lock(&vrs_lock);
	if (vrs_find(vdev))
		ret = -EEXIST;
	else
		list_add(&e->list, &vrs_entries);
	mutex_unlock(&vrs_lock);
	if (ret)
		kfree(e);
	return ret;
}
EXPORT_SYMBOL_GPL(vrs_raw_queue_ops_add);

void vrs_raw_queue_ops_del(struct virtio_device *vdev)
{
	struct vrs_entry *e;

	mutex_lock(&vrs_lock);
	e = vrs_find(vdev);
	if (e)
		list_del(&e->list);
	mutex_unlock(&vrs_lock);
	kfree(e);
}
EXPORT_SYMBOL_GPL(vrs_raw_queue_ops_del);

const struct vrs_raw_queue_ops *vrs_raw_queue_ops_get(struct virtio_device *vdev)
{
	const struct vrs_raw_queue_ops *ops = NULL;
	struct vrs_entry *e;

	mutex_lock(&vrs_lock);
	e = vrs_find(vdev);
	if (e && e->ops->abi == VRS_RAW_QUEUE_ABI)
		ops = e->ops;
	mutex_unlock(&vrs_lock);
	return ops;
}
EXPORT_SYMBOL_GPL(vrs_raw_queue_ops_get);

static void __exit vrs_core_exit(void)
{
	/* Transports depend on this module: none can be left. */
	WARN_ON(!list_empty(&vrs_entries));
}

static int __init vrs_core_init(void)
{
	return 0;
}

module_init(vrs_core_init);
module_exit(vrs_core_exit);
MODULE_DESCRIPTION("Raw virtqueue ops of Rust virtio transports, for Rust virtio drivers");
MODULE_AUTHOR("virtio-rs developers");
MODULE_LICENSE("GPL");
