# shellcheck shell=bash
# The QEMU devices of the virtio_mmio boots (sourced by vm*.conf).
#
# mmio_disks "serial:props" ...: one 16 MiB virtio-blk-device per argument,
# drives d0, d1, ...; then rng, two NICs on hub 0, virtio-serial with
# ports vrs.a and vrs.b joined through a unix socket (server and client in
# the same QEMU). Sets VM_DEVICES, and VM_EXPECT_DEVICES to the number of
# virtio-mmio devices in it: each must bind to the transport, and a test
# that finds none bound fails (a conf that gives one arch none of them
# sets VM_EXPECT_DEVICES_<arch>=0).
# mmio_tap_nic TAP MAC: one more virtio-net-device, multiqueue, on the tap
# TAP of the boot's VM_TAPS (as many queue pairs as the tap has queues).
# mmio_ivshmem: a 1 MiB ivshmem-plain BAR (needs PCI).
mmio_disks() {
	local i=0 d
	VM_DEVICES=
	for d in "$@"; do
		truncate -s 16M "$VM_WORK/blk$i.img"
		VM_DEVICES+=" -drive if=none,id=d$i,format=raw,file=$VM_WORK/blk$i.img"
		VM_DEVICES+=" -device virtio-blk-device,drive=d$i,serial=${d%%:*}${d#*:}"
		i=$((i + 1))
	done
	VM_DEVICES+=" -object rng-builtin,id=r0 -device virtio-rng-device,rng=r0"
	VM_DEVICES+=" -netdev hubport,id=n0,hubid=0 -device virtio-net-device,netdev=n0,mac=52:54:00:12:34:01"
	VM_DEVICES+=" -netdev hubport,id=n1,hubid=0 -device virtio-net-device,netdev=n1,mac=52:54:00:12:34:02"
	VM_DEVICES+=" -device virtio-serial-device"
	VM_DEVICES+=" -chardev socket,id=ca,path=con.sock,server=on,wait=off"
	VM_DEVICES+=" -chardev socket,id=cb,path=con.sock"
	VM_DEVICES+=" -device virtserialport,chardev=ca,name=vrs.a -device virtserialport,chardev=cb,name=vrs.b"
	# the disks, rng, two NICs, virtio-serial
	VM_EXPECT_DEVICES=$((i + 4))
}

mmio_tap_nic() {
	local q
	q=$(tr ' ' '\n' <<<"$VM_TAPS" | sed -n "s/^$1:\([0-9]*\):.*/\1/p")
	VM_DEVICES+=" -netdev tap,id=$1,ifname=$1,script=no,downscript=no,queues=${q:?no tap $1 in VM_TAPS}"
	VM_DEVICES+=" -device virtio-net-device,netdev=$1,mq=on,mac=$2"
	VM_EXPECT_DEVICES=$((VM_EXPECT_DEVICES + 1))
}

mmio_ivshmem() {
	VM_DEVICES+=" -object memory-backend-file,id=hm,mem-path=$VM_WORK/ivshmem,size=1M,share=on"
	VM_DEVICES+=" -device ivshmem-plain,memdev=hm"
}
