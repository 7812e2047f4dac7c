// SPDX-License-Identifier: GPL-2.0

//! blk-mq for the Rust virtio block driver: the one place with its
//! `unsafe` (C side: `blk_shim.c`).
//!
//! 7.3's `kernel::block::mq` (what `rnull` uses) cannot carry a virtio
//! block driver: its requests have no driver data (`cmd_size` is only its
//! own refcount), `queue_rq` does not say which hardware queue it runs on,
//! a request can only end with success, and a disk has no queue limits
//! (segments, segment size, discard, write zeroes) and no capacity change.
//! This wrapper has all of these, in the shape of the kernel's: an
//! [`Driver`] trait with `queue_rq`/`commit_rqs`, a [`Disk`] that owns the
//! tag set and the gendisk, and an owned request handle [`Rq`] that must be
//! ended exactly once.

// Shared by path between modules; each uses part of it.
#![allow(dead_code)]

use super::driver::{DmaDev, DmaSegments};
use super::virtio::sys;
use super::vring::Buf;
use core::ptr::NonNull;
use kernel::{
    bindings, device,
    dma::DataDirection,
    ffi::c_void,
    prelude::*,
    str::CStr,
    sync::{aref::ARef, Arc},
    types::Opaque,
};

/// Data segments of one request, at most (the disk's `max_segments`).
pub(crate) const SG_MAX: usize = 64;
/// Discard / write-zeroes ranges of one request, at most.
pub(crate) const RANGES_MAX: usize = 16;
/// Bytes of one range in the request's payload.
pub(crate) const RANGE_BYTES: usize = 16;

/// The number of possible CPU ids (`nr_cpu_ids`): hardware queues
/// beyond it are never used.
pub(crate) fn nr_cpus() -> u32 {
    // SAFETY: reads a variable fixed at boot.
    unsafe { sys::vrs_blk_nr_cpus() }
}

/// A `blk_status_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Status(u8);

impl Status {
    /// Success.
    pub(crate) const OK: Status = Status(bindings::BLK_STS_OK as u8);
    /// The operation is not supported.
    pub(crate) const NOTSUPP: Status = Status(1); // BLK_STS_NOTSUPP (a cast macro: not in the bindings)
    /// I/O error.
    pub(crate) const IOERR: Status = Status(10); // BLK_STS_IOERR (a cast macro: not in the bindings)
    /// Out of a resource the device frees by itself: retry later (the
    /// queue is restarted when buffers come back).
    pub(crate) const DEV_RESOURCE: Status = Status(13); // BLK_STS_DEV_RESOURCE (a cast macro: not in the bindings)
    /// Out of memory or similar: retry later.
    pub(crate) const RESOURCE: Status = Status(9); // BLK_STS_RESOURCE (a cast macro: not in the bindings)
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Read into the request's pages.
    Read,
    /// Write from them.
    Write,
    /// Flush the volatile write cache.
    Flush,
    /// Discard ranges.
    Discard,
    /// Write zeroes to ranges.
    WriteZeroes,
    /// Anything else (not supported).
    Other,
}

/// Queue limits of a disk.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Limits {
    /// Logical block size in bytes.
    pub(crate) logical_block_size: u32,
    /// Physical block size in bytes.
    pub(crate) physical_block_size: u32,
    /// Minimum and optimal I/O size in bytes.
    pub(crate) io_min: u32,
    /// See `io_min`.
    pub(crate) io_opt: u32,
    /// Largest request in sectors (0: the block layer's default).
    pub(crate) max_hw_sectors: u32,
    /// Largest data segment in bytes.
    pub(crate) max_segment_size: u32,
    /// Most data segments per request (at most [`SG_MAX`]).
    pub(crate) max_segments: u16,
    /// Most discard ranges per request (at most [`RANGES_MAX`]).
    pub(crate) max_discard_segments: u16,
    /// Largest discard in sectors (0: no discard).
    pub(crate) max_discard_sectors: u32,
    /// Discard granularity in bytes.
    pub(crate) discard_granularity: u32,
    /// Largest write-zeroes in sectors (0: none).
    pub(crate) max_write_zeroes_sectors: u32,
    /// The device has a volatile write cache (flush, FUA).
    pub(crate) write_cache: bool,
    /// Read-only.
    pub(crate) read_only: bool,
}

