// SPDX-License-Identifier: GPL-2.0

//! Test cases of the ring core that run both on the host (`cargo test`)
//! and in the kernel (the `test_vring` module on every kernel, the
//! `vring_kunit` KUnit suite on kernels with KUnit; both on DMA-coherent
//! memory with the kernel's barriers). They need no allocator: the
//! environment hands out ring memory, and per-case bookkeeping lives on
//! the stack.
//!
//! This file is not part of the `vring` module: a crate that runs the cases
//! declares it next to `vring` (`#[path] mod selftest;` at the crate root,
//! which must also hold `mod vring`), so the production modules that use
//! the ring carry no test code.

use crate::vring::{
    packed::{PackedDevice, PackedDriver, PackedLayout},
    queue::{AnyDevice, AnyDriver, DeviceQueue, DriverQueue, Popped},
    split::{Indirect, Options, SplitDevice, SplitDriver, SplitLayout},
    Buf, Desc, DeviceMemory, Error, Fault, RingMem, Slot, MAX_QUEUE_SIZE, VRING_DESC_F_INDIRECT,
    VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
};

/// What the tests need from their environment.
pub trait TestEnv {
    /// Ring memory.
    type M: RingMem + Clone;
    /// A zeroed, 16-byte aligned region of `size` bytes (valid until the
    /// next `reset`), which [`TestEnv::map`] can also reach.
    fn alloc(&mut self, size: usize) -> Option<Self::M>;
    /// The region at device address `addr`, as the device side sees it.
    fn map(&self, addr: u64, len: usize) -> Option<Self::M>;
    /// Free everything `alloc` handed out.
    fn reset(&mut self);
    /// Iterations of the wraparound cases: past 2^16 by default; an
    /// interpreter (miri) may ask for fewer.
    fn wrap_iterations(&self) -> usize {
        70_000
    }
}

/// The outcome of one case.
pub type CaseResult = core::result::Result<(), &'static str>;

struct EnvMap<'a, E: TestEnv>(&'a E);

impl<E: TestEnv> DeviceMemory for EnvMap<'_, E> {
    type Mem = E::M;
    fn map(&self, addr: u64, len: usize) -> Option<E::M> {
        self.0.map(addr, len)
    }
}

macro_rules! check {
    ($c:expr, $msg:expr) => {
        if !$c {
            return Err($msg);
        }
    };
}

/// Ring format under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Split ring.
    Split,
    /// Packed ring.
    Packed,
}

const N: u16 = 16;
const IND_MAX: u16 = 8;

type Drv<'s, E> = AnyDriver<<E as TestEnv>::M, &'s mut [Slot]>;
type Dev<E> = AnyDevice<<E as TestEnv>::M>;
type Pair<'s, E> = (Drv<'s, E>, Dev<E>, <E as TestEnv>::M);

pub(crate) fn pair<'s, E: TestEnv>(
    env: &mut E,
    fmt: Format,
    num: u16,
    event_idx: bool,
    indirect: bool,
    slots: &'s mut [Slot],
) -> core::result::Result<Pair<'s, E>, &'static str> {
    let opts = Options { event_idx };
    let ind = if indirect {
        let m = env
            .alloc(Indirect::<E::M>::size(num, IND_MAX))
            .ok_or("no memory")?;
        Some(Indirect::new(m, num, IND_MAX).map_err(|_| "indirect pool")?)
    } else {
        None
    };
    match fmt {
        Format::Split => {
            let lay = SplitLayout::new(num, 4).map_err(|_| "layout")?;
            let m = env.alloc(lay.size).ok_or("no memory")?;
            let d = SplitDriver::new(m.clone(), num, 4, slots, ind, opts).map_err(|_| "driver")?;
            let v = SplitDevice::new(m.clone(), num, 4, opts).map_err(|_| "device")?;
            Ok((AnyDriver::Split(d), AnyDevice::Split(v), m))
        }
        Format::Packed => {
            let lay = PackedLayout::new(num).map_err(|_| "layout")?;
            let m = env.alloc(lay.size).ok_or("no memory")?;
            let d = PackedDriver::new(m.clone(), num, slots, ind, opts).map_err(|_| "driver")?;
            let v = PackedDevice::new(m.clone(), num, opts).map_err(|_| "device")?;
            Ok((AnyDriver::Packed(d), AnyDevice::Packed(v), m))
        }
    }
}

fn seg(token: usize, k: usize, len: u32) -> Buf {
    Buf {
        addr: 0x1_0000_0000 + (token as u64) * 0x1000 + k as u64 * 0x100,
        len,
    }
}

/// Device: pop one chain, check it is `token`'s buffer of `nout` + `nin`
/// segments, return it with `written` bytes.
fn serve<E: TestEnv>(
    env: &E,
    dev: &mut Dev<E>,
    token: usize,
    nout: usize,
    nin: usize,
    written: u32,
) -> core::result::Result<Popped, &'static str> {
    let mut descs = [Desc::default(); 16];
    let p = dev
        .pop_desc(&EnvMap(env), &mut descs)
        .map_err(|_| "device pop failed")?
        .ok_or("device found no buffer")?;
    check!(p.count == nout + nin, "wrong segment count");
    for (k, d) in descs[..p.count].iter().enumerate() {
        check!(d.addr == seg(token, k, 0).addr, "wrong segment address");
        check!(d.len == 64 + k as u32, "wrong segment length");
        check!(d.write == (k >= nout), "wrong segment direction");
    }
    dev.push(&p, written);
    Ok(p)
}

