#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make setup: build (or refresh) everything the module build and the VM tests
# need, cached outside the checkout in $VRS_CACHE. Idempotent: each step
# leaves a stamp describing its inputs and is skipped when they are unchanged.
#
#  1. a Debian trixie chroot with the kernel's Rust toolchain and QEMU;
#  2. Debian's kernel packages of one 7.3.x release for amd64 and arm64;
#  3. Debian's source, unpacked; one prepared output tree per arch;
#  4. the project's QEMU (tools/qemu: Debian's QEMU source plus our patches),
#     for the boots that need a device feature stock QEMU lacks;
#  5. the debug kernels (tools/testing/vm/debug-kernel: the same source with
#     KASAN, lockdep, kmemleak, KUnit, ...) for the arches in
#     VRS_DEBUG_ARCHES (default "arm64"; "x86_64 arm64" for both, "" for
#     none).
#
# The mirror is read from the host's apt configuration. The apt lists are
# refreshed at most once a day (VRS_REFRESH=1 forces it), so a new Debian
# upload is picked up without making warm runs slow.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
VRS_STEP=setup
t0=$SECONDS
step() { vrs_log "$(printf '%4ss  %s' $((SECONDS - t0)) "$*")"; }

[ "$(id -u)" = 0 ] || vrs_die "must run as root (debootstrap, chroot and mounts)"
mkdir -p "$VRS_CACHE"
exec 9>"$VRS_CACHE/.setup.lock"
flock -n 9 || { vrs_log "another setup is running; waiting"; flock 9; }

# ---------------------------------------------------------------- mirror
# The Debian archive URI the host's apt uses (origin and label "Debian", not
# the security archive). Nothing about the registry is written in the repo.
mirror=$(apt-get indextargets --format '$(ORIGIN)|$(LABEL)|$(REPO_URI)' 2>/dev/null |
	awk -F'|' '$1=="Debian" && $2=="Debian" {print $3; exit}')
[ -n "$mirror" ] || vrs_die "cannot find a Debian mirror in the host's apt configuration (apt-get indextargets)"

# ---------------------------------------------------------------- chroot
packages=(build-essential bc bison flex libelf-dev libssl-dev rustc rust-src rustfmt
	rust-clippy bindgen libclang-dev clang lld llvm python3 cpio kmod dwarves
	busybox-static xz-utils zstd qemu-system-x86 qemu-system-arm ipxe-qemu
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross device-tree-compiler file
	meson ninja-build pkgconf libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev python3-venv
	debhelper dh-dkms dpkg-dev cargo librust-nix-dev libstd-rust-dev:arm64 lintian)
chroot_key="trixie deb-src $mirror ${packages[*]}"
if [ "$(cat "$VRS_CHROOT/.vrs-stamp" 2>/dev/null)" != "$chroot_key" ]; then
	if [ ! -x "$VRS_CHROOT/usr/bin/apt-get" ] || [ ! -f "$VRS_CHROOT/.vrs-debootstrap" ]; then
		command -v debootstrap >/dev/null || {
			step "installing debootstrap on the host"
			apt-get install -y -q debootstrap >/dev/null || { apt-get update -q >/dev/null; apt-get install -y -q debootstrap >/dev/null; }
		}
		step "debootstrap trixie into $VRS_CHROOT (about 1 min)"
		rm -rf "$VRS_CHROOT"
		debootstrap --variant=minbase trixie "$VRS_CHROOT" "$mirror" >"$VRS_CACHE/debootstrap.log" 2>&1 ||
			vrs_die "debootstrap failed; see $VRS_CACHE/debootstrap.log"
		touch "$VRS_CHROOT/.vrs-debootstrap"
	fi
	cat >"$VRS_CHROOT/etc/apt/sources.list" <<-SRC
	deb $mirror trixie main
	deb $mirror trixie-updates main
	deb $mirror trixie-backports main
	deb-src $mirror trixie main
	deb-src $mirror trixie-updates main
	SRC
	step "installing the toolchain in the chroot (about 1-2 min)"
	vrs_chroot "dpkg --add-architecture arm64 && apt-get update -q >/dev/null &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${packages[*]} >/dev/null" ||
		vrs_die "package installation in the chroot failed"
	touch "$VRS_CACHE/.apt-updated"
	echo "$chroot_key" >"$VRS_CHROOT/.vrs-stamp"
else
	step "chroot up to date"
fi

# Refresh the package lists once a day so new uploads are noticed.
if [ -n "${VRS_REFRESH:-}" ] || [ -z "$(find "$VRS_CACHE/.apt-updated" -mmin -1440 2>/dev/null)" ]; then
	step "refreshing apt lists in the chroot"
	vrs_chroot "apt-get update -q >/dev/null" || vrs_die "apt-get update failed in the chroot"
	touch "$VRS_CACHE/.apt-updated"
fi

# ---------------------------------------------------------------- kernel packages
# Discover the newest 7.3.x release that has headers for both arches.
series=$VRS_KSERIES
re="^linux-headers-${series//./\\.}\\.[0-9]+\\+deb[0-9]+[^-]*-amd64\$"
rel=$(vrs_chroot "apt-cache pkgnames linux-headers-$series." | grep -E "$re" |
	sed 's/^linux-headers-//; s/-amd64$//' | sort -V | tail -n 1) || true
[ -n "$rel" ] || vrs_die "no linux-headers-$series.*-amd64 package in trixie/trixie-backports: Debian no longer ships the $series series here"

# name:arch of every package we need, all from one source upload.
need=("linux-source-$series:all")
for a in amd64 arm64; do
	need+=("linux-headers-$rel-$a:$a" "linux-binary-unsigned-$rel-$a:$a" "linux-modules-$rel-$a:$a")
