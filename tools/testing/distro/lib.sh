# SPDX-License-Identifier: GPL-2.0
#
# Shared by the distro test scripts (sourced after tools/testing/vm/lib.sh).

# in_root ROOT [SRC:DST]... -- COMMAND: run the shell COMMAND in the
# chroot ROOT (a Debian system: a directory, or a filesystem image that is
# loop-mounted for the command) with proc, sys and dev, and each host
# directory SRC bound at DST, with a clean environment. In private mount
# and PID namespaces: nothing stays mounted and no process stays behind
# when the command ends, however it ends (and a reboot(2) in the chroot
# only ends the PID namespace, not the machine).
in_root() {
	local r=$1 binds=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do binds+=("$1"); shift; done
	[ "${1:-}" = -- ] && shift
	unshare --mount --propagation private --pid --fork -- /bin/bash -c '
		set -e; r=$1; cmd=$2; shift 2
		if [ -f "$r" ]; then
			m=$(mktemp -d); mount -o loop "$r" "$m"; r=$m
		fi
		mount -t proc proc "$r/proc"; mount -t sysfs sys "$r/sys"; mount --rbind /dev "$r/dev"
		for b in "$@"; do mkdir -p "$r${b#*:}"; mount --bind "${b%%:*}" "$r${b#*:}"; done
		chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
			PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c "$cmd"
	' x "$r" "$*" "${binds[@]}"
}