/// A block driver's request handling.
pub(crate) trait Driver: Send + Sync + 'static {
    /// Start `rq` on hardware queue `hctx`. `last`: no more requests follow
    /// in this batch (notify now). On error the request goes back to the
    /// block layer with the status (requeued for `DEV_RESOURCE` /
    /// `RESOURCE`, failed otherwise).
    fn queue_rq(&self, hctx: u32, rq: Rq, last: bool) -> Result<(), (Status, Rq)>;
    /// The block layer ends a batch without `last` (notify now).
    fn commit_rqs(&self, hctx: u32);
}

/// The driver data of each request (blk-mq's pdu): the virtio-blk header,
/// status and discard payload, the scatterlist and the device addresses.
#[repr(C)]
struct Pdu {
    sg: Opaque<[bindings::scatterlist; SG_MAX]>,
    hdr: [u8; 16],
    status: [u8; 8],
    ranges: [u8; RANGE_BYTES * RANGES_MAX],
    bufs: [Buf; SG_MAX + 3],
    nbufs: u16,
    nout: u16,
    nents: i32,
    data_dir: DataDirection,
    hdr_dma: u64,
    hdr_mapped: bool,
    status_dma: u64,
    status_mapped: bool,
    ranges_dma: u64,
    ranges_len: u32,
    mapped: bool,
}

/// A request between `queue_rq` and its end. Ending it is the only way to
/// let go of it (dropping it ends it with an I/O error).
pub(crate) struct Rq {
    rq: NonNull<bindings::request>,
    mapping: Mapping,
}

/// How a request's buffers are mapped now.
enum Mapping {
    /// Not mapped (the pdu's fields are not meaningful).
    None,
    /// At their physical addresses: nothing to undo.
    Phys,
    /// DMA mappings for this device, undone by `unmap`.
    Dma(ARef<device::Device>),
}

// SAFETY: a started request may be completed from any CPU.
unsafe impl Send for Rq {}
// SAFETY: `&Rq` only reads immutable request fields.
unsafe impl Sync for Rq {}

fn raw_dev(dev: &device::Device) -> *mut bindings::device {
    core::ptr::from_ref(dev).cast_mut().cast()
}

impl Rq {
    fn raw(&self) -> *mut bindings::request {
        self.rq.as_ptr()
    }

    fn pdu(&self) -> *mut Pdu {
        // SAFETY: a live request of a tag set whose `cmd_size` is
        // `size_of::<Pdu>()`.
        unsafe { sys::vrs_blk_rq_pdu(self.raw()).cast() }
    }

    /// What it asks for.
    pub(crate) fn op(&self) -> Op {
        // SAFETY: a live request.
        match unsafe { sys::vrs_blk_rq_op(self.raw()) } {
            sys::vrs_blk_op_VRS_BLK_OP_READ => Op::Read,
            sys::vrs_blk_op_VRS_BLK_OP_WRITE => Op::Write,
            sys::vrs_blk_op_VRS_BLK_OP_FLUSH => Op::Flush,
            sys::vrs_blk_op_VRS_BLK_OP_DISCARD => Op::Discard,
            sys::vrs_blk_op_VRS_BLK_OP_WRITE_ZEROES => Op::WriteZeroes,
            _ => Op::Other,
        }
    }

    /// Forced unit access (write through the cache).
    pub(crate) fn fua(&self) -> bool {
        // SAFETY: a live request.
        unsafe { sys::vrs_blk_rq_fua(self.raw()) }
    }

