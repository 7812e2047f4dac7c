#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: host tests (every cargo workspace of the tree, and ktap.py's
# unit test), then for each arch the module/selftest build and one VM boot
# per selftest area (tools/testing/selftests/*/vm.conf), then the debug
# lane (the ring and transport areas again, on the debug kernel of each arch
# in VRS_DEBUG_ARCHES, default arm64), then the runner's own self-test
# (with the debug kernel's detectors). Between the VM boots and the debug
# lane: the Debian packages and the distro guest test (tools/testing/distro).
# Ends with one line "N passed, N failed, N skipped"; exits non-zero on any
# failure or when nothing ran.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
VRS_STEP=check
host_only=
[ "${1:-}" = --host-only ] && { host_only=1; shift; }
arches=${*:-x86_64 arm64}
P=0 F=0 S=0
t0=$SECONDS
timing=()
phase() { timing+=("$(printf '%-28s %5ss' "$1" $(($2)))"); }
fail() { echo "not ok - $1"; F=$((F + 1)); }
# add_result FILE NAME: add a runner's "passed failed skipped" line to the
# totals; a missing or malformed file is a failure of NAME.
add_result() {
	local p f s
	if [ ! -f "$1" ]; then
		fail "$2: runner produced no result"
	elif read -r p f s <"$1" && [[ "$p $f $s" =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]]; then
		P=$((P + p)); F=$((F + f)); S=$((S + s))
	else
		fail "$2: malformed result '$(head -c 80 "$1")'"
	fi
}

