#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-kernel.sh ARCH: the debug kernel for ARCH (issue 10), from the cached
# Debian 7.3 source and the fragments in this directory (see NOTES.md), into
# $VRS_KDIR/debug-ARCH/:
#   .config, vmlinux, the boot image (bzImage / Image), the modules it builds
#   installed under mods/ (depmod'ed), and a prepared tree for building this
#   project's modules (M=) against it.
# Built with clang (LLVM=1): 7.3's RUST depends on !KASAN || CC_IS_CLANG.
# Rebuilt only when the source release, a fragment or this script changes
# (the stamp .vrs-stamp holds their hash); otherwise it says so and exits.
# Runs on the host; the build itself runs in the chroot.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
VRS_STEP=debug-kernel
arch=$(vrs_karch "${1:?usage: build-kernel.sh ARCH}")
vrs_load_kernel
here=$VRS_TOP/tools/testing/vm/debug-kernel
out=$VRS_KDIR/debug-$arch
key="$VRS_KVER $(cat "$here/common.config" "$here/$arch.config" "$0" | md5sum | cut -d' ' -f1)"
if [ "$(cat "$out/.vrs-stamp" 2>/dev/null)" = "$key" ]; then
	vrs_log "$arch: debug kernel built ($out)"
	exit 0
fi
case $arch in
x86_64) image=bzImage; path=arch/x86/boot/bzImage;;
arm64) image=Image; path=arch/arm64/boot/Image;;
esac
vrs_log "$arch: building the debug kernel (log: $out.log)"
start=$SECONDS
rm -rf "$out"; mkdir -p "$out"
# -n: allnoconfig plus the fragments (merge_config.sh runs make itself).
# Any option of a fragment that does not survive the dependency resolution
# is an error here, not a silently different kernel.
vrs_chroot "cd '$VRS_KSRC' && ARCH=$arch LLVM=1 scripts/kconfig/merge_config.sh -n -O '$out' \
	'$here/common.config' '$here/$arch.config'" >"$out.log" 2>&1 ||
	{ tail -n 30 "$out.log" >&2; vrs_die "$arch: merge_config.sh failed"; }
if grep -E 'Value requested for|not in final .config|Actual value' "$out.log" >&2; then
	vrs_die "$arch: the fragments ask for options the configuration did not keep (above)"
fi
vrs_chroot "make -s -C '$VRS_KSRC' O='$out' ARCH=$arch LLVM=1 -j\$(nproc) $image modules &&
	make -s -C '$VRS_KSRC' O='$out' ARCH=$arch LLVM=1 INSTALL_MOD_PATH='$out/mods' \
		INSTALL_MOD_STRIP=1 DEPMOD=/sbin/depmod modules_install" >>"$out.log" 2>&1 ||
	{ tail -n 40 "$out.log" >&2; vrs_die "$arch: the debug kernel build failed; see $out.log"; }
cp "$out/$path" "$out/boot-image"
krel=$(cat "$out/include/config/kernel.release")
echo "VRS_DEBUG_KREL=$krel" >"$out/kernel.env"
echo "$key" >"$out/.vrs-stamp"
vrs_log "$arch: debug kernel $krel built in $((SECONDS - start)) s"