fn add_n<E: TestEnv>(
    drv: &mut Drv<'_, E>,
    token: usize,
    nout: usize,
    nin: usize,
) -> Result<u16, Error> {
    let mut out = [Buf::default(); 8];
    let mut inb = [Buf::default(); 8];
    for (k, b) in out.iter_mut().enumerate().take(nout) {
        *b = seg(token, k, 64 + k as u32);
    }
    for (k, b) in inb.iter_mut().enumerate().take(nin) {
        *b = seg(token, nout + k, 64 + (nout + k) as u32);
    }
    drv.add(&out[..nout], &inb[..nin], token)
}

fn in_len(nout: usize, nin: usize) -> u32 {
    (nout..nout + nin).map(|k| 64 + k as u32).sum()
}

/// Buffers of mixed shapes go round and come back in order with their
/// tokens and written lengths.
pub fn roundtrip<E: TestEnv>(
    env: &mut E,
    fmt: Format,
    event_idx: bool,
    indirect: bool,
) -> CaseResult {
    let mut slots = [Slot::default(); N as usize];
    let (mut drv, mut dev, _) = pair(env, fmt, N, event_idx, indirect, &mut slots)?;
    let shapes = [(1, 0), (0, 1), (2, 3), (1, 1), (3, 3)];
    for (t, &(o, i)) in shapes.iter().enumerate() {
        add_n::<E>(&mut drv, 100 + t, o, i).map_err(|_| "add failed")?;
    }
    if indirect {
        // Multi-segment buffers take one ring descriptor each.
        check!(
            drv.num_free() == N - 5,
            "indirect buffers used more than one descriptor"
        );
    }
    for (t, &(o, i)) in shapes.iter().enumerate() {
        serve(env, &mut dev, 100 + t, o, i, in_len(o, i))?;
    }
    for (t, &(o, i)) in shapes.iter().enumerate() {
        let got = drv.get_used().map_err(|_| "get_used failed")?;
        check!(
            got == Some((100 + t, in_len(o, i))),
            "wrong token or length back"
        );
    }
    check!(drv.get_used() == Ok(None), "spurious used buffer");
    check!(drv.num_free() == N, "descriptors leaked");
    Ok(())
}

/// Indices wrap past 2^16 (split) and the wrap counters flip many times
/// (packed) without losing a buffer.
pub fn wraparound<E: TestEnv>(env: &mut E, fmt: Format, event_idx: bool) -> CaseResult {
    let num = if fmt == Format::Split { 4 } else { 3 };
    let mut slots = [Slot::default(); 4];
    let (mut drv, mut dev, _) = pair(env, fmt, num, event_idx, false, &mut slots)?;
    for t in 0..env.wrap_iterations() {
        let (o, i) = (1 + t % 2, t % 2);
        if add_n::<E>(&mut drv, t, o, i).is_err() {
            return Err("add failed");
        }
        serve(env, &mut dev, t, o, i, in_len(o, i))?;
        let got = drv.get_used().map_err(|_| "get_used failed")?;
        check!(got == Some((t, in_len(o, i))), "wrong buffer after wrap");
    }
    check!(drv.num_free() == num, "descriptors leaked");
    Ok(())
}

/// A full queue refuses more with NoSpace and recovers after use.
pub fn full_queue<E: TestEnv>(env: &mut E, fmt: Format) -> CaseResult {
    let mut slots = [Slot::default(); N as usize];
    let (mut drv, mut dev, _) = pair(env, fmt, N, false, false, &mut slots)?;
    for t in 0..N as usize {
        add_n::<E>(&mut drv, t, 1, 0).map_err(|_| "add failed before full")?;
    }
    check!(
        add_n::<E>(&mut drv, 99, 1, 0) == Err(Error::NoSpace),
        "full queue accepted a buffer"
    );
    check!(
        add_n::<E>(&mut drv, 99, 0, 0) == Err(Error::Invalid),
        "empty buffer accepted"
    );
    serve(env, &mut dev, 0, 1, 0, 0)?;
    check!(drv.get_used() == Ok(Some((0, 0))), "wrong buffer back");
    add_n::<E>(&mut drv, 99, 1, 0).map_err(|_| "no space after a buffer came back")?;
    Ok(())
}

/// detach_unused returns every buffer the device never used, once.
pub fn detach_unused<E: TestEnv>(env: &mut E, fmt: Format) -> CaseResult {
    let mut slots = [Slot::default(); N as usize];
    let (mut drv, _dev, _) = pair(env, fmt, N, false, true, &mut slots)?;
    let mut mask = 0u32;
    for t in 0..5 {
        add_n::<E>(&mut drv, t, 1, 2).map_err(|_| "add failed")?;
    }
    while let Some(t) = drv.detach_unused() {
        check!(
            t < 5 && mask & (1 << t) == 0,
            "detached a token twice or a wrong one"
        );
        mask |= 1 << t;
    }
    check!(mask == 0x1f, "not every buffer detached");
    check!(drv.num_free() == N, "descriptors leaked");
    Ok(())
}

