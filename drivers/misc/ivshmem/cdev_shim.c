// SPDX-License-Identifier: GPL-2.0
/*
 * The ivshmem driver's character device (see cdev_shim.h).
 *
 * Lifetime: a vrs_cdev is reference counted. Its creator holds one
 * reference until vrs_cdev_destroy(), every open file one until release,
 * so the wait queue and the list of files outlive the device's unbind
 * for as long as a file is open.
 *
 * Mappings: mmap() only sets up the VMA; each page is inserted on its
 * first access by the fault handler, under @map_lock (read) and after
 * asking the driver for the range. vrs_cdev_revoke() takes @map_lock
 * (write), marks the device revoked, and zaps every open file's
 * mappings: a fault before it is zapped, one after it finds the device
 * revoked and gets SIGBUS. No mapping of a device that is gone survives.
 */
#include <linux/dma-buf.h>
#include <linux/dma-buf-mapping.h>
#include <linux/dma-resv.h>
#include <linux/fs.h>
#include <linux/pci-p2pdma.h>
#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "cdev_shim.h"

#if IS_ENABLED(CONFIG_DMA_SHARED_BUFFER)
MODULE_IMPORT_NS("DMA_BUF");
#endif

struct vrs_cdev {
	struct miscdevice misc;
	struct kref ref;
	wait_queue_head_t wq;
	struct rw_semaphore map_lock;
	bool revoked;
	struct mutex files_lock;
	struct list_head files;
	struct vrs_cdev_attrs attrs;
	/* Exported dma-bufs (struct vrs_dmabuf), under files_lock. */
	struct list_head dmabufs;
	/* For importers' peer-to-peer mappings of BAR2 (NULL: none). */
	struct p2pdma_provider *provider;
	const struct vrs_cdev_ops *ops;
	void *data;
	char name[64];
};

struct vrs_cdev_file {
	struct vrs_cdev *c;
	struct file *file;
	struct list_head node;
	void *priv;
};

static void vrs_cdev_free(struct kref *ref)
{
	kfree(container_of(ref, struct vrs_cdev, ref));
}

static struct vrs_cdev *to_cdev(struct device *dev)
{
	struct miscdevice *m = dev_get_drvdata(dev);

	return container_of(m, struct vrs_cdev, misc);
}

#define VRS_ATTR(field, fmt)                                                     \
	static ssize_t field##_show(struct device *dev, struct device_attribute *a,\
				    char *buf)                                   \
	{                                                                        \
		return sysfs_emit(buf, fmt "\n", to_cdev(dev)->attrs.field);     \
	}                                                                        \
	static DEVICE_ATTR_RO(field)

VRS_ATTR(shm_size, "%llu");
VRS_ATTR(peer_id, "%u");
VRS_ATTR(vectors, "%u");
VRS_ATTR(doorbell, "%u");
VRS_ATTR(revision, "%u");

static struct attribute *vrs_cdev_attrs[] = {
	&dev_attr_shm_size.attr,
	&dev_attr_peer_id.attr,
	&dev_attr_vectors.attr,
	&dev_attr_doorbell.attr,
	&dev_attr_revision.attr,
	NULL,
};
ATTRIBUTE_GROUPS(vrs_cdev);

static int vrs_fop_open(struct inode *inode, struct file *file)
{
	struct vrs_cdev *c = container_of(file->private_data, struct vrs_cdev, misc);
	struct vrs_cdev_file *f;
	int ret;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	ret = c->ops->open(c->data, &f->priv);
	if (ret) {
		kfree(f);
		return ret;
	}
	f->c = c;
	f->file = file;
	kref_get(&c->ref);
	mutex_lock(&c->files_lock);
	list_add(&f->node, &c->files);
	mutex_unlock(&c->files_lock);
	file->private_data = f;
	return stream_open(inode, file);
}

static int vrs_fop_release(struct inode *inode, struct file *file)
{
	struct vrs_cdev_file *f = file->private_data;
	struct vrs_cdev *c = f->c;

	mutex_lock(&c->files_lock);
	list_del(&f->node);
	mutex_unlock(&c->files_lock);
	c->ops->release(f->priv);
	kfree(f);
	kref_put(&c->ref, vrs_cdev_free);
	return 0;
}

static ssize_t vrs_fop_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	struct vrs_cdev_file *f = file->private_data;
	u8 buf[8];
	long n;

	n = f->c->ops->read(f->priv, buf, min(len, sizeof(buf)), file->f_flags & O_NONBLOCK);
	if (n <= 0)
		return n;
	if (copy_to_user(ubuf, buf, n))
		return -EFAULT;
	return n;
}

