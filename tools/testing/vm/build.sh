#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh [--debug] ARCH: build every module of the tree (Kbuild, against
# the prepared Debian output tree; scripts/build-modules.sh, which the DKMS
# package uses too) and every selftest (static) for one arch, into
# build/ARCH/. CONFIG_<SYM>=<m|n> in the environment overrides a
# Kconfig default; CLIPPY=1 runs clippy over the Rust modules.
# --debug: the modules again, against the debug kernel's tree (clang,
# tools/testing/vm/debug-kernel), into build/ARCH-debug/; the selftests
# (user space) are the stock build's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
VRS_STEP=build
debug=
[ "${1:-}" = --debug ] && { debug=1; shift; }
arch=$(vrs_karch "${1:?usage: build.sh [--debug] ARCH}")
vrs_load_kernel
if [ -n "$debug" ]; then
	out=$VRS_KDIR/debug-$arch
	[ -f "$out/.vrs-stamp" ] || vrs_die "no debug kernel for $arch: tools/testing/vm/debug-kernel/build-kernel.sh $arch"
	bdir=$VRS_TOP/build/$arch-debug
	# The tree was built with LLVM=1 and no CROSS_COMPILE (clang takes
	# the target from ARCH); modules must use the same compiler.
	kmake="LLVM=1"
	what="debug kernel $(sed -n 's/^VRS_DEBUG_KREL=//p' "$out/kernel.env")"
else
	out=$VRS_KDIR/out-$arch
	[ -f "$out/.vrs-stamp" ] || vrs_die "no prepared $arch tree: run 'make setup'"
	bdir=$VRS_TOP/build/$arch
	kmake="CROSS_COMPILE=$(vrs_cross "$arch")"
	what="Debian $VRS_KREL"
fi
mkdir -p "$bdir"

# The host tools the VM tests run next to QEMU (the ivshmem server and
# peer): host binaries, built with the host's cargo (they run in the
# chroot as well). Incremental: a no-op when nothing changed.
if [ -z "$debug" ]; then
	(cd "$VRS_TOP/tools/ivshmem" && cargo build --release --quiet --bins) ||
		vrs_die "cargo build of tools/ivshmem failed"
fi

vrs_log "$arch: modules ($what)"
# Kconfig overrides from the environment (the chroot starts with a clean one).
over=()
while IFS='=' read -r k v; do over+=("$k=$v"); done < <(env | grep -E '^CONFIG_[A-Z0-9_]+=' || true)
vrs_chroot "'$VRS_TOP/scripts/build-modules.sh' '$out' '$bdir' ARCH=$arch $kmake \
	${CLIPPY:+CLIPPY=1} ${over[*]@Q} -j\$(nproc)"

if [ -n "$debug" ]; then
	[ -d "$VRS_TOP/build/$arch/selftests" ] || vrs_die "build the stock $arch tree first (build.sh $arch): its selftests are shared"
	ln -sfn "../$arch/selftests" "$bdir/selftests"
	exit 0
fi
vrs_log "$arch: selftests"
vrs_chroot "make -s -C '$VRS_TOP/tools/testing/selftests' ARCH=$arch \
	CROSS_COMPILE=$(vrs_cross "$arch") KSRC='$VRS_KSRC' O='$bdir/selftests' \
	MODULES_LIST='$bdir/modules.list' -j\$(nproc)"
