/* SPDX-License-Identifier: GPL-2.0 */
/*
 * blk-mq for the Rust virtio block driver (drivers/virtio/bindings/blk.rs).
 * 7.3's Rust blk-mq abstraction has no per-request driver data, no hardware
 * queue index, no end-with-error, no queue limits and no capacity change;
 * this shim is the thin C side of the wrapper that has them. The blk_mq_ops
 * live here and forward to the Rust callbacks in struct vrs_blk_ops.
 */
#ifndef VRS_BLK_SHIM_H
#define VRS_BLK_SHIM_H

#include <linux/types.h>

struct device;
struct request;
struct scatterlist;
struct vrs_blk_disk;

struct vrs_blk_limits {
	u32 logical_block_size;
	u32 physical_block_size;
	u32 io_min;
	u32 io_opt;
	u32 max_hw_sectors;
	u32 max_segment_size;
	u16 max_segments;
	u16 max_discard_segments;
	u32 max_discard_sectors;
	u32 discard_granularity;
	u32 max_write_zeroes_sectors;
	bool write_cache;
	bool read_only;
};

struct vrs_blk_ops {
	/* blk_status_t; @hctx is the hardware queue index. */
	u8 (*queue_rq)(void *data, unsigned int hctx, struct request *rq, bool last);
	void (*commit_rqs)(void *data, unsigned int hctx);
};

/* Operations of a request, as the driver needs them. */
enum vrs_blk_op {
	VRS_BLK_OP_READ,
	VRS_BLK_OP_WRITE,
	VRS_BLK_OP_FLUSH,
	VRS_BLK_OP_DISCARD,
	VRS_BLK_OP_WRITE_ZEROES,
	VRS_BLK_OP_OTHER,
};

/* Tag set (@nr_hw_queues x @depth requests with @cmd_size bytes of driver
 * data each) and disk "@name" with @lim and @capacity sectors; ERR_PTR.
 * Segment and request sizes are capped by what @dma_dev can map. */
struct vrs_blk_disk *vrs_blk_create(struct device *dma_dev, const struct vrs_blk_ops *ops, void *data,
				    unsigned int nr_hw_queues, unsigned int depth,
				    unsigned int cmd_size, const struct vrs_blk_limits *lim,
				    u64 capacity, const char *name);
/* Make the disk visible (device_add_disk) as a child of @parent. */
int vrs_blk_add(struct vrs_blk_disk *d, struct device *parent);
/* del_gendisk (if added), put_disk, free the tag set. */
void vrs_blk_destroy(struct vrs_blk_disk *d);
void vrs_blk_set_capacity(struct vrs_blk_disk *d, u64 sectors);
/* Restart hardware queues stopped by vrs_blk_rq_stop_queue. */
void vrs_blk_start_stopped(struct vrs_blk_disk *d);
/* System sleep: wait until no request is in flight and hold new ones back
 * (blk_mq_freeze_queue, then quiesce); vrs_blk_unquiesce lets them go. */
void vrs_blk_quiesce_idle(struct vrs_blk_disk *d);
void vrs_blk_unquiesce(struct vrs_blk_disk *d);

enum vrs_blk_op vrs_blk_rq_op(struct request *rq);
bool vrs_blk_rq_fua(struct request *rq);
u64 vrs_blk_rq_pos(struct request *rq);
u32 vrs_blk_rq_bytes(struct request *rq);
void *vrs_blk_rq_pdu(struct request *rq);
/* blk_rq_map_sg into @sg (@max entries); the entries used. */
int vrs_blk_rq_map_sg(struct request *rq, struct scatterlist *sg, unsigned int max);
/* Discard/write-zeroes ranges: fill @sector/@nr (at most @max). */
int vrs_blk_rq_ranges(struct request *rq, u64 *sector, u32 *nr, unsigned int max);
/* Stop the request's hardware queue (ring full). */
void vrs_blk_rq_stop_queue(struct request *rq);
/* Restart the stopped hardware queues of the request's disk. */
void vrs_blk_rq_start_stopped(struct request *rq);
void vrs_blk_rq_end(struct request *rq, u8 status);
/* dma_map_sg / dma_unmap_sg; the mapped count (0: failed). */
int vrs_blk_map_sg(struct device *dev, struct scatterlist *sg, int nents, int dir);
void vrs_blk_unmap_sg(struct device *dev, struct scatterlist *sg, int nents, int dir);
u64 vrs_blk_sg_dma_address(struct scatterlist *sg, int i);
u32 vrs_blk_sg_dma_len(struct scatterlist *sg, int i);
/* sg_phys() and ->length of entry @i (a device without the DMA API). */
u64 vrs_blk_sg_phys(struct scatterlist *sg, int i);
u32 vrs_blk_sg_len(struct scatterlist *sg, int i);
/* nr_cpu_ids */
unsigned int vrs_blk_nr_cpus(void);
/* sizeof(struct scatterlist) */
unsigned int vrs_blk_sg_size(void);

#endif
