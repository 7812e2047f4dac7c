// SPDX-License-Identifier: GPL-2.0

//! Property tests: a driver and a device run over one ring under a random
//! interleaving, with random batch sizes and scatter-gather shapes, each
//! side sleeping until the other notifies it. Checked:
//!
//! - every token comes back exactly once, with the length the device wrote;
//! - no needed notification is lost: once the driver stops adding, the
//!   system, driven only by notifications, returns every buffer;
//! - with event index, a batch costs at most one kick (checked in the
//!   dedicated batch property).

use crate::host_tests::HostEnv;
use crate::packed::{PackedDevice, PackedDriver, PackedLayout};
use crate::queue::{AnyDevice, AnyDriver, DeviceQueue, DriverQueue};
use crate::selftest::{Format, TestEnv};
use crate::split::{Indirect, Options, SplitDevice, SplitDriver, SplitLayout};
use crate::{Buf, Desc, DeviceMemory, Slot};
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

struct Map<'a>(&'a HostEnv);
impl DeviceMemory for Map<'_> {
    type Mem = crate::mem::RawMem;
    fn map(&self, addr: u64, len: usize) -> Option<Self::Mem> {
        self.0.map(addr, len)
    }
}

type Drv<'s> = AnyDriver<crate::mem::RawMem, &'s mut [Slot]>;
type Dev = AnyDevice<crate::mem::RawMem>;

fn setup<'s>(
    env: &mut HostEnv,
    fmt: Format,
    num: u16,
    event_idx: bool,
    indirect: bool,
    slots: &'s mut [Slot],
) -> (Drv<'s>, Dev) {
    let opts = Options { event_idx };
    let ind = indirect.then(|| {
        let m = env
            .alloc(Indirect::<crate::mem::RawMem>::size(num, 8))
            .unwrap();
        Indirect::new(m, num, 8).unwrap()
    });
    match fmt {
        Format::Split => {
            let lay = SplitLayout::new(num, 4).unwrap();
            let m = env.alloc(lay.size).unwrap();
            (
                AnyDriver::Split(SplitDriver::new(m, num, 4, slots, ind, opts).unwrap()),
                AnyDevice::Split(SplitDevice::new(m, num, 4, opts).unwrap()),
            )
        }
        Format::Packed => {
            let lay = PackedLayout::new(num).unwrap();
            let m = env.alloc(lay.size).unwrap();
            (
                AnyDriver::Packed(PackedDriver::new(m, num, slots, ind, opts).unwrap()),
                AnyDevice::Packed(PackedDevice::new(m, num, opts).unwrap()),
            )
        }
    }
}

