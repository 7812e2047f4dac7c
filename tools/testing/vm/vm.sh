#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vm.sh [--shell] [--timeout S] [--tag T] ARCH CONF
#
# Boot Debian's stock kernel for ARCH under QEMU (TCG) with an initramfs
# holding busybox, this tree's modules, the stock modules CONF asks for and
# the selftest binaries; run the selftests; collect KTAP from the serial
# console. Runs inside the build chroot (run-vm.sh puts it there).
#
# CONF is a shell fragment (see tools/testing/selftests/*/vm.conf):
#   VM_TESTS            selftest binaries, "area/name", run in order
#   VM_SAMPLES          samples/<area>/<name> programs to put in the image
#                       (/vrs/samples/<area>/<name>), "area/name"
#   VM_STOCK_MODULES    Debian modules to put in the image and modprobe
#   VM_STOCK_NOLOAD     Debian modules to put in the image only (the tests load them)
#   VM_INSMOD           our modules to load before the tests, "name[ args]" per line
#   VM_QEMU_<arch>      extra QEMU arguments (devices) for that arch
#   VM_MACHINE_<arch>   the -M argument for that arch (default: pc / virt,gic-version=3)
#   VM_ARCHES           the arches this conf boots on (default: all); on the
#                       others the runner reports nothing and boots nothing
#   VM_EXIT             how the guest ends: poweroff (default) or reboot
#                       (QEMU runs with -no-reboot; for machines without
#                       a power-off path, e.g. microvm without ACPI)
#   VM_HOST_HELPER      a host command run in the background during the boot
#                       (QMP socket: $VM_WORK/qmp.sock, console: $VM_WORK/console.log);
#                       its whole process group is killed when QEMU exits
#                       and the guest's QEMU command line in $VM_WORK/qemu.argv
#                       (NUL-separated, without -serial and -qmp): a helper
#                       may boot a second guest from it, e.g. with a role
#                       added to its -append (ivshmem/vm.twoguest.conf)
#   VM_HOST_READY       a file the helper creates (in VM_WORK) once QEMU
#                       may start, e.g. when a server QEMU connects to is
#                       listening; the runner waits up to 30 s for it
#   VM_TAPS             "NAME:QUEUES:ADDR/PREFIX ...": the boot runs in a
#                       network namespace of its own holding these tap
#                       devices (tap.py), for "-netdev tap,ifname=NAME,
#                       script=no,downscript=no,queues=QUEUES"; the helper
#                       runs there too (a conf that wants an echo server
#                       on ADDR starts net_echo.py in VM_HOST_HELPER).
#                       Needs /dev/net/tun and unshare --net
#   VM_APPEND           extra kernel command line
#   VM_APPEND_<arch>    more of it, for that arch only
#   VM_QEMU_BUILD_<arch> which QEMU boots that arch: "stock" (Debian's, the
#                       default) or "patched" (tools/qemu, built by setup)
#   VM_EXPECT_DEVICES   how many devices the conf gives the driver under test
#                       (VM_EXPECT_DEVICES_<arch>: for that arch), passed to
#                       the guest as vrs.devices=N: a test that needs devices
#                       then fails when none is bound instead of skipping; 0
#                       (default) declares none, where a skip is legitimate
#   VM_TIMEOUT          seconds for the whole boot (default 300)
#   VM_MEM              guest memory in MiB (default 1024)
#   VM_SMP              guest CPUs (default 2)
#   VM_GUEST_CMDS       shell lines the guest runs after the modules load,
#                       before VM_SHOW_STATE's state and the tests (make run)
#   VM_SHOW_STATE       1: print /proc/interrupts and the transport's debugfs
#                       files after the modules load (make run)
#   VM_DEBUG_TIMEOUT_SCALE  VM_TIMEOUT multiplier on the debug kernel (default 4)
# and may create files in $VM_WORK (this boot's work directory, empty).
#
# VM_KERNEL=debug in the environment boots the debug kernel instead
# (tools/testing/vm/debug-kernel: KASAN, lockdep, kmemleak, ...) with this
# tree's modules built against it (build/ARCH-debug, 'build.sh --debug')
# and its own modules for VM_STOCK_MODULES; the tag gets a ".debug" suffix.
# At the end of the boot kmemleak is scanned and what it reports fails
# kernel_log_clean.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
VRS_STEP=vm
orig_args=("$@")
shell= timeout_override= tag=
while [ $# -gt 2 ]; do
	case $1 in
	--shell) shell=1; shift;;
	--timeout) timeout_override=$2; shift 2;;
	--tag) tag=$2; shift 2;;
	*) break;;
	esac