# ---------------------------------------------------------------- host tests
t=$SECONDS
for manifest in $(cd "$VRS_TOP" && git ls-files '*Cargo.toml' 2>/dev/null | grep -v '/fuzz/'); do
	dir=$(dirname "$VRS_TOP/$manifest")
	grep -q '^\[workspace\]' "$VRS_TOP/$manifest" || [ ! -f "$dir/../Cargo.toml" ] || continue
	# Benchmark glue (staticlibs linked with C by their scripts) has no tests.
	grep -q '^crate-type = \["staticlib"\]' "$VRS_TOP/$manifest" && continue
	echo "== cargo test: ${manifest%/Cargo.toml}"
	out=$(cd "$dir" && cargo test --release 2>&1); rc=$?
	echo "$out" | grep -E '^(test result:|running|error|warning: unused)|FAILED|panicked' | sed 's/^/  /'
	while read -r p f s; do P=$((P + p)); F=$((F + f)); S=$((S + s)); done < <(
		echo "$out" | sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p')
	[ $rc = 0 ] || { echo "$out" | tail -n 30; fail "cargo test ${manifest%/Cargo.toml} exited $rc"; }
done
# ktap.py's unit test (tools/testing/vm/test_ktap.py, no VM): one KTAP line
# per test; on the host, or in the chroot when the host has no python3.
echo "== ktap.py: tools/testing/vm/test_ktap.py"
rc=
if command -v python3 >/dev/null; then
	out=$(python3 "$VRS_TOP/tools/testing/vm/test_ktap.py" 2>&1); rc=$?
elif [ -x "$VRS_CHROOT/usr/bin/python3" ]; then
	out=$(vrs_chroot "python3 '$VRS_TOP/tools/testing/vm/test_ktap.py'" 2>&1); rc=$?
fi
if [ -n "$rc" ]; then
	echo "$out" | grep -E '^(not ok|#)' | sed 's/^/  /'
	p=$(echo "$out" | grep -E '^ok [0-9]+ ' | grep -vc ' # SKIP')
	s=$(echo "$out" | grep -cE '^ok [0-9]+ .* # SKIP')
	f=$(echo "$out" | grep -cE '^not ok [0-9]+ ')
	echo "  ktap.py: $p passed, $f failed, $s skipped"
	P=$((P + p)); F=$((F + f)); S=$((S + s))
	if [ $rc != 0 ] && [ "$f" = 0 ]; then
		echo "$out" | tail -n 30; fail "test_ktap.py exited $rc"
	elif [ $((p + f + s)) = 0 ]; then
		fail "test_ktap.py ran no test"
	fi
else
	echo "# SKIP ktap.py tests: no python3 on the host and no chroot yet"
	S=$((S + 1))
fi
phase "host tests" SECONDS-t

# ---------------------------------------------------------------- loom
# Model checking of the two notification races (drivers/virtio/ring/loom_tests.rs).
t=$SECONDS
echo "== loom: drivers/virtio/ring"
out=$(cd "$VRS_TOP/drivers/virtio/ring" && RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
	CARGO_TARGET_DIR=target/loom cargo test --release loom_ 2>&1); rc=$?
echo "$out" | grep -E '^test result:|FAILED|panicked' | sed 's/^/  loom: /'
while read -r p f s; do P=$((P + p)); F=$((F + f)); done < <(
	echo "$out" | sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p')
[ $rc = 0 ] || { echo "$out" | tail -n 30; fail "loom exited $rc"; }
phase "loom" SECONDS-t

# ---------------------------------------------------------------- miri
# The ring crate's tests under miri (undefined behaviour, data races).
# Weak-memory emulation is off: miri 2026-05 panics in weak_memory.rs on
# this crate's mixed-size atomic accesses; the ordering argument is covered
# by the property tests and the kernel runs on both arches instead.
t=$SECONDS
ring=$VRS_TOP/drivers/virtio/ring
if cargo +nightly miri --version >/dev/null 2>&1 ||
	rustup component add --toolchain nightly miri rust-src >/dev/null 2>&1; then
	echo "== cargo miri test: drivers/virtio/ring"
	out=$(cd "$ring" && MIRIFLAGS="-Zmiri-disable-weak-memory-emulation -Zmiri-disable-isolation" \
		cargo +nightly miri test 2>&1); rc=$?
	echo "$out" | grep -E '^test result:|FAILED|panicked|Undefined Behavior' | sed 's/^/  miri: /'
	while read -r p f s; do P=$((P + p)); F=$((F + f)); S=$((S + s)); done < <(
		echo "$out" | sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p')
	[ $rc = 0 ] || { echo "$out" | tail -n 30; fail "cargo miri test exited $rc"; }
else
	echo "# SKIP miri: no nightly toolchain with miri on this machine"
	S=$((S + 1))
fi
phase "miri" SECONDS-t

# ---------------------------------------------------------------- VM tests
if [ -z "$host_only" ]; then
	t=$SECONDS
	"$VRS_TOP/tools/testing/vm/setup.sh" || { fail "make setup"; arches=; }
	phase "setup" SECONDS-t
	# ivshmem interop (tools/ivshmem/tests/interop.rs): our server and peer
	# against QEMU's contrib ivshmem-server/ivshmem-client and its
	# ivshmem-doorbell device, all built by setup. Those run in the chroot,
	# so the host-built test binary runs there too (same paths inside).
	t=$SECONDS
	echo "== ivshmem interop with QEMU's programs"
	exe=$(cd "$VRS_TOP/tools/ivshmem" && cargo test --release --test interop --no-run 2>&1 |
		sed -n 's/.*Executable tests\/interop.rs (\(.*\))/\1/p')
	if [ -z "$exe" ]; then
		fail "ivshmem interop: the test binary did not build"
	else
		out=$(vrs_chroot "IVSHMEM_QEMU_BIN='$VRS_CACHE/qemu/current/bin' '$VRS_TOP/tools/ivshmem/$exe' --ignored --test-threads=1" 2>&1); rc=$?
		echo "$out" | grep -E '^(test |test result:)|panicked' | sed 's/^/  /'
		read -r p f s < <(echo "$out" | sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p')
		P=$((P + ${p:-0})); F=$((F + ${f:-0})); S=$((S + ${s:-0}))
		[ "${p:-0}" -gt 0 ] || fail "ivshmem interop: no test passed"
		[ $rc = 0 ] || { echo "$out" | tail -n 30; fail "ivshmem interop exited $rc"; }
	fi
	phase "ivshmem interop" SECONDS-t
	for arch in $arches; do
		t=$SECONDS
		if ! "$VRS_TOP/tools/testing/vm/build.sh" "$arch"; then
			fail "$arch: build"
			continue
		fi
		phase "$arch build" SECONDS-t
		# One boot per conf: area/vm.conf (tag "area") and area/vm.X.conf ("area.X").
		for conf in "$VRS_TOP"/tools/testing/selftests/*/vm.conf "$VRS_TOP"/tools/testing/selftests/*/vm.*.conf; do
			[ -f "$conf" ] || continue
			area=$(basename "$(dirname "$conf")")
			c=$(basename "$conf" .conf); c=${c#vm}
			area=$area$c
			t=$SECONDS
			"$VRS_TOP/tools/testing/vm/vm-chroot.sh" --tag "$area" "$arch" "$conf"
			add_result "$VRS_TOP/build/$arch/vm/$area/result" "$arch/$area"
			phase "$arch vm $area" SECONDS-t
		done
	done
	# The Debian packages (make deb; lintian must report no error or
	# warning) and the distro guest test: a real trixie system booted with
	# the prebuilt package (stock, installed and our transport chosen,
	# purged) and with the DKMS package (built in the image's chroot,
	# booted, purged). amd64 only (tools/testing/distro/image.sh says why).
	case " $arches " in *" x86_64 "*)
		t=$SECONDS
		echo "== make deb"
		if "$VRS_TOP/tools/packaging/deb.sh" $arches; then
			P=$((P + 1))
			lw=$(grep -E '^[EW]: ' "$VRS_TOP/build/deb/lintian.txt")
			if [ -n "$lw" ]; then
				echo "$lw" | sed 's/^/  /'; fail "lintian: errors or warnings"
			else
				P=$((P + 1))
			fi
		else
			fail "make deb"
		fi
		phase "make deb" SECONDS-t
		t=$SECONDS
		echo "== distro guest test (x86_64)"
		"$VRS_TOP/tools/testing/distro/test.sh" x86_64
		add_result "$VRS_TOP/build/x86_64/vm/distro/result" x86_64/distro
		phase "x86_64 distro guest" SECONDS-t
		;;
	esac
	# The debug lane: the modules built against the debug kernel
	# (tools/testing/vm/debug-kernel), the ring and transport areas booted
	# on it (KASAN, lockdep, kmemleak, ...; the vring area adds the KUnit
	# suite). Only for arches checked above: the selftests are theirs.
	debug_arches=
	for arch in ${VRS_DEBUG_ARCHES-arm64}; do
		case " $arches " in *" $arch "*) debug_arches+=" $arch";; esac
	done
	for arch in $debug_arches; do
		t=$SECONDS
		if ! "$VRS_TOP/tools/testing/vm/build.sh" --debug "$arch"; then
			fail "$arch-debug: build"
			continue
		fi
		phase "$arch-debug build" SECONDS-t
		for conf in ${VRS_DEBUG_CONFS:-vring/vm.conf virtio_mmio/vm.conf virtio_mmio/vm.msi.conf ivshmem/vm.conf ivshmem/vm.twoguest.conf virtio_drivers/vm.conf virtio_drivers/vm.blk.conf virtio_drivers/vm.fault.conf}; do
			area=$(dirname "$conf")
			c=$(basename "$conf" .conf); c=${c#vm}
			area=$area$c
			t=$SECONDS
			VM_KERNEL=debug "$VRS_TOP/tools/testing/vm/vm-chroot.sh" --tag "$area" "$arch" \
				"$VRS_TOP/tools/testing/selftests/$conf"
			add_result "$VRS_TOP/build/$arch/vm/$area.debug/result" "$arch-debug/$area"
			phase "$arch-debug vm $area" SECONDS-t
		done
	done
	# The runner must catch a failing case, a kernel warning and a hung guest.
	for arch in $arches; do
		t=$SECONDS
		out=$("$VRS_TOP/tools/testing/vm/selftest.sh" "$arch"); rc=$?
		echo "$out"
		p=$(echo "$out" | grep -c '^ok '); f=$(echo "$out" | grep -c '^not ok ')
		P=$((P + p)); F=$((F + f))
		[ $rc = 0 ] || [ "$f" -gt 0 ] || fail "$arch runner self-test exited $rc"
		phase "$arch runner self-test" SECONDS-t
		break # one arch is enough: the runner logic is arch-independent
	done
	# ... and each of the debug kernel's detectors.
	for arch in $debug_arches; do
		t=$SECONDS
		out=$("$VRS_TOP/tools/testing/vm/selftest.sh" --debug "$arch"); rc=$?
		echo "$out"
		p=$(echo "$out" | grep -c '^ok '); f=$(echo "$out" | grep -c '^not ok ')
		P=$((P + p)); F=$((F + f))
		[ $rc = 0 ] || [ "$f" -gt 0 ] || fail "$arch-debug runner self-test exited $rc"
		phase "$arch-debug runner self-test" SECONDS-t
		break # one debug kernel is enough for the detectors
	done
fi

echo "== timing"
printf '  %s\n' "${timing[@]}"
printf '  %-28s %5ss\n' total $((SECONDS - t0))
if [ $((P + F)) = 0 ]; then
	echo "no test ran"
	F=1
fi
echo "$P passed, $F failed, $S skipped"
[ "$F" = 0 ]
