#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh ARCH: build every module of the tree (Kbuild, against the prepared
# Debian output tree) and every selftest (static) for one arch, into
# build/ARCH/. CONFIG_<SYM>=<m|n> in the environment overrides a Kconfig
# default; CLIPPY=1 runs clippy over the Rust modules.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
VRS_STEP=build
arch=$(vrs_karch "${1:?usage: build.sh ARCH}")
vrs_load_kernel
out=$VRS_KDIR/out-$arch
[ -f "$out/.vrs-stamp" ] || vrs_die "no prepared $arch tree: run 'make setup'"
bdir=$VRS_TOP/build/$arch
mkdir -p "$bdir"

# Kconfig symbols -> CONFIG_X=default, unless set in the environment.
syms=()
while read -r sym def; do
	val=${!sym:-$def}
	syms+=("$sym=$val")
done < <(awk '/^config /{s="CONFIG_"$2} /^[ \t]+default /{if(s){print s, $2; s=""}}' "$VRS_TOP/Kconfig")

vrs_log "$arch: modules (Debian $VRS_KREL)"
vrs_chroot "make -s -C '$out' M='$VRS_TOP' MO='$bdir/modules' ARCH=$arch \
	CROSS_COMPILE=$(vrs_cross "$arch") ${CLIPPY:+CLIPPY=1} ${syms[*]} -j\$(nproc) modules"
# The list of modules built, for the VM image and the load/unload test.
# (modules.order, not a directory scan: stale objects of removed modules stay out)
sed 's|\.o$|.ko|' "$bdir/modules/modules.order" >"$bdir/modules.list"

vrs_log "$arch: selftests"
vrs_chroot "make -s -C '$VRS_TOP/tools/testing/selftests' ARCH=$arch \
	CROSS_COMPILE=$(vrs_cross "$arch") KSRC='$VRS_KSRC' O='$bdir/selftests' \
	MODULES_LIST='$bdir/modules.list' -j\$(nproc)"
