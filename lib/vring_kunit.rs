// SPDX-License-Identifier: GPL-2.0

//! The vring core's shared cases (`drivers/virtio/ring/selftest.rs`) as a
//! KUnit suite, `vring`: one KUnit case per ring case, each on a fresh
//! DMA-coherent arena of a faux device, with the kernel's barriers. Built
//! only against kernels with `CONFIG_KUNIT` (the debug kernel,
//! `tools/testing/vm/debug-kernel`); the suite runs when the module loads
//! and reports KTAP in the kernel log and in
//! `/sys/kernel/debug/kunit/vring/results`. On Debian's kernels, which
//! have no KUnit, `test_vring` runs the same cases.
//!
//! The case list must name every case of `selftest::run_all`; the host
//! test `kunit_suite_lists_every_case` (`drivers/virtio/ring`) checks it.

use kernel::prelude::*;

#[path = "../drivers/virtio/ring/vring.rs"]
pub mod vring;

#[path = "../drivers/virtio/ring/selftest.rs"]
pub mod selftest;

#[path = "../drivers/virtio/bindings/dma_ring.rs"]
pub mod dma_ring;

#[path = "vring_test_env.rs"]
pub mod test_env;

module! {
    type: VringKunit,
    name: "vring_kunit",
    authors: ["virtio-rs developers"],
    description: "KUnit suite of the Rust vring core",
    license: "GPL",
}

struct VringKunit;

impl kernel::Module for VringKunit {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // KUnit runs the suite itself when the module goes live.
        Ok(VringKunit)
    }
}

#[kunit_tests(vring)]
mod tests {
    use crate::selftest::{run_all, CaseResult};
    use crate::test_env::{KernelEnv, TestDevice};
    use kernel::prelude::*;

    /// Run the case `name` on a fresh arena. The reason of a failure goes
    /// to the kernel log; KUnit marks the case failed.
    fn case(name: &str) -> CaseResult {
        let r = run(name);
        if let Err(why) = r {
            pr_err!("{}: {}\n", name, why);
        }
        r
    }

    fn run(name: &str) -> CaseResult {
        let tdev = TestDevice::new(c"vring_kunit").map_err(|_| "no faux device or DMA memory")?;
        let mut env = KernelEnv::new(&tdev.arena);
        let mut result = Err("no such case in selftest::run_all");
        let mut runs = 0;
        run_all(
            &mut env,
            |n| n == name,
            |_, r| {
                runs += 1;
                result = r;
            },
        );
        if runs > 1 {
            return Err("case name matched more than one case");
        }
        result
    }

    #[test]
    fn split_roundtrip() -> CaseResult {
        case("split_roundtrip")
    }

    #[test]
    fn split_roundtrip_event_idx() -> CaseResult {
        case("split_roundtrip_event_idx")
    }

    #[test]
    fn split_roundtrip_indirect() -> CaseResult {
        case("split_roundtrip_indirect")
    }

    #[test]
    fn split_roundtrip_indirect_event_idx() -> CaseResult {
        case("split_roundtrip_indirect_event_idx")
    }

    #[test]
    fn split_wraparound() -> CaseResult {
        case("split_wraparound")
    }

    #[test]
    fn split_wraparound_event_idx() -> CaseResult {
        case("split_wraparound_event_idx")
    }

    #[test]
    fn split_full_queue() -> CaseResult {
        case("split_full_queue")
    }

    #[test]
    fn split_detach_unused() -> CaseResult {
        case("split_detach_unused")
    }

    #[test]
    fn split_kick_suppression_flags() -> CaseResult {
        case("split_kick_suppression_flags")
    }

    #[test]
    fn split_kick_suppression_event_idx() -> CaseResult {
        case("split_kick_suppression_event_idx")
    }

    #[test]
    fn split_call_suppression_flags() -> CaseResult {
        case("split_call_suppression_flags")
    }

    #[test]
    fn split_call_suppression_event_idx() -> CaseResult {
        case("split_call_suppression_event_idx")
    }

    #[test]
    fn split_hostile_used_id_out_of_range() -> CaseResult {
        case("split_hostile_used_id_out_of_range")
    }

    #[test]
    fn split_hostile_used_id_not_in_flight() -> CaseResult {
        case("split_hostile_used_id_not_in_flight")
    }

    #[test]
    fn split_hostile_used_len_too_large() -> CaseResult {
        case("split_hostile_used_len_too_large")
    }

    #[test]
    fn split_hostile_used_index_jump() -> CaseResult {
        case("split_hostile_used_index_jump")
    }

    #[test]
    fn split_used_len_clamped() -> CaseResult {
        case("split_used_len_clamped")
    }

    #[test]
    fn split_chain_longer_than_queue() -> CaseResult {
        case("split_chain_longer_than_queue")
    }

    #[test]
    fn split_hostile_avail_next_out_of_range() -> CaseResult {
        case("split_hostile_avail_next_out_of_range")
    }

    #[test]
    fn split_hostile_avail_loop() -> CaseResult {
        case("split_hostile_avail_loop")
    }