#[derive(Clone, Debug)]
struct Shape {
    outs: Vec<u32>,
    ins: Vec<u32>,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::collection::vec(1u32..4096, 0..4),
        prop::collection::vec(1u32..4096, 0..4),
    )
        .prop_filter("at least one segment", |(o, i)| {
            !o.is_empty() || !i.is_empty()
        })
        .prop_map(|(outs, ins)| Shape { outs, ins })
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum DevState {
    Sleeping,
    Running,
    /// Found the ring empty; re-enables notifications at its next step.
    Enabling,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum DrvState {
    Waiting,
    Polling,
    /// Found no used buffer; re-enables interrupts at its next step.
    Enabling,
}

struct Sim<'s, 'e> {
    env: &'e HostEnv,
    drv: Drv<'s>,
    dev: Dev,
    dev_state: DevState,
    drv_state: DrvState,
    kicked: bool,
    irq: bool,
    /// token -> (expected written length, returned?)
    expect: Vec<Option<u32>>,
    returned: Vec<bool>,
    delayed: bool,
    kicks: usize,
    calls: usize,
}

impl Sim<'_, '_> {
    /// One device step; `true` if it did something.
    fn device_step(&mut self, wlen_seed: u32) -> bool {
        match self.dev_state {
            DevState::Sleeping => {
                if !self.kicked {
                    return false;
                }
                self.kicked = false;
                self.dev.disable_notify();
                self.dev_state = DevState::Running;
                true
            }
            DevState::Running => {
                let mut descs = [Desc::default(); 16];
                match self.dev.pop_desc(&Map(self.env), &mut descs).unwrap() {
                    Some(p) => {
                        let writable: u32 = descs[..p.count]
                            .iter()
                            .filter(|d| d.write)
                            .map(|d| d.len)
                            .sum();
                        // The token is encoded in the first segment's address.
                        let token = (descs[0].addr >> 20) as usize - 1;
                        let len = if writable == 0 {
                            0
                        } else {
                            wlen_seed % (writable + 1)
                        };
                        assert!(
                            self.expect[token].is_none(),
                            "device saw token {token} twice"
                        );
                        self.expect[token] = Some(len);
                        self.dev.push(&p, len);
                        if self.dev.should_notify() {
                            self.irq = true;
                            self.calls += 1;
                        }
                    }
                    None => self.dev_state = DevState::Enabling,
                }
                true
            }
            DevState::Enabling => {
                if self.dev.enable_notify() {
                    self.dev.disable_notify();
                    self.dev_state = DevState::Running;
                } else {
                    self.dev_state = DevState::Sleeping;
                }
                true
            }
        }
    }

    /// One driver completion step; `true` if it did something.
    fn driver_step(&mut self) -> bool {
        match self.drv_state {
            DrvState::Waiting => {
                if !self.irq {
                    return false;
                }
                self.irq = false;
                self.drv.disable_cb();
                self.drv_state = DrvState::Polling;
                true
            }
            DrvState::Polling => {
                match self.drv.get_used().unwrap() {
                    Some((token, len)) => {
                        assert!(!self.returned[token], "token {token} returned twice");
                        assert_eq!(Some(len), self.expect[token], "wrong length for {token}");
                        self.returned[token] = true;
                    }
                    None => self.drv_state = DrvState::Enabling,
                }
                true
            }
            DrvState::Enabling => {
                let quiet = if self.delayed {
                    self.drv.enable_cb_delayed()
                } else {
                    self.drv.enable_cb()
                };
                if quiet {
                    self.drv_state = DrvState::Waiting;
                } else {
                    self.drv.disable_cb();
                    self.drv_state = DrvState::Polling;
                }
                true
            }
        }
    }
}

fn encode(token: usize, k: usize, len: u32) -> Buf {
    Buf {
        addr: ((token as u64 + 1) << 20) + k as u64 * 4096,
        len,
    }
}

fn run(
    fmt: Format,
    num: u16,
    event_idx: bool,
    indirect: bool,
    delayed: bool,
    shapes: Vec<Shape>,
    schedule: Vec<u8>,
) {
    let mut env = HostEnv::new(1 << 20);
    let mut slots = vec![Slot::default(); num as usize];
    let (drv, dev) = setup(&mut env, fmt, num, event_idx, indirect, &mut slots);
    let total = shapes.len();
    let mut sim = Sim {
        env: &env,
        drv,
        dev,
        dev_state: DevState::Sleeping,
        drv_state: DrvState::Waiting,
        kicked: false,
        irq: false,
        expect: vec![None; total],
        returned: vec![false; total],
        delayed,
        kicks: 0,
        calls: 0,
    };
    assert!(sim.drv.enable_cb());
    assert!(!sim.dev.enable_notify());
    let mut next = 0usize;
    let mut sched = schedule.into_iter().cycle();
    // Phase 1: random interleaving while the driver adds.
    let mut steps = 0;
    while next < total {
        steps += 1;
        assert!(steps < 1_000_000, "no progress");
        let s = sched.next().unwrap_or(0);
        let did = match s % 4 {
            2 => sim.device_step(s as u32 * 7919),
            3 => sim.driver_step(),
            _ => false,
        };
        if did {
            continue;
        }
        // Add a batch of 1..=4 buffers, then decide on a kick.
        let batch = 1 + (s as usize / 4) % 4;
        let mut added = 0;
        for _ in 0..batch {
            if next == total {
                break;
            }
            let sh = &shapes[next];
            let outs: Vec<Buf> = sh
                .outs
                .iter()
                .enumerate()
                .map(|(k, &l)| encode(next, k, l))
                .collect();
            let ins: Vec<Buf> = sh
                .ins
                .iter()
                .enumerate()
                .map(|(k, &l)| encode(next, sh.outs.len() + k, l))
                .collect();
            match sim.drv.add(&outs, &ins, next) {
                Ok(_) => {
                    next += 1;
                    added += 1;
                }
                Err(crate::Error::NoSpace) => break,
                Err(e) => panic!("add: {e:?}"),
            }
        }
        if added > 0 && sim.drv.kick_prepare() {
            sim.kicked = true;
            sim.kicks += 1;
        }
        if added == 0 {
            // Queue full: only a notification can make progress now.
            let progressed = sim.driver_step() || sim.device_step(s as u32);
            assert!(
                progressed,
                "lost notification: queue full, device {:?}, driver {:?}",
                sim.dev_state, sim.drv_state
            );
        }
    }
    // Phase 2: only notifications drive progress. Everything must return.
    let mut idle = 0;
    let mut seed = 1u32;
    while idle < 3 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let a = sim.device_step(seed >> 8);
        let b = sim.driver_step();
        idle = if a || b { 0 } else { idle + 1 };
    }
    let missing: Vec<usize> = (0..total).filter(|&t| !sim.returned[t]).collect();
    assert!(
        missing.is_empty(),
        "lost notification: tokens {missing:?} never came back (dev {:?}, drv {:?})",
        sim.dev_state,
        sim.drv_state
    );
    assert_eq!(sim.drv.num_free(), num, "descriptors leaked");
    assert!(sim.kicks <= total && sim.calls <= total);
}

