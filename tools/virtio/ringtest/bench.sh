#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench.sh: the kernel's ring benchmark (tools/virtio/ringtest/main.c of the
# cached Debian 7.3 source, unmodified) driving three ring implementations
# with identical options in one run:
#   c_split      the kernel's virtio_ring_0_9.c (the C anchor)
#   c_ring       the kernel's ring.c: its experimental packed-like layout,
#                the near-limit reference (not a virtio ring)
#   rust_split   drivers/virtio/ring split ring   (tools/virtio/ringtest/rust)
#   rust_packed  drivers/virtio/ring packed ring
# Prints per mode min and median wall time over REPS runs, the throughput
# ratio against C split (C median / implementation median), and the
# notifications (kicks, calls) per buffer. A benchmark, not a test: it
# reports goals as met or not and always exits 0 unless something failed
# to build or run.
#
# Environment: REPS (5), CYCLES (--run-cycles, 10000000), AFFINITY (main.c
# options; default "--guest-affinity 0 --host-affinity 1" on >= 2 CPUs).
set -euo pipefail
. "$(dirname "$0")/../../testing/vm/lib.sh"
VRS_STEP=ringtest
vrs_load_kernel
REPS=${REPS:-5}
CYCLES=${CYCLES:-10000000}
# main.c kicks once per --batch buffers and never for a last partial batch,
# so with --sleep a run must be a whole number of batches or it can hang.
CYCLES=$(((CYCLES + 63) / 64 * 64))
src=$VRS_KSRC/tools/virtio/ringtest
here=$VRS_TOP/tools/virtio/ringtest
out=$VRS_TOP/build/ringtest
mkdir -p "$out"
CFLAGS=(-O2 -pthread -Wall -I"$src")
WRAP=(-Wl,--wrap=kick -Wl,--wrap=call -Wl,--wrap=eventfd -Wl,--wrap=read)

vrs_log "building (main.c and virtio_ring_0_9.c from $src)"
cc "${CFLAGS[@]}" -c "$src/main.c" -o "$out/main.o"
cc "${CFLAGS[@]}" -c "$src/virtio_ring_0_9.c" -o "$out/virtio_ring_0_9.o"
cc "${CFLAGS[@]}" -c "$here/notify_count.c" -o "$out/notify_count.o"
cc -pthread "$out/main.o" "$out/virtio_ring_0_9.o" "$out/notify_count.o" "${WRAP[@]}" -o "$out/c_split"
cc "${CFLAGS[@]}" -c "$src/ring.c" -o "$out/ring.o"
cc -pthread "$out/main.o" "$out/ring.o" "$out/notify_count.o" "${WRAP[@]}" -o "$out/c_ring"
for f in split packed; do
	(cd "$here/rust" && CARGO_TARGET_DIR="$out/target-$f" cargo build -q --release --features "$f")
	cc -pthread "$out/main.o" "$out/notify_count.o" "$out/target-$f/release/libringtest_rs.a" \
		"${WRAP[@]}" -ldl -lm -o "$out/rust_$f"
done

# Implementations: name=binary[,ENV=value]. In the sleep modes the Rust
# rings run twice: with the glue's policy (enable_cb_delayed() while the
# ring is full, as a driver waiting for space does) and with RINGTEST_CB=plain
# (enable_cb() always, exactly what virtio_ring_0_9.c does).
busy_impls=(c_split=c_split c_ring=c_ring rust_split=rust_split rust_packed=rust_packed)
sleep_impls=("${busy_impls[@]}" rust_split_plain=rust_split,RINGTEST_CB=plain
	rust_packed_plain=rust_packed,RINGTEST_CB=plain)
modes=("default:" "batch64:--batch=64" "sleep:--sleep" "sleep-batch64:--sleep --batch=64")
# Pin the two threads to two different CPUs (as the kernel's run-on-all.sh
# does): unpinned, migrations and the scheduler's choice of which thread
# shares a CPU with what dominate the variance on a small machine.
if [ -z "${AFFINITY+x}" ]; then
	if [ "$(nproc)" -ge 2 ]; then AFFINITY="--guest-affinity 0 --host-affinity 1"; else AFFINITY=""; fi
