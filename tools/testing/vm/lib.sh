# SPDX-License-Identifier: GPL-2.0
# Common definitions for the build/VM scripts. Sourced, never executed.
#
# Everything fetched or built lives in the cache, outside the checkout:
#   $VRS_CACHE/chroot                 Debian trixie build chroot (toolchain, QEMU)
#   $VRS_CACHE/kernel/<rel>/          one Debian 7.3.x kernel release:
#       linux-source-<series>/        unpacked Debian source (reference + Kbuild)
#       out-{x86_64,arm64}/           prepared output trees (modules_prepare)
#       pkg-{x86_64,arm64}/           unpacked headers/binary/modules packages
#   $VRS_CACHE/kernel.env             which release is current (written by setup)

: "${VRS_CACHE:=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/virtio-rs}"
: "${VRS_KSERIES:=7.3}"          # the Debian kernel series we target
VRS_CHROOT=$VRS_CACHE/chroot
VRS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)

vrs_log() { printf '[%s] %s\n' "${VRS_STEP:-vrs}" "$*" >&2; }
vrs_die() { printf '[%s] error: %s\n' "${VRS_STEP:-vrs}" "$*" >&2; exit 1; }

# Debian arch name <-> kernel ARCH name.
vrs_debarch() { case $1 in x86_64|amd64) echo amd64;; arm64|aarch64) echo arm64;; *) vrs_die "unknown arch '$1'";; esac; }
vrs_karch() { case $1 in x86_64|amd64) echo x86_64;; arm64|aarch64) echo arm64;; *) vrs_die "unknown arch '$1'";; esac; }
vrs_cross() { case $(vrs_karch "$1") in x86_64) echo x86_64-linux-gnu-;; arm64) echo aarch64-linux-gnu-;; esac; }

# Load the current kernel release (set by setup.sh).
vrs_load_kernel() {
	[ -f "$VRS_CACHE/kernel.env" ] || vrs_die "no prepared kernel in $VRS_CACHE: run 'make setup' first"
	# shellcheck source=/dev/null
	. "$VRS_CACHE/kernel.env"
	VRS_KDIR=$VRS_CACHE/kernel/$VRS_KREL
	VRS_KSRC=$VRS_KDIR/linux-source-$VRS_KSERIES
}

# Run a command inside the chroot. Everything happens in a private mount
# namespace, so the mounts vanish with the process even if it is killed;
# the trap unmounts explicitly on the normal path as well. The checkout and
# the cache are bind-mounted at their host paths, so paths are the same
# inside and outside.
vrs_chroot() {
	[ -x "$VRS_CHROOT/usr/bin/apt-get" ] || vrs_die "chroot missing or incomplete: run 'make setup'"
	local dir=$PWD
	unshare --mount --propagation private -- /bin/bash -c '
		set -e
		root=$1 top=$2 cache=$3 dir=$4; shift 4
		mnts=()
		cleanup() { for ((i=${#mnts[@]}-1; i>=0; i--)); do umount -l "${mnts[i]}" 2>/dev/null || true; done; }
		trap cleanup EXIT
		m() { mount "$@"; mnts+=("${@: -1}"); }
		m -t proc proc "$root/proc"
		m -t sysfs sys "$root/sys"
		m --rbind /dev "$root/dev"
		mkdir -p "$root$top" "$root$cache"
		m --bind "$cache" "$root$cache"
		m --bind "$top" "$root$top"
		[ -e /dev/kvm ] || true
		cd "$dir" 2>/dev/null || cd /
		chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			VRS_CACHE="$cache" CI="${CI:-}" \
			/bin/bash -c "cd \"$dir\" && $*"
	' vrs "$VRS_CHROOT" "$VRS_TOP" "$VRS_CACHE" "$dir" "$@"
}
