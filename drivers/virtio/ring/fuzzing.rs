// SPDX-License-Identifier: GPL-2.0

//! Fuzz targets: each side of a ring against a hostile other side that
//! writes arbitrary values anywhere in ring memory between calls.
//!
//! [`hostile_device`] (the driver side) checks on every input: no panic, no out-of-bounds access (the
//! accessors assert in debug builds), a token comes back only while in
//! flight and never twice, a written length never exceeds the buffer's
//! writable size, a fault is reported once and then the queue stays
//! broken, and on teardown `detach_unused` returns exactly the buffers
//! still in flight.
//!
//! [`hostile_driver`] (the device side: what an ivshmem peer runs against
//! an untrusted driver) checks: no panic, no access outside the ring and
//! the mapped indirect tables, a chain never longer than the queue nor
//! than the caller's scratch space, a fault reported once and then the
//! queue stays broken.
//!
//! Run by `cargo fuzz run hostile_device` / `hostile_driver` (fuzz/) and,
//! on random inputs, by the host tests.

extern crate std;

use crate::mem::RawMem;
use crate::packed::{PackedDevice, PackedDriver, PackedLayout};
use crate::queue::{AnyDevice, AnyDriver, DeviceQueue, DriverQueue, Popped};
use crate::split::{Indirect, Options, SplitDevice, SplitDriver, SplitLayout};
use crate::{Buf, Desc, DeviceMemory, Error, RingMem, Slot};
use std::vec;
use std::vec::Vec;

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
}

/// Run one fuzz input.
pub fn hostile_device(data: &[u8]) {
    let mut d = Bytes(data);
    let Some(cfg) = d.u8() else { return };
    let Some(cfg2) = d.u8() else { return };
    let packed = cfg & 1 != 0;
    let opts = Options {
        event_idx: cfg & 2 != 0,
    };
    let indirect = cfg & 4 != 0;
    let num: u16 = if packed {
        1 + (cfg >> 3) as u16 % 32
    } else {
        1 << ((cfg >> 3) % 6)
    };
    let size = if packed {
        PackedLayout::new(num).map(|l| l.size)
    } else {
        SplitLayout::new(num, 4).map(|l| l.size)
    };
    let Ok(size) = size else { return };
    let ind_size = Indirect::<RawMem>::size(num, 4);
    let mut backing = vec![0u64; (size + ind_size) / 8 + 2];
    // SAFETY: `backing` is 8-byte aligned, outlives every use of `whole`,
    // and is only accessed through RawMem.
    let whole = unsafe { RawMem::new(backing.as_mut_ptr().cast(), backing.len() * 8, 0x1000) };
    let Some(ring) = whole.slice(0, size) else {
        return;
    };
    let Some(ind_mem) = whole.slice((size + 15) & !15 & !7, ind_size) else {
        return;
    };
    let ind = if indirect {
        Indirect::new(ind_mem, num, 4).ok()
    } else {
        None
    };
    let mut slots = vec![Slot::default(); num as usize];
    let mut drv: AnyDriver<RawMem, &mut [Slot]> = if packed {
        match PackedDriver::new(ring, num, &mut slots[..], ind, opts) {
            Ok(q) => AnyDriver::Packed(q),
            Err(_) => return,
        }
    } else {
        match SplitDriver::new(ring, num, 4, &mut slots[..], ind, opts) {
            Ok(q) => AnyDriver::Split(q),
            Err(_) => return,
        }
    };
    drv.set_strict_used_len(cfg2 & 1 != 0);
    // token -> writable size, while in flight
    let mut in_flight: Vec<Option<u32>> = Vec::new();
    let mut faulted = false;
    while let Some(op) = d.u8() {
        match op % 8 {
            0 | 1 => {
                let nout = (op >> 3) as usize % 3;
                let nin = (op >> 5) as usize % 3;
                let len = d.u16().unwrap_or(1) as u32;
                let out = [Buf {
                    addr: 0x10_0000,
                    len,
                }; 2];
                let inb = [Buf {
                    addr: 0x20_0000,
                    len,
                }; 2];
                let token = in_flight.len();
                match drv.add(&out[..nout], &inb[..nin], token) {
                    Ok(_) => in_flight.push(Some(len * nin as u32)),
                    Err(Error::NoSpace) | Err(Error::Invalid) => {}
                    Err(Error::Broken) => assert!(faulted, "broken without a fault"),
                    Err(e) => panic!("add: unexpected {e:?}"),
                }
            }
            2 => {
                let _ = drv.kick_prepare();
            }
            3 | 4 => match drv.get_used() {
                Ok(Some((token, len))) => {
                    let max = in_flight
                        .get_mut(token)
                        .and_then(Option::take)
                        .expect("token returned that is not in flight");
                    assert!(len <= max, "length {len} beyond buffer {max}");
                }
                Ok(None) => {}
                Err(Error::Fault(_)) => {
                    assert!(!faulted, "fault reported twice");
                    faulted = true;
                }
                Err(Error::Broken) => assert!(faulted, "broken without a fault"),
                Err(e) => panic!("get_used: unexpected {e:?}"),
            },
            5 => {
                // The device writes a value anywhere in the ring.
                let raw = d.u16().unwrap_or(0) as usize;
                let v = d.u32().unwrap_or(0);
                let width = 2usize << (op >> 6).min(2);
                // Any naturally aligned field inside the ring.
                let off = (raw % (size - width + 1)) & !(width - 1);
                match width {
                    2 => ring.store16(off, v as u16),
                    4 => ring.store32(off, v),
                    _ => ring.store64(off, v as u64 | (v as u64) << 32),
                }
            }
            6 => match op >> 6 {
                0 => drv.disable_cb(),
                1 => {
                    let _ = drv.enable_cb();
                }
                _ => {
                    let _ = drv.enable_cb_delayed();
                }
            },
            _ => {
                let _ = drv.more_used();
            }
        }
        assert!(drv.num_free() <= num);
    }
    // Teardown: exactly the buffers still in flight come back.
    while let Some(t) = drv.detach_unused() {
        assert!(
            in_flight.get_mut(t).and_then(Option::take).is_some(),
            "detach returned token {t} not in flight"
        );
    }
    assert!(
        in_flight.iter().all(Option::is_none),
        "detach missed a buffer"
    );
    assert_eq!(drv.num_free(), num);
}

