// SPDX-License-Identifier: GPL-2.0

//! Host harness: runs the shared cases of `selftest.rs` one `#[test]` each,
//! on heap memory with atomic-fence barriers.

use crate::mem::RawMem;
use crate::selftest::{self, CaseResult, TestEnv};
use std::vec::Vec;

/// One arena of 8-byte words; regions are carved from it so that the
/// device side can map any device address inside it.
pub(crate) struct HostEnv {
    arena: Vec<u64>,
    used: usize,
}

pub(crate) const ARENA_DMA: u64 = 0x4000_0000;

impl HostEnv {
    pub(crate) fn new(bytes: usize) -> Self {
        HostEnv {
            arena: std::vec![0u64; bytes / 8],
            used: 0,
        }
    }
    fn whole(&mut self) -> RawMem {
        let len = self.arena.len() * 8;
        // SAFETY: the arena is 8-byte aligned, lives as long as `self` and
        // the tests drop every RawMem before the env; all ring accesses are
        // atomic.
        unsafe { RawMem::new(self.arena.as_mut_ptr().cast(), len, ARENA_DMA) }
    }
}

impl TestEnv for HostEnv {
    type M = RawMem;
    fn alloc(&mut self, size: usize) -> Option<RawMem> {
        let off = (self.used + 15) & !15;
        let m = self.whole().slice(off, size)?;
        self.used = off + size;
        Some(m)
    }
    fn map(&self, addr: u64, len: usize) -> Option<RawMem> {
        let off = addr.checked_sub(ARENA_DMA)? as usize;
        let len_total = self.arena.len() * 8;
        // SAFETY: as in `whole`.
        let whole = unsafe { RawMem::new(self.arena.as_ptr() as *mut u8, len_total, ARENA_DMA) };
        whole.slice(off, len)
    }
    fn reset(&mut self) {
        self.arena.iter_mut().for_each(|w| *w = 0);
        self.used = 0;
    }
    fn wrap_iterations(&self) -> usize {
        if cfg!(miri) {
            300
        } else {
            70_000
        }
    }
}

fn run_one(name: &str) -> CaseResult {
    let mut env = HostEnv::new(1 << 16);
    let mut result = None;
    selftest::run_all(
        &mut env,
        |n| n == name,
        |n, r| {
            if n == name {
                result = Some(r);
            }
        },
    );
    result.expect("no such case")
}

#[test]
fn case_count_matches_plan() {
    let mut env = HostEnv::new(1 << 16);
    let mut n = 0;
    selftest::run_all(&mut env, |_| true, |_, _| n += 1);
    assert_eq!(n, selftest::NUM_CASES);
}

macro_rules! cases {
    ($($name:ident)*) => {$(
        #[test]
        fn $name() {
            run_one(stringify!($name)).unwrap();
        }
    )*};
}

cases! {
    split_roundtrip split_roundtrip_event_idx split_roundtrip_indirect split_roundtrip_indirect_event_idx
    split_wraparound split_wraparound_event_idx split_full_queue split_detach_unused
    split_kick_suppression_flags split_kick_suppression_event_idx
    split_call_suppression_flags split_call_suppression_event_idx
    split_hostile_used_id_out_of_range split_hostile_used_id_not_in_flight
    split_hostile_used_len_too_large split_hostile_used_index_jump
    packed_roundtrip packed_roundtrip_event_idx packed_roundtrip_indirect packed_roundtrip_indirect_event_idx
    packed_wraparound packed_wraparound_event_idx packed_full_queue packed_detach_unused
    packed_kick_suppression_flags packed_kick_suppression_event_idx
    packed_call_suppression_flags packed_call_suppression_event_idx
    packed_hostile_used_id_out_of_range packed_hostile_used_id_not_in_flight
    packed_hostile_used_len_too_large packed_hostile_wrap_counter
    split_hostile_avail_next_out_of_range split_hostile_avail_loop
    split_hostile_avail_nested_indirect split_hostile_avail_unmapped_indirect
    sizes
}