    /// First sector (512 bytes).
    pub(crate) fn sector(&self) -> u64 {
        // SAFETY: a live request.
        unsafe { sys::vrs_blk_rq_pos(self.raw()) }
    }

    /// Bytes to transfer.
    pub(crate) fn bytes(&self) -> u32 {
        // SAFETY: a live request.
        unsafe { sys::vrs_blk_rq_bytes(self.raw()) }
    }

    /// The (sector, count) ranges of a discard or write-zeroes request.
    pub(crate) fn ranges(&self) -> Result<KVec<(u64, u32)>> {
        let mut s = [0u64; RANGES_MAX];
        let mut n = [0u32; RANGES_MAX];
        // SAFETY: a live request; the arrays hold `RANGES_MAX` entries.
        let r = unsafe {
            sys::vrs_blk_rq_ranges(
                self.raw(),
                s.as_mut_ptr(),
                n.as_mut_ptr(),
                RANGES_MAX as u32,
            )
        };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        let mut v = KVec::with_capacity(r as usize, GFP_ATOMIC)?;
        for i in 0..r as usize {
            v.push((s[i], n[i]), GFP_ATOMIC)?;
        }
        Ok(v)
    }

    /// Map the request for `dev`: `hdr` (device-readable), the data pages
    /// (readable for writes, writable for reads), `payload` (readable: the
    /// discard / write-zeroes ranges) and a status byte (writable), in that
    /// order, for [`DmaSegments`]. Undone by [`Rq::unmap`] (or the end).
    /// A device without the DMA API ([`DmaDev::phys`]) gets the physical
    /// addresses, and nothing is mapped.
    pub(crate) fn map(&mut self, dev: &DmaDev, hdr: [u8; 16], payload: &[u8]) -> Result {
        if payload.len() > RANGE_BYTES * RANGES_MAX {
            return Err(EINVAL);
        }
        self.unmap();
        let op = self.op();
        let p = self.pdu();
        let phys = dev.phys();
        let d = raw_dev(dev.device());
        // Maps `len` bytes of the pdu at `ptr`.
        //
        // SAFETY (of calls): `ptr` points into this request's pdu
        // (directly mapped: blk-mq allocates requests from pages).
        let map_kmem = |ptr: *mut c_void, len: usize, dir: DataDirection| -> Result<u64> {
            if phys {
                // SAFETY: per the closure's contract.
                return Ok(unsafe { sys::vrs_virt_to_phys(ptr) });
            }
            let mut addr = 0u64;
            // SAFETY: per the closure's contract; `d` is the live DMA
            // device of the disk, which outlives its requests.
            if unsafe { sys::vrs_dma_map_kmem(d, ptr, len, dir as i32, &mut addr) } != 0 {
                return Err(ENOMEM);
            }
            Ok(addr)
        };
        // From here on `unmap` undoes what is marked mapped in the pdu.
        self.mapping = if phys {
            Mapping::Phys
        } else {
            Mapping::Dma(dev.device().clone())
        };
        // SAFETY: the pdu is this request's, which we own until it ends;
        // nobody else touches it. All DMA mappings below are of memory in
        // it or of the request's own data pages, and are undone in `unmap`.
        unsafe {
            (*p).hdr = hdr;
            (*p).status = [0xff; 8];
            (*p).nbufs = 0;
            (*p).nents = 0;
            (*p).ranges_len = 0;
            (*p).hdr_mapped = false;
            (*p).status_mapped = false;
            (*p).mapped = true;
            let mut n = 0usize;
            let Ok(addr) = map_kmem((&raw mut (*p).hdr).cast(), 16, DataDirection::ToDevice) else {
                self.unmap();
                return Err(ENOMEM);
            };
            (*p).hdr_dma = addr;
            (*p).hdr_mapped = true;
            (*p).bufs[n] = Buf { addr, len: 16 };
            n += 1;
            let has_data = matches!(op, Op::Read | Op::Write) && self.bytes() > 0;
            let mut nout = 1;
            if has_data {
                let sg = (*p).sg.get().cast::<bindings::scatterlist>();
                let nents = sys::vrs_blk_rq_map_sg(self.raw(), sg, SG_MAX as u32);
                if nents <= 0 {
                    self.unmap();
                    return Err(EINVAL);
                }
                let dir = if op == Op::Write {
                    DataDirection::ToDevice
                } else {
                    DataDirection::FromDevice
                };
                if phys {
                    for i in 0..nents {
                        (*p).bufs[n] = Buf {
                            addr: sys::vrs_blk_sg_phys(sg, i),
                            len: sys::vrs_blk_sg_len(sg, i),
                        };
                        n += 1;
                    }
                } else {
                    let mapped = sys::vrs_blk_map_sg(d, sg, nents, dir as i32);
                    if mapped <= 0 {
                        self.unmap();
                        return Err(ENOMEM);
                    }
                    (*p).nents = nents;
                    (*p).data_dir = dir;
                    for i in 0..mapped {
                        (*p).bufs[n] = Buf {
                            addr: sys::vrs_blk_sg_dma_address(sg, i),
                            len: sys::vrs_blk_sg_dma_len(sg, i),
                        };
                        n += 1;
                    }
                }
                if op == Op::Write {
                    nout = n;
                }
            }
            if !payload.is_empty() {
                (*p).ranges[..payload.len()].copy_from_slice(payload);
                let Ok(addr) = map_kmem(
                    (&raw mut (*p).ranges).cast(),
                    payload.len(),
                    DataDirection::ToDevice,
                ) else {
                    self.unmap();
                    return Err(ENOMEM);
                };
                (*p).ranges_dma = addr;
                (*p).ranges_len = payload.len() as u32;
                (*p).bufs[n] = Buf {
                    addr,
                    len: payload.len() as u32,
                };
                n += 1;
                nout = n;
            }
            let Ok(addr) = map_kmem((&raw mut (*p).status).cast(), 1, DataDirection::FromDevice)
            else {
                self.unmap();
                return Err(ENOMEM);
            };
            (*p).status_dma = addr;
            (*p).status_mapped = true;
            (*p).bufs[n] = Buf { addr, len: 1 };
            n += 1;
            (*p).nbufs = n as u16;
            (*p).nout = nout as u16;
        }
        Ok(())
    }

