// SPDX-License-Identifier: GPL-2.0

//! virtio-rng (virtio 1.2, 5.4) in Rust, on the Rust vring: an entropy
//! source for the kernel's hwrng framework (`/dev/hwrng`).
//!
//! One queue (`req.0`) of device-writable buffers. A read takes what the
//! last buffer brought; when it is used up, the buffer goes back to the
//! device and a waiting reader sleeps until the device returns it. Binds
//! only devices whose transport offers raw queue ops (our virtio-mmio);
//! on any other transport probe says so and the stock `virtio_rng` takes
//! the device. See `Documentation/virtio/drivers.rst`.

use kernel::{
    new_condvar, new_mutex, new_spinlock_irq,
    prelude::*,
    str::CString,
    sync::{Arc, CondVar, Mutex, SpinLockIrq},
};

#[path = "../../virtio/bindings/dma_ring.rs"]
pub mod dma_ring;
#[path = "../../virtio/bindings/driver.rs"]
pub mod driver;
#[path = "../../virtio/bindings/hwrng.rs"]
pub mod hwrng;
#[path = "../../virtio/driver/queue.rs"]
pub mod queue;
#[path = "../../virtio/bindings/virtio.rs"]
pub mod virtio;
#[path = "../../virtio/ring/vring.rs"]
pub mod vring;

use driver::{Device, DeviceId, QueueSpec, ANY_VENDOR};
use queue::{Queue, Seg};

/// `VIRTIO_ID_RNG`.
const VIRTIO_ID_RNG: u32 = 4;
/// Bytes per request (as the C driver: `SMP_CACHE_BYTES * 8` on amd64).
const BUF_LEN: usize = 512;

kernel::module_device_table!(
    "virtio",
    DeviceId,
    VIRTIO_RNG_RS_IDS,
    @none,
    [DeviceId::new(VIRTIO_ID_RNG, ANY_VENDOR)]
);

/// Where the entropy is.
struct State {
    /// The last buffer the device filled, and how far it was read.
    data: Option<(KVec<u8>, usize, usize)>,
    /// A buffer is with the device.
    pending: bool,
    /// The device broke the queue.
    broken: bool,
    /// The device is going away: readers leave with `ENODEV`.
    removed: bool,
    /// System sleep: no buffer goes to the device; readers wait.
    frozen: bool,
}

/// The source: the queue and the state readers wait on.
#[pin_data]
struct Rng {
    #[pin]
    queue: Queue<()>,
    #[pin]
    state: SpinLockIrq<State>,
    #[pin]
    filled: CondVar,
}

impl Rng {
    /// Give the device a buffer unless it has one. Called with the state
    /// locked (lock order: state, then queue).
    fn request(&self, st: &mut State, spare: Option<KVec<u8>>) -> Result {
        if st.pending || st.broken || st.removed || st.frozen {
            return Ok(());
        }
        let mut buf = match spare {
            Some(b) => b,
            None => KVec::with_capacity(BUF_LEN, GFP_ATOMIC)?,
        };
        buf.resize(BUF_LEN, 0, GFP_ATOMIC)?;
        let mut segs = KVec::with_capacity(1, GFP_ATOMIC)?;
        segs.push(Seg { buf, write: true }, GFP_ATOMIC)?;
        match self.queue.add(segs, ()) {
            Ok(()) => {
                st.pending = true;
                self.queue.kick();
                Ok(())
            }
            Err((e, _, ())) => {
                if e == EIO {
                    st.broken = true;
                }
                Err(e)
            }
        }
    }

    /// The device returned buffers (interrupt).
    fn done(&self) {
        while let Some(r) = self.queue.pop() {
            let mut st = self.state.lock();
            match r {
                Ok(mut used) => {
                    st.pending = false;
                    if let Some(seg) = used.segs.as_mut().and_then(KVec::pop) {
                        let len = (used.len as usize).min(seg.buf.len());
                        st.data = Some((seg.buf, 0, len));
                    }
                }
                Err(_) => {
                    // The queue is broken for good: every later pop fails
                    // too. Wake the readers with EIO and stop here.
                    st.pending = false;
                    st.broken = true;
                    drop(st);
                    self.filled.notify_all();
                    return;
                }
            }
            drop(st);
            self.filled.notify_all();
        }
    }
}

impl hwrng::Source for Rng {
    fn read(&self, buf: &mut [u8], wait: bool) -> Result<usize> {
        let mut st = self.state.lock();
        loop {
            if st.removed {
                return Err(ENODEV);
            }
            if st.broken {
                return Err(EIO);
            }
            let mut spare = None;
            if let Some((data, pos, len)) = st.data.as_mut() {
                let n = (*len - *pos).min(buf.len());
                buf[..n].copy_from_slice(&data[*pos..*pos + n]);
                *pos += n;
                if *pos == *len {
                    spare = st.data.take().map(|(b, _, _)| b);
                }
                if n > 0 {
                    // Ask for more now, so the next read finds it sooner.
                    let _ = self.request(&mut st, spare);
                    return Ok(n);
                }
            }
            self.request(&mut st, spare)?;
            if !wait {
                return Ok(0);
            }
            if self.filled.wait_interruptible(&mut st) {
                // The read is restarted after a handler with SA_RESTART
                // (or after the freezer's fake signal at system sleep)
                // rather than failing with EINTR.
                return Err(ERESTARTSYS);
            }
        }
    }
}

