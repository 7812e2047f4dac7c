// SPDX-License-Identifier: GPL-2.0

//! The kernel's hardware random number generator framework
//! (`include/linux/hw_random.h`) for Rust: register a source that
//! `/dev/hwrng` and the kernel's entropy thread read from. 7.3 has no Rust
//! abstraction for it; this is the one place with its `unsafe`.

// Shared by path between modules; each uses part of it.
#![allow(dead_code)]

use super::virtio::sys;
use core::marker::PhantomData;
use kernel::{ffi::c_void, prelude::*, str::CString, sync::Arc, types::Opaque};

/// A random number source.
pub(crate) trait Source: Send + Sync + 'static {
    /// Fill (part of) `buf`; the number of bytes written. With `wait`,
    /// sleep until at least one byte is there (or a signal: `ERESTARTSYS`);
    /// without, return 0 when nothing is ready. Process context.
    fn read(&self, buf: &mut [u8], wait: bool) -> Result<usize>;
}

/// A registered `struct hwrng` reading from `T`. Dropping it unregisters
/// the source, waiting for running reads: wake blocked readers first.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T: Source> {
    #[pin]
    rng: Opaque<sys::hwrng>,
    name: CString,
    source: Arc<T>,
    _p: PhantomData<T>,
}

// SAFETY: the registration only holds `Arc<T>` (`T: Send + Sync`) and the
// C struct, which the hwrng core synchronises.
unsafe impl<T: Source> Send for Registration<T> {}
// SAFETY: as above.
unsafe impl<T: Source> Sync for Registration<T> {}

impl<T: Source> Registration<T> {
    /// Register `source` as `name` with `quality` (bits of entropy per
    /// 1024 bits of data; 0: the core's default).
    pub(crate) fn new(name: CString, quality: u16, source: Arc<T>) -> impl PinInit<Self, Error> {
        try_pin_init!(&this in Self {
            name,
            source,
            rng <- Opaque::try_ffi_init(move |rng: *mut sys::hwrng| {
                // SAFETY: `rng` is valid for writes and pinned with `this`;
                // `name` and `source` were initialised before (field
                // order) and live as long as the registration.
                unsafe {
                    core::ptr::write_bytes(rng, 0, 1);
                    let me = this.as_ptr();
                    (*rng).name = (*me).name.as_char_ptr();
                    (*rng).read = Some(Self::read);
                    (*rng).priv_ = Arc::as_ptr(&(*me).source) as usize;
                    (*rng).quality = quality;
                    kernel::error::to_result(sys::hwrng_register(rng))
                }
            }),
            _p: PhantomData,
        })
    }

    /// # Safety
    ///
    /// Only as the `hwrng.read` callback: `rng` is ours, `data` is valid
    /// for writes of `max` bytes.
    unsafe extern "C" fn read(
        rng: *mut sys::hwrng,
        data: *mut c_void,
        max: usize,
        wait: bool,
    ) -> i32 {
        // SAFETY: `priv` holds the source, alive while registered (the
        // core finishes reads before unregistering returns).
        let source = unsafe { &*((*rng).priv_ as *const T) };
        // SAFETY: the core's buffer; it may be uninitialised: zero it first.
        let buf = unsafe {
            core::ptr::write_bytes(data.cast::<u8>(), 0, max);
            core::slice::from_raw_parts_mut(data.cast::<u8>(), max)
        };
        match source.read(buf, wait) {
            Ok(n) => n.min(max).min(i32::MAX as usize) as i32,
            Err(e) => e.to_errno(),
        }
    }
}

#[pinned_drop]
impl<T: Source> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered in `new`; returns after running reads ended.
        unsafe { sys::hwrng_unregister(self.rng.get()) };
    }
}
