// SPDX-License-Identifier: GPL-2.0

//! virtio-blk (virtio 1.2, 5.2) in Rust, on the Rust vring: a blk-mq disk
//! with one hardware queue per virtqueue.
//!
//! Read, write, flush (FUA writes become write + flush in the block
//! layer: virtio-blk has no FUA), discard and write zeroes
//! when the device offers them; capacity and limits (`blk_size`,
//! `seg_max`, `size_max`, topology) from the configuration space; resize on
//! a configuration change. Binds only devices whose transport offers raw
//! queue ops (our virtio-mmio); elsewhere the stock `virtio_blk` takes the
//! device. See `Documentation/virtio/drivers.rst`.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::{
    new_mutex,
    prelude::*,
    str::CString,
    sync::{Arc, Mutex},
};

#[path = "../virtio/bindings/blk.rs"]
pub mod blk;
#[path = "../virtio/bindings/dma_ring.rs"]
pub mod dma_ring;
#[path = "../virtio/bindings/driver.rs"]
pub mod driver;
#[path = "../virtio/driver/queue.rs"]
pub mod queue;
#[path = "../virtio/bindings/virtio.rs"]
pub mod virtio;
#[path = "../virtio/ring/vring.rs"]
pub mod vring;

use blk::{Limits, Op, Rq, Status};
use driver::{Device, DeviceId, DmaDev, QueueSpec, ANY_VENDOR};
use queue::Queue;

/// Completions taken from a ring per lock round trip (each slot of the
/// batch is initialised per round: more would cost more than it saves at
/// the queue depths blk-mq gives one ring).
const DONE_BATCH: usize = 4;

/// `VIRTIO_ID_BLOCK`.
const VIRTIO_ID_BLOCK: u32 = 2;

// Feature bits (virtio 1.2, 5.2.3).
const F_SIZE_MAX: u32 = 1;
const F_SEG_MAX: u32 = 2;
const F_RO: u32 = 5;
const F_BLK_SIZE: u32 = 6;
const F_FLUSH: u32 = 9;
const F_TOPOLOGY: u32 = 10;
const F_MQ: u32 = 12;
const F_DISCARD: u32 = 13;
const F_WRITE_ZEROES: u32 = 14;

// Configuration layout (struct virtio_blk_config).
const CFG_CAPACITY: usize = 0;
const CFG_SIZE_MAX: usize = 8;
const CFG_SEG_MAX: usize = 12;
const CFG_BLK_SIZE: usize = 20;
const CFG_PHYS_EXP: usize = 24;
const CFG_MIN_IO: usize = 26;
const CFG_OPT_IO: usize = 28;
const CFG_NUM_QUEUES: usize = 34;
const CFG_MAX_DISCARD_SECTORS: usize = 36;
const CFG_MAX_DISCARD_SEG: usize = 40;
const CFG_DISCARD_ALIGN: usize = 44;
const CFG_MAX_WZ_SECTORS: usize = 48;

// Request types and status (5.2.6).
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const T_DISCARD: u32 = 11;
const T_WRITE_ZEROES: u32 = 13;
const S_OK: u8 = 0;
const S_UNSUPP: u8 = 2;

kernel::module_device_table!(
    "virtio",
    DeviceId,
    VIRTIO_BLK_RS_IDS,
    @none,
    [DeviceId::new(VIRTIO_ID_BLOCK, ANY_VENDOR)]
);

/// The virtqueues, one per hardware queue: what blk-mq and the interrupt
/// callbacks share.
struct Queues {
    vqs: KVec<Pin<KBox<Queue<Rq>>>>,
    dma_dev: DmaDev,
}

