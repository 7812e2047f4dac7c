// SPDX-License-Identifier: GPL-2.0

//! An eventfd taken from user space (`eventfd_ctx_fdget`), which the 7.3
//! kernel crate has no type for. Thin layer: the only `unsafe` here is
//! the three C calls.

use core::ptr::NonNull;
use kernel::{bindings, error::from_err_ptr, prelude::*};

/// A reference to an eventfd's context; signalling it adds 1 to its
/// counter and wakes its readers (and its epoll waiters).
pub(crate) struct EventFd(NonNull<bindings::eventfd_ctx>);

// SAFETY: an eventfd context is reference counted and signalled under its
// own lock; any thread may signal or release it.
unsafe impl Send for EventFd {}
// SAFETY: as above.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// The eventfd behind the caller's descriptor `fd` (`EBADF` if none,
    /// `EINVAL` if it is not an eventfd).
    pub(crate) fn from_fd(fd: i32) -> Result<Self> {
        // SAFETY: looks `fd` up in the current task's table; returns a
        // counted reference or an error pointer.
        let p = from_err_ptr(unsafe { bindings::eventfd_ctx_fdget(fd) })?;
        NonNull::new(p).map(EventFd).ok_or(EINVAL)
    }

    /// Adds 1 (any context, hard interrupts included).
    pub(crate) fn signal(&self) {
        // SAFETY: `self` holds a reference to a live context.
        unsafe { bindings::eventfd_signal_mask(self.0.as_ptr(), 0) }
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: the reference taken in `from_fd`.
        unsafe { bindings::eventfd_ctx_put(self.0.as_ptr()) }
    }
}