/// Available-buffer notifications: suppressed by the device's flag
/// (no event index) or by avail_event (at most one kick per batch).
pub fn kick_suppression<E: TestEnv>(env: &mut E, fmt: Format, event_idx: bool) -> CaseResult {
    let mut slots = [Slot::default(); N as usize];
    let (mut drv, mut dev, _) = pair(env, fmt, N, event_idx, false, &mut slots)?;
    check!(!drv.kick_prepare(), "kick with nothing added");
    add_n::<E>(&mut drv, 0, 1, 0).map_err(|_| "add")?;
    check!(drv.kick_prepare(), "no kick for the first buffer");
    // Device is busy: it does not want kicks until it re-enables.
    dev.disable_notify();
    add_n::<E>(&mut drv, 1, 1, 0).map_err(|_| "add")?;
    if event_idx {
        // disable_notify moved avail_event away: no kick.
        check!(!drv.kick_prepare(), "kick despite avail_event passed");
    } else {
        check!(!drv.kick_prepare(), "kick despite NO_NOTIFY");
    }
    serve(env, &mut dev, 0, 1, 0, 0)?;
    serve(env, &mut dev, 1, 1, 0, 0)?;
    check!(!dev.enable_notify(), "device sees work that is not there");
    for t in 2..6 {
        add_n::<E>(&mut drv, t, 1, 0).map_err(|_| "add")?;
    }
    check!(drv.kick_prepare(), "no kick after the device re-enabled");
    add_n::<E>(&mut drv, 6, 1, 0).map_err(|_| "add")?;
    if event_idx {
        check!(
            !drv.kick_prepare(),
            "second kick in one batch with event index"
        );
    }
    // Device re-enables while work is pending: it must see it itself.
    check!(
        dev.enable_notify(),
        "device missed pending buffers on enable"
    );
    Ok(())
}

/// Used-buffer notifications: disabled, enabled, enable with pending
/// buffers (the lost-wakeup race) and delayed enable.
pub fn call_suppression<E: TestEnv>(env: &mut E, fmt: Format, event_idx: bool) -> CaseResult {
    let mut slots = [Slot::default(); N as usize];
    let (mut drv, mut dev, _) = pair(env, fmt, N, event_idx, false, &mut slots)?;
    for t in 0..8 {
        add_n::<E>(&mut drv, t, 0, 1).map_err(|_| "add")?;
    }
    check!(drv.enable_cb(), "enable_cb saw phantom buffers");
    serve(env, &mut dev, 0, 0, 1, 1)?;
    check!(
        dev.should_notify(),
        "no interrupt for the first used buffer"
    );
    serve(env, &mut dev, 1, 0, 1, 1)?;
    if event_idx {
        check!(
            !dev.should_notify(),
            "second interrupt before the driver caught up"
        );
    }
    check!(drv.get_used() == Ok(Some((0, 1))), "get 0");
    check!(drv.get_used() == Ok(Some((1, 1))), "get 1");
    // Interrupts off; the device uses buffers meanwhile.
    drv.disable_cb();
    serve(env, &mut dev, 2, 0, 1, 1)?;
    // The used_event the driver published with its last get_used named
    // this buffer: disable_cb moved it away (as virtqueue_disable_cb_split()
    // does), the packed ring writes DISABLE.
    check!(!dev.should_notify(), "interrupt while disabled");
    serve(env, &mut dev, 3, 0, 1, 1)?;
    check!(!dev.should_notify(), "second interrupt while disabled");
    // Re-enabling must report the pending buffers: no interrupt will come.
    check!(!drv.enable_cb(), "enable_cb lost a pending buffer");
    check!(drv.get_used() == Ok(Some((2, 1))), "get 2");
    check!(drv.get_used() == Ok(Some((3, 1))), "get 3");
    check!(drv.get_used() == Ok(None), "phantom buffer");
    // Delayed: 4 outstanding (4..8), ask after about 3/4 of them.
    check!(
        drv.enable_cb_delayed(),
        "enable_cb_delayed saw phantom buffers"
    );
    let mut first = None;
    for t in 4..8 {
        serve(env, &mut dev, t, 0, 1, 1)?;
        if dev.should_notify() && first.is_none() {
            first = Some(t);
        }
    }
    if event_idx {
        // used_event = last_used (4) + 4 * 3 / 4 = 7: the device signals
        // when it writes used entry 7, i.e. buffer 7.
        check!(
            first == Some(7),
            "delayed interrupt not at 3/4 of the outstanding buffers"
        );
    } else {
        check!(first == Some(4), "interrupt missing without event index");
    }
    Ok(())
}

/// Expect the first call to report `f` and every later operation `Broken`.
fn expect_fault<E: TestEnv>(drv: &mut Drv<'_, E>, f: Fault) -> CaseResult {
    // An interrupt handler that looks before it takes must look.
    check!(
        drv.more_used(),
        "more_used did not see what get_used faults on"
    );
    check!(
        drv.get_used() == Err(Error::Fault(f)),
        "fault not reported as expected"
    );
    check!(drv.is_broken(), "queue not marked broken");
    check!(drv.get_used() == Err(Error::Broken), "fault reported twice");
    check!(
        add_n::<E>(drv, 9, 1, 0) == Err(Error::Broken),
        "broken queue accepted a buffer"
    );
    Ok(())
}