impl Queues {
    /// The virtio-blk request header for `rq`, and its payload (the ranges
    /// of a discard / write zeroes).
    fn header(rq: &Rq) -> Result<([u8; 16], Option<KVec<u8>>), Status> {
        let (t, sector) = match rq.op() {
            Op::Read => (T_IN, rq.sector()),
            Op::Write => (T_OUT, rq.sector()),
            Op::Flush => (T_FLUSH, 0),
            Op::Discard => (T_DISCARD, 0),
            Op::WriteZeroes => (T_WRITE_ZEROES, 0),
            Op::Other => return Err(Status::NOTSUPP),
        };
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&t.to_le_bytes());
        h[8..16].copy_from_slice(&sector.to_le_bytes());
        // Only discard / write zeroes have one: no empty vector (whose
        // drop is a call into the allocator) for every read and write.
        let mut payload = None;
        if matches!(rq.op(), Op::Discard | Op::WriteZeroes) {
            let payload = payload.insert(KVec::new());
            // struct virtio_blk_discard_write_zeroes per range; unmap
            // (flag bit 0) is left clear: write zeroes must read back as
            // zeroes whatever the device does with the blocks.
            for (s, n) in rq.ranges().map_err(|e| {
                if e == ENOMEM {
                    Status::RESOURCE
                } else {
                    Status::IOERR
                }
            })? {
                let mut r = [0u8; 16];
                r[0..8].copy_from_slice(&s.to_le_bytes());
                r[8..12].copy_from_slice(&n.to_le_bytes());
                payload
                    .extend_from_slice(&r, GFP_ATOMIC)
                    .map_err(|_| Status::RESOURCE)?;
            }
        }
        Ok((h, payload))
    }

    /// Buffers came back on queue `index` (interrupt).
    ///
    /// Each request is ended one step late: after the last one of the
    /// batch, the stopped hardware queues are restarted through it while it
    /// still keeps the disk's queue alive (`virtblk_done` restarts them
    /// once per interrupt too).
    fn done(&self, index: u16) {
        let Some(q) = self.vqs.get(usize::from(index)) else {
            return;
        };
        let mut last: Option<(Rq, Status)> = None;
        // Until nothing is left and interrupts are back on (buffers that
        // arrive meanwhile are taken too). Another queue's interrupt (a
        // wired line is shared by all) finds nothing and leaves this
        // ring's interrupt state alone. After a device fault (reported
        // once by the queue) `device_fault` fails what is in flight.
        let _ = q.drain_used::<DONE_BATCH>(|used| {
            let mut rq = used.token;
            let st = match rq.unmap() {
                S_OK => Status::OK,
                S_UNSUPP => Status::NOTSUPP,
                _ => Status::IOERR,
            };
            if let Some((prev, s)) = last.replace((rq, st)) {
                prev.end(s);
            }
        });
        if let Some((rq, s)) = last {
            rq.start_stopped_queues();
            rq.end(s);
        }
    }
}

impl blk::Driver for Queues {
    fn queue_rq(&self, hctx: u32, mut rq: Rq, last: bool) -> Result<(), (Status, Rq)> {
        let Some(q) = self.vqs.get(hctx as usize) else {
            return Err((Status::IOERR, rq));
        };
        let (hdr, payload) = match Self::header(&rq) {
            Ok(x) => x,
            Err(s) => return Err((s, rq)),
        };
        if rq
            .map(&self.dma_dev, hdr, payload.as_deref().unwrap_or(&[]))
            .is_err()
        {
            return Err((Status::RESOURCE, rq));
        }
        // A full ring stops the hardware queue, under the queue's lock; the
        // next completion (which takes it too) restarts it.
        match q.add_mapped(rq, last, Rq::stop_queue) {
            Ok(()) => Ok(()),
            Err((e, rq)) => {
                // Whatever was added before in this batch must go out.
                q.kick();
                if e == ENOSPC {
                    Err((Status::DEV_RESOURCE, rq))
                } else {
                    Err((Status::IOERR, rq))
                }
            }
        }
    }

    fn commit_rqs(&self, hctx: u32) {
        if let Some(q) = self.vqs.get(hctx as usize) {
            q.kick();
        }
    }
}

/// Per device.
#[pin_data]
struct BlkData {
    queues: Arc<Queues>,
    #[pin]
    disk: Mutex<Option<blk::Disk<Queues>>>,
    name: CString,
    /// Between `freeze` and `restore`: the disk is quiesced.
    frozen: AtomicBool,
    /// The smallest ring the largest request fits in.
    min_ring: u16,
}

