#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench.sh [ARCH]: virtio_mmio_rs.ko against Debian's virtio_mmio.ko, both
# under Debian's virtio_blk, on the same QEMU disk in the same boot
# (blkread.c loads one, then the other, alternating which goes first).
#
#   throughput  4 KiB random O_DIRECT reads, 1 and 4 reader threads,
#               ROUNDS rounds of SECS seconds per transport and job count;
#               median reads/s per transport and the ratio Rust / C.
#   trace       a second boot with QEMU's virtio_mmio_read and
#               virtio_mmio_write_offset trace events on: trapped MMIO
#               accesses per completed request (READS reads per transport).
#
# A benchmark, not a test: prints the figures and whether the goal
# (throughput >= 1.0x C) is met; exits non-zero only if a run failed.
# Environment: ROUNDS (5), SECS (5), READS (4000), LEGACY (false: modern
# devices; true: legacy), ARCH also as the first argument (arm64).
set -euo pipefail
. "$(dirname "$0")/../../testing/vm/lib.sh"
VRS_STEP=mmio-bench
arch=$(vrs_karch "${1:-${ARCH:-arm64}}")
vrs_load_kernel
here=$VRS_TOP/tools/virtio/mmio-bench
bdir=$VRS_TOP/build/$arch

"$VRS_TOP/tools/testing/vm/build.sh" "$arch" >/dev/null
mkdir -p "$bdir/selftests/mmio-bench"
vrs_chroot "$(vrs_cross "$arch")gcc -static -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-format-truncation -pthread \
	-o '$bdir/selftests/mmio-bench/blkread' '$here/blkread.c'"

BENCH_FORCE_LEGACY=${LEGACY:-false}

for mode in throughput trace; do
	# The chroot does not pass the environment: the settings go in a conf.
	conf=$bdir/mmio-bench-$mode.conf
	cat >"$conf" <<-CONF
	BENCH_MODE=$mode BENCH_ROUNDS=${ROUNDS:-5} BENCH_SECS=${SECS:-5} BENCH_READS=${READS:-4000}
	BENCH_FORCE_LEGACY=$BENCH_FORCE_LEGACY
	. '$here/vm.conf'
	CONF
	"$VRS_TOP/tools/testing/vm/vm-chroot.sh" --tag "mmio-bench-$mode" "$arch" "$conf" >/dev/null || true
	r=$bdir/vm/mmio-bench-$mode/result
	[ -f "$r" ] && read -r p f s <"$r" && [ "$f" = 0 ] && [ "$p" -gt 0 ] ||
		vrs_die "$mode boot failed: see $bdir/vm/mmio-bench-$mode/console.log"
done

python3 - "$bdir/vm/mmio-bench-throughput/console.log" "$bdir/vm/mmio-bench-trace/helper.out" \
	"$arch" "$BENCH_FORCE_LEGACY" <<'PY'
import re, statistics, sys
log, marks, arch, legacy = sys.argv[1:5]
runs = {}
for l in open(log, errors="replace"):
    m = re.search(r"VRS-BENCH impl=(\w+) round=(\d+) jobs=(\d+) reads=(\d+) secs=([\d.]+)", l)
    if m:
        runs.setdefault((m[1], int(m[3])), []).append(int(m[4]) / float(m[5]))
print(f"virtio-mmio blk 4 KiB random reads, {arch}, {'legacy' if legacy == 'true' else 'modern'} "
      f"device, TCG; median of {len(runs.get(('c', 1), []))} rounds")
print(f"{'jobs':>4} {'C reads/s':>10} {'Rust reads/s':>12} {'Rust/C':>7}   (min..max C | Rust)")
met = True
for jobs in sorted({j for _, j in runs}):
    c, r = runs.get(("c", jobs), []), runs.get(("rust", jobs), [])
    if not c or not r:
        print(f"{jobs:>4} missing runs"); met = False; continue
    ratio = statistics.median(r) / statistics.median(c)
    met &= ratio >= 1.0
    print(f"{jobs:>4} {statistics.median(c):>10.0f} {statistics.median(r):>12.0f} {ratio:>6.2f}x"
          f"   ({min(c):.0f}..{max(c):.0f} | {min(r):.0f}..{max(r):.0f})")
m = {}
for l in open(marks, errors="replace"):
    if l.startswith("MARK "):
        f = l.split()
        tag = f[1]
        reads = [x for x in f if x.startswith("reads=")]
        f = [x for x in f if not x.startswith("reads=")]
        ev = dict(zip(f[2::2], f[3::2]))
        m[tag] = ({k: int(v) for k, v in ev.items() if v.isdigit()},
                  int(reads[0][6:]) if reads else None)
print("trapped MMIO accesses per completed 4 KiB read (QEMU trace events)")
print(f"{'impl':>4} {'reads':>6} {'reg reads':>9} {'reg writes':>10} {'per req':>8}")
for impl in ("c", "rust"):
    s, e = m.get(f"{impl}-start"), m.get(f"{impl}-end")
    if not s or not e or not e[1]:
        print(f"{impl:>4} missing marks"); continue
    rd = e[0].get("virtio_mmio_read", 0) - s[0].get("virtio_mmio_read", 0)
    wr = e[0].get("virtio_mmio_write_offset", 0) - s[0].get("virtio_mmio_write_offset", 0)
    print(f"{impl:>4} {e[1]:>6} {rd / e[1]:>9.2f} {wr / e[1]:>10.2f} {(rd + wr) / e[1]:>8.2f}")
print(f"goal {'met' if met else 'NOT met'}: throughput >= 1.0x C at every job count")
PY
