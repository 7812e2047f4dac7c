#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# selftest.sh ARCH: prove that the VM runner fails a run for each kind of
# failure it must catch, by booting scenarios that fail on purpose
# (tools/testing/selftests/vm_runner/*.vmconf) and checking the runner's
# verdict and reason. Prints one KTAP line per check.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
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

echo "KTAP version 1"
echo "1..8"
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
exit $bad