/// With event index, a side that disables takes its event back: the
/// device is not kicked after `disable_notify` (it is awake) although its
/// last `enable_notify` asked for the next buffer, and the driver is not
/// interrupted after `disable_cb` although its last `enable_cb` did; each
/// enable arms the event again.
pub fn notify_disarm<E: TestEnv>(env: &mut E, fmt: Format) -> CaseResult {
    let mut slots = [Slot::default(); N as usize];
    let (mut drv, mut dev, _) = pair(env, fmt, N, true, false, &mut slots)?;
    check!(!dev.enable_notify(), "device sees work that is not there");
    add_n::<E>(&mut drv, 0, 1, 0).map_err(|_| "add")?;
    dev.disable_notify();
    check!(
        !drv.kick_prepare(),
        "kick after disable_notify: the event was left armed"
    );
    serve(env, &mut dev, 0, 1, 0, 0)?;
    check!(drv.get_used() == Ok(Some((0, 0))), "get 0");
    check!(!dev.enable_notify(), "device sees work that is not there");
    add_n::<E>(&mut drv, 1, 1, 0).map_err(|_| "add")?;
    check!(
        drv.kick_prepare(),
        "enable_notify did not arm the event again"
    );
    check!(drv.enable_cb(), "enable_cb saw phantom buffers");
    serve(env, &mut dev, 1, 1, 0, 0)?;
    drv.disable_cb();
    check!(
        !dev.should_notify(),
        "interrupt after disable_cb: the event was left armed"
    );
    check!(!drv.enable_cb(), "enable_cb lost a pending buffer");
    check!(drv.get_used() == Ok(Some((1, 0))), "get 1");
    add_n::<E>(&mut drv, 2, 1, 0).map_err(|_| "add")?;
    serve(env, &mut dev, 2, 1, 0, 0)?;
    check!(dev.should_notify(), "enable_cb did not arm the event again");
    Ok(())
}

/// Split driver: the used elements up to the `used->idx` it last read are
/// taken without reading the index again, and the index is checked when
/// it is read again: a device that moves it backwards is caught then.
pub fn split_used_shadow<E: TestEnv>(env: &mut E) -> CaseResult {
    let mut slots = [Slot::default(); N as usize];
    let (mut drv, mut dev, m) = pair(env, Format::Split, N, false, false, &mut slots)?;
    let lay = SplitLayout::new(N, 4).map_err(|_| "layout")?;
    for t in 0..3 {
        add_n::<E>(&mut drv, t, 0, 1).map_err(|_| "add")?;
    }
    serve(env, &mut dev, 0, 0, 1, 1)?;
    serve(env, &mut dev, 1, 0, 1, 1)?;
    check!(drv.get_used() == Ok(Some((0, 1))), "get 0");
    // used->idx was 2 when read; the device now rewinds it to 1.
    m.store16(lay.used + 2, 1);
    check!(drv.more_used(), "more_used ignored what was already seen");
    check!(
        drv.get_used() == Ok(Some((1, 1))),
        "a seen element was not taken"
    );
    expect_fault::<E>(&mut drv, Fault::IndexJump { idx: 1, last: 2 })
}

/// Split device: the same for `avail->idx` (vhost's shadow `avail_idx`):
/// chains up to the index it last read are taken without reading it again,
/// and a driver that moves it backwards is caught when it is read again.
pub fn split_avail_shadow<E: TestEnv>(env: &mut E) -> CaseResult {
    let mut slots = [Slot::default(); N as usize];
    let (mut drv, mut dev, m) = pair(env, Format::Split, N, false, false, &mut slots)?;
    let lay = SplitLayout::new(N, 4).map_err(|_| "layout")?;
    for t in 0..3 {
        add_n::<E>(&mut drv, t, 1, 0).map_err(|_| "add")?;
    }
    serve(env, &mut dev, 0, 1, 0, 0)?;
    // avail->idx was 3 when read; the driver now rewinds it to 1.
    m.store16(lay.avail + 2, 1);
    let seen = match &dev {
        AnyDevice::Split(d) => d.has_avail(),
        AnyDevice::Packed(_) => false,
    };
    check!(seen, "has_avail ignored what was already seen");
    serve(env, &mut dev, 1, 1, 0, 0)?;
    serve(env, &mut dev, 2, 1, 0, 0)?;
    let mut descs = [Desc::default(); 4];
    check!(
        matches!(
            dev.pop_desc(&EnvMap(env), &mut descs),
            Err(Error::Fault(Fault::IndexJump { idx: 1, last: 3 }))
        ),
        "the index read again was not checked"
    );
    check!(
        matches!(dev.pop_desc(&EnvMap(env), &mut descs), Err(Error::Broken)),
        "queue not marked broken"
    );
    Ok(())
}

/// How the device misbehaves in [`hostile_used`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostile {
    /// A used id past the queue.
    IdOutOfRange,
    /// A used id that is not in flight.
    IdNotInFlight,
    /// A written length beyond the buffer.
    LenTooLarge,
    /// A used index far ahead (split) / a bad wrap counter (packed).
    IndexJump,
}

