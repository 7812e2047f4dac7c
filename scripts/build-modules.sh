#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-modules.sh KOUT OUTDIR [ARG...]: build this tree's kernel modules
# against a prepared kernel output tree. Used by the project's build
# (tools/testing/vm/build.sh, inside its chroot) and by the DKMS package
# (scripts/dkms-build.sh, on the user's machine); it needs only what the
# kernel's own Rust build needs (make, the kernel's C compiler, rustc,
# bindgen).
#
#   KOUT    the kernel's output tree after 'make modules_prepare' with
#           CONFIG_RUST=y: .config, rust/ (the kernel crate's metadata) and
#           the command line its bindings were generated with
#   OUTDIR  gets gen/ (our bindgen output) and modules/ (objects, .ko)
#   ARG     make arguments (ARCH=, CROSS_COMPILE=, LLVM=1, CLIPPY=1, -j4)
#           and CONFIG_<SYM>=<m|n>, which override a Kconfig default (as
#           CONFIG_<SYM> in the environment does)
#
# Kconfig defaults become CONFIG_X=<default>; "n" when a "depends on SYM"
# (one plain symbol) is not set in the kernel's .config.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
kout=${1:?usage: build-modules.sh KOUT OUTDIR [ARG...]}
odir=${2:?usage: build-modules.sh KOUT OUTDIR [ARG...]}
shift 2
die() { echo "build-modules.sh: $*" >&2; exit 1; }
[ -f "$kout/.config" ] || die "$kout: no .config (not a prepared kernel tree)"
cmd=$kout/rust/bindings/.bindings_generated.rs.cmd
[ -f "$cmd" ] || die "$kout: no rust/bindings (kernel without CONFIG_RUST, or not prepared)"
mkdir -p "$odir"
odir=$(cd "$odir" && pwd)

declare -A over=()
margs=()
for a in "$@"; do
	case $a in
	CONFIG_*=*) over[${a%%=*}]=${a#*=};;
	*) margs+=("$a");;
	esac
done
syms=()
while read -r sym def dep; do
	val=${over[$sym]:-${!sym:-$def}}
	if [ "$dep" != - ] && ! grep -qE "^CONFIG_$dep=[ym]\$" "$kout/.config"; then
		val=n
	fi
	syms+=("$sym=$val")
done < <(awk '/^config /{s="CONFIG_"$2; d="-"}
	/^[ \t]+depends on [A-Z0-9_]+[ \t]*$/{d=$3}
	/^[ \t]+default /{if(s){print s, $2, d; s=""}}' "$top/Kconfig")

# Rust bindings for the kernel's virtio API (not among the kernel crate's
# bindings): bindgen with the exact options and clang flags the kernel's own
# bindings were generated with (from its .cmd file), restricted to the virtio
# items; every other type resolves to kernel::bindings. Regenerated when a
# header, the kernel tree or this script (its allowlist) changes.
gen=$odir/gen
mkdir -p "$gen"
vb=$gen/virtio_bindings.rs
hdr=$top/drivers/virtio/bindings/virtio_helper.h
# (No output yet, as in a fresh clone: find fails, which must not end the
# script under pipefail; the -s test below regenerates it.)
newer_h=
[ -s "$vb" ] && newer_h=$(find "$top/drivers/virtio/bindings" -name '*.h' -newer "$vb" | head -n1)
if [ ! -s "$vb" ] || [ -n "$newer_h" ] ||
	[ "$top/include/uapi/linux/virtio_mmio_msi.h" -nt "$vb" ] ||
	[ "$cmd" -nt "$vb" ] || [ "${BASH_SOURCE[0]}" -nt "$vb" ]; then
	echo "  BINDGEN $vb" >&2
	line=$(sed -n 's/^savedcmd_rust\/bindings\/bindings_generated.rs := bindgen [^ ]* //p' "$cmd")
	[ -n "$line" ] || die "$cmd: no bindgen command line"
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
		--allowlist-function 'vrs_raw_queue_ops_.*|vrs_dma_.*|vrs_virt_to_phys|hwrng_(register|unregister)|vrs_blk_.*'
		--allowlist-type 'vrs_blk_.*'
		--allowlist-var 'VIRTIO_(F|MMIO|CONFIG_S|TRANSPORT_F|ID)_.*|VIRTIO_MMIO_.*|VRING_.*|VRS_RAW_QUEUE_ABI'
		--no-recursive-allowlist)
	# Without rustfmt (a DKMS machine needs none) bindgen says so on every
	# build: the output is the same, unformatted.
	fmt=
	command -v rustfmt >/dev/null 2>&1 || fmt="--formatter none"
	# The kernel's command is shell text with make's $(pound) for '#': run it
	# as a script so its quoting means what it meant to make.
	{
		echo "cd '$kout'"
		echo "bindgen '$hdr' ${bopts//\$(pound)/#} ${allow[*]@Q} $fmt -o '$vb.tmp' -- $copts -I'$top/drivers/virtio/bindings'"
	} >"$gen/bindgen.sh"
	bash -e "$gen/bindgen.sh"
	mv "$vb.tmp" "$vb"
fi

make -s -C "$kout" M="$top" MO="$odir/modules" VRS_GEN="$gen" "${syms[@]}" "${margs[@]}" modules
# The list of modules built (modules.order, not a directory scan: stale
# objects of removed modules stay out).
sed 's|\.o$|.ko|' "$odir/modules/modules.order" >"$odir/modules.list"
