/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ivshmem_rs: the user-space interface of the ivshmem PCI driver
 * (Documentation/misc-devices/ivshmem.rst).
 *
 * One character device per device, /dev/ivshmem/<PCI address>, e.g.
 * /dev/ivshmem/0000:00:04.0. On it:
 *
 *  - mmap():  the shared memory (BAR2), MAP_SHARED; offset and length
 *             page aligned and inside the BAR. Mapped write-combining.
 *  - read():  8 bytes, a bit mask of the vectors that fired since this
 *             open file last read (bit n: vector n); blocks until one has,
 *             or fails with EAGAIN under O_NONBLOCK. Each open file sees
 *             every interrupt: readers do not take events from each other.
 *  - poll():  EPOLLIN when read() would not block; EPOLLHUP once the
 *             device is gone (unbound). From then on ioctl() and mmap()
 *             fail with ENODEV, existing mappings fault (SIGBUS), and
 *             read() returns what fired before and then ENODEV.
 *  - ioctls below.
 */
#ifndef _UAPI_LINUX_IVSHMEM_H
#define _UAPI_LINUX_IVSHMEM_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define IVSHMEM_IOCTL_MAGIC 0xBC

/* The most vectors the driver uses (bits of the read() mask). */
#define IVSHMEM_MAX_VECTORS 64

/* struct ivshmem_info.flags */
#define IVSHMEM_INFO_DOORBELL (1U << 0) /* ivshmem-doorbell: MSI-X and a peer id */

struct ivshmem_info {
	__u64 shm_size;  /* BAR2 length in bytes */
	__u32 flags;     /* IVSHMEM_INFO_* */
	__u32 peer_id;   /* IVPosition: our id on the server (0 for plain) */
	__u32 vectors;   /* MSI-X vectors in use (0 for plain) */
	__u32 revision;  /* PCI revision (1) */
	__u64 reserved[4];
};

/* Ring a peer: write (peer << 16 | vector) to the Doorbell register. */
struct ivshmem_ring {
	__u32 peer;      /* 0..65535 */
	__u32 vector;    /* 0..65535 (the peer's vector count is unknown here) */
};

/*
 * Deliver @vector's interrupts to an eventfd as well (one eventfd per
 * vector and device; the open file that set it owns it until it sets
 * fd = -1 or is closed). EBUSY if another open file owns the vector.
 */
struct ivshmem_eventfd {
	__u32 vector;
	__s32 fd;        /* an eventfd, or -1 to stop */
};

/*
 * Export [offset, offset + size) of the shared memory as a dma-buf; the
 * ioctl returns its new file descriptor. offset and size page aligned,
 * size > 0, the range inside BAR2. flags: O_CLOEXEC and the access mode
 * (O_RDWR or O_RDONLY) of the new descriptor. The dma-buf can be mapped
 * (mmap, with DMA_BUF_IOCTL_SYNC around CPU access) and attached by
 * importers that can do peer-to-peer DMA and handle revocation; when the
 * device goes, its mappings fault (SIGBUS) and its importers are told to
 * unmap, as for the device's own mappings.
 */
struct ivshmem_dmabuf {
	__u64 offset;
	__u64 size;
	__u32 flags;
	__u32 reserved;  /* 0 */
};

#define IVSHMEM_IOCTL_INFO          _IOR(IVSHMEM_IOCTL_MAGIC, 0, struct ivshmem_info)
#define IVSHMEM_IOCTL_RING          _IOW(IVSHMEM_IOCTL_MAGIC, 1, struct ivshmem_ring)
#define IVSHMEM_IOCTL_SET_EVENTFD   _IOW(IVSHMEM_IOCTL_MAGIC, 2, struct ivshmem_eventfd)
#define IVSHMEM_IOCTL_EXPORT_DMABUF _IOW(IVSHMEM_IOCTL_MAGIC, 3, struct ivshmem_dmabuf)

#endif /* _UAPI_LINUX_IVSHMEM_H */
