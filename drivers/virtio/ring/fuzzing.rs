// SPDX-License-Identifier: GPL-2.0

//! Fuzz target: the driver side of a ring against a hostile device that
//! writes arbitrary values anywhere in ring memory between driver calls.
//!
//! Checked on every input: no panic, no out-of-bounds access (the
//! accessors assert in debug builds), a token comes back only while in
//! flight and never twice, a written length never exceeds the buffer's
//! writable size, a fault is reported once and then the queue stays
//! broken, and on teardown `detach_unused` returns exactly the buffers
//! still in flight.
//!
//! Run by `cargo fuzz run hostile_device` (fuzz/) and, on random inputs,
//! by the host tests.

extern crate std;

use crate::mem::RawMem;
use crate::packed::{PackedDriver, PackedLayout};
use crate::queue::{AnyDriver, DriverQueue};
use crate::split::{Indirect, Options, SplitDriver, SplitLayout};
use crate::{Buf, Error, RingMem, Slot};
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
