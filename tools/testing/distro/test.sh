#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test.sh [ARCH [prebuilt|dkms]]: the distro guest test (both parts unless
# one is named). Boots the stock Debian kernel on a
# real Debian trixie system (image.sh: systemd, udev, initramfs-tools; root
# on a virtio-mmio disk) under QEMU microvm with ACPI, with a payload disk
# holding the packages of 'make deb' and guest-test.sh. The prebuilt
# modules package, three boots of one copy of the image:
#   1. stock: virtio_mmio drives the root disk; dpkg -i the prebuilt
#      modules, choose our transport (modprobe.d), update-initramfs;
#   2. chosen: udev autoloaded our modules (from the initramfs on), the
#      root disk is on virtio_mmio_rs, virtio_mmio stays unloaded; purge;
#   3. removed: stock behaviour again.
# The DKMS package, on another copy:
#   4. dkms-install, in the image's chroot: apt installs the kernel's
#      headers and source, then the DKMS package, which builds the modules
#      (natively: under TCG the build would take about 40 minutes); the
#      build refuses another rustc or linux-source; choose our transport;
#   5. dkms: booted, as 2. with the modules DKMS built; the tools package's
#      ivshmem-server unit started under systemd, a peer on its socket;
#   6. dkms-purge, in the chroot: modules, prepared tree, initramfs entry
#      gone.
# The kernel's initramfs for a boot is taken from the image (the guest or
# the chroot rebuilt it). Packages the chroot downloads are kept in
# $VRS_CACHE/distro/ARCH/apt-archives. Result: build/ARCH/vm/distro/result
# ("pass fail skip") for check.sh and one KTAP line per check.
set -euo pipefail
. "$(dirname "$0")/../vm/lib.sh"
. "$(dirname "$0")/lib.sh"
VRS_STEP=distro
arch=$(vrs_karch "${1:-x86_64}")
parts=${2:-prebuilt dkms}
da=$(vrs_debarch "$arch")
vrs_load_kernel
abi=$VRS_KREL-$da
work=$VRS_TOP/build/$arch/vm/distro
rm -rf "$work"
mkdir -p "$work/payload"
"$VRS_TOP/tools/testing/distro/image.sh" "$arch"
img=$VRS_CACHE/distro/$arch/root.img
mods=$(ls "$VRS_TOP"/build/deb/virtio-rs-modules-"$abi"_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$mods" ]; then
	"$VRS_TOP/tools/packaging/deb.sh" "$arch"
	mods=$(ls "$VRS_TOP"/build/deb/virtio-rs-modules-"$abi"_*.deb | head -n1)
fi
cp "$mods" "$VRS_TOP"/build/deb/virtio-rs-common_*.deb "$work/payload/"
cp "$VRS_TOP/tools/testing/distro/guest-test.sh" "$work/payload/test.sh"
cp --sparse=always "$img" "$work/root.img"
debugfs -R "dump /boot/vmlinuz-$abi $work/vmlinuz" "$work/root.img" >/dev/null 2>&1
[ -s "$work/vmlinuz" ] || vrs_die "no /boot/vmlinuz-$abi in the image"

# microvm: the kernel cannot calibrate the TSC itself (vm.sh says why).
tsc=$VRS_TOP/build/$arch/host_tsc_khz
[ -x "$tsc" ] || cc -O2 -Wall -o "$tsc" "$VRS_TOP/tools/testing/vm/host_tsc_khz.c"
khz=$("$tsc")

P=0 F=0
: >"$work/ktap"
# collect PHASE FILE: the phase's KTAP from FILE (a console log or the
# chroot's output) into the results; fails when the phase did not finish.
collect() {
	# (systemd's console escapes can prefix a line: strip them)
	sed 's/\x1b\][^\x07]*\x07//g; s/\x1b\[[0-9;?!]*[a-zA-Z]//g; s/\r//g' "$2" |
		sed -n "/^VRS-DISTRO-BEGIN $1/,/^VRS-DISTRO-END $1/p" >"$work/ktap-$1"
	if ! grep -q "^VRS-DISTRO-END $1" "$work/ktap-$1"; then
		tail -n 60 "$2" | sed 's/^/[output] /' >&2
		echo "not ok - $arch/distro:$1.finished # no result" >>"$work/ktap"
		F=$((F + 1))
		return 1
	fi
	grep -E '^# ' "$work/ktap-$1" >&2 || true
	sed -n -E "s|^(not ok\|ok) [0-9]+ (.*)|\1 - $arch/distro:\2|p" "$work/ktap-$1" >>"$work/ktap"
	P=$((P + $(grep -c '^ok ' "$work/ktap-$1" || true)))
	F=$((F + $(grep -c '^not ok ' "$work/ktap-$1" || true)))
}
# boot PHASE IMAGE: boot the image (its own kernel and current initramfs)
# with the payload disk for PHASE.
boot() {
	echo "$1" >"$work/payload/phase"
	rm -f "$work/payload.img"
	mkfs.ext4 -q -F -L vrspayload -d "$work/payload" "$work/payload.img" 64M
	rm -f "$work/initrd"
	debugfs -R "dump /boot/initrd.img-$abi $work/initrd" "$2" >/dev/null 2>&1
	[ -s "$work/initrd" ] || vrs_die "no initramfs for $abi in $2"
	vrs_log "$arch: boot '$1' (Debian trixie, systemd)"
	local t=$SECONDS
	vrs_chroot "cd '$work' && timeout -k 5 600 qemu-system-x86_64 -M microvm,acpi=on,rtc=on -cpu max \
		-accel tcg -smp 2 -m 1536 -nodefaults -no-user-config -no-reboot -display none \
		-kernel vmlinuz -initrd initrd \
		-append 'console=ttyS0 root=LABEL=vrsroot ro quiet reboot=t panic=-1 tsc_early_khz=$khz' \
		-drive if=none,id=root,format=raw,file=$(basename "$2") -device virtio-blk-device,drive=root \
		-drive if=none,id=pl,format=raw,file=payload.img,readonly=on -device virtio-blk-device,drive=pl \
		-object rng-builtin,id=r0 -device virtio-rng-device,rng=r0 \
		-global virtio-mmio.force-legacy=false -serial file:console-$1.log" \
		>"$work/qemu-$1.out" 2>&1 || true
	collect "$1" "$work/console-$1.log" || return 1
	vrs_log "$arch: '$1' took $((SECONDS - t)) s"
}
# in_image PHASE IMAGE: the phase in the image's chroot (natively: a DKMS
# build in the guest under TCG would take about 40 minutes), with the
# payload directory and the cache of downloaded packages bound in.
in_image() {
	echo "$1" >"$work/payload/phase"
	local t=$SECONDS rc=0
	mkdir -p "$apt_cache/partial"
	in_root "$2" "$work/payload:/mnt/payload" "$apt_cache:/var/cache/apt/archives" -- \
		"sh /mnt/payload/test.sh" >"$work/chroot-$1.log" 2>&1 || rc=$?
	vrs_log "$arch: '$1' (chroot) took $((SECONDS - t)) s"
	[ $rc = 0 ] || echo "test.sh exited $rc" >>"$work/chroot-$1.log"
	collect "$1" "$work/chroot-$1.log"
}

# The prebuilt package: three boots.
case " $parts " in *" prebuilt "*)
	for phase in stock chosen removed; do
		boot $phase "$work/root.img" || break
	done
