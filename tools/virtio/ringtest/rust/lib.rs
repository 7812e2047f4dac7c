// SPDX-License-Identifier: GPL-2.0

//! The Rust vring core behind the interface of the kernel's
//! `tools/virtio/ringtest/main.h`, so that the kernel's own `main.c`
//! benchmarks it exactly as it benchmarks the C `virtio_ring_0_9.c`.
//!
//! `main.c` runs the guest side (`add_inbuf`, `get_buf`, `kick_available`,
//! ...) on one thread and the host side (`use_buf`, `call_used`, ...) on
//! another; the driver state belongs to the first, the device state to the
//! second, and they share only the ring memory. Event index is on, as in
//! `virtio_ring_0_9.c`.

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_uint, c_void};
use virtio_ring::mem::RawMem;
use virtio_ring::split::Options;
use virtio_ring::{Buf, Desc, DeviceMemory, Slot};

#[cfg(all(feature = "split", not(feature = "packed")))]
mod fmt {
    pub use virtio_ring::split::{SplitDevice as Device, SplitDriver as Driver, SplitLayout};
    pub fn size(num: u16) -> usize {
        SplitLayout::new(num, 4096).expect("ring size").size
    }
}
#[cfg(feature = "packed")]
mod fmt {
    pub use virtio_ring::packed::{PackedDevice as Device, PackedDriver as Driver, PackedLayout};
    pub fn size(num: u16) -> usize {
        PackedLayout::new(num).expect("ring size").size
    }
}

extern "C" {
    static ring_size: c_uint;
    fn kick();
    fn call();
}

/// State owned by one thread of `main.c`, on cache lines of its own (as
/// the C `struct guest` / `struct host` padding does), so the two spinning
/// threads do not false-share.
#[repr(align(128))]
struct PerThread<T>(UnsafeCell<Option<T>>);

// SAFETY: `main.c` initialises both in `alloc_ring()` before it starts the
// threads, then only the guest thread touches `GUEST` and only the host
// thread touches `HOST`.
unsafe impl<T> Sync for PerThread<T> {}

impl<T> PerThread<T> {
    /// # Safety
    /// Only from the thread that owns this state (see the `Sync` impl).
    #[allow(clippy::mut_from_ref)]
    unsafe fn get(&self) -> &mut T {
        // SAFETY: exclusive per the caller's guarantee; set by alloc_ring.
        unsafe { (*self.0.get()).as_mut().expect("alloc_ring not called") }
    }
}

static GUEST: PerThread<fmt::Driver<RawMem, Vec<Slot>>> = PerThread(UnsafeCell::new(None));
static HOST: PerThread<fmt::Device<RawMem>> = PerThread(UnsafeCell::new(None));

struct NoIndirect;
impl DeviceMemory for NoIndirect {
    type Mem = RawMem;
    fn map(&self, _: u64, _: usize) -> Option<RawMem> {
        None
    }
}

const OPTS: Options = Options { event_idx: true };

#[no_mangle]
pub extern "C" fn alloc_ring() {
    // SAFETY: set by main.c before alloc_ring() and never changed.
    let num = u16::try_from(unsafe { ring_size }).expect("ring size");
    let size = fmt::size(num);
    let mem: &'static mut [u64] = Vec::leak(vec![0u64; size.div_ceil(8) + 512]);
    // Align to 4 KiB like the C version's memalign.
    let off = (4096 - (mem.as_ptr() as usize & 4095)) & 4095;
    // SAFETY: leaked, so valid forever; 8-byte aligned; only accessed
    // through RawMem.
    let m = unsafe { RawMem::new(mem.as_mut_ptr().cast::<u8>().add(off), size, 0) };
    let slots = vec![Slot::default(); num as usize];
    #[cfg(feature = "packed")]
    let drv = fmt::Driver::new(m, num, slots, None, OPTS);
    #[cfg(not(feature = "packed"))]
    let drv = fmt::Driver::new(m, num, 4096, slots, None, OPTS);
    #[cfg(feature = "packed")]
    let dev = fmt::Device::new(m, num, OPTS);
    #[cfg(not(feature = "packed"))]
    let dev = fmt::Device::new(m, num, 4096, OPTS);
    let mut drv = drv.expect("driver");
    // Start with callbacks off, where virtio_ring_0_9.c's guest starts: it
    // writes used_event only in enable_call(), so until the first one it
    // asks for no call (in the polling modes, never). A driver that polls
    // (NAPI) likewise runs with callbacks off; left on, get_used() would
    // publish used_event with a full barrier for a call nobody waits for.
    drv.disable_cb();
    // SAFETY: no thread is running yet.
    unsafe {
        *GUEST.0.get() = Some(drv);
        *HOST.0.get() = Some(dev.expect("device"));
    }
}