/// The driver survives a device that returns garbage: it reports the fault
/// once, marks the queue broken, and never touches memory it must not.
pub fn hostile_used<E: TestEnv>(env: &mut E, fmt: Format, how: Hostile) -> CaseResult {
    let mut slots = [Slot::default(); N as usize];
    let (mut drv, mut dev, m) = pair(env, fmt, N, false, false, &mut slots)?;
    // An over-long used length is a fault only when asked for
    // (see `used_len_clamped` for the default).
    drv.set_strict_used_len(how == Hostile::LenTooLarge);
    add_n::<E>(&mut drv, 0, 1, 1).map_err(|_| "add")?;
    add_n::<E>(&mut drv, 1, 1, 1).map_err(|_| "add")?;
    let max = in_len(1, 1);
    match fmt {
        Format::Split => {
            let lay = SplitLayout::new(N, 4).map_err(|_| "layout")?;
            let elem = lay.used + 4;
            let (id, len, idx) = match how {
                Hostile::IdOutOfRange => (u32::from(N) + 7, 0, 1),
                Hostile::IdNotInFlight => (5, 0, 1),
                Hostile::LenTooLarge => (0, max + 1, 1),
                Hostile::IndexJump => (0, 0, N + 1),
            };
            m.store32(elem, id);
            m.store32(elem + 4, len);
            m.store16(lay.used + 2, idx);
            let f = match how {
                Hostile::IdOutOfRange => Fault::UsedIdOutOfRange { id },
                Hostile::IdNotInFlight => Fault::UsedIdNotInFlight { id },
                Hostile::LenTooLarge => Fault::UsedLenTooLarge { id, len, max },
                Hostile::IndexJump => Fault::IndexJump { idx, last: 0 },
            };
            expect_fault::<E>(&mut drv, f)
        }
        Format::Packed => {
            // Position 0: a used element the device forged.
            let (id, len, flags) = match how {
                Hostile::IdOutOfRange => (N + 7, 0, 0x8080),
                Hostile::IdNotInFlight => (5, 0, 0x8080),
                Hostile::LenTooLarge => (0, max + 1, 0x8080),
                Hostile::IndexJump => (0, 0, 0x8000),
            };
            m.store32(8, len);
            m.store16(12, id);
            m.store16(14, flags);
            let f = match how {
                Hostile::IdOutOfRange => Fault::UsedIdOutOfRange { id: u32::from(id) },
                Hostile::IdNotInFlight => Fault::UsedIdNotInFlight { id: u32::from(id) },
                Hostile::LenTooLarge => Fault::UsedLenTooLarge {
                    id: u32::from(id),
                    len,
                    max,
                },
                Hostile::IndexJump => Fault::WrapCounter { pos: 0, flags },
            };
            let _ = &mut dev;
            expect_fault::<E>(&mut drv, f)
        }
    }
}

/// By default a used length larger than the buffer is clamped to the
/// buffer's writable size and counted, and the queue goes on (real devices
/// report lengths for out-only buffers).
pub fn used_len_clamped<E: TestEnv>(env: &mut E, fmt: Format) -> CaseResult {
    let mut slots = [Slot::default(); N as usize];
    let (mut drv, mut dev, _) = pair(env, fmt, N, true, false, &mut slots)?;
    add_n::<E>(&mut drv, 0, 1, 2).map_err(|_| "add")?;
    add_n::<E>(&mut drv, 1, 2, 0).map_err(|_| "add")?;
    add_n::<E>(&mut drv, 2, 1, 1).map_err(|_| "add")?;
    serve(env, &mut dev, 0, 1, 2, in_len(1, 2) + 100)?;
    serve(env, &mut dev, 1, 2, 0, 512)?;
    serve(env, &mut dev, 2, 1, 1, in_len(1, 1))?;
    check!(
        drv.get_used() == Ok(Some((0, in_len(1, 2)))),
        "length not clamped to the writable size"
    );
    check!(
        drv.get_used() == Ok(Some((1, 0))),
        "out-only buffer: length not clamped to 0"
    );
    check!(
        drv.get_used() == Ok(Some((2, in_len(1, 1)))),
        "an exact length was changed"
    );
    check!(drv.used_len_clamped() == 2, "clamps not counted");
    check!(!drv.is_broken(), "queue broken by a clamped length");
    check!(drv.num_free() == N, "descriptors leaked");
    Ok(())
}

/// A buffer longer than the queue is refused even when an indirect table
/// could hold it (virtio 1.2, 2.7.5.3.1 / 2.8.19: no chain longer than the
/// queue size).
pub fn chain_longer_than_queue<E: TestEnv>(env: &mut E, fmt: Format) -> CaseResult {
    const SMALL: u16 = 4;
    let mut slots = [Slot::default(); SMALL as usize];
    let (mut drv, _dev, _) = pair(env, fmt, SMALL, false, true, &mut slots)?;
    check!(
        add_n::<E>(&mut drv, 0, 3, 2) == Err(Error::Invalid),
        "a chain longer than the queue was accepted"
    );
    check!(drv.num_free() == SMALL, "a refused buffer took descriptors");
    add_n::<E>(&mut drv, 1, 2, 2).map_err(|_| "a chain of queue size refused")?;
    check!(drv.num_free() == SMALL - 1, "not one indirect descriptor");
    Ok(())
}

/// A chain longer than the device's scratch array is refused with
/// `ChainTooLong`, which is the caller's problem, not the driver's: the
/// queue is not broken and the chain is still there for a large enough
/// array. Direct and indirect chains; an array of exactly the chain's
/// length is enough.
pub fn short_descs<E: TestEnv>(env: &mut E, fmt: Format) -> CaseResult {
    for (token, indirect) in [(0usize, false), (1, true)] {
        env.reset();
        let mut slots = [Slot::default(); N as usize];
        let (mut drv, mut dev, _) = pair(env, fmt, N, false, indirect, &mut slots)?;
        add_n::<E>(&mut drv, token, 2, 2).map_err(|_| "add failed")?;
        let used = if indirect { 1 } else { 4 };
        check!(drv.num_free() == N - used, "unexpected descriptor use");
        let mut descs = [Desc::default(); 4];
        for _ in 0..2 {
            check!(
                dev.pop_desc(&EnvMap(env), &mut descs[..3]) == Err(Error::ChainTooLong),
                "a chain longer than the array was not refused"
            );
            check!(!dev.is_broken(), "a short array broke the queue");
        }
        let p = dev
            .pop_desc(&EnvMap(env), &mut descs)
            .map_err(|_| "an array as long as the chain was refused")?
            .ok_or("the chain was gone after the refusal")?;
        check!(p.count == 4, "wrong segment count");
        for (k, d) in descs.iter().enumerate() {
            check!(d.addr == seg(token, k, 0).addr, "wrong segment address");
        }
        dev.push(&p, in_len(2, 2));
        check!(
            drv.get_used() == Ok(Some((token, in_len(2, 2)))),
            "the chain did not come back after the refusal"
        );
    }
    Ok(())
}