done
declare -A ver
for p in "${need[@]}"; do
	v=$(vrs_chroot "apt-cache show --no-all-versions '${p%:all}' 2>/dev/null" | awk '/^Version:/ {print $2; exit}')
	[ -n "$v" ] || vrs_die "package ${p%:all} is not available from the mirror"
	ver[$p]=$v
done
kver=${ver[linux-source-$series:all]}
for p in "${need[@]}"; do
	[ "${ver[$p]}" = "$kver" ] || {
		for q in "${need[@]}"; do vrs_log "  $q ${ver[$q]}"; done
		vrs_die "Debian's kernel packages disagree (${p%:all} is ${ver[$p]}, linux-source-$series is $kver): the mirror is mid-upload; retry later"
	}
done
kdir=$VRS_CACHE/kernel/$rel
mkdir -p "$kdir/debs"
if [ ! -f "$kdir/.pkgs-$kver" ]; then
	step "downloading kernel packages $rel ($kver)"
	vrs_chroot "cd '$kdir/debs' && apt-get download -q ${need[*]/%:all/} busybox-static:arm64 >/dev/null" ||
		vrs_die "apt-get download failed"
	for a in amd64 arm64; do
		ka=$(vrs_karch $a); rm -rf "$kdir/pkg-$ka"; mkdir -p "$kdir/pkg-$ka"
		for d in "$kdir"/debs/linux-{headers,binary-unsigned,modules}-"$rel"-"$a"_*.deb; do
			dpkg-deb -x "$d" "$kdir/pkg-$ka"
		done
	done
	dpkg-deb -x "$(ls "$kdir"/debs/busybox-static_*_arm64.deb | head -n1)" "$kdir/pkg-arm64/busybox"
	# The packages ship no modules.dep (depmod runs at install): make it.
	for a in amd64 arm64; do
		vrs_chroot "depmod -b '$kdir/pkg-$(vrs_karch $a)/usr' $rel-$a 2>&1 | grep -v \"could not open modules\" >&2; exit \${PIPESTATUS[0]}" || vrs_die "depmod failed for $a"
	done
	touch "$kdir/.pkgs-$kver"
else
	step "kernel packages $rel ($kver) cached"
fi

src=$kdir/linux-source-$series
if [ ! -f "$src/.vrs-unpacked" ]; then
	step "unpacking linux-source-$series (about 1 min)"
	rm -rf "$src" "$kdir/src-tmp"; mkdir -p "$kdir/src-tmp"
	dpkg-deb -x "$kdir"/debs/linux-source-"$series"_*.deb "$kdir/src-tmp"
	tar -C "$kdir" -xaf "$kdir/src-tmp/usr/src/linux-source-$series.tar.xz"
	rm -rf "$kdir/src-tmp"
	touch "$src/.vrs-unpacked"
fi

# The kernels were built by exactly one rustc; ours must be the same.
for a in amd64 arm64; do
	ka=$(vrs_karch $a)
	cfg=$kdir/pkg-$ka/usr/src/linux-headers-$rel-$a/.config
	[ -f "$cfg" ] || vrs_die "no .config in linux-headers-$rel-$a"
	want=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"$/\1/p' "$cfg")
	[ -n "$want" ] || vrs_die "Debian's $a config has no CONFIG_RUSTC_VERSION_TEXT: the kernel is not built with CONFIG_RUST=y"
	have=$(vrs_chroot "rustc --version")
	[ "$have" = "$want" ] || vrs_die "the chroot's rustc is '$have' but Debian's $a kernel was built with '$want'; modules would not load"
done

# ---------------------------------------------------------------- output trees
for a in amd64 arm64; do
	ka=$(vrs_karch $a); out=$kdir/out-$ka
	hdr=$kdir/pkg-$ka/usr/src/linux-headers-$rel-$a
	key="$kver $(md5sum <"$hdr/.config")"
	if [ "$(cat "$out/.vrs-stamp" 2>/dev/null)" = "$key" ]; then
		step "output tree $ka prepared"
		continue
	fi
	step "modules_prepare for $ka (about 2 min)"
	rm -rf "$out"; mkdir -p "$out"
	cp "$hdr/.config" "$out/.config"
	vrs_chroot "make -s -C '$src' O='$out' ARCH=$ka CROSS_COMPILE=$(vrs_cross $ka) \
		KERNELRELEASE=$rel-$a -j\$(nproc) olddefconfig modules_prepare" >"$kdir/prepare-$ka.log" 2>&1 ||
		{ tail -n 30 "$kdir/prepare-$ka.log" >&2; vrs_die "modules_prepare failed for $ka; see $kdir/prepare-$ka.log"; }
	cp "$hdr/Module.symvers" "$out/Module.symvers"
	echo "$key" >"$out/.vrs-stamp"
done

cat >"$VRS_CACHE/kernel.env.tmp" <<-ENV
VRS_KREL=$rel
VRS_KVER=$kver
ENV
mv "$VRS_CACHE/kernel.env.tmp" "$VRS_CACHE/kernel.env"

# ---------------------------------------------------------------- patched QEMU
if vrs_chroot "'$VRS_TOP/tools/qemu/build.sh' --check" 2>/dev/null; then
	step "patched QEMU built"
else
	step "building the patched QEMU (tools/qemu; about 6 min, once)"
	vrs_chroot "'$VRS_TOP/tools/qemu/build.sh'" || vrs_die "building the patched QEMU failed"
fi
# ---------------------------------------------------------------- debug kernels
for a in ${VRS_DEBUG_ARCHES-arm64}; do
	step "debug kernel $a"
	"$VRS_TOP/tools/testing/vm/debug-kernel/build-kernel.sh" "$a" || vrs_die "building the $a debug kernel failed"
done
step "ready: Debian kernel $rel ($kver), cache $VRS_CACHE"