    /// Undo [`Rq::map`] and return the status byte the device wrote
    /// (`0xff` if it wrote none).
    pub(crate) fn unmap(&mut self) -> u8 {
        let dev = match core::mem::replace(&mut self.mapping, Mapping::None) {
            Mapping::None => return 0xff,
            Mapping::Phys => None,
            Mapping::Dma(dev) => Some(dev),
        };
        let p = self.pdu();
        // SAFETY: as in `map`: undo exactly the mappings made there (none
        // for physical addresses).
        unsafe {
            if !(*p).mapped {
                return 0xff;
            }
            (*p).mapped = false;
            if let Some(dev) = dev {
                let d = raw_dev(&dev);
                if (*p).hdr_mapped {
                    sys::vrs_dma_unmap_kmem(d, (*p).hdr_dma, 16, DataDirection::ToDevice as i32);
                }
                if (*p).nents > 0 {
                    let sg = (*p).sg.get().cast::<bindings::scatterlist>();
                    sys::vrs_blk_unmap_sg(d, sg, (*p).nents, (*p).data_dir as i32);
                }
                if (*p).ranges_len > 0 {
                    sys::vrs_dma_unmap_kmem(
                        d,
                        (*p).ranges_dma,
                        (*p).ranges_len as usize,
                        DataDirection::ToDevice as i32,
                    );
                }
                if (*p).status_mapped {
                    sys::vrs_dma_unmap_kmem(
                        d,
                        (*p).status_dma,
                        1,
                        DataDirection::FromDevice as i32,
                    );
                }
            }
            (*p).hdr_mapped = false;
            (*p).nents = 0;
            (*p).ranges_len = 0;
            (*p).status_mapped = false;
            (*p).status[0]
        }
    }

