// SPDX-License-Identifier: GPL-2.0

//! Host build of the virtio ring core (`vring.rs` and its modules), the
//! same source the kernel modules compile through Kbuild. See
//! [`vring`] for the API.

#![no_std]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

#[path = "vring.rs"]
pub mod vring;

pub use vring::*;

/// The shared test cases (not part of `vring`; see the file's docs).
#[cfg(test)]
#[path = "selftest.rs"]
pub(crate) mod selftest;

#[cfg(test)]
#[path = "host_tests.rs"]
mod host_tests;

/// Fuzz targets (host only).
#[cfg(any(test, feature = "fuzzing"))]
#[path = "fuzzing.rs"]
pub mod fuzzing;

#[cfg(test)]
#[path = "proptests.rs"]
mod proptests;

#[cfg(all(test, not(loom)))]
#[path = "golden_tests.rs"]
mod golden_tests;

#[cfg(all(test, not(loom), not(miri)))]
#[path = "vmm_tests.rs"]
mod vmm_tests;

#[cfg(all(test, loom))]
#[path = "loom_tests.rs"]
mod loom_tests;
