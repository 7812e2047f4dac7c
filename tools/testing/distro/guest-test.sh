#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest side of the distro test (tools/testing/distro/test.sh): run by
# the image's vrs-distro-test.service from the payload disk at each boot,
# or by test.sh in the image's chroot (the dkms-install and dkms-purge
# phases); the payload's "phase" file says which. KTAP on the console (on
# stdout in the chroot), then, after a boot phase, a clean reboot (QEMU runs
# with -no-reboot and exits).
#   stock        before the packages: the stock virtio-mmio drives the root
#                disk; install virtio-rs-common and the prebuilt modules
#                with dpkg, choose our transport in
#                /etc/modprobe.d/virtio-rs.conf and update the initramfs
#   chosen       udev loaded our modules from their aliases (initramfs
#                included), the root disk is on virtio_mmio_rs, virtio_mmio
#                is not loaded; purge the packages
#   removed      stock behaviour again
#   dkms-install (chroot of a fresh image) install the kernel's headers and
#                source, then virtio-rs-common and virtio-rs-dkms with apt:
#                DKMS builds the modules; the build refuses another rustc
#                or linux-source; choose our transport, update the initramfs
#   dkms         (boot) as chosen, with the modules DKMS built; and the
#                tools package: ivshmem-server's unit under systemd, a peer
#                on its socket, purge
#   dkms-purge   (chroot) purge: modules, prepared tree and initramfs
#                entries are gone
P=/mnt/payload
phase=$(cat $P/phase)
# Only a known boot phase, outside a chroot, may reboot at the end (in
# the chroot, test.sh runs this in its own PID namespace as well).
boot=
case $phase in
stock|chosen|removed|dkms) systemd-detect-virt -q --chroot || boot=1 ;;
esac
# In the chroot the running kernel is the host's: test.sh says which.
abi=$(uname -r)
[ -n "$boot" ] || abi=$(cat $P/abi)
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
if [ -n "$boot" ]; then
	root=$(findmnt -no SOURCE /)
	root=${root#/dev/}
	rt=$(transport_of "$root")
	echo "# root /dev/$root on the transport driver '$rt', kernel $abi, $(cut -d' ' -f1 /proc/uptime) s after boot"
fi
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
chosen|dkms)
	# Where the modules must come from: the prebuilt package or DKMS.
	from=/updates/virtio-rs/
	[ $phase = dkms ] && from=/updates/dkms/
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
	check loaded_from_package "modinfo" sh -c "modinfo -n virtio_mmio_rs | grep -q $from"
	check not_listed_for_loading "in /etc/modules*" sh -c '! grep -rqs "virtio" /etc/modules /etc/modules-load.d'
	check hwrng_reads "rng_current or read" sh -c 'grep -q "^virtio_rng_rs\." /sys/class/misc/hw_random/rng_current &&
		test "$(head -c 4096 /dev/hwrng | wc -c)" = 4096'
	check kernel_log_clean "dmesg" sh -c '! dmesg | grep -E "WARNING:|BUG:|Oops|Call Trace"'
	if [ $phase = dkms ]; then
		# The tools package: its ivshmem-server unit under this systemd,
		# with the options of /etc/default/ivshmem-server (a 4 MiB
		# shared memory "ivshmem", one vector), and a peer on its socket.
		check tools_install "dpkg -i" dpkg -i $P/virtio-rs-tools_*.deb
		check tools_unit_not_enabled "enabled by the package" sh -c '! systemctl -q is-enabled ivshmem-server'
		check tools_unit_starts "systemctl start" systemctl start ivshmem-server
		s=/run/ivshmem/ivshmem.sock
		i=0; while [ ! -S $s ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		check tools_peer_joins "ivshmem-peer dump" sh -c "ivshmem-peer -S $s dump >/tmp/dump && cat /tmp/dump &&
			grep -qx 'shm 4194304 bytes' /tmp/dump && grep -qx 'vectors 1' /tmp/dump"
		sed 's/^/# ivshmem-peer dump: /' /tmp/dump
		check tools_unit_stops "systemctl stop" sh -c "systemctl stop ivshmem-server && ! systemctl -q is-active ivshmem-server && test ! -e $s"
		check tools_purge "dpkg --purge" sh -c "dpkg --purge virtio-rs-tools && ! command -v ivshmem-server && test ! -e /etc/default/ivshmem-server"
	fi
	if [ $phase = chosen ]; then
		check dpkg_purge "dpkg --purge" dpkg --purge "virtio-rs-modules-$abi" virtio-rs-common
		check conf_removed "still there" test ! -e /etc/modprobe.d/virtio-rs.conf
		lsinitramfs "/boot/initrd.img-$abi" >/tmp/initrd.list
		check initramfs_without_transport "still in the initramfs" sh -c '! grep -q virtio_mmio_rs /tmp/initrd.list'
	fi
	;;
dkms-install)
	kver=$(cat $P/kversion)
	series=$(echo "$abi" | sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p')
	mods="virtio_rs_core virtio_mmio_rs virtio_rng_rs virtio_blk_rs ivshmem_rs"
	# What a user of the backports kernel installs first: its headers and
	# its source (linux-source-$series of the same version).
	# (The image's package lists are those of its build; when the mirror
	# has moved on, update them and try again.)
	check headers_and_source "apt-get install" sh -c "apt-get install -y -q --no-install-recommends \
		linux-headers-$abi=$kver linux-source-$series=$kver ||
		{ apt-get update -q && apt-get install -y -q --no-install-recommends \
		linux-headers-$abi=$kver linux-source-$series=$kver; }"
	# The packages, with apt: it resolves the dependencies (the kernel's
	# rustc, bindgen, libclang, ...), and DKMS builds in the postinst.
	t0=$(date +%s)
	check apt_install_dkms "apt-get install" apt-get install -y -q --no-install-recommends \
		$P/virtio-rs-common_*.deb $P/virtio-rs-dkms_*.deb
	echo "# apt-get install with the DKMS build took $(($(date +%s) - t0)) s"
	grep -h "elapsed time" /var/lib/dkms/virtio-rs/*/"$abi"/*/log/make.log 2>/dev/null | sed 's/^# /# DKMS make.log: /'
	want=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"$/\1/p' "/lib/modules/$abi/build/.config")
	check rustc_is_the_kernels "rustc $(rustc --version 2>&1), kernel '$want'" test "$(rustc --version)" = "$want"
	check dkms_status_installed "dkms status" sh -c "dkms status -m virtio-rs -k $abi | grep -q ': installed'"
	for m in $mods; do
		check "built_$m" "modinfo" sh -c "modinfo -k $abi -n $m | grep -q /updates/dkms/$m.ko"
	done
	vm=$(modinfo -k "$abi" -F vermagic virtio_mmio_rs 2>&1)
	check vermagic_matches_kernel "vermagic '$vm'" \
		sh -c "test -n '$vm' && test '$vm' = \"\$(modinfo -k $abi -F vermagic virtio_mmio)\""
	check state_prepared "no stamp" test -s "/var/lib/virtio-rs/$abi/stamp"
	# The build's refusals, with the build script itself (a rustc and a
	# dpkg-query that say otherwise, first in PATH).
	mkdir -p /tmp/fake-rustc /tmp/fake-source /tmp/refuse
	printf '#!/bin/sh\necho "rustc 1.97.1 (a6fa2ecf1 2026-09-20) (built from a source tarball)"\n' >/tmp/fake-rustc/rustc
	printf '#!/bin/sh\ncase "$*" in *linux-source-*) printf 7.3.99-1;; *) exec /usr/bin/dpkg-query "$@";; esac\n' >/tmp/fake-source/dpkg-query
	chmod +x /tmp/fake-rustc/rustc /tmp/fake-source/dpkg-query
	src=$(ls -d /usr/src/virtio-rs-*)
	refuses() { # refuses FAKE PATTERN
		(cd /tmp/refuse && PATH=/tmp/fake-$1:$PATH bash "$src/scripts/dkms-build.sh" "$abi") >/tmp/refuse.out 2>&1 &&
			{ echo "built"; return 1; }
		cat /tmp/refuse.out
		grep -q "$2" /tmp/refuse.out
	}
	check refuses_other_rustc "no clear refusal" refuses rustc "built with '$want', but this machine's rustc is 'rustc 1.97.1"
	check refuses_other_source "no clear refusal" refuses source "linux-source-$series is version 7.3.99-1, but kernel $abi is $kver"
	check conf_installed_inactive "conf" grep -qx '#blacklist virtio_mmio' /etc/modprobe.d/virtio-rs.conf
	sed -i 's/^#blacklist virtio_mmio$/blacklist virtio_mmio/' /etc/modprobe.d/virtio-rs.conf
	check update_initramfs "update-initramfs" update-initramfs -u -k "$abi"
	lsinitramfs "/boot/initrd.img-$abi" >/tmp/initrd.list
	check initramfs_has_dkms_transport "not in the initramfs" grep -q 'updates/dkms/virtio_mmio_rs.ko' /tmp/initrd.list
	;;
dkms-purge)
	check apt_purge "apt-get purge" apt-get purge -y -q virtio-rs-dkms virtio-rs-common
	check modules_gone "modinfo finds it" sh -c "! modinfo -k $abi -n virtio_mmio_rs"
	check dkms_forgot "dkms status" sh -c "! dkms status -m virtio-rs 2>&1 | grep -q ."
	check prepared_tree_removed "still there" test ! -e /var/lib/virtio-rs
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
[ -z "$boot" ] || echo "# done $(cut -d' ' -f1 /proc/uptime) s after boot"
echo "VRS-DISTRO-END $phase"
# Forced: the checks are done and written (sync); QEMU exits on the reset.
# Never in the chroot: that would reboot the machine running the test.
if [ -n "$boot" ]; then
	sync
	reboot -f
fi
