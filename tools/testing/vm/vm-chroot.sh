#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run vm.sh (the VM runner) inside the build chroot. Same arguments as vm.sh.
# The chroot starts with an empty environment (vrs_chroot): the runner's
# environment switches (VM_KERNEL, VM_DEBUG_TIMEOUT_SCALE) and the confs' own
# (IVB_ROUNDS, IVT_ROUNDS: ivshmem ping-pong rounds) are passed on.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
args=$(printf "'%s' " "$@")
envs=
for v in VM_KERNEL VM_DEBUG_TIMEOUT_SCALE IVB_ROUNDS IVT_ROUNDS; do
	[ -z "${!v:-}" ] || envs+="$v='${!v}' "
done
vrs_chroot "$envs'$VRS_TOP/tools/testing/vm/vm.sh' $args"