done
arch=$(vrs_karch "${1:?usage: vm.sh [--shell] ARCH CONF}")
conf=${2:?usage: vm.sh [--shell] ARCH CONF}
deb=$(vrs_debarch "$arch")
vrs_load_kernel

name=${tag:-$(basename "$(dirname "$conf")")}
pkg=$VRS_KDIR/pkg-$arch
case ${VM_KERNEL:-stock} in
stock)
	bdir=$VRS_TOP/build/$arch
	krel=$VRS_KREL-$deb
	kmods=$pkg/usr/lib/modules/$krel
	kernel=$kmods/vmlinuz.unsigned
	debug=;;
debug)
	dk=$VRS_KDIR/debug-$arch
	[ -f "$dk/kernel.env" ] || vrs_die "no debug kernel for $arch: tools/testing/vm/debug-kernel/build-kernel.sh $arch"
	# shellcheck source=/dev/null
	. "$dk/kernel.env"
	bdir=$VRS_TOP/build/$arch-debug
	krel=$VRS_DEBUG_KREL
	kmods=$dk/mods/lib/modules/$krel
	kernel=$dk/boot-image
	debug=1
	name=$name.debug;;
*) vrs_die "VM_KERNEL: stock or debug, not '$VM_KERNEL'";;
esac
work=$VRS_TOP/build/$arch/vm/$name
root=$work/root
rm -rf "$work"; mkdir -p "$root"/{bin,dev,proc,sys,tmp,vrs/tests,vrs/modules,lib/modules/"$krel"}

VM_TESTS= VM_SAMPLES= VM_STOCK_MODULES= VM_STOCK_NOLOAD= VM_INSMOD= VM_APPEND= VM_TIMEOUT=300 VM_MEM=1024 VM_SMP=2 VM_SHOW_STATE= VM_GUEST_CMDS=
VM_ARCHES= VM_HOST_HELPER= VM_HOST_READY= VM_TAPS= VM_EXIT=poweroff VM_EXPECT_DEVICES=0 VM_DEBUG_TIMEOUT_SCALE=${VM_DEBUG_TIMEOUT_SCALE:-4}
# The conf may create files (disk images) in VM_WORK, this boot's directory.
VM_WORK=$work
# shellcheck source=/dev/null
. "$conf"
qemu_extra_var=VM_QEMU_$arch
qemu_extra=${!qemu_extra_var:-}
append_var=VM_APPEND_$arch
VM_APPEND="$VM_APPEND ${!append_var:-}"
build_var=VM_QEMU_BUILD_$arch
qemu_build=${!build_var:-stock}
machine_var=VM_MACHINE_$arch
machine=${!machine_var:-}
expect_var=VM_EXPECT_DEVICES_$arch
expect=${!expect_var:-$VM_EXPECT_DEVICES}
[[ $expect =~ ^[0-9]+$ ]] || vrs_die "VM_EXPECT_DEVICES: a number, not '$expect'"
[ "$expect" = 0 ] || VM_APPEND="$VM_APPEND vrs.devices=$expect"
# KASAN reports every bug, not only its first (mm/kasan/report.c).
[ -n "$debug" ] && { VM_TIMEOUT=$((VM_TIMEOUT * VM_DEBUG_TIMEOUT_SCALE)); VM_APPEND="$VM_APPEND kasan_multi_shot"; }
[ -n "$timeout_override" ] && VM_TIMEOUT=$timeout_override
if [ -n "$VM_ARCHES" ] && ! [[ " $VM_ARCHES " == *" $arch "* ]]; then
	vrs_log "$arch/$name: not for this arch (VM_ARCHES=$VM_ARCHES)"
	echo "0 0 0" >"$work/result"
	exit 0
fi
# Taps: the whole runner again, in a network namespace of its own (the
# taps, their addresses and the helper vanish with it).
if [ -n "$VM_TAPS" ]; then
	if [ -z "${VRS_NETNS:-}" ]; then
		[ -c /dev/net/tun ] || vrs_die "VM_TAPS needs /dev/net/tun (modprobe tun)"
		unshare --net true 2>/dev/null || vrs_die "VM_TAPS needs network namespaces (unshare --net failed)"
		exec env VRS_NETNS=1 unshare --net -- "$0" "${orig_args[@]}"
	fi
	unset VRS_NETNS
	# shellcheck disable=SC2086
	python3 "$VRS_TOP/tools/testing/vm/tap.py" $VM_TAPS || vrs_die "VM_TAPS: cannot create '$VM_TAPS'"