    /// Stop this request's hardware queue (the ring is full); restarted by
    /// [`Disk::start_stopped`].
    pub(crate) fn stop_queue(&self) {
        // SAFETY: a live, started request.
        unsafe { sys::vrs_blk_rq_stop_queue(self.raw()) }
    }

    /// Restart hardware queues of this request's disk that
    /// [`Rq::stop_queue`] stopped (buffers came back).
    pub(crate) fn start_stopped_queues(&self) {
        // SAFETY: a live request.
        unsafe { sys::vrs_blk_rq_start_stopped(self.raw()) }
    }

    /// End the request with `status`.
    pub(crate) fn end(mut self, status: Status) {
        self.unmap();
        let rq = self.raw();
        core::mem::forget(self);
        // SAFETY: we own the started request; it ends exactly once (the
        // handle is forgotten).
        unsafe { sys::vrs_blk_rq_end(rq, status.0) };
    }
}

impl Drop for Rq {
    fn drop(&mut self) {
        self.unmap();
        // SAFETY: as in `end`: a handle dropped without an end still owns
        // its request; fail it rather than leave it hanging.
        unsafe { sys::vrs_blk_rq_end(self.raw(), Status::IOERR.0) };
    }
}

// SAFETY: the segments are the device addresses of mappings `map` made of
// memory the request owns; they stay mapped until `unmap`, which only the
// owner of the `Rq` can call (the queue holds it while the device has it).
unsafe impl DmaSegments for Rq {
    fn segments(&self) -> (&[Buf], usize) {
        // Only a mapped request has segments (its pdu is uninitialised
        // before the first `map`).
        if matches!(self.mapping, Mapping::None) {
            return (&[], 0);
        }
        let p = self.pdu();
        // SAFETY: the pdu is ours; `bufs[..nbufs]` were written by `map`
        // (an unmapped request has `nbufs` 0 after `map` set it, or is
        // refused by the queue because `mapped` is false).
        unsafe {
            if !(*p).mapped {
                return (&[], 0);
            }
            let n = usize::from((*p).nbufs);
            (
                core::slice::from_raw_parts((&raw const (*p).bufs).cast::<Buf>(), n),
                usize::from((*p).nout),
            )
        }
    }
}

/// A disk: tag set, gendisk, and the driver that serves it.
pub(crate) struct Disk<T: Driver> {
    raw: NonNull<sys::vrs_blk_disk>,
    _data: Arc<T>,
}

// SAFETY: the disk may be used and dropped from any thread.
unsafe impl<T: Driver> Send for Disk<T> {}
// SAFETY: as above.
unsafe impl<T: Driver> Sync for Disk<T> {}

impl<T: Driver> Disk<T> {
    const OPS: sys::vrs_blk_ops = sys::vrs_blk_ops {
        queue_rq: Some(Self::queue_rq),
        commit_rqs: Some(Self::commit_rqs),
    };

    /// Allocate the tag set and the disk `name` (not yet visible: see
    /// [`Disk::add`]).
    pub(crate) fn new(
        dma_dev: &device::Device,
        data: Arc<T>,
        nr_hw_queues: u32,
        depth: u32,
        limits: &Limits,
        capacity: u64,
        name: &CStr,
    ) -> Result<Self> {
        let lim = sys::vrs_blk_limits {
            logical_block_size: limits.logical_block_size,
            physical_block_size: limits.physical_block_size,
            io_min: limits.io_min,
            io_opt: limits.io_opt,
            max_hw_sectors: limits.max_hw_sectors,
            max_segment_size: limits.max_segment_size,
            max_segments: limits.max_segments.min(SG_MAX as u16),
            max_discard_segments: limits.max_discard_segments.min(RANGES_MAX as u16),
            max_discard_sectors: limits.max_discard_sectors,
            discard_granularity: limits.discard_granularity,
            max_write_zeroes_sectors: limits.max_write_zeroes_sectors,
            write_cache: limits.write_cache,
            read_only: limits.read_only,
        };
        // SAFETY: `OPS` is 'static; `data` lives as long as the disk (we
        // keep the Arc); `cmd_size` is our pdu's.
        let raw = unsafe {
            sys::vrs_blk_create(
                raw_dev(dma_dev),
                &Self::OPS,
                Arc::as_ptr(&data).cast_mut().cast(),
                nr_hw_queues,
                depth,
                size_of::<Pdu>() as u32,
                &lim,
                capacity,
                name.as_char_ptr(),
            )
        };
        let raw = kernel::error::from_err_ptr(raw)?;
        Ok(Disk {
            // SAFETY: not an error pointer, so valid.
            raw: unsafe { NonNull::new_unchecked(raw) },
            _data: data,
        })
    }

