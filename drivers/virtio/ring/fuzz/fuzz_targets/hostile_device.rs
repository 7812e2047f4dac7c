// SPDX-License-Identifier: GPL-2.0

//! `cargo +nightly fuzz run hostile_device`: the ring driver against a
//! device that writes anything anywhere in ring memory.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    virtio_ring::fuzzing::hostile_device(data);
});