esac
# The DKMS package: installed and built in the chroot of a fresh image
# (grown for the ~2 GB prepared tree), booted, purged in the chroot.
case " $parts " in *" dkms "*)
	dkms=$(ls "$VRS_TOP"/build/deb/virtio-rs-dkms_*.deb | head -n1)
	cp "$dkms" "$VRS_TOP"/build/deb/virtio-rs-tools_*_"$da".deb "$work/payload/"
	echo "$VRS_KVER" >"$work/payload/kversion"
	echo "$abi" >"$work/payload/abi"
	apt_cache=$VRS_CACHE/distro/$arch/apt-archives
	cp --sparse=always "$img" "$work/dkms.img"
	truncate -s 8G "$work/dkms.img"
	# (e2fsck -p exits 1 when it repaired something: fine here)
	e2fsck -fp "$work/dkms.img" >/dev/null || [ $? = 1 ] || vrs_die "e2fsck of the DKMS image failed"
	resize2fs "$work/dkms.img" >/dev/null 2>&1 || vrs_die "resize2fs of the DKMS image failed"
	if in_image dkms-install "$work/dkms.img"; then
		boot dkms "$work/dkms.img" && in_image dkms-purge "$work/dkms.img"
	fi
esac
rm -f "$work/dkms.img" "$work/root.img"
cat "$work/ktap"
[ $((P + F)) -gt 0 ] || F=1
echo "$P $F 0" >"$work/result"
echo "# $arch/distro: pass:$P fail:$F skip:0"
[ "$F" = 0 ]