fi

# busybox
case $arch in
x86_64) cp /bin/busybox "$root/bin/busybox";;
arm64) cp "$pkg/busybox/usr/bin/busybox" "$root/bin/busybox";;
esac

# this tree's modules
[ -f "$bdir/modules.list" ] || vrs_die "nothing built for $arch: run 'make ARCH=$arch'"
while read -r ko; do
	mkdir -p "$root/vrs/modules/$(dirname "$ko")"
	cp "$bdir/modules/$ko" "$root/vrs/modules/$ko"
done <"$bdir/modules.list"
cp "$bdir/modules.list" "$root/vrs/modules.list"

# stock modules (Debian's, or the debug kernel's own) with their
# dependencies, decompressed for busybox modprobe
declare -A seen=()
add_mod() {
	local m=$1 line path deps d
	line=$(grep -E "(^|/)${m//_/[-_]}\.ko(\.xz|\.zst|\.gz)?:" "$kmods/modules.dep" | head -n1) ||
		vrs_die "stock module '$m' not found in $kmods"
	path=${line%%:*}; deps=${line#*:}
	[ -n "${seen[$path]:-}" ] && return 0
	seen[$path]=1
	for d in $deps; do add_mod "$(basename "${d%%.ko*}")"; done
	mkdir -p "$root/lib/modules/$krel/$(dirname "$path")"
	case $path in
	*.xz) xz -dc "$kmods/$path" >"$root/lib/modules/$krel/${path%.xz}";;
	*.zst) zstd -qdc "$kmods/$path" >"$root/lib/modules/$krel/${path%.zst}";;
	*) cp "$kmods/$path" "$root/lib/modules/$krel/$path";;
	esac
}
for m in $VM_STOCK_MODULES $VM_STOCK_NOLOAD; do add_mod "$m"; done
cp "$kmods"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$krel/" 2>/dev/null || true
depmod -b "$root" "$krel" 2>/dev/null || vrs_die "depmod failed for the image"

# samples (built with the selftests): /vrs/samples/<area>/<name>
for t in $VM_SAMPLES; do
	[ -x "$bdir/selftests/samples/$t" ] || vrs_die "sample $t not built for $arch"
	mkdir -p "$root/vrs/samples/$(dirname "$t")"
	cp "$bdir/selftests/samples/$t" "$root/vrs/samples/$t"
done

# selftests
for t in $VM_TESTS; do
	[ -x "$bdir/selftests/$t" ] || vrs_die "selftest $t not built for $arch"
	mkdir -p "$root/vrs/tests/$(dirname "$t")"
	cp "$bdir/selftests/$t" "$root/vrs/tests/$t"
done