/// The region a hostile driver's indirect tables may point into.
struct Arena(RawMem);

impl DeviceMemory for Arena {
    type Mem = RawMem;
    fn map(&self, addr: u64, len: usize) -> Option<RawMem> {
        let off = addr.checked_sub(self.0.dma_addr())?;
        self.0.slice(usize::try_from(off).ok()?, len)
    }
}

/// Run one fuzz input against the device side.
pub fn hostile_driver(data: &[u8]) {
    const ARENA: usize = 4096;
    let mut d = Bytes(data);
    let Some(cfg) = d.u8() else { return };
    let packed = cfg & 1 != 0;
    let opts = Options {
        event_idx: cfg & 2 != 0,
    };
    let num: u16 = if packed {
        1 + (cfg >> 2) as u16 % 32
    } else {
        1 << ((cfg >> 2) % 6)
    };
    let size = if packed {
        PackedLayout::new(num).map(|l| l.size)
    } else {
        SplitLayout::new(num, 4).map(|l| l.size)
    };
    let Ok(size) = size else { return };
    let ring_bytes = (size + 7) & !7;
    let mut backing = vec![0u64; (ring_bytes + ARENA) / 8];
    // SAFETY: `backing` is 8-byte aligned, outlives every use of `whole`,
    // and is only accessed through RawMem.
    let whole = unsafe { RawMem::new(backing.as_mut_ptr().cast(), backing.len() * 8, 0x1000) };
    let (Some(ring), Some(arena)) = (whole.slice(0, size), whole.slice(ring_bytes, ARENA)) else {
        return;
    };
    let arena = Arena(arena);
    let mut dev: AnyDevice<RawMem> = if packed {
        match PackedDevice::new(ring, num, opts) {
            Ok(q) => AnyDevice::Packed(q),
            Err(_) => return,
        }
    } else {
        match SplitDevice::new(ring, num, 4, opts) {
            Ok(q) => AnyDevice::Split(q),
            Err(_) => return,
        }
    };
    let mut taken: Vec<Popped> = Vec::new();
    let mut faulted = false;
    let scratch = 1 + (cfg >> 7) as usize * 40;
    let mut descs = vec![Desc::default(); scratch];
    while let Some(op) = d.u8() {
        match op % 6 {
            0 | 1 => {
                // The driver writes a value anywhere in the ring or arena.
                let raw = d.u16().unwrap_or(0) as usize;
                let v = d.u32().unwrap_or(0);
                let width = 2usize << (op >> 6).min(2);
                let (mem, len) = if op & 8 != 0 {
                    (arena.0, ARENA)
                } else {
                    (ring, size)
                };
                let off = (raw % (len - width + 1)) & !(width - 1);
                match width {
                    2 => mem.store16(off, v as u16),
                    4 => mem.store32(off, v),
                    _ => mem.store64(off, u64::from(v) | u64::from(v) << 32),
                }
            }
            2 => match dev.pop_desc(&arena, &mut descs) {
                Ok(Some(p)) => {
                    assert!(p.count >= 1 && p.count <= descs.len());
                    assert!(p.count <= usize::from(num), "chain longer than the queue");
                    assert!(p.ndescs >= 1 && p.ndescs <= num);
                    taken.push(p);
                }
                Ok(None) | Err(Error::ChainTooLong) => {}
                Err(Error::Fault(_)) => {
                    assert!(!faulted, "fault reported twice");
                    faulted = true;
                }
                Err(Error::Broken) => assert!(faulted, "broken without a fault"),
                Err(e) => panic!("pop: unexpected {e:?}"),
            },
            3 => {
                if let Some(p) = taken.pop() {
                    dev.push(&p, d.u32().unwrap_or(0));
                }
            }
            4 => {
                let _ = dev.should_notify();
            }
            _ => {
                if op & 64 != 0 {
                    dev.disable_notify();
                } else {
                    let _ = dev.enable_notify();
                }
            }
        }
    }
}
