// SPDX-License-Identifier: GPL-2.0

//! Workqueue pieces the 7.3 kernel crate does not have yet.
//!
//! This is one of the thin layers that hold `unsafe`; code above it is safe.

use kernel::{bindings, workqueue::Queue, workqueue::Work};

/// The system default unbound workqueue for long-running items
/// (`system_dfl_long_wq`): its work items run on any CPU, not the one that
/// queued them. (`system_unbound_wq`, the only unbound queue
/// `kernel::workqueue` names in 7.3, is marked deprecated: queueing on it
/// logs a warning.)
pub fn system_dfl_long() -> &'static Queue {
    // SAFETY: `system_dfl_long_wq` is a C global set up at boot
    // (workqueue_init_early) and never freed.
    unsafe { Queue::from_raw(bindings::system_dfl_long_wq) }
}

/// Wait until the last queued instance of `work` has finished running
/// (`flush_work()`): its function has returned to the workqueue core, so
/// no code of this module runs for it any more. Sleeps.
pub fn flush<T: ?Sized, const ID: u64>(work: &Work<T, ID>) {
    // SAFETY: `work` is a valid, initialised work item for the duration of
    // the call; flush_work() only waits on it.
    unsafe { bindings::flush_work(Work::raw_get(work)) };
}
