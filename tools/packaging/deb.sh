#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make deb [ARCH=...]: the Debian packages (debian/), built with
# dpkg-buildpackage in the build chroot for the current Debian kernel
# (make setup), into build/deb/:
#   virtio-rs-modules-<ABI>   prebuilt modules for that kernel, per arch
#   virtio-rs-dkms            the source, built by DKMS on the user's machine
#   virtio-rs-common          modprobe.d choice (inactive) + initramfs hook
#   virtio-rs-tools           ivshmem-server (systemd unit), ivshmem-peer
# and build/deb/lintian.txt, lintian's view of them.
set -euo pipefail
. "$(dirname "$0")/../testing/vm/lib.sh"
VRS_STEP=deb
vrs_load_kernel
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(x86_64 arm64)
out=$VRS_TOP/build/deb
ver=$(dpkg-parsechangelog -l "$VRS_TOP/debian/changelog" -S Version 2>/dev/null ||
	sed -n '1s/.*(\(.*\)).*/\1/p' "$VRS_TOP/debian/changelog")
stage=$out/src/virtio-rs-$ver
rm -rf "$out"
mkdir -p "$stage"
# The tracked files (what a release tarball holds), not build products.
(cd "$VRS_TOP" && git ls-files -z --cached --others --exclude-standard |
	grep -zv '^build/' | xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$stage"

# debian/control for this kernel: one prebuilt modules package per arch.
mods=
for a in amd64 arm64; do
	mods+=$(sed -e "s/@ABI@/$VRS_KREL-$a/g" -e "s/@ARCH@/$a/g" -e "s/@KVERSION@/$VRS_KVER/g" \
		"$stage/debian/module-package.in")
	mods+=$'\n\n'
	for f in postinst postrm triggers; do
		sed -e "s/@ABI@/$VRS_KREL-$a/g" "$stage/debian/module-package.$f.in" \
			>"$stage/debian/virtio-rs-modules-$VRS_KREL-$a.$f"
	done
done
# The DKMS package needs the kernel's own compiler (a newer rustc from
# backports cannot build modules for it): its upstream version, from the
# kernel's configuration, bounds rustc and rust-src.
rustc_up=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="rustc \([0-9.]*\) .*/\1/p' "$VRS_KDIR/out-x86_64/.config")
[ -n "$rustc_up" ] || vrs_die "no CONFIG_RUSTC_VERSION_TEXT in the prepared kernel's .config"
rustc_next=${rustc_up%.*}.$((${rustc_up##*.} + 1))
awk -v mods="$mods" '{ if ($0 == "@MODULE_PACKAGES@") printf "%s", mods; else print }' \
	"$stage/debian/control.in" |
	sed -e "s/@KREL@/$VRS_KREL/g" -e "s/@KVERSION@/$VRS_KVER/g" -e "s/@KSERIES@/$VRS_KSERIES/g" \
		-e "s/@RUSTC_UPSTREAM@/$rustc_up/g" -e "s/@RUSTC_NEXT@/$rustc_next/g" \
	>"$stage/debian/control"

first=1
for arch in "${arches[@]}"; do
	ka=$(vrs_karch "$arch"); da=$(vrs_debarch "$arch")
	kout=$VRS_KDIR/out-$ka
	[ -f "$kout/.vrs-stamp" ] || vrs_die "no prepared $ka tree: run 'make setup'"
	# Architecture-independent packages once, with the first arch.
	what=-B; [ -n "$first" ] && what=-b
	first=
	vrs_log "$da: dpkg-buildpackage $what"
	# -d: the chroot is the build environment (make setup installs the
	# build dependencies, native and cross); dpkg cannot check a cross
	# build's native ones by itself.
	vrs_chroot "cd '$stage' && VRS_KOUT='$kout' VRS_KREL='$VRS_KREL' \
		dpkg-buildpackage -us -uc -d $what -a$da" >"$out/build-$da.log" 2>&1 ||
		{ tail -n 40 "$out/build-$da.log" >&2; vrs_die "dpkg-buildpackage for $da failed; see $out/build-$da.log"; }
done
mv "$out/src"/*.deb "$out/src"/*.changes "$out/src"/*.buildinfo "$out/" 2>/dev/null || true
vrs_log "lintian"
vrs_chroot "cd '$out' && lintian --info --display-info --no-tag-display-limit *.changes" >"$out/lintian.txt" 2>&1 || true
ls -1 "$out"/*.deb
echo "lintian: $(grep -cE '^[EW]: ' "$out/lintian.txt" || true) errors/warnings, $(grep -cE '^[IP]: ' "$out/lintian.txt" || true) info/pedantic (build/deb/lintian.txt)"