# /init: every line the host parses starts with "VRS-".
{
	cat <<-'INIT'
	#!/bin/busybox sh
	/bin/busybox --install -s /bin
	export PATH=/bin
	mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
	mount -t debugfs debugfs /sys/kernel/debug; mount -t tmpfs tmp /tmp
	echo "VRS-BOOTED $(cut -d' ' -f1 /proc/uptime)"
	dump_dmesg() { echo "VRS-DMESG-BEGIN $1"; dmesg -c; echo "VRS-DMESG-END $1"; }
	INIT
	# Watchdog (test boots, not the interactive shell): shortly before the
	# host gives up, show where the guest is stuck (blocked tasks, all CPUs'
	# backtraces, the kernel log) so that a hang in CI leaves a diagnosis.
	if [ -z "$shell" ]; then
		wd=$((VM_TIMEOUT > 60 ? VM_TIMEOUT - 30 : VM_TIMEOUT * 3 / 4))
		cat <<-INIT
		( sleep $wd; echo "VRS-WATCHDOG \$(cut -d' ' -f1 /proc/uptime): guest still running, dumping state"
		  echo w >/proc/sysrq-trigger; echo l >/proc/sysrq-trigger; dmesg; echo "VRS-WATCHDOG-END" ) &
		INIT
	fi
	# Debug kernel: what kmemleak suspects after the boot is not the tests'
	# (firmware tables, initramfs): mark it seen, report only what is new.
	# Before any module loads: a cleared object is never reported again,
	# so a leak of a probe must not be cleared with them.
	[ -n "$debug" ] && echo "echo scan >/sys/kernel/debug/kmemleak; echo clear >/sys/kernel/debug/kmemleak"
	for m in $VM_STOCK_MODULES; do echo "echo 'VRS-STEP modprobe $m'; modprobe $m || echo 'VRS-ERROR modprobe $m failed'"; done
	# Our modules' dependencies on each other (depends= in .modinfo) are
	# loaded first, once, without parameters: insmod does not resolve them.
	declare -A vrs_inserted=()
	vrs_insmod_line() { # name [params]
		local name=$1 ko dep
		shift
		[ -z "${vrs_inserted[$name]:-}" ] || return 0
		ko=$(grep -E "(^|/)$name\.ko\$" "$bdir/modules.list" | head -n1) || return 1
		for dep in $(grep -a -o 'depends=[A-Za-z0-9_,-]*' "$bdir/modules/$ko" | head -n1 | sed 's/^depends=//; s/,/ /g'); do
			vrs_insmod_line "$dep" || true # not ours: the kernel's, modprobe'd or built in
		done
		vrs_inserted[$name]=1
		echo "echo 'VRS-STEP insmod $name'; insmod /vrs/modules/$ko $* || echo 'VRS-ERROR insmod $name failed'"
	}
	while IFS= read -r l; do
		[ -n "$l" ] || continue
		set -- $l
		grep -qE "(^|/)$1\.ko\$" "$bdir/modules.list" || vrs_die "VM_INSMOD: no module $1 in this tree"
		vrs_insmod_line "$1" "${l#"$1"}"
	done <<<"$VM_INSMOD"
	[ -n "$VM_GUEST_CMDS" ] && printf '%s\n' "$VM_GUEST_CMDS"
	echo "dump_dmesg boot"
	# make run: the interrupts and the transport's per-device state.
	if [ -n "$VM_SHOW_STATE" ]; then
		cat <<-'INIT'
		echo "VRS-INTERRUPTS-BEGIN"; cat /proc/interrupts; echo "VRS-INTERRUPTS-END"
		echo "VRS-STATE-BEGIN"
		for f in /sys/kernel/debug/virtio_mmio_rs/*; do [ -f "$f" ] && { echo "${f##*/}:"; sed 's/^/    /' "$f"; }; done
		echo "VRS-STATE-END"
		INIT
	fi
	if [ -n "$shell" ]; then
		cat <<-'INIT'
		echo; echo "Modules in /vrs/modules (list: /vrs/modules.list), selftests in /vrs/tests."
		echo "Loaded:"; cat /proc/modules
		echo "Exit the shell to power off."
		setsid cttyhack sh -l
		INIT
	else
		for t in $VM_TESTS; do
			echo "echo 'VRS-TEST-BEGIN $t'; cd /tmp; /vrs/tests/$t; rc=\$?; echo \"VRS-TEST-END $t rc=\$rc\"; dump_dmesg $t"
		done
	fi
	# Debug kernel: forced kmemleak scans at the end; objects younger than
	# 5 s are never reported, hence the wait. Two scans: an object whose
	# contents changed since the previous scan (its checksum; a new object
	# has none yet) is taken as referenced for that scan, so a leak made
	# after the boot scan is reported by the second one only. Each leak it
	# prints starts with "unreferenced object", which fails kernel_log_clean.
	if [ -n "$debug" ]; then
		cat <<-'INIT'
		sleep 6; echo scan >/sys/kernel/debug/kmemleak; echo scan >/sys/kernel/debug/kmemleak
		echo "VRS-KMEMLEAK-BEGIN"; cat /sys/kernel/debug/kmemleak; echo "VRS-KMEMLEAK-END"
		dump_dmesg end
		INIT
	fi
	cat <<-'INIT'
	echo "VRS-TAINT $(cat /proc/sys/kernel/tainted)"
	echo "VRS-DONE $(cut -d' ' -f1 /proc/uptime)"
	INIT
	case $VM_EXIT in
	poweroff | reboot) echo "$VM_EXIT -f";;
	*) vrs_die "VM_EXIT: poweroff or reboot, not '$VM_EXIT'";;
	esac
} >"$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) >"$work/initrd.cpio"

