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
#include <linux/fs.h>
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

struct vrs_cdev {
	struct miscdevice misc;
	struct kref ref;
	wait_queue_head_t wq;
	struct rw_semaphore map_lock;
	bool revoked;
	struct mutex files_lock;
	struct list_head files;
	struct vrs_cdev_attrs attrs;
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

static vm_fault_t vrs_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct vrs_cdev_file *f = vma->vm_private_data;
	struct vrs_cdev *c = f->c;
	u64 start, len, off;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	down_read(&c->map_lock);
	if (c->revoked || c->ops->mmap_range(f->priv, &start, &len))
		goto out;
	off = ((u64)vmf->pgoff << PAGE_SHIFT);
	if (off >= len)
		goto out;
	ret = vmf_insert_pfn_prot(vma, vmf->address, (start + off) >> PAGE_SHIFT,
				  vma->vm_page_prot);
out:
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

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL; /* no copy-on-write of device memory */
	ret = f->c->ops->mmap_range(f->priv, &start, &len);
	if (ret)
		return ret;
	if (vma->vm_pgoff > (len >> PAGE_SHIFT) || off + size > len || off + size < off)
		return -EINVAL;
	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_page_prot = pgprot_writecombine(vma->vm_page_prot);
	vma->vm_private_data = f;
	vma->vm_ops = &vrs_vm_ops;
	return 0;
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

	down_write(&c->map_lock);
	c->revoked = true;
	mutex_lock(&c->files_lock);
	list_for_each_entry(f, &c->files, node)
		unmap_mapping_range(f->file->f_mapping, 0, 0, 1);
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
