// SPDX-License-Identifier: GPL-2.0
/*
 * C side of drivers/virtio/bindings/blk.rs (see blk_shim.h). Included by a
 * C file of each module that uses it.
 */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/dma-mapping.h>
#include <linux/scatterlist.h>
#include <linux/module.h>
#include <linux/slab.h>
#include "blk_shim.h"

struct vrs_blk_disk {
	struct blk_mq_tag_set set;
	struct gendisk *disk;
	const struct vrs_blk_ops *ops;
	void *data;
	bool added;
};

static blk_status_t vrs_blk_queue_rq(struct blk_mq_hw_ctx *hctx,
				     const struct blk_mq_queue_data *bd)
{
	struct vrs_blk_disk *d = hctx->queue->queuedata;

	return (__force blk_status_t)d->ops->queue_rq(d->data, hctx->queue_num, bd->rq, bd->last);
}

static void vrs_blk_commit_rqs(struct blk_mq_hw_ctx *hctx)
{
	struct vrs_blk_disk *d = hctx->queue->queuedata;

	d->ops->commit_rqs(d->data, hctx->queue_num);
}

/* Opening the disk pins the module, as for every block driver. */
static const struct block_device_operations vrs_blk_fops = {
	.owner = THIS_MODULE,
};

static const struct blk_mq_ops vrs_blk_mq_ops = {
	.queue_rq = vrs_blk_queue_rq,
	.commit_rqs = vrs_blk_commit_rqs,
};

struct vrs_blk_disk *vrs_blk_create(struct device *dma_dev, const struct vrs_blk_ops *ops, void *data,
				    unsigned int nr_hw_queues, unsigned int depth,
				    unsigned int cmd_size, const struct vrs_blk_limits *l,
				    u64 capacity, const char *name)
{
	struct queue_limits lim = {
		.logical_block_size = l->logical_block_size,
		.physical_block_size = l->physical_block_size,
		.io_min = l->io_min,
		.io_opt = l->io_opt,
		.max_hw_sectors = l->max_hw_sectors,
		.max_segment_size = l->max_segment_size,
		.max_segments = l->max_segments,
		.max_discard_segments = l->max_discard_segments,
		.max_hw_discard_sectors = l->max_discard_sectors,
		.discard_granularity = l->discard_granularity,
		.max_write_zeroes_sectors = l->max_write_zeroes_sectors,
		.dma_alignment = SECTOR_SIZE - 1,
	};
	struct vrs_blk_disk *d;
	size_t max_map = dma_max_mapping_size(dma_dev);
	int err;

	/* What the DMA device can map (64 KiB segments by default; swiotlb
	 * bounds a whole mapping), as virtio_max_dma_size() does for C. */
	lim.max_segment_size = min_t(u32, lim.max_segment_size ?: UINT_MAX,
				     dma_get_max_seg_size(dma_dev));
	if (max_map && max_map < SIZE_MAX) {
		lim.max_segment_size = min_t(size_t, lim.max_segment_size, max_map);
		lim.max_hw_sectors = min_t(size_t, lim.max_hw_sectors ?: UINT_MAX >> SECTOR_SHIFT,
					   max_map >> SECTOR_SHIFT);
	}

	/* virtio-blk has no FUA: the block layer follows a FUA write with a flush. */
	if (l->write_cache)
		lim.features |= BLK_FEAT_WRITE_CACHE;
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return ERR_PTR(-ENOMEM);
	d->ops = ops;
	d->data = data;
	d->set.ops = &vrs_blk_mq_ops;
	d->set.nr_hw_queues = nr_hw_queues;
	d->set.queue_depth = depth;
	d->set.numa_node = NUMA_NO_NODE;
	d->set.cmd_size = cmd_size;
	d->set.nr_maps = 1;
	d->set.driver_data = d;
	err = blk_mq_alloc_tag_set(&d->set);
	if (err)
		goto free;
	d->disk = blk_mq_alloc_disk(&d->set, &lim, d);
	if (IS_ERR(d->disk)) {
		err = PTR_ERR(d->disk);
		goto free_set;
	}
	strscpy(d->disk->disk_name, name, DISK_NAME_LEN);
	d->disk->fops = &vrs_blk_fops;
	set_disk_ro(d->disk, l->read_only);
	set_capacity(d->disk, capacity);
	return d;
free_set:
	blk_mq_free_tag_set(&d->set);
free:
	kfree(d);
	return ERR_PTR(err);
}

int vrs_blk_add(struct vrs_blk_disk *d, struct device *parent)
{
	int err = device_add_disk(parent, d->disk, NULL);

	d->added = !err;
	return err;
}

void vrs_blk_destroy(struct vrs_blk_disk *d)
{
	if (d->added)
		del_gendisk(d->disk);
	put_disk(d->disk);
	blk_mq_free_tag_set(&d->set);
	kfree(d);
}

