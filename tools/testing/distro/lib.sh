# SPDX-License-Identifier: GPL-2.0
#
# Shared by the distro test scripts (sourced after tools/testing/vm/lib.sh).

# in_root ROOT [SRC:DST]... -- COMMAND: run the shell COMMAND in the
# chroot ROOT (a Debian system: the distro image, mounted or unpacked) with
# proc, sys and dev, and each host directory SRC bound at DST, in a private
# mount namespace (nothing stays mounted), with a clean environment.
in_root() {
	local r=$1 binds=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do binds+=("$1"); shift; done
	[ "${1:-}" = -- ] && shift
	unshare --mount --propagation private -- /bin/bash -c '
		set -e; r=$1; cmd=$2; shift 2
		mount -t proc proc "$r/proc"; mount -t sysfs sys "$r/sys"; mount --rbind /dev "$r/dev"
		for b in "$@"; do mkdir -p "$r${b#*:}"; mount --bind "${b%%:*}" "$r${b#*:}"; done
		chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
			PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c "$cmd"
	' x "$r" "$*" "${binds[@]}"
}