static __poll_t vrs_fop_poll(struct file *file, poll_table *pt)
{
	struct vrs_cdev_file *f = file->private_data;
	bool readable = false, gone = false;

	poll_wait(file, &f->c->wq, pt);
	f->c->ops->poll(f->priv, &readable, &gone);
	return (readable ? EPOLLIN | EPOLLRDNORM : 0) | (gone ? EPOLLHUP | EPOLLERR : 0);
}

static long vrs_fop_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct vrs_cdev_file *f = file->private_data;

	return f->c->ops->ioctl(f->priv, cmd, arg);
}

/*
 * Both kinds of mapping (the device node's and a dma-buf's) are made the
 * same way: a shared, write-combining PFN mapping populated on fault.
 */
static int vrs_setup_vma(struct vm_area_struct *vma, const struct vm_operations_struct *ops,
			 void *priv)
{
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL; /* no copy-on-write of device memory */
	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_page_prot = pgprot_writecombine(vma->vm_page_prot);
	vma->vm_private_data = priv;
	vma->vm_ops = ops;
	return 0;
}

/* The faulting page of a mapping of [start, start + len), unless revoked. */
static vm_fault_t vrs_insert(struct vm_fault *vmf, u64 start, u64 len)
{
	u64 off = (u64)vmf->pgoff << PAGE_SHIFT;

	if (off >= len)
		return VM_FAULT_SIGBUS;
	return vmf_insert_pfn_prot(vmf->vma, vmf->address, (start + off) >> PAGE_SHIFT,
				   vmf->vma->vm_page_prot);
}

static vm_fault_t vrs_vm_fault(struct vm_fault *vmf)
{
	struct vrs_cdev_file *f = vmf->vma->vm_private_data;
	struct vrs_cdev *c = f->c;
	vm_fault_t ret = VM_FAULT_SIGBUS;
	u64 start, len;

	down_read(&c->map_lock);
	if (!c->revoked && !c->ops->mmap_range(f->priv, &start, &len))
		ret = vrs_insert(vmf, start, len);
	up_read(&c->map_lock);
	return ret;
}

static const struct vm_operations_struct vrs_vm_ops = {
	.fault = vrs_vm_fault,
};

static int vrs_fop_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct vrs_cdev_file *f = file->private_data;
	u64 start, len, size = vma->vm_end - vma->vm_start;
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	int ret;

	ret = f->c->ops->mmap_range(f->priv, &start, &len);
	if (ret)
		return ret;
	if (vma->vm_pgoff > (len >> PAGE_SHIFT) || off + size > len || off + size < off)
		return -EINVAL;
	return vrs_setup_vma(vma, &vrs_vm_ops, f);
}

static const struct file_operations vrs_cdev_fops = {
	.owner = THIS_MODULE,
	.open = vrs_fop_open,
	.release = vrs_fop_release,
	.read = vrs_fop_read,
	.poll = vrs_fop_poll,
	.unlocked_ioctl = vrs_fop_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = vrs_fop_mmap,
};

#if IS_ENABLED(CONFIG_DMA_SHARED_BUFFER)

/*
 * dma-buf export of a range of the memory. Like the device's own
 * mappings, a dma-buf's mmap() is populated on fault, under @map_lock,
 * so that revocation zaps it exactly; importers' peer-to-peer mappings
 * (dma_buf_phys_vec_to_sgt) are invalidated at revocation and drained as
 * VFIO's dma-buf export does (drivers/vfio/pci/vfio_pci_dmabuf.c).
 */
struct vrs_dmabuf {
	struct dma_buf *dmabuf;
	struct vrs_cdev *c;		/* a reference */
	struct list_head node;		/* in c->dmabufs */
	struct phys_vec phys;
	struct p2pdma_provider *provider;
	struct kref maps;		/* importers' mappings, +1 while not revoked */
	struct completion drained;
	bool revoked;			/* under the reservation lock */
};

static void vrs_dmabuf_drained(struct kref *k)
{
	complete(&container_of(k, struct vrs_dmabuf, maps)->drained);
}

