/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ivshmem driver's character device, the part the 7.3 kernel crate
 * has no abstraction for: a misc device with a parent, a per-device name
 * and sysfs attributes, poll and blocking read on a wait queue, and a
 * revocable write-combining mapping of a physical range (mapped page by
 * page on fault, so that revoking it is one zap with no race against
 * mmap). The driver's logic stays in Rust (cdev.rs wraps this).
 */
#ifndef VRS_IVSHMEM_CDEV_SHIM_H
#define VRS_IVSHMEM_CDEV_SHIM_H

#include <linux/types.h>

struct device;
struct vrs_cdev;

/* What user space sees in sysfs (/sys/class/misc/<name>/...). */
struct vrs_cdev_attrs {
	u64 shm_size;
	u32 peer_id;
	u32 vectors;
	u32 doorbell;
	u32 revision;
};

/*
 * Callbacks into the driver. @data is the device's (given at create),
 * @priv an open file's (returned by open). All run in process context.
 */
struct vrs_cdev_ops {
	int (*open)(void *data, void **priv);
	void (*release)(void *priv);
	/* Fill up to @len bytes at @buf (kernel memory); <0 errno. */
	long (*read)(void *priv, u8 *buf, size_t len, bool nonblock);
	/* Whether read() would not block (EPOLLIN), and whether the device is gone (EPOLLHUP). */
	void (*poll)(void *priv, bool *readable, bool *gone);
	long (*ioctl)(void *priv, unsigned int cmd, unsigned long arg);
	/* The physical range mmap() maps (BAR2), or an errno when gone. */
	int (*mmap_range)(void *priv, u64 *start, u64 *len);
};

/*
 * A device's character device in two steps, so that the driver's data can
 * hold a reference before the device node exists: alloc (one reference,
 * the caller's; NULL without memory), then register /dev/<name> (a '/' in
 * @name makes a subdirectory) with @data for open(). Open files hold a
 * reference each; the last put frees.
 */
struct vrs_cdev *vrs_cdev_alloc(void);
void vrs_cdev_get(struct vrs_cdev *c);
void vrs_cdev_put(struct vrs_cdev *c);
int vrs_cdev_register(struct vrs_cdev *c, struct device *parent, const char *name,
		      const struct vrs_cdev_attrs *attrs, const struct vrs_cdev_ops *ops,
		      void *data);
/* Removes the device node: no new open; open files go on. */
void vrs_cdev_deregister(struct vrs_cdev *c);
/*
 * Revokes every mapping (later faults get SIGBUS: the driver's
 * mmap_range() must fail from now on) and wakes every sleeper.
 */
void vrs_cdev_revoke(struct vrs_cdev *c);
/*
 * Lets importers map BAR @bar of @pdev (a struct pci_dev *) peer to peer
 * (pcim_p2pdma_provider(); device-managed). -EOPNOTSUPP without P2P.
 */
int vrs_cdev_set_p2p(struct vrs_cdev *c, void *pdev, int bar);
/*
 * Exports the physical range [@start, @start + @size) as a dma-buf (see
 * cdev_shim.c); returns its new descriptor (open with @flags) or -errno.
 */
int vrs_cdev_export_dmabuf(struct vrs_cdev *c, u64 start, u64 size, u32 flags);
/* Wakes readers and pollers (any context, hard interrupts included). */
void vrs_cdev_wake(struct vrs_cdev *c);
/*
 * Sleeps until @cond(@arg) is true (0) or a signal arrives (-ERESTARTSYS),
 * without missing a wake-up between the check and the sleep.
 */
int vrs_cdev_wait(struct vrs_cdev *c, bool (*cond)(void *arg), void *arg);

#endif