/// Numbers the disks (`rvd0`, `rvd1`, ...).
static INDEX: AtomicU32 = AtomicU32::new(0);

struct VirtioBlk;

impl VirtioBlk {
    fn limits(dev: &Device<'_>) -> Limits {
        let f = |b| dev.has_feature(b);
        let mut l = Limits {
            logical_block_size: 512,
            physical_block_size: 512,
            max_segments: blk::SG_MAX as u16,
            max_segment_size: u32::MAX,
            write_cache: f(F_FLUSH),
            read_only: f(F_RO),
            ..Limits::default()
        };
        if f(F_BLK_SIZE) {
            let bs = dev.config_u32(CFG_BLK_SIZE);
            if (512..=4096).contains(&bs) && bs.is_power_of_two() {
                l.logical_block_size = bs;
                l.physical_block_size = bs;
            }
        }
        if f(F_TOPOLOGY) {
            let [exp] = dev.config::<1>(CFG_PHYS_EXP);
            if exp < 16 {
                l.physical_block_size = l.logical_block_size << exp;
            }
            let min = u16::from_le_bytes(dev.config(CFG_MIN_IO));
            l.io_min = l.logical_block_size * u32::from(min);
            l.io_opt = l
                .logical_block_size
                .saturating_mul(dev.config_u32(CFG_OPT_IO));
        }
        if f(F_SEG_MAX) {
            let s = dev.config_u32(CFG_SEG_MAX);
            if s > 0 {
                l.max_segments = s.min(blk::SG_MAX as u32) as u16;
            }
        }
        if f(F_SIZE_MAX) {
            let s = dev.config_u32(CFG_SIZE_MAX);
            if s >= 4096 {
                l.max_segment_size = s;
            }
        }
        if f(F_DISCARD) {
            l.max_discard_sectors = dev.config_u32(CFG_MAX_DISCARD_SECTORS);
            l.max_discard_segments = dev
                .config_u32(CFG_MAX_DISCARD_SEG)
                .clamp(1, blk::RANGES_MAX as u32) as u16;
            l.discard_granularity = dev.config_u32(CFG_DISCARD_ALIGN).max(1) << 9;
        }
        if f(F_WRITE_ZEROES) {
            l.max_write_zeroes_sectors = dev.config_u32(CFG_MAX_WZ_SECTORS);
        }
        l
    }
}