void vrs_blk_set_capacity(struct vrs_blk_disk *d, u64 sectors)
{
	set_capacity_and_notify(d->disk, sectors);
}

void vrs_blk_start_stopped(struct vrs_blk_disk *d)
{
	blk_mq_start_stopped_hw_queues(d->disk->queue, true);
}

void vrs_blk_quiesce_idle(struct vrs_blk_disk *d)
{
	struct request_queue *q = d->disk->queue;
	unsigned int memflags;

	/* As virtblk_freeze_priv(): the freeze drains what is in flight, the
	 * quiesce keeps new requests from the driver until unquiesce. */
	memflags = blk_mq_freeze_queue(q);
	blk_mq_quiesce_queue_nowait(q);
	blk_mq_unfreeze_queue(q, memflags);
}

void vrs_blk_unquiesce(struct vrs_blk_disk *d)
{
	blk_mq_unquiesce_queue(d->disk->queue);
}

enum vrs_blk_op vrs_blk_rq_op(struct request *rq)
{
	switch (req_op(rq)) {
	case REQ_OP_READ:
		return VRS_BLK_OP_READ;
	case REQ_OP_WRITE:
		return VRS_BLK_OP_WRITE;
	case REQ_OP_FLUSH:
		return VRS_BLK_OP_FLUSH;
	case REQ_OP_DISCARD:
		return VRS_BLK_OP_DISCARD;
	case REQ_OP_WRITE_ZEROES:
		return VRS_BLK_OP_WRITE_ZEROES;
	default:
		return VRS_BLK_OP_OTHER;
	}
}

bool vrs_blk_rq_fua(struct request *rq)
{
	return rq->cmd_flags & REQ_FUA;
}

u64 vrs_blk_rq_pos(struct request *rq)
{
	return blk_rq_pos(rq);
}

u32 vrs_blk_rq_bytes(struct request *rq)
{
	return blk_rq_bytes(rq);
}

void *vrs_blk_rq_pdu(struct request *rq)
{
	return blk_mq_rq_to_pdu(rq);
}

int vrs_blk_rq_map_sg(struct request *rq, struct scatterlist *sg, unsigned int max)
{
	if (blk_rq_nr_phys_segments(rq) > max)
		return -EINVAL;
	sg_init_table(sg, max);
	return blk_rq_map_sg(rq, sg);
}

int vrs_blk_rq_ranges(struct request *rq, u64 *sector, u32 *nr, unsigned int max)
{
	unsigned int n = 0;
	struct bio *bio;

	/* A single range unless the queue merged discards (max_discard_segments > 1). */
	if (blk_rq_nr_discard_segments(rq) <= 1 || req_op(rq) != REQ_OP_DISCARD) {
		sector[0] = blk_rq_pos(rq);
		nr[0] = blk_rq_sectors(rq);
		return 1;
	}
	__rq_for_each_bio(bio, rq) {
		if (n == max)
			return -EINVAL;
		sector[n] = bio->bi_iter.bi_sector;
		nr[n] = bio->bi_iter.bi_size >> SECTOR_SHIFT;
		n++;
	}
	return n;
}

void vrs_blk_rq_stop_queue(struct request *rq)
{
	blk_mq_stop_hw_queue(rq->mq_hctx);
}

void vrs_blk_rq_start_stopped(struct request *rq)
{
	blk_mq_start_stopped_hw_queues(rq->q, true);
}

void vrs_blk_rq_end(struct request *rq, u8 status)
{
	blk_mq_end_request(rq, (__force blk_status_t)status);
}

int vrs_blk_map_sg(struct device *dev, struct scatterlist *sg, int nents, int dir)
{
	return dma_map_sg(dev, sg, nents, (enum dma_data_direction)dir);
}

void vrs_blk_unmap_sg(struct device *dev, struct scatterlist *sg, int nents, int dir)
{
	dma_unmap_sg(dev, sg, nents, (enum dma_data_direction)dir);
}

u64 vrs_blk_sg_dma_address(struct scatterlist *sg, int i)
{
	return sg_dma_address(&sg[i]);
}

u32 vrs_blk_sg_dma_len(struct scatterlist *sg, int i)
{
	return sg_dma_len(&sg[i]);
}

u64 vrs_blk_sg_phys(struct scatterlist *sg, int i)
{
	return sg_phys(&sg[i]);
}

u32 vrs_blk_sg_len(struct scatterlist *sg, int i)
{
	return sg[i].length;
}

unsigned int vrs_blk_sg_size(void)
{
	return sizeof(struct scatterlist);
}

unsigned int vrs_blk_nr_cpus(void)
{
	return nr_cpu_ids;
}
