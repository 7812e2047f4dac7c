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
	# virtio_rng and virtio_blk stay unloaded: the rng and the disk are
	# driven by virtio_rng_rs and virtio_blk_rs, the Rust drivers on the
	# Rust vring (Documentation/virtio/drivers.rst).
	echo 'VM_STOCK_MODULES="virtio_net"'
	# Single quotes: the $(...) below runs in the guest's /init, not here.
	printf "VM_INSMOD='"
	# every module of the tree, except the runner's splat helper (it only warns when asked)
	sed 's|.*/||; s|\.ko$||' "$bdir/modules.list" | grep -v '^virtio_mmio_rs$'
	# the transport with the command-line devices of microvm (amd64)
	# shellcheck disable=SC2016
	echo 'virtio_mmio_rs $(tr " " "\n" </proc/cmdline | sed -n "s/^virtio_mmio\.device=/device=/p")'"'"
	# Devices for the transport, on the project's QEMU, each offering 16
	# MSI vectors (Documentation/virtio/mmio-msi.rst): a disk with 4
	# request queues, a NIC with 4 queue pairs on a multiqueue tap (in the
	# boot's own network namespace, host end 10.0.2.1), an rng. arm64 virt
	# with a GICv3 ITS and 4 CPUs uses them; amd64 microvm has no MSI
	# domain and says so. The guest pings the host from each CPU in turn:
	# each ping leaves on that CPU's queue pair and its reply comes back on
	# the same pair (tun's flow steering), on that pair's vectors.
	echo 'VM_SMP=4 VM_EXIT=reboot VM_APPEND="reboot=t" VM_SHOW_STATE=1'
	echo 'VM_QEMU_BUILD_arm64=patched VM_QEMU_BUILD_x86_64=patched'
	echo 'VM_MACHINE_x86_64="microvm,acpi=off,rtc=off"'
	echo 'truncate -s 16M "$VM_WORK/disk.img"'
	echo 'd="-drive if=none,id=d0,format=raw,file=$VM_WORK/disk.img -device virtio-blk-device,drive=d0,num-queues=4"'
	echo 'VM_TAPS="vrs0:4:10.0.2.1/24"'
	echo 'd+=" -netdev tap,id=vrs0,ifname=vrs0,script=no,downscript=no,queues=4"'
	echo 'd+=" -device virtio-net-device,netdev=vrs0,mq=on,mac=52:54:00:12:34:10"'
	echo 'd+=" -object rng-builtin,id=r0 -device virtio-rng-device,rng=r0"'
	echo 'd+=" -global virtio-mmio.force-legacy=false -global virtio-mmio.msi-vectors=16"'
	echo 'VM_QEMU_arm64=$d VM_QEMU_x86_64=$d'
	# ivshmem-doorbell (needs PCI: arm64 virt; amd64 microvm without ACPI
	# has none) on our ivshmem-server, with a host peer answering the
	# guest's ping-pong (samples/ivshmem/ivshmem_pingpong).
	echo 'VM_SAMPLES="ivshmem/ivshmem_pingpong"'
	if [ "$arch" = arm64 ]; then
		echo 'VM_QEMU_arm64+=" -chardev socket,path=$VM_WORK/ivs.sock,id=ivs -device ivshmem-doorbell,chardev=ivs,vectors=2"'
		echo 'b=$VRS_TOP/tools/ivshmem/target/release'
		echo 'VM_HOST_READY=ready'
		# shellcheck disable=SC2016
		echo 'VM_HOST_HELPER="$b/ivshmem-server -F -S ivs.sock -m . -l 1M -n 2 & while [ ! -S ivs.sock ]; do sleep 0.1; done; touch ready; exec $b/ivshmem-peer -S ivs.sock -n 2 pong -c 2000 -t 600"'
	fi
	cat <<-'CONF'
	VM_GUEST_CMDS='for i in /sys/class/net/*; do [ "$(cat $i/address)" = 52:54:00:12:34:10 ] && n=${i##*/}; done
	ip addr add 10.0.2.15/24 dev $n; ip link set $n up
	echo "VRS-PING-BEGIN"
	for c in 0 1 2 3; do echo "ping from CPU $c: $(taskset -c $c ping -c 3 -W 3 10.0.2.1 | grep transmitted)"; done
	echo "VRS-PING-END"
	echo "VRS-IVSHMEM-BEGIN"
	if [ -d /dev/ivshmem ]; then for i in /dev/ivshmem/*; do echo "$i: $(cat /sys/class/misc/ivshmem!${i##*/}/shm_size) bytes, peer id $(cat /sys/class/misc/ivshmem!${i##*/}/peer_id), $(cat /sys/class/misc/ivshmem!${i##*/}/vectors) vectors"; done; /vrs/samples/ivshmem/ivshmem_pingpong -n 2000; else echo "no ivshmem device (needs PCI: ARCH=arm64 has one)"; fi
	echo "VRS-IVSHMEM-END"
	echo "VRS-DRIVERS-BEGIN"
	for d in /sys/bus/virtio/devices/*; do drv=$(readlink $d/driver); echo "${d##*/}: virtio type $(($(cat $d/device))) on $(basename $(readlink -f $d/..)), driver ${drv##*/}"; done
	h=/sys/class/misc/hw_random
	cs() { read -r u _ </proc/uptime; echo $(( ${u%.*} * 100 + 10#${u#*.} )); }
	for s in $(cat $h/rng_available); do case $s in virtio_rng_rs.*) echo $s >$h/rng_current; t0=$(cs); head -c 1048576 /dev/hwrng >/tmp/rng; t=$(( $(cs) - t0 )); [ $t -gt 0 ] || t=1; echo "$s: $(wc -c </tmp/rng) bytes from /dev/hwrng in $((t * 10)) ms ($(( 1024 * 100 / t )) KiB/s), first bytes$(od -An -tx1 -N8 /tmp/rng)";; esac; done
	for b in /sys/block/rvd*; do [ -e "$b" ] || continue; n=${b##*/}; echo "$n: $(cat $b/size) sectors, $(ls $b/mq | wc -l) hardware queues, write cache: $(cat $b/queue/write_cache)"; t0=$(cs); dd if=/dev/$n of=/dev/null bs=64k 2>/dev/null; t=$(( $(cs) - t0 )); [ $t -gt 0 ] || t=1; echo "$n: read whole disk in $((t * 10)) ms ($(( $(cat $b/size) / 2 * 100 / t )) KiB/s)"; done
	for f in /sys/kernel/debug/virtio_rng_rs/* /sys/kernel/debug/virtio_blk_rs/*; do case $f in *.resize) continue;; esac; [ -f "$f" ] || continue; d=${f%/*}; sed "s|^|${d##*/} ${f##*/} ring |" "$f"; done
	echo "VRS-DRIVERS-END"
	echo "VRS-RESIZE-BEGIN"
	for f in /sys/kernel/debug/virtio_blk_rs/*.resize; do [ -e "$f" ] || continue; c=${f%.resize}; v=${c##*/}; n=$(ls /sys/bus/virtio/devices/$v/block); s=$(sed -n "s/^queue 0: .* size \([0-9]*\) max.*/\1/p" $c); if echo "0 $((s / 2))" >$f; then echo "$n ($v): queue 0 reset alone and resized from $s to $(sed -n "s/^queue 0: .* size \([0-9]*\) max.*/\1/p" $c) entries (the other queues stay set up)"; if taskset -c 0 dd if=/dev/$n of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null; then echo "$n: 4 MiB read from CPU 0: $(grep "^queue 0:" $c)"; else echo "$n: read after the resize FAILED"; fi; else echo "$n: resize FAILED"; fi; done
	echo "VRS-RESIZE-END"
	echo "VRS-SLEEP-BEGIN"
	qs() { for p in /sys/kernel/debug/virtio_mmio_rs/*; do [ -f "$p" ] && printf "%s " "${p##*/}:$(sed -n "s/^queue_setups: //p" "$p")"; done; }
	if [ -w /sys/power/pm_test ]; then echo "queue set-ups per transport device before: $(qs)"; echo 0 >/sys/module/suspend/parameters/pm_test_delay; echo devices >/sys/power/pm_test; t0=$(cs); if echo freeze >/sys/power/state; then echo "suspend-to-idle (pm_test=devices): every device frozen and restored in $(( ($(cs) - t0) * 10 )) ms"; else echo "suspend-to-idle FAILED"; fi; echo none >/sys/power/pm_test; echo "queue set-ups per transport device after:  $(qs)"; for b in /sys/block/rvd*; do [ -e "$b" ] || continue; n=${b##*/}; if dd if=/dev/$n of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null; then echo "$n: 4 MiB read after the resume"; else echo "$n: read after the resume FAILED"; fi; done; head -c 4096 /dev/hwrng | wc -c | sed "s/$/ bytes from \/dev\/hwrng after the resume/"; else echo "no /sys/power/pm_test"; fi
	echo "VRS-SLEEP-END"'
	CONF
} >"$conf"
if [ -n "$shell" ]; then
	exec "$VRS_TOP/tools/testing/vm/vm-chroot.sh" --shell --tag run "$arch" "$conf"
fi
rc=0
"$VRS_TOP/tools/testing/vm/vm-chroot.sh" --tag run "$arch" "$conf" || rc=$?
log=$VRS_TOP/build/$arch/vm/run$tagsfx/console.log
echo "== kernel log of the boot (modules loaded):"
sed -n '/VRS-DMESG-BEGIN boot/,/VRS-DMESG-END boot/p' "$log" | sed '1d;$d'
echo "== the multiqueue NIC: pings to the host end of its tap, from each CPU:"
sed -n '/VRS-PING-BEGIN/,/VRS-PING-END/p' "$log" | sed '1d;$d' | grep -v '^VRS' || true
echo "== ivshmem: doorbell ping-pong between the guest (samples/ivshmem) and a host peer, on our ivshmem-server:"
sed -n '/VRS-IVSHMEM-BEGIN/,/VRS-IVSHMEM-END/p' "$log" | sed '1d;$d' | grep -v '^VRS' || true
echo "== virtio devices and their drivers (*_rs: ours; virtio_rng_rs and virtio_blk_rs run on the Rust vring), entropy and a disk read through them,"
echo "   and the Rust rings' own counters (debugfs; callbacks: interrupt callbacks of the queue; fault: a queue that caught the device misbehaving):"
sed -n '/VRS-DRIVERS-BEGIN/,/VRS-DRIVERS-END/p' "$log" | sed '1d;$d' | grep -v '^VRS' || true
echo "== per-queue reset and resize (VIRTIO_F_RING_RESET; echo \"<queue> <entries>\" >/sys/kernel/debug/virtio_blk_rs/<virtioN>.resize):"
sed -n '/VRS-RESIZE-BEGIN/,/VRS-RESIZE-END/p' "$log" | sed '1d;$d' | grep -v '^VRS' || true
echo "== system sleep (suspend-to-idle with pm_test=devices): the drivers give up their queues and get them back (the resized ring too); the disks and the rng work after it:"
sed -n '/VRS-SLEEP-BEGIN/,/VRS-SLEEP-END/p' "$log" | sed '1d;$d' | grep -v '^VRS' || true
echo "== interrupts (virtio-mmio MSI vectors are named <device>-config, <device>-<queue>; ivshmem's ivshmem-<address>-<vector>):"
sed -n '/VRS-INTERRUPTS-BEGIN/,/VRS-INTERRUPTS-END/p' "$log" | sed '1d;$d' | grep -E 'virtio|ivshmem|CPU' || true
echo "== virtio_mmio_rs devices (debugfs: irq_mode, per-vector interrupt counts):"
sed -n '/VRS-STATE-BEGIN/,/VRS-STATE-END/p' "$log" | sed '1d;$d' |
	grep -E '^[^ ]|device_id|irq_mode|vector_interrupts|interrupts:' || true
echo "== loaded modules of this tree:"
sed -n 's|.*/||; s|\.ko$||p' "$bdir/modules.list" | while read -r m; do
	grep -q "insmod .*$m.* failed" "$log" && echo "  $m: FAILED to load" || echo "  $m: loaded"
done
exit $rc