impl driver::Driver for VirtioBlk {
    type Data = BlkData;
    const NAME: &'static CStr = c"virtio_blk_rs";
    const ID_TABLE: driver::IdTableRef = &VIRTIO_BLK_RS_IDS;
    const FEATURES: &'static [u32] = &[
        F_SIZE_MAX,
        F_SEG_MAX,
        F_RO,
        F_BLK_SIZE,
        F_FLUSH,
        F_TOPOLOGY,
        F_MQ,
        F_DISCARD,
        F_WRITE_ZEROES,
    ];

    fn probe(dev: &Device<'_>) -> Result<Pin<KBox<BlkData>>> {
        let limits = Self::limits(dev);
        let nq = if dev.has_feature(F_MQ) {
            u16::from_le_bytes(dev.config(CFG_NUM_QUEUES)).max(1)
        } else {
            1
        };
        let nq = nq
            .min(blk::nr_cpus().min(u32::from(u16::MAX)) as u16)
            .max(1);
        // Queue names for /proc/interrupts: "req.0", "req.1", ...
        const NAMES: [&CStr; 16] = [
            c"req.0", c"req.1", c"req.2", c"req.3", c"req.4", c"req.5", c"req.6", c"req.7",
            c"req.8", c"req.9", c"req.10", c"req.11", c"req.12", c"req.13", c"req.14", c"req.15",
        ];
        let nq = nq.min(NAMES.len() as u16);
        let mut specs = KVec::with_capacity(usize::from(nq), GFP_KERNEL)?;
        for name in NAMES.iter().take(usize::from(nq)) {
            specs.push(
                QueueSpec {
                    name,
                    size: 0,
                    // header, data segments, ranges, status
                    indirect_max: limits.max_segments + 3,
                    callback: true,
                    _p: core::marker::PhantomData,
                },
                GFP_KERNEL,
            )?;
        }
        let rings = dev.find_queues(&specs, nq > 1)?;
        // The largest request is header, data segments and status (a
        // discard: header, ranges, status); no chain may be longer than
        // the ring, through an indirect table or not (virtio 1.2,
        // 2.7.5.3.1), so the ring never gets smaller than that.
        let min_ring = (limits.max_segments + 2).next_power_of_two();
        let mut vqs = KVec::with_capacity(rings.len(), GFP_KERNEL)?;
        let mut dma_dev = None;
        let mut depth = u32::MAX;
        for r in rings {
            dma_dev.get_or_insert_with(|| r.dma_dev.clone());
            depth = depth.min(u32::from(r.num));
            let q = KBox::pin_init(Queue::new(r)?, GFP_KERNEL)?;
            // The status byte is the only thing the device writes besides
            // the data: a longer used length than the request's writable
            // buffers is a device fault, not something to clamp.
            q.set_strict_used_len(true);
            vqs.push(q, GFP_KERNEL)?;
        }
        let queues = Arc::new(
            Queues {
                vqs,
                dma_dev: dma_dev.ok_or(EINVAL)?,
            },
            GFP_KERNEL,
        )?;
        let capacity = dev.config_u64(CFG_CAPACITY);
        let name = CString::try_from_fmt(fmt!("rvd{}", INDEX.fetch_add(1, Ordering::Relaxed)))?;
        let disk = blk::Disk::new(
            queues.dma_dev.device(),
            queues.clone(),
            u32::from(nq),
            depth,
            &limits,
            capacity,
            &name,
        )?;
        dev.ready();
        dev_info!(
            dev.as_dev(),
            "{}: {} sectors, {} queue(s) of {}, {} ring{}{}\n",
            name.to_str().unwrap_or("?"),
            capacity,
            nq,
            depth,
            if dev.has_feature(vring::VIRTIO_F_RING_PACKED) {
                "packed"
            } else {
                "split"
            },
            if dev.has_feature(vring::VIRTIO_RING_F_EVENT_IDX) {
                ", event index"
            } else {
                ""
            },
            if dev.has_feature(vring::VIRTIO_RING_F_INDIRECT_DESC) {
                ", indirect"
            } else {
                ""
            }
        );
        KBox::pin_init(
            try_pin_init!(BlkData {
                queues,
                disk <- new_mutex!(Some(disk)),
                name,
                frozen: AtomicBool::new(false),
                min_ring,
            }? Error),
            GFP_KERNEL,
        )
    }

    fn scan(dev: &Device<'_>, data: Pin<&BlkData>) {
        // Adding the disk reads its partition table: completions must
        // reach `queue_done`, which needs the published data.
        let mut disk = data.disk.lock();
        if let Some(d) = disk.as_ref() {
            if let Err(e) = d.add(dev.as_dev()) {
                dev_err!(dev.as_dev(), "cannot add the disk: {:?}\n", e);
                drop(disk.take());
            }
        }
    }

    fn queue_done(data: &BlkData, index: u16) {
        data.queues.done(index);
    }

    fn remove(_dev: &Device<'_>, data: Pin<&BlkData>) {
        let mut disk = data.disk.lock();
        if data.frozen.swap(false, Ordering::AcqRel) {
            // Frozen and never restored (the core's restore failed before
            // it called ours): the queues are suspended, so the held
            // requests fail once they reach them; let them.
            for q in data.queues.vqs.iter() {
                driver::Restore::kill(&**q);
            }
            if let Some(d) = disk.as_ref() {
                d.unquiesce();
                d.start_stopped();
            }
        }
        // del_gendisk drains the requests in flight: the device still works.
        drop(disk.take());
    }

    fn device_fault(_dev: &Device<'_>, data: Pin<&BlkData>) {
        // Every queue's requests come back (the device is reset first) and
        // fail; new ones fail at once. The disk stays until the device is
        // unbound: rebinding starts it afresh. The layer logged the fault:
        // nothing more here (one line per fault).
        for q in data.queues.vqs.iter() {
            let mut first = true;
            for rq in q.reclaim().drain_all() {
                if first {
                    // Hardware queues stopped on a full ring run again
                    // (and fail their requests at once).
                    rq.start_stopped_queues();
                    first = false;
                }
                rq.end(Status::IOERR);
            }
        }
    }

    fn freeze(dev: &Device<'_>, data: Pin<&BlkData>) -> Result {
        // As virtblk_freeze_priv(): the requests in flight complete, new
        // ones wait in blk-mq until restore.
        if let Some(d) = data.disk.lock().as_ref() {
            d.quiesce_idle();
        }
        data.frozen.store(true, Ordering::Release);
        // Cannot fail from here on (the layer's contract): the first
        // suspend resets the device.
        for q in data.queues.vqs.iter() {
            // Nothing is in flight after the quiesce; a request that still
            // is (none, unless blk-mq broke its promise) fails rather
            // than being lost.
            for rq in q.suspend().drain_all() {
                dev_warn!(dev.as_dev(), "request in flight at freeze: failed\n");
                rq.end(Status::IOERR);
            }
        }
        Ok(())
    }

    fn restore(dev: &Device<'_>, data: Pin<&BlkData>) -> Result {
        let vqs = &data.queues.vqs;
        let r = (|| {
            let mut qs: KVec<&dyn driver::Restore> = KVec::with_capacity(vqs.len(), GFP_KERNEL)?;
            for q in vqs.iter() {
                qs.push(&**q, GFP_KERNEL)?;
            }
            dev.restore_queues(&qs)
        })();
        match r {
            Ok(()) => dev.ready(),
            Err(_) => {
                // (`restore_queues` kills them itself; not if the list
                // could not be made.)
                for q in vqs.iter() {
                    driver::Restore::kill(&**q);
                }
            }
        }
        // Even on error: the held requests then fail with EIO (the queues
        // are dead) instead of waiting forever.
        let disk = data.disk.lock();
        data.frozen.store(false, Ordering::Release);
        if let Some(d) = disk.as_ref() {
            d.unquiesce();
            // Hardware queues a full ring stopped before sleep.
            d.start_stopped();
        }
        r
    }

    fn resize_queue(_dev: &Device<'_>, data: Pin<&BlkData>, index: u16, size: u16) -> Result {
        let q = data.queues.vqs.get(usize::from(index)).ok_or(EINVAL)?;
        // A smaller ring could never take the largest request.
        if size < data.min_ring {
            return Err(EINVAL);
        }
        if !q.resets_queues() {
            // Before the quiesce: nothing to stop the disk for.
            return Err(EOPNOTSUPP);
        }
        let disk = data.disk.lock();
        let d = disk.as_ref().ok_or(ENODEV)?;
        // As for system sleep: the requests in flight complete, new ones
        // wait in blk-mq; the ring is empty when it is replaced.
        d.quiesce_idle();
        let r = q.resize(size, |rq| {
            // None (the quiesce drained them); fail rather than lose one.
            rq.end(Status::IOERR)
        });
        d.unquiesce();
        // Hardware queues a full ring stopped.
        d.start_stopped();
        r
    }

    fn config_changed(dev: &Device<'_>, data: Pin<&BlkData>) {
        let capacity = dev.config_u64(CFG_CAPACITY);
        if let Some(d) = data.disk.lock().as_ref() {
            dev_info!(
                dev.as_dev(),
                "{}: capacity now {} sectors\n",
                data.name.to_str().unwrap_or("?"),
                capacity
            );
            d.set_capacity(capacity);
        }
    }
}

#[pin_data]
struct Module {
    #[pin]
    reg: driver::Registration<VirtioBlk>,
}

impl kernel::InPlaceModule for Module {
    fn init(module: &'static kernel::ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            reg <- driver::Registration::new(module),
        })
    }
}

module! {
    type: Module,
    name: "virtio_blk_rs",
    authors: ["virtio-rs developers"],
    description: "virtio-blk driver on the Rust vring",
    license: "GPL",
}
