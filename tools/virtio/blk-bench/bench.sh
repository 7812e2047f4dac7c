#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench.sh [ARCH]: virtio_blk_rs (Rust driver, Rust vring) against Debian's
# virtio_blk (C driver, C vring), both on virtio_mmio_rs and the same QEMU
# disk in the same boot (blkread.c loads one driver, then the other,
# alternating which goes first), for three disks: q1 (one request queue,
# split ring), q1p (packed ring), q4 (four request queues).
#
#   throughput  4 KiB random O_DIRECT reads, 1 and 4 reader threads,
#               ROUNDS rounds of SECS seconds per driver and job count;
#               median reads/s per driver, the median of the per-round
#               Rust / C ratios with a bootstrap 95% interval, and
#               interrupts per read (the disk's lines in /proc/interrupts)
#   trace       QEMU trace events of trapped register accesses
#               (ioeventfd off): reads and writes per request; the writes
#               are the kicks (QueueNotify) and the interrupt acks
#   insns       guest instructions per request, all vCPUs, kernel and
#               user (insn_counter.c, a TCG plugin, on the project's
#               QEMU): the CPU cost of a read through each driver, which
#               TCG's timing noise does not move; READS reads, 1 reader
#
# A benchmark, not a test: prints the figures and whether the goal
# (throughput >= 1.0x C) is met; exits non-zero only if a run failed.
# Environment: ROUNDS (5), SECS (5), READS (4000), DISKS ("q1 q1p q4"),
# MODES ("throughput trace insns"), PROF (1: the insns mode also profiles
# by guest symbol, profile.py, printed after the table).
set -euo pipefail
. "$(dirname "$0")/../../testing/vm/lib.sh"
VRS_STEP=blk-bench
arch=$(vrs_karch "${1:-${ARCH:-x86_64}}")
vrs_load_kernel
here=$VRS_TOP/tools/virtio/blk-bench
bdir=$VRS_TOP/build/$arch

"$VRS_TOP/tools/testing/vm/build.sh" "$arch" >/dev/null
mkdir -p "$bdir/selftests/mmio-bench"
vrs_chroot "$(vrs_cross "$arch")gcc -static -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-format-truncation -pthread \
	-o '$bdir/selftests/mmio-bench/blkread' '$VRS_TOP/tools/virtio/mmio-bench/blkread.c'"
modes=${MODES:-throughput trace insns}
case " $modes " in *" insns "*)
	# A host plugin for the project's QEMU (which runs in the chroot).
	vrs_chroot "gcc -shared -fPIC -O2 -Wall -Wextra -Werror \$(pkg-config --cflags glib-2.0) \
		-I'$VRS_CACHE/qemu/current/include' -o '$VRS_TOP/build/insn_counter.so' \
		'$here/insn_counter.c' -lpthread";;
esac

for disk in ${DISKS:-q1 q1p q4}; do
	for mode in $modes; do
		conf=$bdir/blk-bench-$disk-$mode.conf
		cat >"$conf" <<-CONF
		BENCH_MODE=$mode BENCH_ROUNDS=${ROUNDS:-5} BENCH_SECS=${SECS:-5} BENCH_READS=${READS:-4000}
		BENCH_DISK=$disk BENCH_PROF=${PROF:-0}
		. '$here/vm.conf'
		CONF
		"$VRS_TOP/tools/testing/vm/vm-chroot.sh" --tag "blk-bench-$disk-$mode" "$arch" "$conf" >/dev/null || true
		r=$bdir/vm/blk-bench-$disk-$mode/result
		[ -f "$r" ] && read -r p f s <"$r" && [ "$f" = 0 ] && [ "$p" -gt 0 ] ||
			vrs_die "$disk $mode boot failed: see $bdir/vm/blk-bench-$disk-$mode/console.log"
	done
done

python3 - "$bdir/vm" "$arch" "$modes" ${DISKS:-q1 q1p q4} <<'PY'
import os, random, re, statistics, sys
vm, arch, modes, disks = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
print(f"virtio-blk 4 KiB random reads, {arch}, modern device on virtio_mmio_rs, TCG")
print("Rust = virtio_blk_rs on the Rust vring; C = Debian's virtio_blk on the C vring.")
verdicts = []
if "throughput" in modes:
    print("Rust/C: median of the per-round ratios (C and Rust back to back in each round,")
    print("order alternating) with a bootstrap 95% interval; irq/rd: interrupts per read")
    print(f"{'disk':>4} {'jobs':>4} {'C reads/s':>10} {'Rust reads/s':>12} {'Rust/C':>7} {'95% interval':>14} {'C irq/rd':>8} {'Rust irq/rd':>11}")
    for disk in disks:
        runs, irqs = {}, {}
        for l in open(f"{vm}/blk-bench-{disk}-throughput/console.log", errors="replace"):
            m = re.search(r"VRS-BENCH impl=(\w+) round=(\d+) jobs=(\d+) reads=(\d+) secs=([\d.]+) irqs=(\d+)", l)
            if m:
                runs.setdefault((m[1], int(m[3])), {})[int(m[2])] = int(m[4]) / float(m[5])
                irqs.setdefault((m[1], int(m[3])), []).append(int(m[6]) / max(1, int(m[4])))
        for jobs in sorted({j for _, j in runs}):
            c, r = runs.get(("c", jobs), {}), runs.get(("rust", jobs), {})
            rounds = sorted(set(c) & set(r))
            if not rounds:
                print(f"{disk:>4} {jobs:>4} missing runs"); verdicts.append("missing"); continue
            ratios = [r[k] / c[k] for k in rounds]
            med = statistics.median(ratios)
            rng = random.Random(1)
            boot = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
            lo, hi = boot[50], boot[1949]
            print(f"{disk:>4} {jobs:>4} {statistics.median(c.values()):>10.0f} {statistics.median(r.values()):>12.0f} "
                  f"{med:>6.2f}x   {lo:.2f}..{hi:.2f} {statistics.median(irqs[('c', jobs)]):>8.2f} "
                  f"{statistics.median(irqs[('rust', jobs)]):>11.2f}")
            verdicts.append("met" if med >= 1.0 else "noise" if hi >= 1.0 else "slower")


