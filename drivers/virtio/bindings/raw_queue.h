/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The raw queue interface between a Rust virtio transport and a Rust virtio
 * driver (Documentation/virtio/drivers.rst). Out-of-tree Rust modules cannot
 * share Rust items, so this C ABI is all that crosses between them: the
 * transport registers, per virtio device it creates, a table of the queue
 * operations a driver-owned ring needs; a Rust driver looks the table up in
 * probe. virtio_rs_core.ko keeps the table per device.
 */
#ifndef VRS_RAW_QUEUE_H
#define VRS_RAW_QUEUE_H

#include <linux/types.h>

struct device;
struct virtio_device;

/* Bumped on every incompatible change of the structs below. */
#define VRS_RAW_QUEUE_ABI 1

/* One queue for vrs_raw_queue_ops.find_queues. */
struct vrs_raw_queue_info {
	u16 index;		/* queue index on the device */
	u16 size;		/* entries, at most queue_max(index) */
	u64 desc, avail, used;	/* device addresses of the ring parts */
	/* Runs from the queue's interrupt (hard-irq context); returns true
	 * if it handled the interrupt (a driver that cannot tell says true).
	 * NULL: no interrupts wanted. */
	bool (*callback)(void *ctx);
	void *ctx;
	const char *name;	/* kept by the transport until del_queues */
};

/*
 * Besides these ops, a transport offering them must make its
 * virtio_config_ops.reset wait for running queue callbacks before it
 * returns (virtio_mmio_rs calls its synchronize_cbs there): drivers free
 * what their callbacks use right after virtio_reset_device().
 */
struct vrs_raw_queue_ops {
	unsigned int abi;	/* VRS_RAW_QUEUE_ABI */
	/* Largest size of queue @index, or -errno (absent, in use). */
	int (*queue_max)(struct virtio_device *vdev, u16 index);
	/*
	 * Give @n queues to the device, enable them and their interrupts
	 * (after FEATURES_OK, before DRIVER_OK). All or nothing.
	 * @spread: the driver wants the queues' interrupts spread over CPUs.
	 */
	int (*find_queues)(struct virtio_device *vdev, unsigned int n,
			   const struct vrs_raw_queue_info *infos, bool spread);
	/*
	 * Free the interrupts (waiting for running callbacks) and disable
	 * every queue of find_queues. Call after the device was reset.
	 * Idempotent: with no queues it does nothing.
	 */
	void (*del_queues)(struct virtio_device *vdev);
	/*
	 * VIRTIO_F_RING_RESET: reset queue @index alone; on return no callback
	 * of it runs and the device does not use its ring. -errno if the
	 * transport or the device cannot.
	 */
	int (*queue_reset)(struct virtio_device *vdev, u16 index);
	/* Re-enable queue @index after queue_reset, with a new ring. */
	int (*queue_enable)(struct virtio_device *vdev, u16 index, u16 size,
			    u64 desc, u64 avail, u64 used);
	/* Notify the device: @data is the queue index, or the notification
	 * data (VIRTIO_F_NOTIFICATION_DATA). Any context. */
	void (*notify)(struct virtio_device *vdev, u16 index, u32 data);
	/* The device to map rings and buffers for. */
	struct device *(*dma_dev)(struct virtio_device *vdev);
};

/*
 * Transport side: announce @ops for @vdev before register_virtio_device(),
 * withdraw them after unregister_virtio_device() (or a failed register).
 */
int vrs_raw_queue_ops_add(struct virtio_device *vdev,
			  const struct vrs_raw_queue_ops *ops);
void vrs_raw_queue_ops_del(struct virtio_device *vdev);

/*
 * Driver side, from probe: the raw queue ops of @vdev, or NULL when its
 * transport has none (a C transport) or speaks another ABI. Valid while the
 * driver is bound: the transport withdraws them only after the device left
 * the bus, which unbinds the driver first.
 */
const struct vrs_raw_queue_ops *vrs_raw_queue_ops_get(struct virtio_device *vdev);

#endif
