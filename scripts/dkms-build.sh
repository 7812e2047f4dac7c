#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dkms-build.sh KERNELVER [HEADERS]: build the modules for Debian kernel
# KERNELVER on this machine (the MAKE command of the virtio-rs-dkms
# package's dkms.conf; the objects go to ./out/modules).
#
# Debian's linux-headers lack what an out-of-tree Rust module is compiled
# against: the kernel crate's metadata (rust/*.rmeta) and the bindgen
# command line of the kernel's bindings. They come from preparing the
# kernel's own source (linux-source-<series>) with the kernel's .config,
# once per kernel, in /var/lib/virtio-rs/<KERNELVER> (about 2 GB; removed
# with the kernel, /etc/kernel/postrm.d/virtio-rs). That only works with
# exactly the source and the Rust compiler the kernel was built from, so
# this refuses, saying which one differs, when:
#   - rustc --version is not the kernel's CONFIG_RUSTC_VERSION_TEXT;
#   - the installed linux-source-<series> is not the kernel's version.
# HEADERS: the kernel's headers (default /lib/modules/KERNELVER/build):
# its .config and Module.symvers. VIRTIO_RS_STATE overrides the state
# directory.
set -euo pipefail
kver=${1:?usage: dkms-build.sh KERNELVER [HEADERS]}
hdr=${2:-/lib/modules/$kver/build}
state=${VIRTIO_RS_STATE:-/var/lib/virtio-rs}
top=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "virtio-rs: $*" >&2; exit 1; }
log() { echo "virtio-rs: $*" >&2; }

cfg=$hdr/.config
[ -f "$cfg" ] || die "no kernel configuration at $cfg: install linux-headers-$kver"
[ -f "$hdr/Module.symvers" ] || die "no $hdr/Module.symvers: install linux-headers-$kver"
grep -q '^CONFIG_RUST=y' "$cfg" || die "kernel $kver is built without Rust support (CONFIG_RUST): nothing to build"

# The compiler: exactly the kernel's.
want=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"$/\1/p' "$cfg")
have=$(rustc --version 2>/dev/null) || die "no rustc: install the rustc package"
if [ "$have" != "$want" ]; then
	die "kernel $kver was built with '$want', but this machine's rustc is '$have'.
virtio-rs: Rust modules must be built by the compiler that built the kernel. Install that
virtio-rs: rustc (apt-cache policy rustc rust-src lists the versions), or use the
virtio-rs: prebuilt package virtio-rs-modules-$kver if there is one."
fi

# The source: exactly the kernel's.
series=$(echo "$kver" | sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p')
tarball=/usr/src/linux-source-$series.tar.xz
[ -f "$tarball" ] || die "no $tarball: install linux-source-$series (the same version as the kernel)"
kpkg=
for p in "linux-headers-$kver" "linux-image-$kver" "linux-modules-$kver"; do
	kpkg=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null) && [ -n "$kpkg" ] && break
done
srcver=$(dpkg-query -W -f='${Version}' "linux-source-$series" 2>/dev/null) || srcver=unknown
if [ -n "$kpkg" ] && [ "$srcver" != "$kpkg" ]; then
	die "linux-source-$series is version $srcver, but kernel $kver is $kpkg: the kernel crate's
virtio-rs: metadata must come from the kernel's own source. Install linux-source-$series=$kpkg."
fi

# The kernel's arch and cross prefix (its compiler is <triplet>-gcc-N).
if grep -q '^CONFIG_X86_64=y' "$cfg"; then karch=x86_64 triplet=x86_64-linux-gnu
elif grep -q '^CONFIG_ARM64=y' "$cfg"; then karch=arm64 triplet=aarch64-linux-gnu
else die "kernel $kver: only amd64 and arm64 kernels are supported"
fi
cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$cfg")
command -v "$cc" >/dev/null 2>&1 || cc=$triplet-gcc
command -v "$cc" >/dev/null 2>&1 || cc=gcc
jobs=-j$(nproc)

# Prepare the kernel tree once per kernel (and again when the kernel's
# config, source or compiler changes).
d=$state/$kver
key="$srcver $(md5sum <"$cfg") $have"
if [ "$(cat "$d/stamp" 2>/dev/null)" != "$key" ]; then
	log "preparing the Rust metadata of kernel $kver from $tarball (once; several minutes)"
	rm -rf "$d"
	mkdir -p "$d/src" "$d/out"
	tar -xf "$tarball" -C "$d/src" --strip-components=1
	cp "$cfg" "$d/out/.config"
	make -s -C "$d/src" O="$d/out" ARCH=$karch CC="$cc" KERNELRELEASE="$kver" \
		$jobs olddefconfig modules_prepare >"$d/prepare.log" 2>&1 ||
		{ tail -n 30 "$d/prepare.log" >&2; die "preparing kernel $kver failed; see $d/prepare.log"; }
	cp "$hdr/Module.symvers" "$d/out/Module.symvers"
	echo "$key" >"$d/stamp"
fi

log "building for $kver"
"$top/scripts/build-modules.sh" "$d/out" "$PWD/out" ARCH=$karch CC="$cc" $jobs \
	CONFIG_TEST_VRING=n CONFIG_VRING_KUNIT_TEST=n CONFIG_TEST_VM_SPLAT=n \
	CONFIG_TEST_DEBUG_DETECTORS=n CONFIG_TEST_VIRTIO_FAIL=n