/// Per device.
#[pin_data]
struct RngData {
    rng: Arc<Rng>,
    #[pin]
    hwrng: Mutex<Option<Pin<KBox<hwrng::Registration<Rng>>>>>,
}

struct VirtioRng;

impl driver::Driver for VirtioRng {
    type Data = RngData;
    const NAME: &'static CStr = c"virtio_rng_rs";
    const ID_TABLE: driver::IdTableRef = &VIRTIO_RNG_RS_IDS;
    const FEATURES: &'static [u32] = &[];

    fn probe(dev: &Device<'_>) -> Result<Pin<KBox<RngData>>> {
        let mut rings = dev.find_queues(
            &[QueueSpec {
                name: c"input",
                // One buffer is in flight at a time.
                size: 64,
                indirect_max: 0,
                callback: true,
                _p: core::marker::PhantomData,
            }],
            false,
        )?;
        let rings = rings.pop().ok_or(EINVAL)?;
        let rng = Arc::pin_init(
            try_pin_init!(Rng {
                queue <- Queue::new(rings)?,
                state <- new_spinlock_irq!(State {
                    data: None,
                    pending: false,
                    broken: false,
                    removed: false,
                    frozen: false,
                }),
                filled <- new_condvar!(),
            }? Error),
            GFP_KERNEL,
        )?;
        dev.ready();
        // Named after the device, so that users (and tests) can tell which
        // source is which in rng_available.
        let name = CString::try_from_fmt(fmt!("virtio_rng_rs.{}", dev.name()))?;
        let reg = KBox::pin_init(
            hwrng::Registration::new(name, 1000, rng.clone()),
            GFP_KERNEL,
        )?;
        dev_info!(
            dev.as_dev(),
            "virtio-rng on the Rust vring: {} ring of {}{}\n",
            if dev.has_feature(virtio::sys::VIRTIO_F_RING_PACKED) {
                "packed"
            } else {
                "split"
            },
            rng.queue.num(),
            if dev.has_feature(vring::VIRTIO_RING_F_EVENT_IDX) {
                ", event index"
            } else {
                ""
            }
        );
        KBox::pin_init(
            try_pin_init!(RngData {
                rng,
                hwrng <- new_mutex!(Some(reg)),
            }? Error),
            GFP_KERNEL,
        )
    }

    fn queue_done(data: &RngData, _index: u16) {
        data.rng.done();
    }

    fn device_fault(_dev: &Device<'_>, data: Pin<&RngData>) {
        // Readers already left with EIO (`done`); the buffer with the
        // device comes back now rather than at removal.
        drop(data.rng.queue.reclaim());
    }

    fn freeze(_dev: &Device<'_>, data: Pin<&RngData>) -> Result {
        let rng = &data.rng;
        rng.state.lock().frozen = true;
        // The buffer with the device, if any, comes back unfilled; none is
        // with the device afterwards.
        drop(rng.queue.suspend());
        rng.state.lock().pending = false;
        Ok(())
    }

    fn restore(dev: &Device<'_>, data: Pin<&RngData>) -> Result {
        let rng = &data.rng;
        let r = dev.restore_queues(&[&rng.queue as &dyn driver::Restore]);
        if r.is_ok() {
            dev.ready();
        }
        let mut st = rng.state.lock();
        st.frozen = false;
        st.broken = r.is_err();
        drop(st);
        // Waiting readers ask the device again (or leave with EIO).
        rng.filled.notify_all();
        r
    }

    fn resize_queue(_dev: &Device<'_>, data: Pin<&RngData>, index: u16, size: u16) -> Result {
        if index != 0 {
            return Err(EINVAL);
        }
        let rng = &data.rng;
        {
            let mut st = rng.state.lock();
            if st.frozen {
                return Err(EBUSY);
            }
            // No new buffer goes to the device meanwhile; readers wait.
            st.frozen = true;
        }
        // The buffer with the device, if any, comes back unfilled.
        let mut back = false;
        let r = rng.queue.resize(size, |()| back = true);
        let mut st = rng.state.lock();
        st.frozen = false;
        if back {
            st.pending = false;
        }
        drop(st);
        // Waiting readers ask the device again (or leave with EIO if the
        // queue died).
        rng.filled.notify_all();
        r
    }

    fn remove(_dev: &Device<'_>, data: Pin<&RngData>) {
        data.rng.state.lock().removed = true;
        data.rng.filled.notify_all();
        // Unregistering waits for running reads, which now return.
        drop(data.hwrng.lock().take());
    }
}

#[pin_data]
struct Module {
    #[pin]
    reg: driver::Registration<VirtioRng>,
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
    name: "virtio_rng_rs",
    authors: ["virtio-rs developers"],
    description: "virtio-rng driver on the Rust vring",
    license: "GPL",
}