static int vrs_dmabuf_attach(struct dma_buf *db, struct dma_buf_attachment *a)
{
	struct vrs_dmabuf *d = db->priv;

	if (!a->peer2peer || !d->provider)
		return -EOPNOTSUPP;
	if (d->revoked)
		return -ENODEV;
	if (!dma_buf_attach_revocable(a))
		return -EOPNOTSUPP;
	return 0;
}

static struct sg_table *vrs_dmabuf_map(struct dma_buf_attachment *a, enum dma_data_direction dir)
{
	struct vrs_dmabuf *d = a->dmabuf->priv;
	struct sg_table *sgt;

	dma_resv_assert_held(d->dmabuf->resv);
	if (d->revoked)
		return ERR_PTR(-ENODEV);
	sgt = dma_buf_phys_vec_to_sgt(a, d->provider, &d->phys, 1, d->phys.len, dir);
	if (!IS_ERR(sgt))
		kref_get(&d->maps);
	return sgt;
}

static void vrs_dmabuf_unmap(struct dma_buf_attachment *a, struct sg_table *sgt,
			     enum dma_data_direction dir)
{
	struct vrs_dmabuf *d = a->dmabuf->priv;

	dma_resv_assert_held(d->dmabuf->resv);
	dma_buf_free_sgt(a, sgt, dir);
	kref_put(&d->maps, vrs_dmabuf_drained);
}

static vm_fault_t vrs_dmabuf_fault(struct vm_fault *vmf)
{
	struct vrs_dmabuf *d = vmf->vma->vm_private_data;
	struct vrs_cdev *c = d->c;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	down_read(&c->map_lock);
	if (!c->revoked)
		ret = vrs_insert(vmf, d->phys.paddr, d->phys.len);
	up_read(&c->map_lock);
	return ret;
}

static const struct vm_operations_struct vrs_dmabuf_vm_ops = {
	.fault = vrs_dmabuf_fault,
};

static int vrs_dmabuf_mmap(struct dma_buf *db, struct vm_area_struct *vma)
{
	struct vrs_dmabuf *d = db->priv;

	/* dma_buf_mmap_internal() checked the range against db->size. */
	if (READ_ONCE(d->c->revoked))
		return -ENODEV;
	return vrs_setup_vma(vma, &vrs_dmabuf_vm_ops, d);
}

/* CPU access needs no cache maintenance: the mapping is write-combining. */
static int vrs_dmabuf_cpu_access(struct dma_buf *db, enum dma_data_direction dir)
{
	return READ_ONCE(((struct vrs_dmabuf *)db->priv)->c->revoked) ? -ENODEV : 0;
}

static void vrs_dmabuf_release(struct dma_buf *db)
{
	struct vrs_dmabuf *d = db->priv;
	struct vrs_cdev *c = d->c;

	mutex_lock(&c->files_lock);
	list_del(&d->node);
	mutex_unlock(&c->files_lock);
	kfree(d);
	vrs_cdev_put(c);
}

static const struct dma_buf_ops vrs_dmabuf_ops = {
	.attach = vrs_dmabuf_attach,
	.map_dma_buf = vrs_dmabuf_map,
	.unmap_dma_buf = vrs_dmabuf_unmap,
	.mmap = vrs_dmabuf_mmap,
	.begin_cpu_access = vrs_dmabuf_cpu_access,
	.end_cpu_access = vrs_dmabuf_cpu_access,
	.release = vrs_dmabuf_release,
};

/*
 * Called by vrs_cdev_revoke() with files_lock and map_lock (write) held:
 * zaps the dma-buf's CPU mappings, tells its importers to unmap, and
 * waits for them to have done so.
 */
static void vrs_dmabuf_revoke(struct vrs_dmabuf *d)
{
	if (!get_file_active(&d->dmabuf->file))
		return; /* being released */
	unmap_mapping_range(d->dmabuf->file->f_mapping, 0, 0, 1);
	dma_resv_lock(d->dmabuf->resv, NULL);
	d->revoked = true;
	dma_buf_invalidate_mappings(d->dmabuf);
	dma_resv_wait_timeout(d->dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP, false,
			      MAX_SCHEDULE_TIMEOUT);
	dma_resv_unlock(d->dmabuf->resv);
	kref_put(&d->maps, vrs_dmabuf_drained);
	wait_for_completion(&d->drained);
	fput(d->dmabuf->file);
}

int vrs_cdev_set_p2p(struct vrs_cdev *c, void *pdev, int bar)
{
	int ret = pcim_p2pdma_init(pdev);

	if (ret)
		return ret;
	c->provider = pcim_p2pdma_provider(pdev, bar);
	return c->provider ? 0 : -EOPNOTSUPP;
}