    /// Make the disk visible (partitions scanned, `/dev/<name>`).
    pub(crate) fn add(&self, parent: &device::Device) -> Result {
        // SAFETY: our disk; `parent` is a live device.
        kernel::error::to_result(unsafe {
            sys::vrs_blk_add(self.raw.as_ptr(), raw_dev(parent).cast())
        })
    }

    /// Change the capacity (sectors) and tell user space.
    pub(crate) fn set_capacity(&self, sectors: u64) {
        // SAFETY: our disk.
        unsafe { sys::vrs_blk_set_capacity(self.raw.as_ptr(), sectors) }
    }

    /// Restart hardware queues stopped by [`Rq::stop_queue`].
    pub(crate) fn start_stopped(&self) {
        // SAFETY: our disk.
        unsafe { sys::vrs_blk_start_stopped(self.raw.as_ptr()) }
    }

    /// Wait until no request is in flight, and hold new ones back until
    /// [`Disk::unquiesce`] (system sleep). Process context; sleeps.
    pub(crate) fn quiesce_idle(&self) {
        // SAFETY: our disk.
        unsafe { sys::vrs_blk_quiesce_idle(self.raw.as_ptr()) }
    }

    /// Let requests held back by [`Disk::quiesce_idle`] go to the driver.
    pub(crate) fn unquiesce(&self) {
        // SAFETY: our disk.
        unsafe { sys::vrs_blk_unquiesce(self.raw.as_ptr()) }
    }

    /// # Safety
    ///
    /// Only as the shim's callback: `data` is our `T`, `rq` a started
    /// request of our tag set.
    unsafe extern "C" fn queue_rq(
        data: *mut c_void,
        hctx: u32,
        rq: *mut bindings::request,
        last: bool,
    ) -> u8 {
        // SAFETY: per the function's contract.
        let t = unsafe { &*data.cast::<T>() };
        let rq = Rq {
            // SAFETY: not null.
            rq: unsafe { NonNull::new_unchecked(rq.cast()) },
            mapping: Mapping::None,
        };
        // SAFETY: blk-mq hands us a request that is not started yet.
        unsafe { bindings::blk_mq_start_request(rq.rq.as_ptr()) };
        match t.queue_rq(hctx, rq, last) {
            Ok(()) => Status::OK.0,
            Err((s, mut rq)) => {
                // The block layer takes the request back with `s`.
                rq.unmap();
                core::mem::forget(rq);
                s.0
            }
        }
    }

    /// # Safety
    ///
    /// Only as the shim's callback.
    unsafe extern "C" fn commit_rqs(data: *mut c_void, hctx: u32) {
        // SAFETY: per the function's contract.
        unsafe { &*data.cast::<T>() }.commit_rqs(hctx)
    }
}

impl<T: Driver> Drop for Disk<T> {
    fn drop(&mut self) {
        // SAFETY: ours; `del_gendisk` drains the requests in flight, which
        // needs the device and its interrupts still working.
        unsafe { sys::vrs_blk_destroy(self.raw.as_ptr()) }
    }
}