// ---- guest side (guest thread only)

#[no_mangle]
pub extern "C" fn add_inbuf(len: c_uint, buf: *mut c_void, datap: *mut c_void) -> c_int {
    // SAFETY: guest thread.
    let g = unsafe { GUEST.get() };
    let b = Buf {
        addr: buf as u64,
        len,
    };
    match g.add(&[b], &[], datap as usize) {
        Ok(_) => 0,
        Err(_) => -1,
    }
}

/// # Safety
/// `lenp` and `bufp` must be valid for writes (main.c passes locals).
#[no_mangle]
pub unsafe extern "C" fn get_buf(lenp: *mut c_uint, bufp: *mut *mut c_void) -> *mut c_void {
    // SAFETY: guest thread.
    let g = unsafe { GUEST.get() };
    match g.get_used() {
        Ok(Some((token, len))) => {
            // SAFETY: valid for writes, per this function's contract.
            unsafe {
                *lenp = len;
                *bufp = token as *mut c_void;
            }
            token as *mut c_void
        }
        _ => core::ptr::null_mut(),
    }
}

#[no_mangle]
pub extern "C" fn disable_call() {
    // SAFETY: guest thread.
    unsafe { GUEST.get() }.disable_cb();
}

/// Re-enable calls before the guest thread sleeps.
///
/// When the ring is full the guest waits for space, not for one particular
/// completion, so it asks for a call only after most of the outstanding
/// buffers are used (`enable_cb_delayed`), as a driver with a stopped
/// transmit queue does (`virtio_net`'s `start_xmit`). Otherwise it asks for
/// a call at the next used buffer (`enable_cb`), as `virtio_ring_0_9.c`
/// always does. With `RINGTEST_CB=plain` in the environment it always uses
/// `enable_cb`, to compare notification counts like for like.
#[no_mangle]
pub extern "C" fn enable_call() -> bool {
    // SAFETY: guest thread.
    let g = unsafe { GUEST.get() };
    if g.num_free() == 0 && !plain_cb() {
        g.enable_cb_delayed()
    } else {
        g.enable_cb()
    }
}

/// Whether `RINGTEST_CB=plain` is set (read once).
fn plain_cb() -> bool {
    use std::sync::OnceLock;
    static PLAIN: OnceLock<bool> = OnceLock::new();
    *PLAIN.get_or_init(|| std::env::var("RINGTEST_CB").is_ok_and(|v| v == "plain"))
}

#[no_mangle]
pub extern "C" fn used_empty() -> bool {
    // SAFETY: guest thread.
    !unsafe { GUEST.get() }.more_used()
}

#[no_mangle]
pub extern "C" fn kick_available() {
    // SAFETY: guest thread.
    if unsafe { GUEST.get() }.kick_prepare() {
        // SAFETY: main.c's kick() writes an eventfd.
        unsafe { kick() };
    }
}

// ---- host side (host thread only)

#[no_mangle]
pub extern "C" fn disable_kick() {
    // SAFETY: host thread.
    unsafe { HOST.get() }.disable_notify();
}

#[no_mangle]
pub extern "C" fn enable_kick() -> bool {
    // SAFETY: host thread.
    !unsafe { HOST.get() }.enable_notify()
}

#[no_mangle]
pub extern "C" fn avail_empty() -> bool {
    // SAFETY: host thread.
    !unsafe { HOST.get() }.has_avail()
}

/// # Safety
/// `lenp` and `bufp` must be valid for writes (main.c passes locals).
#[no_mangle]
pub unsafe extern "C" fn use_buf(lenp: *mut c_uint, bufp: *mut *mut c_void) -> bool {
    // SAFETY: host thread.
    let h = unsafe { HOST.get() };
    let mut d = [Desc::default(); 1];
    match h.pop(&NoIndirect, &mut d) {
        Ok(Some(c)) => {
            #[cfg(feature = "packed")]
            h.push_used(c.id, 0, c.ndescs);
            #[cfg(not(feature = "packed"))]
            h.push_used(c.id, 0);
            // SAFETY: valid for writes, per this function's contract.
            unsafe {
                *lenp = d[0].len;
                *bufp = d[0].addr as *mut c_void;
            }
            true
        }
        _ => false,
    }
}

#[no_mangle]
pub extern "C" fn call_used() {
    // SAFETY: host thread.
    if unsafe { HOST.get() }.should_notify() {
        // SAFETY: main.c's call() writes an eventfd.
        unsafe { call() };
    }
}
