#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh [--debug] ARCH: build every module of the tree (Kbuild, against
# the prepared Debian output tree) and every selftest (static) for one arch,
# into build/ARCH/. CONFIG_<SYM>=<m|n> in the environment overrides a
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

# Kconfig symbols -> CONFIG_X=default, unless set in the environment; "n"
# when a "depends on SYM" (one plain symbol) is not set in the kernel's
# .config (VRING_KUNIT_TEST needs KUNIT: the debug kernel only).
syms=()
while read -r sym def dep; do
	val=${!sym:-$def}
	if [ "$dep" != - ] && ! grep -qE "^CONFIG_$dep=[ym]\$" "$out/.config"; then
		val=n
	fi
	syms+=("$sym=$val")
done < <(awk '/^config /{s="CONFIG_"$2; d="-"}
	/^[ \t]+depends on [A-Z0-9_]+[ \t]*$/{d=$3}
	/^[ \t]+default /{if(s){print s, $2, d; s=""}}' "$VRS_TOP/Kconfig")

# Rust bindings for the kernel's virtio API (not among the kernel crate's
# bindings): bindgen with the exact options and clang flags the kernel's own
# bindings were generated with (from its .cmd file), restricted to the virtio
# items; every other type resolves to kernel::bindings. Regenerated when the
# header, the shim header or the kernel tree changes.
gen=$bdir/gen
mkdir -p "$gen"
vb=$gen/virtio_bindings.rs
hdr=$VRS_TOP/drivers/virtio/bindings/virtio_helper.h
cmd=$out/rust/bindings/.bindings_generated.rs.cmd
# (No output yet, as in a fresh clone: find fails, which must not end the
# script under pipefail; the -s test below regenerates it.)
newer_h=
[ -s "$vb" ] && newer_h=$(find "$VRS_TOP/drivers/virtio/bindings" -name '*.h' -newer "$vb" | head -n1)
if [ ! -s "$vb" ] || [ -n "$newer_h" ] ||
	[ "$VRS_TOP/include/uapi/linux/virtio_mmio_msi.h" -nt "$vb" ] ||
	[ "$cmd" -nt "$vb" ]; then
	vrs_log "$arch: bindgen (virtio)"
	line=$(sed -n 's/^savedcmd_rust\/bindings\/bindings_generated.rs := bindgen [^ ]* //p' "$cmd")
	bopts=${line%% -o rust/bindings/bindings_generated.rs -- *}
	copts=${line#* -- }
	copts=${copts%%;*}
	copts=$(echo "$copts" | sed 's/-Wp,-MMD,[^ ]*//')
	allow=(--allowlist-type 'virtio_device|virtqueue|virtio_config_ops|virtqueue_info|virtio_shm_region'
		--allowlist-type 'virtio_device_id|virtio_map|vq_callback_t|vringh_config_ops|virtio_map_ops|vduse_vq_group'
		--opaque-type 'vringh_config_ops|virtio_map_ops|vduse_vq_group'
		--allowlist-function 'register_virtio_device|unregister_virtio_device|vring_create_virtqueue|vring_del_virtqueue'
		--allowlist-function 'virtqueue_get_(vring_size|desc_addr|avail_addr|used_addr)|vring_interrupt'
		--allowlist-function 'virtio_config_changed|vring_transport_features|vring_notification_data'
		--allowlist-function 'virtio_device_(freeze|restore)|vrs_virtio_.*'
		--allowlist-type 'virtio_driver|vrs_raw_queue_ops|vrs_raw_queue_info|hwrng'
		--allowlist-function '__register_virtio_driver|unregister_virtio_driver|virtio_reset_device'
		--allowlist-function 'vrs_raw_queue_ops_.*|vrs_dma_.*|hwrng_(register|unregister)|vrs_blk_.*'
		--allowlist-type 'vrs_blk_.*'
		--allowlist-var 'VIRTIO_(F|MMIO|CONFIG_S|TRANSPORT_F|ID)_.*|VIRTIO_MMIO_.*|VRING_.*|VRS_RAW_QUEUE_ABI'
		--no-recursive-allowlist)
	# The kernel's command is shell text with make's $(pound) for '#': run it
	# as a script so its quoting means what it meant to make.
	{
		echo "cd '$out'"
		echo "bindgen '$hdr' ${bopts//\$(pound)/#} ${allow[*]@Q} -o '$vb.tmp' -- $copts -I'$VRS_TOP/drivers/virtio/bindings'"
	} >"$gen/bindgen.sh"
	vrs_chroot "bash -e '$gen/bindgen.sh'" && mv "$vb.tmp" "$vb"
fi

# The host tools the VM tests run next to QEMU (the ivshmem server and
# peer): host binaries, built with the host's cargo (they run in the
# chroot as well). Incremental: a no-op when nothing changed.
if [ -z "$debug" ]; then
	(cd "$VRS_TOP/tools/ivshmem" && cargo build --release --quiet --bins) ||
		vrs_die "cargo build of tools/ivshmem failed"
fi

vrs_log "$arch: modules ($what)"
vrs_chroot "make -s -C '$out' M='$VRS_TOP' MO='$bdir/modules' ARCH=$arch \
	$kmake VRS_GEN='$gen' ${CLIPPY:+CLIPPY=1} ${syms[*]} -j\$(nproc) modules"
# The list of modules built, for the VM image and the load/unload test.
# (modules.order, not a directory scan: stale objects of removed modules stay out)
sed 's|\.o$|.ko|' "$bdir/modules/modules.order" >"$bdir/modules.list"

if [ -n "$debug" ]; then
	[ -d "$VRS_TOP/build/$arch/selftests" ] || vrs_die "build the stock $arch tree first (build.sh $arch): its selftests are shared"
	ln -sfn "../$arch/selftests" "$bdir/selftests"
	exit 0
fi
vrs_log "$arch: selftests"
vrs_chroot "make -s -C '$VRS_TOP/tools/testing/selftests' ARCH=$arch \
	CROSS_COMPILE=$(vrs_cross "$arch") KSRC='$VRS_KSRC' O='$bdir/selftests' \
	MODULES_LIST='$bdir/modules.list' -j\$(nproc)"