fi
declare -A med mn kpb cpb kps cps times kicks calls hsl gsl
# Repetitions are interleaved (rep 1 of every implementation, then rep 2,
# ...), so slow drift of the machine hits all implementations alike.
for m in "${modes[@]}"; do
	name=${m%%:*} args=${m#*:}
	case $name in sleep*) impls=("${sleep_impls[@]}") ;; *) impls=("${busy_impls[@]}") ;; esac
	for ((r = 0; r < REPS; r++)); do
		for spec in "${impls[@]}"; do
			i=${spec%%=*} bin=${spec#*=} env=()
			[ "$bin" = "${bin%%,*}" ] || { env=("${bin#*,}"); bin=${bin%%,*}; }
			s=$(date +%s.%N)
			# shellcheck disable=SC2086
			env "${env[@]}" timeout 120 "$out/$bin" --run-cycles "$CYCLES" $args $AFFINITY \
				2>"$out/$i.$name.err" || vrs_die "$i $args failed: $(cat "$out/$i.$name.err")"
			e=$(date +%s.%N)
			times[$i.$name]+="$(echo "$e - $s" | bc -l) "
			read -r k c < <(sed -n 's/^notifications: kicks \([0-9]*\) calls \([0-9]*\)/\1 \2/p' "$out/$i.$name.err")
			kicks[$i.$name]=$((${kicks[$i.$name]:-0} + k))
			calls[$i.$name]=$((${calls[$i.$name]:-0} + c))
			read -r h g < <(sed -n 's/^sleeps: host \([0-9]*\) guest \([0-9]*\)/\1 \2/p' "$out/$i.$name.err")
			hsl[$i.$name]=$((${hsl[$i.$name]:-0} + h))
			gsl[$i.$name]=$((${gsl[$i.$name]:-0} + g))
		done
	done
	for spec in "${impls[@]}"; do
		i=${spec%%=*}
		# shellcheck disable=SC2086
		sorted=$(printf '%s\n' ${times[$i.$name]} | sort -g)
		mn[$i.$name]=$(echo "$sorted" | head -n1)
		med[$i.$name]=$(echo "$sorted" | sed -n "$(((REPS + 1) / 2))p")
		# Notifications summed over all runs.
		kpb[$i.$name]=$(echo "scale=4; ${kicks[$i.$name]} / ($CYCLES * $REPS)" | bc -l)
		cpb[$i.$name]=$(echo "scale=4; ${calls[$i.$name]} / ($CYCLES * $REPS)" | bc -l)
		# Notifications per sleep of the thread they wake (1.00: none wasted).
		kps[$i.$name]=-; cps[$i.$name]=-
		[ "${hsl[$i.$name]}" = 0 ] || kps[$i.$name]=$(echo "scale=2; ${kicks[$i.$name]} / ${hsl[$i.$name]}" | bc -l)
		[ "${gsl[$i.$name]}" = 0 ] || cps[$i.$name]=$(echo "scale=2; ${calls[$i.$name]} / ${gsl[$i.$name]}" | bc -l)
	done
done

printf '\nringtest: %s buffers per run, %s runs each, ring size 256, event index on, %s\n' \
	"$CYCLES" "$REPS" "${AFFINITY:-unpinned}"
printf '%-14s %-18s %9s %9s %8s %10s %10s %11s %11s\n' mode impl min_s median_s vs_C kicks/buf calls/buf \
	kicks/hslp calls/gslp
for m in "${modes[@]}"; do
	name=${m%%:*}
	case $name in sleep*) impls=("${sleep_impls[@]}") ;; *) impls=("${busy_impls[@]}") ;; esac
	for spec in "${impls[@]}"; do
		i=${spec%%=*}
		ratio=$(echo "scale=3; ${med[c_split.$name]} / ${med[$i.$name]}" | bc -l)
		printf '%-14s %-18s %9.3f %9.3f %7.2fx %10s %10s %11s %11s\n' "$name" "$i" "${mn[$i.$name]}" \
			"${med[$i.$name]}" "$ratio" "${kpb[$i.$name]}" "${cpb[$i.$name]}" "${kps[$i.$name]}" "${cps[$i.$name]}"
	done
done

goal() { # description, bc condition
	if [ "$(echo "$2" | bc -l)" = 1 ]; then echo "goal met:     $1"; else echo "goal NOT met: $1"; fi
}
echo
for name in default batch64 sleep sleep-batch64; do
	r=$(echo "scale=3; ${med[c_ring.$name]} / ${med[rust_packed.$name]}" | bc -l)
	echo "rust_packed vs c_ring (ring.c, near-limit reference), $name: ${r}x"
done
for name in default batch64; do
	goal "rust_split >= 1.05x c_split ($name)" "${med[c_split.$name]} / ${med[rust_split.$name]} >= 1.05"
	goal "rust_packed >= 1.15x c_split ($name)" "${med[c_split.$name]} / ${med[rust_packed.$name]} >= 1.15"
done
for i in rust_split rust_packed; do
	for name in sleep sleep-batch64; do
		goal "$i >= 1.0x c_split ($name)" "${med[c_split.$name]} / ${med[$i.$name]} >= 1.0"
		goal "$i kicks/buf and calls/buf <= c_split's ($name)" \
			"${kpb[$i.$name]} <= ${kpb[c_split.$name]} && ${cpb[$i.$name]} <= ${cpb[c_split.$name]}"
	done
	goal "$i sleep-batch64: <= 1 kick and <= 1 call per batch of 64" \
		"${kpb[$i.sleep-batch64]} <= 1/64 + 0.0001 && ${cpb[$i.sleep-batch64]} <= 1/64 + 0.0001"
done
for i in rust_split rust_packed; do
	for name in sleep sleep-batch64; do
		# C itself wastes a few (a notification racing with an enable that
		# found work): at most C's rate plus 0.05 per sleep.
		goal "$i $name: notifications per sleep <= c_split's + 0.05 (none wasted)" \
			"${kicks[$i.$name]} * ${hsl[c_split.$name]} <= (${kicks[c_split.$name]} + 0.05 * ${hsl[c_split.$name]}) * ${hsl[$i.$name]} && ${calls[$i.$name]} * ${gsl[c_split.$name]} <= (${calls[c_split.$name]} + 0.05 * ${gsl[c_split.$name]}) * ${gsl[$i.$name]}"
	done
done
echo "(kicks/hslp: kicks per sleep of the host thread, calls/gslp: calls per sleep of"
echo " the guest thread; each sleep needs one, so kicks/buf and calls/buf follow how often"
echo " each thread runs out of work, i.e. the two threads' relative speed)"
echo "(rust_*_plain re-enable calls with enable_cb() at every sleep, as virtio_ring_0_9.c"
echo " does: one call per guest sleep, so calls/buf follows how often the faster guest"
echo " thread runs the ring full; see Documentation/virtio/vring.rst, \"Benchmark\")"
