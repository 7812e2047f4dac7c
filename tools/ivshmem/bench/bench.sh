#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tools/ivshmem/bench/bench.sh [ARCH]: ivshmem doorbell and memory figures,
# printed as ratios measured in the same run (a benchmark, not a test):
#
#  1. host floor: ping-pong between two host processes (ivshmem-peer ping
#     and pong: eventfds and shared memory, no guest), through our
#     ivshmem-server and through QEMU's contrib/ivshmem-server;
#  2. guest <-> host peer: the guest's samples/ivshmem/ivshmem_pingpong
#     against a host pong, with the guest's device on our server and on
#     QEMU's (one boot, two devices), and the guest path against the floor;
#  3. memcpy into the shared memory (BAR2, write-combining) against RAM, in
#     the guest;
#  4. guest <-> guest: two guests on one server, ours and QEMU's, with the
#     sample's ping and pong (tools/testing/selftests/ivshmem/
#     vm.twoguest.conf, the two-guest test, with IVB_ROUNDS rounds).
#
# Goal (issue 12): ours >= 1.0x QEMU's server in each pair. The servers are
# out of the data path once the peers have their eventfds, so the pairs
# should come out even; a server that handed out wrong or extra
# descriptors would show. IVB_ROUNDS (default 20000 host, 5000 guest).
set -euo pipefail
. "$(dirname "$0")/../../testing/vm/lib.sh"
VRS_STEP=ivshmem-bench
arch=${1:-x86_64}
rounds=${IVB_ROUNDS:-20000}
(cd "$VRS_TOP/tools/ivshmem" && cargo build --release --quiet --bins)
"$VRS_TOP/tools/testing/vm/build.sh" "$arch" >/dev/null
b=$VRS_TOP/tools/ivshmem/target/release
q=$VRS_CACHE/qemu/current/bin
[ -x "$q/ivshmem-server" ] || vrs_die "no QEMU ivshmem-server in $q: run make setup"
out=$VRS_TOP/build/ivshmem-bench
mkdir -p "$out"

# 1. The floor, in the chroot (where QEMU's server runs), three runs each.
cat >"$out/floor.sh" <<SH
set -e
rate() { # server binary -> round trips/s
	d=\$(mktemp -d)
	"\$1" -F -S \$d/s -m \$d -l 1M -n 1 >/dev/null &
	srv=\$!
	while [ ! -S \$d/s ]; do kill -0 \$srv 2>/dev/null || { echo "server \$1 died" >&2; exit 1; }; sleep 0.05; done
	$b/ivshmem-peer -S \$d/s pong -c $rounds -t 300 >/dev/null &
	sleep 0.2
	$b/ivshmem-peer -S \$d/s ping -c $rounds -t 300 | sed -n 's/.*: \([0-9]*\)\/s.*/\1/p'
	wait \$!
	kill \$srv; wait \$srv 2>/dev/null || true
	rm -rf \$d
}
for i in 1 2 3; do echo "floor ours \$(rate $b/ivshmem-server)"; echo "floor qemu \$(rate $q/ivshmem-server)"; done
SH
vrs_log "host floor: $rounds round trips, our server and QEMU's, 3 runs each"
vrs_chroot "bash '$out/floor.sh'" | tee "$out/floor.txt"

# 2 and 3: one boot.
vrs_log "$arch: guest ping-pong on both servers, bandwidth"
IVB_ROUNDS=${IVB_ROUNDS:-5000} "$VRS_TOP/tools/testing/vm/vm-chroot.sh" --tag ivshmem-bench "$arch" \
	"$VRS_TOP/tools/ivshmem/bench/vm.bench.conf" >/dev/null 2>&1 || true
log=$VRS_TOP/build/$arch/vm/ivshmem-bench/console.log
grep '^VRS-BENCH' "$log" | tee "$out/guest-$arch.txt"

# 4. Two guests.
vrs_log "$arch: guest <-> guest ping-pong on both servers (two guests)"
IVT_ROUNDS=${IVB_ROUNDS:-5000} "$VRS_TOP/tools/testing/vm/vm-chroot.sh" --tag ivshmem-bench2 "$arch" \
	"$VRS_TOP/tools/testing/selftests/ivshmem/vm.twoguest.conf" >/dev/null 2>&1 || true
sed -n 's/^# guest<->guest \(ours\|qemu\) /VRS-BENCH g2g \1 /p' \
	"$VRS_TOP/build/$arch/vm/ivshmem-bench2/console.log" | tee -a "$out/guest-$arch.txt"

python3 - "$out/floor.txt" "$out/guest-$arch.txt" "$arch" <<'PY'
import re, statistics, sys
floor, guest, arch = sys.argv[1:4]
f = {"ours": [], "qemu": []}
for l in open(floor):
    k, srv, v = l.split()
    if v.isdigit():
        f[srv].append(int(v))
g, gg, bw = {}, {}, None
for l in open(guest):
    m = re.match(r"VRS-BENCH pingpong (\w+) ping: \d+ round trips .*: (\d+)/s", l)
    if m:
        g[m.group(1)] = int(m.group(2))
    m = re.match(r"VRS-BENCH g2g (\w+) ping: \d+ round trips .*: (\d+)/s", l)
    if m:
        gg[m.group(1)] = int(m.group(2))
    m = re.match(r"VRS-BENCH bw bandwidth: .*shared memory (\d+) MiB/s, RAM (\d+) MiB/s", l)
    if m:
        bw = (int(m.group(1)), int(m.group(2)))
if not f["ours"] or not f["qemu"] or len(g) < 2 or len(gg) < 2 or not bw:
    sys.exit(f"incomplete results: floor {f}, guest {g}, guest-guest {gg}, bandwidth {bw}")
fo, fq = statistics.median(f["ours"]), statistics.median(f["qemu"])
print(f"== ivshmem benchmark ({arch} guest under TCG; host floor on this machine)")
print(f"host floor (ping-pong, 2 host processes): ours {fo:.0f}/s, QEMU's server {fq:.0f}/s: ratio {fo/fq:.2f} (goal >= 1.0)")
print(f"guest <-> host peer: ours {g['ours']}/s, QEMU's server {g['qemu']}/s: ratio {g['ours']/g['qemu']:.2f} (goal >= 1.0)")
print(f"guest path / host floor: {g['ours']/fo:.2f}")
print(f"guest <-> guest: ours {gg['ours']}/s, QEMU's server {gg['qemu']}/s: ratio {gg['ours']/gg['qemu']:.2f} (goal >= 1.0)")
print(f"guest <-> guest / host floor: {gg['ours']/fo:.2f}")
print(f"memcpy into the shared memory: {bw[0]} MiB/s, into RAM {bw[1]} MiB/s: ratio {bw[0]/bw[1]:.2f}")
PY
