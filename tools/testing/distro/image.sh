#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# image.sh [ARCH]: a real Debian trixie system for the distro guest test
# (tools/testing/distro/test.sh), cached in $VRS_CACHE/distro/ARCH/:
# debootstrap with systemd, udev, kmod and initramfs-tools, the stock
# Debian kernel of 'make setup' installed from the archive with its
# initramfs (made by initramfs-tools in the image), root on LABEL=vrsroot,
# a serial console, and a unit that runs /test.sh from a payload disk
# (LABEL=vrspayload) at every boot. Built once per kernel release; about
# 3 minutes. amd64 only: an arm64 image needs an arm64 userland to finish
# debootstrap (qemu-user), which the machine does not have.
set -euo pipefail
. "$(dirname "$0")/../vm/lib.sh"
. "$(dirname "$0")/lib.sh"
VRS_STEP=distro-image
arch=$(vrs_karch "${1:-x86_64}")
[ "$arch" = x86_64 ] || vrs_die "only amd64 images (see the header)"
da=$(vrs_debarch "$arch")
vrs_load_kernel
[ "$(id -u)" = 0 ] || vrs_die "must run as root"
dir=$VRS_CACHE/distro/$arch
img=$dir/root.img
mirror=$(apt-get indextargets --format '$(ORIGIN)|$(LABEL)|$(REPO_URI)' 2>/dev/null |
	awk -F'|' '$1=="Debian" && $2=="Debian" {print $3; exit}')
[ -n "$mirror" ] || vrs_die "cannot find a Debian mirror in the host's apt configuration"
key="$VRS_KREL $VRS_KVER $da $(md5sum <"$0")"
if [ -f "$img" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$key" ]; then
	vrs_log "$da image for $VRS_KREL cached ($img)"
	exit 0
fi
command -v debootstrap >/dev/null || vrs_die "no debootstrap on the host (make setup installs it)"
rm -rf "$dir"
mkdir -p "$dir"
root=$dir/root
t0=$SECONDS
vrs_log "debootstrap trixie ($da) with systemd, udev, initramfs-tools"
debootstrap --variant=minbase --arch="$da" \
	--include=systemd,systemd-sysv,udev,kmod,initramfs-tools,zstd,e2fsprogs,procps,iproute2,apt \
	trixie "$root" "$mirror" >"$dir/debootstrap.log" 2>&1 ||
	{ tail -n 20 "$dir/debootstrap.log" >&2; vrs_die "debootstrap failed; see $dir/debootstrap.log"; }
cat >"$root/etc/apt/sources.list" <<-SRC
deb $mirror trixie main
deb $mirror trixie-updates main
deb $mirror trixie-backports main
SRC
vrs_log "installing linux-image-$VRS_KREL-$da ($VRS_KVER) from the archive"
in_root "$root" -- "apt-get update -q && apt-get install -y -q --no-install-recommends -t trixie-backports \
	linux-image-$VRS_KREL-$da=$VRS_KVER" >"$dir/kernel.log" 2>&1 ||
	{ tail -n 20 "$dir/kernel.log" >&2; vrs_die "installing the kernel failed; see $dir/kernel.log"; }
[ -f "$root/boot/initrd.img-$VRS_KREL-$da" ] || vrs_die "the kernel's postinst made no initramfs"
in_root "$root" -- "apt-get clean"
echo "LABEL=vrsroot / ext4 defaults 0 1" >"$root/etc/fstab"
echo vrs-distro >"$root/etc/hostname"
mkdir -p "$root/mnt/payload"
# The test: /test.sh of the payload disk, once per boot, on the console.
cat >"$root/etc/systemd/system/vrs-distro-test.service" <<-'UNIT'
[Unit]
Description=virtio-rs distro guest test (payload disk)
After=multi-user.target
Requires=dev-disk-by\x2dlabel-vrspayload.device
After=dev-disk-by\x2dlabel-vrspayload.device

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'mount -o ro LABEL=vrspayload /mnt/payload && exec /bin/sh /mnt/payload/test.sh </dev/null >/dev/ttyS0 2>&1'
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/vrs-distro-test.service \
	"$root/etc/systemd/system/multi-user.target.wants/vrs-distro-test.service"
# No getty on the console the test writes to, no login needed.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
vrs_log "making the ext4 image"
truncate -s 3G "$img.tmp"
mkfs.ext4 -q -F -L vrsroot -d "$root" "$img.tmp"
mv "$img.tmp" "$img"
rm -rf "$root"
echo "$key" >"$dir/stamp"
vrs_log "$da image ready in $((SECONDS - t0)) s ($img)"
