// SPDX-License-Identifier: GPL-2.0

//! `cargo +nightly fuzz run hostile_driver`: the ring's device side against
//! a driver that writes anything anywhere in ring memory and in the
//! memory its indirect tables point to.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    virtio_ring::fuzzing::hostile_driver(data);
});