def marks(disk, mode):
    """{tag: ({event: count}, reads)} from the helper's MARK lines."""
    m = {}
    for l in open(f"{vm}/blk-bench-{disk}-{mode}/helper.out", errors="replace"):
        if l.startswith("MARK "):
            f = l.split()
            reads = [x for x in f if x.startswith("reads=")]
            f = [x for x in f if not x.startswith("reads=")]
            ev = dict(zip(f[2::2], f[3::2]))
            m[f[1]] = ({k: int(v) for k, v in ev.items() if v.isdigit()}, int(reads[0][6:]) if reads else None)
    return m


if "trace" in modes:
    print("trapped register accesses per 4 KiB read, 1 reader (QEMU trace events, ioeventfd off)")
    print(f"{'disk':>4} {'impl':>4} {'reads':>6} {'reg reads':>9} {'reg writes':>10}")
    for disk in disks:
        m = marks(disk, "trace")
        for impl in ("c", "rust"):
            s, e = m.get(f"{impl}-start"), m.get(f"{impl}-end")
            if not s or not e or not e[1]:
                print(f"{disk:>4} {impl:>4} missing marks"); continue
            rd = e[0].get("virtio_mmio_read", 0) - s[0].get("virtio_mmio_read", 0)
            wr = e[0].get("virtio_mmio_write_offset", 0) - s[0].get("virtio_mmio_write_offset", 0)
            print(f"{disk:>4} {impl:>4} {e[1]:>6} {rd / e[1]:>9.2f} {wr / e[1]:>10.2f}")
cost = []
if "insns" in modes:
    print("guest instructions per 4 KiB read, 1 reader, all vCPUs, kernel and user (TCG plugin")
    print("insn_counter.c), between the guest's marks, less the idle guest's 2 s of pauses in")
    print("the window (idle: the guest's instructions in 2 s of nothing, measured first)")
    print(f"{'disk':>4} {'reads':>6} {'idle':>9} {'C insns/rd':>11} {'Rust insns/rd':>13} {'Rust/C':>7}")
    for disk in disks:
        m = marks(disk, "insns")
        s, e = m.get("idle-start"), m.get("idle-end")
        idle = e[0]["insns"] - s[0]["insns"] if s and e and "insns" in s[0] and "insns" in e[0] else None
        per = {}
        for impl in ("c", "rust"):
            s, e = m.get(f"{impl}-start"), m.get(f"{impl}-end")
            if idle is not None and s and e and e[1] and "insns" in s[0] and "insns" in e[0]:
                per[impl] = ((e[0]["insns"] - s[0]["insns"] - idle) / e[1], e[1])
        if len(per) < 2:
            print(f"{disk:>4} missing marks"); cost.append(None); continue
        ratio = per["rust"][0] / per["c"][0]
        cost.append(ratio)
        print(f"{disk:>4} {per['c'][1]:>6} {idle:>9} {per['c'][0]:>11.0f} {per['rust'][0]:>13.0f} {ratio:>6.3f}x")
    if None in cost:
        print("CPU cost: missing marks")
    else:
        print(f"CPU cost: Rust/C instructions per read {min(cost):.3f}x .. {max(cost):.3f}x "
              f"({'at most' if max(cost) <= 1.0 else 'above'} C's)")
if not verdicts:
    pass
elif all(v == "met" for v in verdicts):
    print("goal met: Rust/C >= 1.0 for every disk and job count")
elif "slower" in verdicts or "missing" in verdicts:
    print("goal NOT met: Rust is slower than C (interval below 1.0) somewhere")
else:
    print("goal not shown: Rust/C below 1.0 somewhere, but within the run's noise (interval includes 1.0)")
PY
if [ "${PROF:-0}" = 1 ] && [[ " $modes " == *" insns "* ]]; then
	for disk in ${DISKS:-q1 q1p q4}; do
		echo
		echo "profile, $disk (profile.py):"
		python3 "$here/profile.py" "$bdir/vm/blk-bench-$disk-insns" "${TOP:-30}"
	done
fi
