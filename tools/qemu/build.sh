#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/qemu/build.sh: build the project's QEMU, Debian's QEMU source (the
# version installed in the chroot, with Debian's patches) plus the patches
# in tools/qemu/patches/, for the two system targets the tests use. Runs
# inside the build chroot (setup.sh calls it through vrs_chroot).
#
# Installs into $VRS_CACHE/qemu/<debian version>-<patches hash>/ and points
# $VRS_CACHE/qemu/current at it; does nothing when that build exists
# (--check: only say, by the exit status, whether it does).
# Firmware comes from Debian's packages (/usr/share/qemu): the source
# package is DFSG-stripped of the binary blobs.
set -euo pipefail
. "$(dirname "$0")/../testing/vm/lib.sh"
VRS_STEP=qemu
here=$VRS_TOP/tools/qemu
base=$VRS_CACHE/qemu

# Only what the tests use: TCG system emulation of the two targets, with
# the default device set (virtio, ivshmem, microvm, virt), and QEMU's own
# contrib/ivshmem-server and ivshmem-client (the tools switch builds them;
# they are not installed by QEMU, so they are copied to bin/ below). No UI.
opts=(--firmwarepath=/usr/share/qemu --target-list=x86_64-softmmu,aarch64-softmmu
	--disable-download --disable-docs --enable-tools --disable-guest-agent
	--disable-user --disable-werror --disable-debug-info --disable-install-blobs
	--disable-gtk --disable-sdl --disable-vnc --disable-spice --disable-opengl
	--disable-xen --disable-curl --disable-libusb --disable-usb-redir
	--disable-capstone --disable-slirp --enable-fdt=system)

ver=$(dpkg-query -W -f '${Version}' qemu-system-x86) || vrs_die "qemu-system-x86 is not installed in the chroot"
# The build is named after what goes into it: version, patches, options.
# The MSI device model builds against the project's header of constants
# (include/uapi/linux/virtio_mmio_msi.h), copied into QEMU's tree.
msi_h=$VRS_TOP/include/uapi/linux/virtio_mmio_msi.h
phash=$( (cat "$here"/patches/*.patch "$msi_h"; echo "${opts[*]}") | sha256sum | cut -c1-12)
name=${ver#*:}-$phash
out=$base/$name
if [ -x "$out/bin/qemu-system-x86_64" ] && [ -x "$out/bin/qemu-system-aarch64" ] &&
	[ -x "$out/bin/ivshmem-server" ] && [ -x "$out/bin/ivshmem-client" ]; then
	ln -sfn "$name" "$base/current"
	exit 0
fi
[ "${1:-}" = --check ] && exit 1 # --check: is the build for these inputs there?

src=$base/src-$name
rm -rf "$src" "$out"
mkdir -p "$src"
cd "$src"
vrs_log "fetching Debian's qemu $ver source"
apt-get source -q "qemu=$ver" >apt-source.log 2>&1 || { tail -n 20 apt-source.log >&2; vrs_die "apt-get source qemu=$ver failed"; }
tree=$(find . -maxdepth 1 -mindepth 1 -type d -name 'qemu-*' | head -n1)
[ -n "$tree" ] || vrs_die "no unpacked qemu source in $src"
cd "$tree"
for p in "$here"/patches/*.patch; do
	vrs_log "applying $(basename "$p")"
	patch -p1 --quiet <"$p" || vrs_die "$(basename "$p") does not apply to qemu $ver"
done

cp "$msi_h" include/standard-headers/linux/virtio_mmio_msi.h

vrs_log "configuring (x86_64-softmmu, aarch64-softmmu)"
mkdir -p build
cd build
../configure --prefix="$out" "${opts[@]}" >configure.log 2>&1 ||
	{ tail -n 30 configure.log >&2; vrs_die "qemu configure failed (build/configure.log)"; }
vrs_log "building (about 6 min on 2 cores)"
ninja -j"$(nproc)" >ninja.log 2>&1 || { tail -n 40 ninja.log >&2; vrs_die "qemu build failed ($PWD/ninja.log)"; }
ninja install >install.log 2>&1 || { tail -n 20 install.log >&2; vrs_die "qemu install failed"; }
install -m 755 contrib/ivshmem-server/ivshmem-server contrib/ivshmem-client/ivshmem-client "$out/bin/" ||
	vrs_die "QEMU's contrib ivshmem-server/ivshmem-client were not built"
cd "$base"
ln -sfn "$name" "$base/current"
# Drop the sources and every other build (older versions or patches).
find "$base" -mindepth 1 -maxdepth 1 ! -name "$name" ! -name current -exec rm -rf {} +
vrs_log "installed $out"
