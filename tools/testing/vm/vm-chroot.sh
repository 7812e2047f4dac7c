#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run vm.sh (the VM runner) inside the build chroot. Same arguments as vm.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
args=$(printf "'%s' " "$@")
vrs_chroot "'$VRS_TOP/tools/testing/vm/vm.sh' $args"