# microvm has no HPET and no ACPI PM timer: the kernel can calibrate the TSC
# only against the PIT, which fails when the host is busy, and then hangs
# in calibrate_delay() (see host_tsc_khz.c). Tell it the TSC rate instead.
if [ "$arch" = x86_64 ] && [[ ${machine:-pc} == microvm* ]] && [[ " $VM_APPEND " != *" tsc_early_khz="* ]]; then
	tsc=$bdir/host_tsc_khz
	[ "$tsc" -nt "$VRS_TOP/tools/testing/vm/host_tsc_khz.c" ] ||
		cc -O2 -Wall -o "$tsc" "$VRS_TOP/tools/testing/vm/host_tsc_khz.c" || vrs_die "cannot build host_tsc_khz"
	khz=$("$tsc") || vrs_die "cannot measure the host's TSC rate"
	VM_APPEND="$VM_APPEND tsc_early_khz=$khz"
fi

[ -f "$kernel" ] || vrs_die "no kernel image $kernel"
case $arch in
x86_64) qemu=(qemu-system-x86_64 -M "${machine:-pc}" -cpu max); console=ttyS0;;
arm64) qemu=(qemu-system-aarch64 -M "${machine:-virt,gic-version=3}" -cpu max,pauth-impdef=on); console=ttyAMA0;;
esac
qemu+=(-accel tcg -smp "$VM_SMP" -m "$VM_MEM" -nodefaults -no-user-config -no-reboot -display none
	-kernel "$kernel" -initrd "$work/initrd.cpio"
	-append "console=$console loglevel=1 panic=-1 oops=panic rdinit=/init $VM_APPEND")
# shellcheck disable=SC2206
qemu+=($qemu_extra)
case $qemu_build in
stock) ;;
patched)
	qemu[0]=$VRS_CACHE/qemu/current/bin/${qemu[0]}
	[ -x "${qemu[0]}" ] || vrs_die "no patched QEMU (${qemu[0]}): run 'make setup'";;
*) vrs_die "VM_QEMU_BUILD_$arch: stock or patched, not '$qemu_build'";;
esac

if [ -n "$shell" ]; then
	exec "${qemu[@]}" -serial mon:stdio
fi
printf '%s\0' "${qemu[@]}" >"$work/qemu.argv"
log=$work/console.log
vrs_log "$arch/$name: booting $(basename "$kernel") (timeout ${VM_TIMEOUT}s)"
start=$SECONDS
rc=0 helper=
: >"$log"
if [ -n "$VM_HOST_HELPER" ]; then
	qemu+=(-qmp "unix:qmp.sock,server=on,wait=off") # relative: sun_path is short
	(cd "$work" && exec setsid bash -c "$VM_HOST_HELPER") >"$work/helper.out" 2>&1 &
	helper=$!
	# The helper is in a session of its own: an interrupted runner must
	# still take its process group down.
	trap 'kill -- "-$helper" 2>/dev/null' EXIT
	trap 'exit 130' INT TERM
	if [ -n "$VM_HOST_READY" ]; then
		t=$SECONDS
		while [ ! -e "$work/$VM_HOST_READY" ]; do
			if [ $((SECONDS - t)) -ge 30 ] || ! kill -0 "$helper" 2>/dev/null; then
				sed 's/^/[host helper] /' "$work/helper.out" >&2
				vrs_die "$arch/$name: the host helper did not create $VM_HOST_READY"
			fi
			sleep 0.1
		done
	fi
fi
cd "$work"
timeout -k 5 "$VM_TIMEOUT" "${qemu[@]}" -serial "file:$log" </dev/null >"$work/qemu.out" 2>&1 || rc=$?
if [ -n "$helper" ]; then
	kill -- "-$helper" 2>/dev/null || kill "$helper" 2>/dev/null || true
	wait "$helper" 2>/dev/null || true
	trap - EXIT INT TERM
	[ -s "$work/helper.out" ] && sed 's/^/[host helper] /' "$work/helper.out" >&2
fi
echo "$rc" >"$work/qemu.rc"
echo "VRS-HOST elapsed=$((SECONDS - start)) qemu_rc=$rc" >>"$log"
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	vrs_log "$arch/$name: guest did not finish in ${VM_TIMEOUT}s; console tail:"
	tail -n 150 "$log" | sed 's/^/[console] /' >&2
fi
[ -s "$work/qemu.out" ] && sed 's/^/[qemu] /' "$work/qemu.out" >&2
python3 "$VRS_TOP/tools/testing/vm/ktap.py" --name "$arch/$name" --tests "$VM_TESTS" \
	--timed-out "$([ "$rc" = 124 ] || [ "$rc" = 137 ] && echo 1 || echo 0)" \
	--result "$work/result" "$log"