fn fmt() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::Split), Just(Format::Packed)]
}

fn num_for(fmt: Format, raw: u16) -> u16 {
    match fmt {
        Format::Split => 1 << (raw % 6 + 3), // 8..256, more than a buffer has segments
        Format::Packed => raw % 200 + 6,     // any size from 6
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 4 } else { 512 }, ..ProptestConfig::default() })]

    #[test]
    fn every_token_back_once_and_no_lost_notification(
        fmt in fmt(),
        raw_num in any::<u16>(),
        event_idx in any::<bool>(),
        indirect in any::<bool>(),
        delayed in any::<bool>(),
        shapes in prop::collection::vec(shape(), 1..if cfg!(miri) { 20 } else { 300 }),
        schedule in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let num = num_for(fmt, raw_num);
        run(fmt, num, event_idx, indirect, delayed, shapes, schedule);
    }

    /// With event index and a device that is asleep between batches, a
    /// batch of 64 costs exactly one kick, and a batch completed by the
    /// device costs at most one interrupt.
    #[test]
    fn event_idx_one_kick_one_call_per_batch(fmt in fmt(), batches in 1usize..if cfg!(miri) { 3 } else { 20 }) {
        let mut env = HostEnv::new(1 << 20);
        let mut slots = vec![Slot::default(); 256];
        let (mut drv, mut dev) = setup(&mut env, fmt, 256, true, false, &mut slots);
        prop_assert!(drv.enable_cb());
        prop_assert!(!dev.enable_notify());
        let mut descs = [Desc::default(); 4];
        for b in 0..batches {
            let mut kicks = 0;
            for i in 0..64 {
                let t = b * 64 + i;
                drv.add(&[encode(t, 0, 8)], &[encode(t, 1, 8)], t).unwrap();
                kicks += drv.kick_prepare() as usize;
            }
            prop_assert_eq!(kicks, 1, "kicks in batch {}", b);
            dev.disable_notify();
            let mut calls = 0;
            while let Some(p) = dev.pop_desc(&Map(&env), &mut descs).unwrap() {
                dev.push(&p, 8);
                calls += dev.should_notify() as usize;
            }
            prop_assert!(!dev.enable_notify());
            prop_assert_eq!(calls, 1, "calls in batch {}", b);
            drv.disable_cb();
            let mut got = 0;
            while drv.get_used().unwrap().is_some() {
                got += 1;
            }
            prop_assert_eq!(got, 64);
            prop_assert!(drv.enable_cb());
        }
    }

    /// The hostile-device fuzz target on random inputs.
    #[test]
    fn hostile_device_never_breaks_the_driver(data in prop::collection::vec(any::<u8>(), 0..if cfg!(miri) { 64 } else { 2048 })) {
        crate::fuzzing::hostile_device(&data);
    }

    /// The hostile-driver fuzz target (device side) on random inputs.
    #[test]
    fn hostile_driver_never_breaks_the_device(data in prop::collection::vec(any::<u8>(), 0..if cfg!(miri) { 64 } else { 2048 })) {
        crate::fuzzing::hostile_driver(&data);
    }
}