/// How the driver misbehaves in [`hostile_avail`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostileDriver {
    /// A `next` outside the table.
    NextOutOfRange,
    /// A chain that loops.
    Loop,
    /// An indirect table inside an indirect table.
    NestedIndirect,
    /// An indirect descriptor pointing outside guest memory.
    UnmappedIndirect,
    /// An indirect table with more entries than the queue.
    IndirectTooLong,
    /// An indirect table whose length is not a whole number of
    /// descriptors.
    IndirectBadLen,
    /// An indirect descriptor that also says `NEXT` (2.7.5.3.1, 2.8.19:
    /// the driver must not set both).
    IndirectWithNext,
    /// Packed only: an indirect descriptor after a direct one in the same
    /// chain (a packed indirect descriptor is its buffer's only one; the
    /// split ring accepts it as the chain's tail, as vhost does).
    IndirectInChain,
}

/// The device side (our ivshmem peers, the tests) survives a hostile
/// driver the same way.
pub fn hostile_avail<E: TestEnv>(env: &mut E, fmt: Format, how: HostileDriver) -> CaseResult {
    if fmt == Format::Packed {
        return hostile_avail_packed(env, how);
    }
    let lay = SplitLayout::new(N, 4).map_err(|_| "layout")?;
    let m = env.alloc(lay.size).ok_or("no memory")?;
    let tbl = env.alloc(64).ok_or("no memory")?;
    let mut dev = SplitDevice::new(m.clone(), N, 4, Options::default()).map_err(|_| "device")?;
    let wd = |m: &E::M, i: usize, addr: u64, len: u32, flags: u16, next: u16| {
        m.store64(i * 16, addr);
        m.store32(i * 16 + 8, len);
        m.store16(i * 16 + 12, flags);
        m.store16(i * 16 + 14, next);
    };
    let f = match how {
        HostileDriver::NextOutOfRange => {
            wd(&m, 0, 0x1000, 8, VRING_DESC_F_NEXT, N + 3);
            Fault::NextOutOfRange { next: N + 3 }
        }
        HostileDriver::Loop => {
            wd(&m, 0, 0x1000, 8, VRING_DESC_F_NEXT, 1);
            wd(&m, 1, 0x1000, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 0);
            Fault::ChainLoop
        }
        HostileDriver::NestedIndirect => {
            wd(&tbl, 0, tbl.dma_addr(), 16, VRING_DESC_F_INDIRECT, 0);
            wd(&m, 0, tbl.dma_addr(), 32, VRING_DESC_F_INDIRECT, 0);
            Fault::BadIndirect
        }
        HostileDriver::UnmappedIndirect => {
            wd(&m, 0, 0xdead_0000_0000, 32, VRING_DESC_F_INDIRECT, 0);
            Fault::BadIndirect
        }
        HostileDriver::IndirectTooLong => {
            let big = env.alloc((N as usize + 1) * 16).ok_or("no memory")?;
            for i in 0..=N {
                let next = if i < N { VRING_DESC_F_NEXT } else { 0 };
                wd(&big, i as usize, 0x1000, 8, next, i + 1);
            }
            wd(
                &m,
                0,
                big.dma_addr(),
                (u32::from(N) + 1) * 16,
                VRING_DESC_F_INDIRECT,
                0,
            );
            Fault::BadIndirect
        }
        HostileDriver::IndirectBadLen => {
            wd(&tbl, 0, 0x1000, 8, 0, 0);
            wd(&m, 0, tbl.dma_addr(), 24, VRING_DESC_F_INDIRECT, 0);
            Fault::BadIndirect
        }
        HostileDriver::IndirectWithNext => {
            wd(&tbl, 0, 0x1000, 8, 0, 0);
            wd(
                &m,
                0,
                tbl.dma_addr(),
                16,
                VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT,
                1,
            );
            wd(&m, 1, 0x2000, 8, 0, 0);
            Fault::BadIndirect
        }
        HostileDriver::IndirectInChain => return Err("not a split ring case"),
    };
    m.store16(lay.avail + 4, 0);
    m.store16(lay.avail + 2, 1);
    let mut descs = [Desc::default(); 32];
    check!(
        dev.pop(&EnvMap(env), &mut descs) == Err(Error::Fault(f)),
        "fault not reported"
    );
    check!(dev.is_broken(), "device queue not broken");
    check!(
        dev.pop(&EnvMap(env), &mut descs) == Err(Error::Broken),
        "fault reported twice"
    );
    Ok(())
}

