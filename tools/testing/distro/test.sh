#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test.sh [ARCH]: the distro guest test. Boots the stock Debian kernel on a
# real Debian trixie system (image.sh: systemd, udev, initramfs-tools; root
# on a virtio-mmio disk) under QEMU microvm with ACPI, three times, with a
# payload disk holding the packages of 'make deb' and guest-test.sh:
#   1. stock: virtio_mmio drives the root disk; dpkg -i the prebuilt
#      modules, choose our transport (modprobe.d), update-initramfs;
#   2. chosen: udev autoloaded our modules (from the initramfs on), the
#      root disk is on virtio_mmio_rs, virtio_mmio stays unloaded; purge;
#   3. removed: stock behaviour again.
# Between boots the kernel's initramfs is taken from the image (the guest
# rebuilt it). Result: build/ARCH/vm/distro/result ("pass fail skip") for
# check.sh and one KTAP line per check.
set -euo pipefail
. "$(dirname "$0")/../vm/lib.sh"
VRS_STEP=distro
arch=$(vrs_karch "${1:-x86_64}")
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
for phase in stock chosen removed; do
	echo "$phase" >"$work/payload/phase"
	rm -f "$work/payload.img"
	mkfs.ext4 -q -F -L vrspayload -d "$work/payload" "$work/payload.img" 64M
	rm -f "$work/initrd"
	debugfs -R "dump /boot/initrd.img-$abi $work/initrd" "$work/root.img" >/dev/null 2>&1
	[ -s "$work/initrd" ] || vrs_die "no initramfs for $abi in the image"
	log=$work/console-$phase.log
	vrs_log "$arch: boot '$phase' (Debian trixie, systemd)"
	t=$SECONDS
	vrs_chroot "cd '$work' && timeout -k 5 600 qemu-system-x86_64 -M microvm,acpi=on,rtc=on -cpu max \
		-accel tcg -smp 2 -m 1536 -nodefaults -no-user-config -no-reboot -display none \
		-kernel vmlinuz -initrd initrd \
		-append 'console=ttyS0 root=LABEL=vrsroot ro quiet reboot=t panic=-1 tsc_early_khz=$khz' \
		-drive if=none,id=root,format=raw,file=root.img -device virtio-blk-device,drive=root \
		-drive if=none,id=pl,format=raw,file=payload.img,readonly=on -device virtio-blk-device,drive=pl \
		-object rng-builtin,id=r0 -device virtio-rng-device,rng=r0 \
		-global virtio-mmio.force-legacy=false -serial file:console-$phase.log" \
		>"$work/qemu-$phase.out" 2>&1 || true
	# (systemd's console escapes can prefix a line: strip them)
	sed 's/\x1b\][^\x07]*\x07//g; s/\x1b\[[0-9;?!]*[a-zA-Z]//g; s/\r//g' "$log" |
		sed -n "/^VRS-DISTRO-BEGIN $phase/,/^VRS-DISTRO-END $phase/p" >"$work/ktap-$phase"
	if ! grep -q "^VRS-DISTRO-END $phase" "$work/ktap-$phase"; then
		tail -n 60 "$log" | sed 's/^/[console] /' >&2
		echo "not ok - $arch/distro:$phase.finished # no result from the guest" >>"$work/ktap"
		F=$((F + 1))
		break
	fi
	vrs_log "$arch: '$phase' took $((SECONDS - t)) s"
	grep -E '^# ' "$work/ktap-$phase" >&2 || true
	sed -n -E "s|^(not ok\|ok) [0-9]+ (.*)|\1 - $arch/distro:\2|p" "$work/ktap-$phase" >>"$work/ktap"
	P=$((P + $(grep -c '^ok ' "$work/ktap-$phase" || true)))
	F=$((F + $(grep -c '^not ok ' "$work/ktap-$phase" || true)))
done
cat "$work/ktap"
[ $((P + F)) -gt 0 ] || F=1
echo "$P $F 0" >"$work/result"
echo "# $arch/distro: pass:$P fail:$F skip:0"
[ "$F" = 0 ]
