#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make run / make shell: build for ARCH, boot the stock Debian kernel under
# QEMU with every module of this tree loaded, and show what the kernel says
# about them (run) or give a shell in the guest (shell).
# --debug (make run DEBUG=1): the debug kernel instead (KASAN, lockdep,
# kmemleak, KUnit: the vring KUnit suite runs when its module loads), with
# the modules built against it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
VRS_STEP=run
shell= debug= tagsfx=
while [ $# -gt 0 ]; do
	case $1 in
	--shell) shell=--shell; shift;;
	--debug) debug=1; shift;;
	*) break;;
	esac
done
arch=$(vrs_karch "${1:-x86_64}")
"$VRS_TOP/tools/testing/vm/setup.sh"
"$VRS_TOP/tools/testing/vm/build.sh" "$arch"
bdir=$VRS_TOP/build/$arch
if [ -n "$debug" ]; then
	"$VRS_TOP/tools/testing/vm/debug-kernel/build-kernel.sh" "$arch"
	"$VRS_TOP/tools/testing/vm/build.sh" --debug "$arch"
	bdir=$VRS_TOP/build/$arch-debug
	export VM_KERNEL=debug
	tagsfx=.debug
fi
conf=$bdir/run.conf
{
	echo 'VM_TESTS=""'
	echo 'VM_STOCK_MODULES=""'
	printf 'VM_INSMOD="'
	# every module of the tree, except the runner's splat helper (it only warns when asked)
	sed 's|.*/||; s|\.ko$||' "$bdir/modules.list"
	echo '"'
} >"$conf"
if [ -n "$shell" ]; then
	exec "$VRS_TOP/tools/testing/vm/vm-chroot.sh" --shell --tag run "$arch" "$conf"
fi
rc=0
"$VRS_TOP/tools/testing/vm/vm-chroot.sh" --tag run "$arch" "$conf" || rc=$?
log=$VRS_TOP/build/$arch/vm/run$tagsfx/console.log
echo "== kernel log of the boot (modules loaded):"
sed -n '/VRS-DMESG-BEGIN boot/,/VRS-DMESG-END boot/p' "$log" | sed '1d;$d'
echo "== loaded modules of this tree:"
sed -n 's|.*/||; s|\.ko$||p' "$bdir/modules.list" | while read -r m; do
	grep -q "insmod .*$m.* failed" "$log" && echo "  $m: FAILED to load" || echo "  $m: loaded"
done
exit $rc