/// A hostile driver on a packed ring; descriptors are written as
/// `struct pvirtq_desc` (flags at +14), indirect entries likewise.
fn hostile_avail_packed<E: TestEnv>(env: &mut E, how: HostileDriver) -> CaseResult {
    const AVAIL: u16 = 1 << 7; // first lap: AVAIL = 1, USED = 0
    let lay = PackedLayout::new(N).map_err(|_| "layout")?;
    let m = env.alloc(lay.size).ok_or("no memory")?;
    let tbl = env.alloc((N as usize + 1) * 16).ok_or("no memory")?;
    let mut dev = PackedDevice::new(m.clone(), N, Options::default()).map_err(|_| "device")?;
    let wd = |m: &E::M, i: usize, addr: u64, len: u32, id: u16, flags: u16| {
        m.store64(i * 16, addr);
        m.store32(i * 16 + 8, len);
        m.store16(i * 16 + 12, id);
        m.store16(i * 16 + 14, flags);
    };
    let f = match how {
        HostileDriver::NextOutOfRange => {
            // The chain goes on into a descriptor that is not available.
            wd(&m, 0, 0x1000, 8, 0, AVAIL | VRING_DESC_F_NEXT);
            Fault::NextOutOfRange { next: 1 }
        }
        HostileDriver::Loop => {
            // Every descriptor says "more": longer than the ring.
            for i in 0..N as usize {
                wd(&m, i, 0x1000, 8, 0, AVAIL | VRING_DESC_F_NEXT);
            }
            Fault::ChainLoop
        }
        HostileDriver::NestedIndirect => {
            wd(&tbl, 0, tbl.dma_addr(), 16, 0, VRING_DESC_F_INDIRECT);
            wd(&m, 0, tbl.dma_addr(), 32, 0, AVAIL | VRING_DESC_F_INDIRECT);
            Fault::BadIndirect
        }
        HostileDriver::UnmappedIndirect => {
            wd(
                &m,
                0,
                0xdead_0000_0000,
                32,
                0,
                AVAIL | VRING_DESC_F_INDIRECT,
            );
            Fault::BadIndirect
        }
        HostileDriver::IndirectTooLong => {
            let len = (u32::from(N) + 1) * 16;
            wd(&m, 0, tbl.dma_addr(), len, 0, AVAIL | VRING_DESC_F_INDIRECT);
            Fault::BadIndirect
        }
        HostileDriver::IndirectBadLen => {
            wd(&tbl, 0, 0x1000, 8, 0, 0);
            wd(&m, 0, tbl.dma_addr(), 24, 0, AVAIL | VRING_DESC_F_INDIRECT);
            Fault::BadIndirect
        }
        HostileDriver::IndirectWithNext => {
            wd(&tbl, 0, 0x1000, 8, 0, 0);
            let f = AVAIL | VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT;
            wd(&m, 0, tbl.dma_addr(), 16, 0, f);
            wd(&m, 1, 0x2000, 8, 0, AVAIL);
            Fault::BadIndirect
        }
        HostileDriver::IndirectInChain => {
            wd(&tbl, 0, 0x1000, 8, 0, 0);
            wd(&m, 0, 0x2000, 8, 0, AVAIL | VRING_DESC_F_NEXT);
            wd(&m, 1, tbl.dma_addr(), 16, 0, AVAIL | VRING_DESC_F_INDIRECT);
            Fault::BadIndirect
        }
    };
    let mut descs = [Desc::default(); 32];
    check!(
        dev.pop(&EnvMap(env), &mut descs) == Err(Error::Fault(f)),
        "fault not reported"
    );
    check!(dev.is_broken(), "device queue not broken");
    check!(
        dev.pop(&EnvMap(env), &mut descs) == Err(Error::Broken),
        "fault reported twice"
    );
    Ok(())
}

/// The device accepts direct descriptors followed by one indirect
/// descriptor (virtio 1.2, 2.7.5.3.2: "The device MUST handle the case of
/// zero or more normal chained descriptors followed by a single descriptor
/// with flags&VIRTQ_DESC_F_INDIRECT").
pub fn split_direct_then_indirect<E: TestEnv>(env: &mut E) -> CaseResult {
    let lay = SplitLayout::new(N, 4).map_err(|_| "layout")?;
    let m = env.alloc(lay.size).ok_or("no memory")?;
    let tbl = env.alloc(32).ok_or("no memory")?;
    let mut dev = SplitDevice::new(m.clone(), N, 4, Options::default()).map_err(|_| "device")?;
    let wd = |m: &E::M, i: usize, addr: u64, len: u32, flags: u16, next: u16| {
        m.store64(i * 16, addr);
        m.store32(i * 16 + 8, len);
        m.store16(i * 16 + 12, flags);
        m.store16(i * 16 + 14, next);
    };
    wd(&m, 3, 0x1000, 10, VRING_DESC_F_NEXT, 5);
    wd(&m, 5, tbl.dma_addr(), 32, VRING_DESC_F_INDIRECT, 0);
    wd(&tbl, 0, 0x2000, 20, VRING_DESC_F_NEXT, 1);
    wd(&tbl, 1, 0x3000, 30, VRING_DESC_F_WRITE, 0);
    m.store16(lay.avail + 4, 3);
    m.store16(lay.avail + 2, 1);
    let mut descs = [Desc::default(); 4];
    let c = dev
        .pop(&EnvMap(env), &mut descs)
        .map_err(|_| "refused a valid chain")?
        .ok_or("no chain")?;
    check!(c.id == 3 && c.count == 3, "wrong chain");
    check!(
        descs[..3]
            == [
                Desc {
                    addr: 0x1000,
                    len: 10,
                    write: false
                },
                Desc {
                    addr: 0x2000,
                    len: 20,
                    write: false
                },
                Desc {
                    addr: 0x3000,
                    len: 30,
                    write: true
                },
            ],
        "wrong descriptors"
    );
    Ok(())
}

