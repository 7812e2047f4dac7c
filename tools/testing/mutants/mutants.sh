#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make mutants: mutation testing of the vring core with cargo-mutants
# (crates.io). Every mutant of split.rs, packed.rs, vring.rs, queue.rs and
# mem.rs is built and the host tests (cargo test --release: the shared
# cases, properties, golden bytes, rust-vmm virtio-queue, fuzz targets on
# random input) run against it; then the mutants that survive are tried
# once more under loom (RUSTFLAGS="--cfg loom", the loom_ models), which is
# where ordering and barrier mutants are caught. Prints the totals and the
# surviving mutants; writes cargo-mutants' output to build/mutants/.
# Not part of make check: about 4-5 mutants a minute on 2 cores, so the
# whole crate (about 730) takes nearly 3 hours; take it a file or a shard
# at a time.
#
#   tools/testing/mutants/mutants.sh [cargo-mutants options, e.g. -f split.rs,
#                                     --shard 0/2, --re REGEX]
#
# With --ivshmem first, the crate is tools/ivshmem instead (server, peer,
# protocol, CLIs; about 400 mutants at some 10 s each): its host tests
# (unit, fake peers over the socket, the CLIs) run against each mutant;
# there is no loom pass. Output in build/mutants-ivshmem/.
#
#   tools/testing/mutants/mutants.sh --ivshmem [-f src/proto.rs ...]
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
ring=$top/drivers/virtio/ring
out=$top/build/mutants
VERSION=27.1.0
if ! cargo mutants --version 2>/dev/null | grep -q "$VERSION"; then
	cargo install --locked --version "$VERSION" cargo-mutants
fi
count() { grep -c . "$1/mutants.out/$2.txt" 2>/dev/null || true; }
if [ "${1:-}" = --ivshmem ]; then
	shift
	out=$top/build/mutants-ivshmem
	mkdir -p "$out"
	cd "$top/tools/ivshmem"
	# The interop tests are #[ignore]d (they need QEMU's tools, in the
	# chroot): cargo test leaves them out here too.
	cargo mutants --no-shuffle -j 2 --timeout 60 -C --release -o "$out" "$@" \
		>"$out/mutants.log" 2>&1 || true
	grep -q 'failed in an unmutated tree' "$out/mutants.log" &&
		{ tail -n 20 "$out/mutants.log"; echo "== the unmutated tree failed"; exit 1; }
	echo "== ivshmem host tests: $(count "$out" caught) caught, $(count "$out" missed) missed," \
		"$(count "$out" timeout) timeout, $(count "$out" unviable) unviable"
	echo "== missed:"
	sed 's/^/  /' "$out/mutants.out/missed.txt" 2>/dev/null || true
	exit 0
fi
mkdir -p "$out"
files=(-f split.rs -f packed.rs -f vring.rs -f queue.rs -f mem.rs)
[ $# -gt 0 ] && files=("$@")
# The loom pass takes the survivors by name, whatever shard they came from.
loomfiles=()
while [ $# -gt 0 ]; do
	case $1 in
	--shard) shift 2 ;;
	--shard=*) shift ;;
	*) loomfiles+=("$1"); shift ;;
	esac
done
[ ${#loomfiles[@]} -gt 0 ] || loomfiles=("${files[@]}")
cd "$ring"
# The copy cargo-mutants builds holds this crate only: the host test that
# reads lib/vring_kunit.rs then has nothing to read (host_tests.rs).
export VRS_MUTANTS=1
# Pass 1: the host tests.
# The build step builds the test binaries too (--tests; no doctests: the
# crate has none and compiling them would dominate every mutant), so a
# mutant's test step only runs them: about 3 s, a hang stops at 30 s.
cargo mutants --no-shuffle -j 2 --timeout 30 -C --release -C --tests -o "$out/host" "${files[@]}" \
	>"$out/host.log" 2>&1 || true
missed=$out/host/mutants.out/missed.txt
echo "== host tests: $(grep -c . "$out/host/mutants.out/caught.txt" 2>/dev/null || true) caught," \
	"$(grep -c . "$missed" 2>/dev/null || true) missed," \
	"$(grep -c . "$out/host/mutants.out/timeout.txt" 2>/dev/null || true) timeout," \
	"$(grep -c . "$out/host/mutants.out/unviable.txt" 2>/dev/null || true) unviable"
# Pass 2: the survivors under loom. --re matches a mutant's description
# (without file:line:col), so a few same-named mutants come along.
if [ -s "$missed" ]; then
	re=$(sed -e 's/^[^:]*:[0-9]*:[0-9]*: //' -e 's/[][\.*^$(){}+?|/]/\\&/g' "$missed" |
		sort -u | paste -sd'|')
	RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo mutants --no-shuffle -j 1 \
		--timeout 300 -C --release -C --tests -o "$out/loom" --re "$re" "${loomfiles[@]}" \
		-- loom_ >"$out/loom.log" 2>&1 || true
	if [ ! -f "$out/loom/mutants.out/outcomes.json" ] || grep -q 'failed in an unmutated tree' "$out/loom.log"; then
		tail -n 20 "$out/loom.log"
		echo "== loom pass failed (the unmutated tree did not build or pass under loom): see $out/loom.log"
		exit 1
	fi
	echo "== loom on the survivors: $(grep -c . "$out/loom/mutants.out/caught.txt" 2>/dev/null || true) caught," \
		"$(grep -c . "$out/loom/mutants.out/missed.txt" 2>/dev/null || true) missed"
	# --re also brought in same-named mutants the host tests caught: the
	# survivors are the host's missed ones that loom missed too.
	echo "== surviving both:"
	strip() { sed -e 's/^[^:]*:[0-9]*:[0-9]*: //' "$1" 2>/dev/null | sort -u; }
	comm -12 <(strip "$missed") <(strip "$out/loom/mutants.out/missed.txt") >"$out/surviving.txt"
	grep -F -f "$out/surviving.txt" "$missed" | sed 's/^/  /' || true
fi