    #[test]
    fn split_hostile_avail_nested_indirect() -> CaseResult {
        case("split_hostile_avail_nested_indirect")
    }

    #[test]
    fn split_hostile_avail_unmapped_indirect() -> CaseResult {
        case("split_hostile_avail_unmapped_indirect")
    }

    #[test]
    fn split_hostile_avail_indirect_too_long() -> CaseResult {
        case("split_hostile_avail_indirect_too_long")
    }

    #[test]
    fn split_hostile_avail_indirect_with_next() -> CaseResult {
        case("split_hostile_avail_indirect_with_next")
    }

    #[test]
    fn packed_hostile_avail_indirect_with_next() -> CaseResult {
        case("packed_hostile_avail_indirect_with_next")
    }

    #[test]
    fn packed_hostile_avail_indirect_in_chain() -> CaseResult {
        case("packed_hostile_avail_indirect_in_chain")
    }

    #[test]
    fn split_hostile_avail_indirect_bad_len() -> CaseResult {
        case("split_hostile_avail_indirect_bad_len")
    }

    #[test]
    fn packed_hostile_avail_indirect_bad_len() -> CaseResult {
        case("packed_hostile_avail_indirect_bad_len")
    }

    #[test]
    fn split_short_descs() -> CaseResult {
        case("split_short_descs")
    }

    #[test]
    fn packed_short_descs() -> CaseResult {
        case("packed_short_descs")
    }

    #[test]
    fn split_notify_disarm() -> CaseResult {
        case("split_notify_disarm")
    }

    #[test]
    fn packed_roundtrip() -> CaseResult {
        case("packed_roundtrip")
    }

    #[test]
    fn packed_roundtrip_event_idx() -> CaseResult {
        case("packed_roundtrip_event_idx")
    }

    #[test]
    fn packed_roundtrip_indirect() -> CaseResult {
        case("packed_roundtrip_indirect")
    }

    #[test]
    fn packed_roundtrip_indirect_event_idx() -> CaseResult {
        case("packed_roundtrip_indirect_event_idx")
    }

    #[test]
    fn packed_wraparound() -> CaseResult {
        case("packed_wraparound")
    }

    #[test]
    fn packed_wraparound_event_idx() -> CaseResult {
        case("packed_wraparound_event_idx")
    }

    #[test]
    fn packed_full_queue() -> CaseResult {
        case("packed_full_queue")
    }

    #[test]
    fn packed_detach_unused() -> CaseResult {
        case("packed_detach_unused")
    }

    #[test]
    fn packed_kick_suppression_flags() -> CaseResult {
        case("packed_kick_suppression_flags")
    }

    #[test]
    fn packed_kick_suppression_event_idx() -> CaseResult {
        case("packed_kick_suppression_event_idx")
    }

    #[test]
    fn packed_call_suppression_flags() -> CaseResult {
        case("packed_call_suppression_flags")
    }

    #[test]
    fn packed_call_suppression_event_idx() -> CaseResult {
        case("packed_call_suppression_event_idx")
    }

    #[test]
    fn packed_hostile_used_id_out_of_range() -> CaseResult {
        case("packed_hostile_used_id_out_of_range")
    }

    #[test]
    fn packed_hostile_used_id_not_in_flight() -> CaseResult {
        case("packed_hostile_used_id_not_in_flight")
    }

    #[test]
    fn packed_hostile_used_len_too_large() -> CaseResult {
        case("packed_hostile_used_len_too_large")
    }

    #[test]
    fn packed_hostile_wrap_counter() -> CaseResult {
        case("packed_hostile_wrap_counter")
    }

    #[test]
    fn packed_used_len_clamped() -> CaseResult {
        case("packed_used_len_clamped")
    }

    #[test]
    fn packed_chain_longer_than_queue() -> CaseResult {
        case("packed_chain_longer_than_queue")
    }

    #[test]
    fn packed_hostile_avail_next_out_of_range() -> CaseResult {
        case("packed_hostile_avail_next_out_of_range")
    }

    #[test]
    fn packed_hostile_avail_loop() -> CaseResult {
        case("packed_hostile_avail_loop")
    }

    #[test]
    fn packed_hostile_avail_nested_indirect() -> CaseResult {
        case("packed_hostile_avail_nested_indirect")
    }

    #[test]
    fn packed_hostile_avail_unmapped_indirect() -> CaseResult {
        case("packed_hostile_avail_unmapped_indirect")
    }

    #[test]
    fn packed_hostile_avail_indirect_too_long() -> CaseResult {
        case("packed_hostile_avail_indirect_too_long")
    }

    #[test]
    fn packed_notify_disarm() -> CaseResult {
        case("packed_notify_disarm")
    }

    #[test]
    fn split_used_shadow() -> CaseResult {
        case("split_used_shadow")
    }

    #[test]
    fn split_avail_shadow() -> CaseResult {
        case("split_avail_shadow")
    }

    #[test]
    fn split_direct_then_indirect() -> CaseResult {
        case("split_direct_then_indirect")
    }

    #[test]
    fn sizes() -> CaseResult {
        case("sizes")
    }
}