int vrs_cdev_export_dmabuf(struct vrs_cdev *c, u64 start, u64 size, u32 flags)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct vrs_dmabuf *d;
	int fd;

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	d->phys.paddr = start;
	d->phys.len = size;
	kref_init(&d->maps);
	init_completion(&d->drained);
	INIT_LIST_HEAD(&d->node);
	info.ops = &vrs_dmabuf_ops;
	info.size = size;
	info.flags = flags;
	info.priv = d;

	down_read(&c->map_lock);
	if (c->revoked) {
		up_read(&c->map_lock);
		kfree(d);
		return -ENODEV;
	}
	d->provider = c->provider;
	d->dmabuf = dma_buf_export(&info);
	if (IS_ERR(d->dmabuf)) {
		up_read(&c->map_lock);
		fd = PTR_ERR(d->dmabuf);
		kfree(d);
		return fd;
	}
	/* From here, dma_buf_put() frees @d through release(). */
	d->c = c;
	vrs_cdev_get(c);
	mutex_lock(&c->files_lock);
	list_add_tail(&d->node, &c->dmabufs);
	mutex_unlock(&c->files_lock);
	up_read(&c->map_lock);

	fd = dma_buf_fd(d->dmabuf, flags);
	if (fd < 0)
		dma_buf_put(d->dmabuf);
	return fd;
}

#else /* !CONFIG_DMA_SHARED_BUFFER: no dma-buf in this kernel */

struct vrs_dmabuf {
	struct list_head node;
};

static void vrs_dmabuf_revoke(struct vrs_dmabuf *d)
{
}

int vrs_cdev_set_p2p(struct vrs_cdev *c, void *pdev, int bar)
{
	return -EOPNOTSUPP;
}

int vrs_cdev_export_dmabuf(struct vrs_cdev *c, u64 start, u64 size, u32 flags)
{
	return -EOPNOTSUPP;
}

#endif

struct vrs_cdev *vrs_cdev_alloc(void)
{
	struct vrs_cdev *c = kzalloc(sizeof(*c), GFP_KERNEL);

	if (!c)
		return NULL;
	kref_init(&c->ref);
	init_waitqueue_head(&c->wq);
	init_rwsem(&c->map_lock);
	mutex_init(&c->files_lock);
	INIT_LIST_HEAD(&c->files);
	INIT_LIST_HEAD(&c->dmabufs);
	return c;
}

void vrs_cdev_get(struct vrs_cdev *c)
{
	kref_get(&c->ref);
}

void vrs_cdev_put(struct vrs_cdev *c)
{
	kref_put(&c->ref, vrs_cdev_free);
}

int vrs_cdev_register(struct vrs_cdev *c, struct device *parent, const char *name,
		      const struct vrs_cdev_attrs *attrs, const struct vrs_cdev_ops *ops,
		      void *data)
{
	c->attrs = *attrs;
	c->ops = ops;
	c->data = data;
	strscpy(c->name, name, sizeof(c->name));
	c->misc.minor = MISC_DYNAMIC_MINOR;
	c->misc.name = c->name;
	c->misc.fops = &vrs_cdev_fops;
	c->misc.parent = parent;
	c->misc.mode = 0600;
	c->misc.groups = vrs_cdev_groups;
	return misc_register(&c->misc);
}

void vrs_cdev_deregister(struct vrs_cdev *c)
{
	misc_deregister(&c->misc);
}

void vrs_cdev_revoke(struct vrs_cdev *c)
{
	struct vrs_cdev_file *f;
	struct vrs_dmabuf *d;

	down_write(&c->map_lock);
	c->revoked = true;
	mutex_lock(&c->files_lock);
	list_for_each_entry(f, &c->files, node)
		unmap_mapping_range(f->file->f_mapping, 0, 0, 1);
	list_for_each_entry(d, &c->dmabufs, node)
		vrs_dmabuf_revoke(d);
	c->provider = NULL;
	mutex_unlock(&c->files_lock);
	up_write(&c->map_lock);
	wake_up_interruptible_all(&c->wq);
}

void vrs_cdev_wake(struct vrs_cdev *c)
{
	wake_up_interruptible_all(&c->wq);
}

int vrs_cdev_wait(struct vrs_cdev *c, bool (*cond)(void *arg), void *arg)
{
	return wait_event_interruptible(c->wq, cond(arg));
}
