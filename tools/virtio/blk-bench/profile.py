#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Where a driver's instructions go: blk-bench's insns mode with PROF=1.

profile.py WORKDIR [TOP]

WORKDIR is one insns boot's directory (build/ARCH/vm/blk-bench-DISK-insns):
insn_counter.c's snapshots insns.txt.<mark> (per translation block:
"<vaddr hex> <insns> <executions>"), the guest's /proc/kallsyms that
blkread.c (vrs.kallsyms=1) wrote onto disk.img at <driver index> * 16 MiB,
and helper.out's MARK lines for the read counts. For each driver, the
window <impl>-start .. <impl>-end less the idle window (2 s of pauses, the
same as in a read window) is mapped onto the guest's symbols: instructions
per read by symbol, the TOP (30) largest, then the same by module.
"""
import bisect
import collections
import subprocess
import sys

work = sys.argv[1]
top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
IMPLS = ("c", "rust")


def snapshot(tag):
    blocks = collections.Counter()
    with open(f"{work}/insns.txt.{tag}") as f:
        for line in f:
            va, n, count = line.split()
            blocks[int(va, 16)] += int(n) * int(count)
    return blocks


def window(a, b):
    s, e = snapshot(a), snapshot(b)
    return {va: e[va] - s.get(va, 0) for va in e if e[va] != s.get(va, 0)}


def symbols(k):
    with open(f"{work}/disk.img", "rb") as d:
        d.seek(k << 24)
        raw = d.read(16 << 20)
    text = raw[:raw.index(b"\0")].decode(errors="replace")
    syms = []
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 3 and f[1] in "tTwW":
            syms.append((int(f[0], 16), f[2], f[3].strip("[]") if len(f) > 3 else "vmlinux"))
    syms.sort()
    names = subprocess.run(["c++filt"], input="\n".join(s[1] for s in syms), capture_output=True,
                           text=True, check=True).stdout.splitlines()
    return [s[0] for s in syms], [(n, s[2]) for n, s in zip(names, syms)]


reads = {}
for line in open(f"{work}/helper.out", errors="replace"):
    f = line.split()
    if line.startswith("MARK ") and f[1].endswith("-end"):
        r = [x for x in f if x.startswith("reads=")]
        if r:
            reads[f[1][:-4]] = int(r[0][6:])

idle = window("idle-start", "idle-end")
per = {}
for k, impl in enumerate(IMPLS):
    if impl not in reads:
        sys.exit(f"profile: no {impl}-end mark with reads= in {work}/helper.out")
    addrs, names = symbols(k)
    w = window(f"{impl}-start", f"{impl}-end")
    by_sym = collections.Counter()
    for va in set(w) | set(idle):
        i = bisect.bisect_right(addrs, va) - 1
        sym = names[i] if i >= 0 else ("?", "?")
        if va < 1 << 48:
            sym = ("(user space)", "user")
        by_sym[sym] += (w.get(va, 0) - idle.get(va, 0)) / reads[impl]
    per[impl] = by_sym

for impl in IMPLS:
    by_sym = per[impl]
    print(f"{impl}: {sum(by_sym.values()):.0f} guest instructions per read "
          f"({reads[impl]} reads, idle window subtracted); largest symbols:")
    for (name, mod), n in by_sym.most_common(top):
        print(f"  {n:8.1f}  {mod:>16}  {name[:110]}")
    by_mod = collections.Counter()
    for (name, mod), n in by_sym.items():
        by_mod[mod] += n
    print(f"{impl}: by module: " + ", ".join(f"{m} {n:.0f}" for m, n in by_mod.most_common(8)))
    print()

for impl, other in (("c", "rust"), ("rust", "c")):
    only = {k: v for k, v in per[impl].items() if k not in per[other] and abs(v) >= 1}
    print(f"only under {impl} (>= 1 per read): {sum(only.values()):.0f} per read")
    for (name, mod), n in sorted(only.items(), key=lambda x: -x[1])[:top]:
        print(f"  {n:8.1f}  {mod:>16}  {name[:110]}")
    print()

print("shared symbols (same name in both), largest |Rust - C| per read:")
common = collections.Counter()
for key in set(per["c"]) & set(per["rust"]):
    common[key] = per["rust"][key] - per["c"][key]
for (name, mod), d in sorted(common.items(), key=lambda x: -abs(x[1]))[:top]:
    print(f"  {d:+8.1f}  C {per['c'][(name, mod)]:8.1f}  Rust {per['rust'][(name, mod)]:8.1f}  {name[:90]}")
