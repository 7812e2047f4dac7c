#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest side of the distro test (tools/testing/distro/test.sh): run by
# the image's vrs-distro-test.service from the payload disk at each boot;
# the payload's "phase" file says which boot this is. KTAP on the console,
# then a clean reboot (QEMU runs with -no-reboot and exits).
#   stock    before the packages: the stock virtio-mmio drives the root
#            disk; install virtio-rs-common and the prebuilt modules with
#            dpkg, choose our transport in /etc/modprobe.d/virtio-rs.conf
#            and update the initramfs
#   chosen   udev loaded our modules from their aliases (initramfs
#            included), the root disk is on virtio_mmio_rs, virtio_mmio is
#            not loaded; purge the packages
#   removed  stock behaviour again
P=/mnt/payload
phase=$(cat $P/phase)
abi=$(uname -r)
n=0
echo "VRS-DISTRO-BEGIN $phase"
echo "KTAP version 1"
ok() { n=$((n + 1)); echo "ok $n $phase.$1"; }
nok() { n=$((n + 1)); echo "not ok $n $phase.$1 # $2"; }
# check NAME MESSAGE COMMAND...: ok if COMMAND succeeds.
check() {
	name=$1 msg=$2; shift 2
	if "$@" >/tmp/check.out 2>&1; then ok "$name"; else nok "$name" "$msg: $(tail -n 3 /tmp/check.out | tr '\n' ' ')"; fi
}
# The platform driver of the virtio-mmio transport under a block device.
transport_of() {
	v=$(readlink -f "/sys/class/block/$1/device") || return 1
	d=$(readlink -f "$v/../driver") || return 1
	basename "$d"
}
root=$(findmnt -no SOURCE /)
root=${root#/dev/}
rt=$(transport_of "$root")
echo "# root /dev/$root on the transport driver '$rt', kernel $abi, $(cut -d' ' -f1 /proc/uptime) s after boot"
loaded() { grep -q "^$1 " /proc/modules; }

case $phase in
stock)
	check root_on_stock_transport "root on '$rt'" test "$rt" = virtio-mmio
	check no_rust_modules "loaded" sh -c '! grep -qE "^(virtio_rs_core|virtio_mmio_rs|virtio_rng_rs|virtio_blk_rs) " /proc/modules'
	# Install, choose, then let the packages' update-initramfs trigger
	# build the initramfs once (what 'update-initramfs -u' after choosing
	# does; mkinitramfs takes about two minutes under TCG).
	check dpkg_install "dpkg -i" dpkg -i --no-triggers $P/virtio-rs-common_*.deb $P/virtio-rs-modules-${abi}_*.deb
	check depmod_indexed "modinfo" sh -c "modinfo -n virtio_mmio_rs | grep -q /updates/virtio-rs/virtio_mmio_rs.ko"
	check conf_installed_inactive "conf" grep -qx '#blacklist virtio_mmio' /etc/modprobe.d/virtio-rs.conf
	sed -i 's/^#blacklist virtio_mmio$/blacklist virtio_mmio/' /etc/modprobe.d/virtio-rs.conf
	check update_initramfs "dpkg --triggers-only" dpkg --triggers-only --pending
	lsinitramfs "/boot/initrd.img-$abi" >/tmp/initrd.list
	check initramfs_has_transport "not in the initramfs" grep -q 'updates/virtio-rs/virtio_mmio_rs.ko' /tmp/initrd.list
	check initramfs_has_choice "no modprobe.d file" grep -q 'etc/modprobe.d/virtio-rs.conf' /tmp/initrd.list
	;;
chosen)
	check root_on_rust_transport "root on '$rt'" test "$rt" = virtio_mmio_rs
	check stock_transport_not_loaded "virtio_mmio is loaded" sh -c '! grep -q "^virtio_mmio " /proc/modules'
	all=1
	for v in /sys/bus/virtio/devices/*; do
		d=$(basename "$(readlink -f "$v/../driver")")
		echo "# $(basename "$v") (virtio type $(($(cat "$v/device")))) on $d, driver $(basename "$(readlink -f "$v/driver")")"
		[ "$d" = virtio_mmio_rs ] || all=0
	done
	check every_device_on_rust_transport "a device elsewhere" test $all = 1
	check core_autoloaded "virtio_rs_core" loaded virtio_rs_core
	check rng_driver_autoloaded "virtio_rng_rs (alias virtio:d00000004v*)" loaded virtio_rng_rs
	check loaded_from_package "modinfo" sh -c "modinfo -n virtio_mmio_rs | grep -q /updates/virtio-rs/"
	check not_listed_for_loading "in /etc/modules*" sh -c '! grep -rqs "virtio" /etc/modules /etc/modules-load.d'
	check kernel_log_clean "dmesg" sh -c '! dmesg | grep -E "WARNING:|BUG:|Oops|Call Trace"'
	check dpkg_purge "dpkg --purge" dpkg --purge "virtio-rs-modules-$abi" virtio-rs-common
	check conf_removed "still there" test ! -e /etc/modprobe.d/virtio-rs.conf
	lsinitramfs "/boot/initrd.img-$abi" >/tmp/initrd.list
	check initramfs_without_transport "still in the initramfs" sh -c '! grep -q virtio_mmio_rs /tmp/initrd.list'
	;;
removed)
	check root_on_stock_transport "root on '$rt'" test "$rt" = virtio-mmio
	check no_rust_modules "loaded" sh -c '! grep -qE "^(virtio_rs_core|virtio_mmio_rs|virtio_rng_rs|virtio_blk_rs) " /proc/modules'
	check modules_gone "modinfo finds it" sh -c '! modinfo -n virtio_mmio_rs'
	check kernel_log_clean "dmesg" sh -c '! dmesg | grep -E "WARNING:|BUG:|Oops|Call Trace"'
	;;
*)
	nok phase "unknown phase '$phase'"
	;;
esac
echo "1..$n"
echo "# done $(cut -d' ' -f1 /proc/uptime) s after boot"
echo "VRS-DISTRO-END $phase"
# Forced: the checks are done and written (sync); QEMU exits on the reset.
sync
reboot -f
