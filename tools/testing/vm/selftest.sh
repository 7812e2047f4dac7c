#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# selftest.sh ARCH: prove that the VM runner fails a run for each kind of
# failure it must catch, by booting scenarios that fail on purpose
# (tools/testing/selftests/vm_runner/*.vmconf) and checking the runner's
# verdict and reason: a failing case, a kernel warning, a hung guest, KTAP
# that does not hold up (no plan, a plan that disagrees with the results,
# duplicate or out-of-order numbers, no case run, every case skipped) and
# a conf that declares devices where none is bound. Prints one KTAP line
# per check.
#
# selftest.sh --debug ARCH: the same for the debug kernel's detectors: one
# boot of the debug kernel where lib/test_debug_detectors.ko commits one
# bug per detector (use-after-free, lock-order inversion, sleeping with a
# spinlock held, list corruption, a leak), and one check per detector that
# its report is among the reasons the runner gives for failing the run.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
debug=
[ "${1:-}" = --debug ] && { debug=1; shift; }
arch=$(vrs_karch "${1:-x86_64}")
dir=$VRS_TOP/tools/testing/selftests/vm_runner
n=0 bad=0
check() { # description, condition-result (0 = holds)
	n=$((n + 1))
	if [ "$2" = 0 ]; then echo "ok $n vm_runner:$1"; else echo "not ok $n vm_runner:$1"; bad=1; fi
}
boot() { # scenario -> sets out, rc
	out=$("$VRS_TOP/tools/testing/vm/vm-chroot.sh" --tag "runner-$1" "$arch" "$dir/$1.vmconf" 2>&1); rc=$?
	echo "$out" | sed 's/^/# /'
}

reported() { # binary, reason (ERE): the binary's own failure line says why
	echo "$out" | grep -qE "^not ok [0-9]+ [^ ]*:$1 # .*$2"; echo $?
}

if [ -n "$debug" ]; then
	echo "KTAP version 1"
	echo "1..6"
	out=$(VM_KERNEL=debug "$VRS_TOP/tools/testing/vm/vm-chroot.sh" --tag runner-debug_detectors "$arch" \
		"$dir/debug_detectors.vmconf" 2>&1); rc=$?
	echo "$out" | sed 's/^/# /'
	check "debug_detectors_fail_run" $([ $rc != 0 ]; echo $?)
	# In the runner's own verdict (its "splat:" lines), not just the console.
	splat() { echo "$out" | grep -E '^# +splat: ' | grep -qE "$1"; echo $?; }
	check "kasan_use_after_free_reported" "$(splat 'BUG: KASAN: [a-z-]*use-after-free')"
	check "lockdep_inversion_reported" "$(splat 'possible circular locking dependency')"
	check "sleep_in_atomic_reported" "$(splat 'BUG: sleeping function called from invalid context')"
	check "list_corruption_reported" "$(splat 'list_add corruption')"
	check "kmemleak_leak_reported" "$(splat 'unreferenced object( \([a-z]+\))? 0x')"
	exit $bad
fi

echo "KTAP version 1"
echo "1..18"
boot fail_case
check "failing_case_fails_run" $([ $rc != 0 ]; echo $?)
check "failing_case_reported" $(echo "$out" | grep -qE '^not ok [0-9]+ .*fail_case:.*fails_on_purpose'; echo $?)
check "passing_case_still_counted" $(echo "$out" | grep -qE '^ok [0-9]+ .*fail_case:.*passes'; echo $?)
boot warn
check "kernel_warning_fails_run" $([ $rc != 0 ]; echo $?)
check "kernel_warning_reported" $(echo "$out" | grep -qE '^not ok [0-9]+ .*kernel_log_clean.*WARNING'; echo $?)
check "warning_taint_reported" $(echo "$out" | grep -qE '^not ok [0-9]+ .*taint_clean'; echo $?)
boot hang
check "hung_guest_fails_run" $([ $rc != 0 ]; echo $?)
check "hung_guest_reported" $(echo "$out" | grep -qE '^not ok [0-9]+ .*boot_completed # guest timed out'; echo $?)
# KTAP that must not pass, one binary per kind, next to a binary that
# passes; and a conf that declares devices where none is bound.
boot bad_ktap
check "bad_ktap_fails_run" $([ $rc != 0 ]; echo $?)
check "good_binary_beside_bad_ktap_passes" $(echo "$out" | grep -qE '^ok [0-9]+ .*:vm_runner:fail_case_pass_only:global.passes$' &&
	! echo "$out" | grep -qE '^not ok [0-9]+ [^ ]*:vm_runner:fail_case_pass_only( |$)'; echo $?)
check "missing_plan_reported" $(reported vm_runner:ktap_no_plan 'no plan line')
check "plan_count_mismatch_reported" $(reported vm_runner:ktap_plan_mismatch 'planned 2 cases, reported 3')
check "duplicate_number_reported" $(reported vm_runner:ktap_duplicate 'duplicate test number 2')
check "out_of_order_number_reported" $(reported vm_runner:ktap_out_of_order 'test number 2 out of order')
check "no_case_run_reported" $(reported vm_runner:ktap_no_case 'ran no test case')
check "all_cases_skipped_reported" $(reported vm_runner:ktap_all_skipped 'all 2 cases skipped')
check "declared_devices_none_bound_fails" $(echo "$out" | grep -qE '^not ok [0-9]+ .*:virtio_mmio:mmio_devices:global.transport_bound_devices$' &&
	grep -q 'none is bound' "$VRS_TOP/build/$arch/vm/runner-bad_ktap/console.log"; echo $?)
check "declared_devices_nothing_skipped" $(echo "$out" | grep -qE '^not ok [0-9]+ .*:virtio_mmio:mmio_devices:global.drivers_bound$' &&
	! echo "$out" | grep -qE '^ok [0-9]+ .*:virtio_mmio:mmio_devices:.* # SKIP'; echo $?)
exit $bad