/// Queue sizes: split takes powers of two up to 32768, packed any size up
/// to 32768; the largest rings work end to end where memory allows.
pub fn sizes<E: TestEnv>(env: &mut E) -> CaseResult {
    for n in [1u16, 2, 256, 4096, MAX_QUEUE_SIZE] {
        check!(SplitLayout::new(n, 4096).is_ok(), "split size refused");
    }
    for n in [0u16, 3, 100, MAX_QUEUE_SIZE + 1, u16::MAX] {
        check!(
            SplitLayout::new(n, 4096) == Err(Error::Invalid),
            "bad split size accepted"
        );
    }
    for n in [1u16, 3, 100, 257, MAX_QUEUE_SIZE] {
        check!(PackedLayout::new(n).is_ok(), "packed size refused");
    }
    for n in [0u16, MAX_QUEUE_SIZE + 1] {
        check!(
            PackedLayout::new(n) == Err(Error::Invalid),
            "bad packed size accepted"
        );
    }
    let l = SplitLayout::new(256, 4096).map_err(|_| "layout")?;
    // The legacy layout of the C vring_size(): 4096 + 4096 + 6 + 8 * 256.
    check!(
        l.used == 8192 && l.size == 8192 + 6 + 8 * 256,
        "legacy layout differs from vring_size()"
    );
    // An odd packed size works end to end.
    let mut slots = [Slot::default(); 5];
    let (mut drv, mut dev, _) = pair(env, Format::Packed, 5, true, false, &mut slots)?;
    for t in 0..20 {
        add_n::<E>(&mut drv, t, 2, 1).map_err(|_| "add")?;
        serve(env, &mut dev, t, 2, 1, 1)?;
        check!(
            drv.get_used() == Ok(Some((t, 1))),
            "odd-size packed ring lost a buffer"
        );
    }
    Ok(())
}

/// Run every case `select` accepts; `report(name, result)` is called once
/// per case run.
pub fn run_all<E: TestEnv>(
    env: &mut E,
    select: impl Fn(&str) -> bool,
    mut report: impl FnMut(&str, CaseResult),
) {
    use Format::*;
    macro_rules! case {
        ($name:expr, $e:expr) => {{
            let name = $name;
            if select(name) {
                env.reset();
                let r = $e;
                report(name, r);
            }
        }};
    }
    for (fmt, p) in [(Split, "split"), (Packed, "packed")] {
        let _ = p;
        macro_rules! name {
            ($s:literal) => {
                if fmt == Split {
                    concat!("split_", $s)
                } else {
                    concat!("packed_", $s)
                }
            };
        }
        case!(name!("roundtrip"), roundtrip(env, fmt, false, false));
        case!(
            name!("roundtrip_event_idx"),
            roundtrip(env, fmt, true, false)
        );
        case!(
            name!("roundtrip_indirect"),
            roundtrip(env, fmt, false, true)
        );
        case!(
            name!("roundtrip_indirect_event_idx"),
            roundtrip(env, fmt, true, true)
        );
        case!(name!("wraparound"), wraparound(env, fmt, false));
        case!(name!("wraparound_event_idx"), wraparound(env, fmt, true));
        case!(name!("full_queue"), full_queue(env, fmt));
        case!(name!("detach_unused"), detach_unused(env, fmt));
        case!(
            name!("kick_suppression_flags"),
            kick_suppression(env, fmt, false)
        );
        case!(
            name!("kick_suppression_event_idx"),
            kick_suppression(env, fmt, true)
        );
        case!(
            name!("call_suppression_flags"),
            call_suppression(env, fmt, false)
        );
        case!(
            name!("call_suppression_event_idx"),
            call_suppression(env, fmt, true)
        );
        case!(
            name!("hostile_used_id_out_of_range"),
            hostile_used(env, fmt, Hostile::IdOutOfRange)
        );
        case!(
            name!("hostile_used_id_not_in_flight"),
            hostile_used(env, fmt, Hostile::IdNotInFlight)
        );
        case!(
            name!("hostile_used_len_too_large"),
            hostile_used(env, fmt, Hostile::LenTooLarge)
        );
        case!(
            if fmt == Split {
                "split_hostile_used_index_jump"
            } else {
                "packed_hostile_wrap_counter"
            },
            hostile_used(env, fmt, Hostile::IndexJump)
        );
        case!(name!("used_len_clamped"), used_len_clamped(env, fmt));
        case!(
            name!("chain_longer_than_queue"),
            chain_longer_than_queue(env, fmt)
        );
        case!(
            name!("hostile_avail_next_out_of_range"),
            hostile_avail(env, fmt, HostileDriver::NextOutOfRange)
        );
        case!(
            name!("hostile_avail_loop"),
            hostile_avail(env, fmt, HostileDriver::Loop)
        );
        case!(
            name!("hostile_avail_nested_indirect"),
            hostile_avail(env, fmt, HostileDriver::NestedIndirect)
        );
        case!(
            name!("hostile_avail_unmapped_indirect"),
            hostile_avail(env, fmt, HostileDriver::UnmappedIndirect)
        );
        case!(
            name!("hostile_avail_indirect_too_long"),
            hostile_avail(env, fmt, HostileDriver::IndirectTooLong)
        );
        case!(
            name!("hostile_avail_indirect_bad_len"),
            hostile_avail(env, fmt, HostileDriver::IndirectBadLen)
        );
        case!(name!("short_descs"), short_descs(env, fmt));
        case!(
            name!("hostile_avail_indirect_with_next"),
            hostile_avail(env, fmt, HostileDriver::IndirectWithNext)
        );
        case!(name!("notify_disarm"), notify_disarm(env, fmt));
    }
    case!(
        "packed_hostile_avail_indirect_in_chain",
        hostile_avail(env, Packed, HostileDriver::IndirectInChain)
    );
    case!("split_used_shadow", split_used_shadow(env));
    case!("split_avail_shadow", split_avail_shadow(env));
    case!(
        "split_direct_then_indirect",
        split_direct_then_indirect(env)
    );
    case!("sizes", sizes(env));
}

/// Number of cases [`run_all`] reports (for the KTAP plan).
pub const NUM_CASES: usize = 2 * 27 + 5;
