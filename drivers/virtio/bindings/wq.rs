// SPDX-License-Identifier: GPL-2.0

//! Workqueues the 7.3 kernel crate does not name yet.
//!
//! This is one of the thin layers that hold `unsafe`; code above it is safe.

use kernel::{bindings, workqueue::Queue};

/// The system default unbound workqueue (`system_dfl_wq`): its work items
/// run on any CPU, not the one that queued them. It replaces
/// `system_unbound_wq`, which 7.3 marks deprecated (queueing on it logs a
/// warning) while `kernel::workqueue` still offers only that one.
pub fn system_dfl() -> &'static Queue {
    // SAFETY: `system_dfl_wq` is a C global set up at boot
    // (workqueue_init_early) and never freed.
    unsafe { Queue::from_raw(bindings::system_dfl_wq) }
}
