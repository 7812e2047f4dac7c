// SPDX-License-Identifier: GPL-2.0
/*
 * host_tsc_khz: print the frequency, in kHz, of the counter a TCG x86 guest
 * reads as its TSC. Under TCG without icount, QEMU's rdtsc returns the
 * host's cycle counter (cpu_get_host_ticks): the TSC on an x86 host, the
 * virtual counter on an arm64 host.
 *
 * vm.sh passes it to the guest as tsc_early_khz= on machines without an
 * HPET or ACPI PM timer (microvm). There the kernel can only calibrate the
 * TSC against the PIT, which fails when the host is busy; the kernel then
 * marks the TSC unstable and, on QEMU 10.0 microvm, stops in
 * calibrate_delay() waiting for a jiffy that never comes.
 *
 * Prints the median of five 100 ms measurements against CLOCK_MONOTONIC_RAW.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t counter(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
	uint64_t v;

	__asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v));
	return v;
#else
#error "host_tsc_khz: x86_64 and aarch64 hosts only"
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	const struct timespec nap = { 0, 100 * 1000 * 1000 };
	uint64_t khz[5];

	for (int i = 0; i < 5; i++) {
		uint64_t t0 = now_ns(), c0 = counter();

		nanosleep(&nap, NULL);
		uint64_t c1 = counter(), t1 = now_ns();

		khz[i] = (c1 - c0) * 1000000ull / (t1 - t0);
	}
	qsort(khz, 5, sizeof(khz[0]), cmp);
	if (khz[2] == 0) {
		fprintf(stderr, "host_tsc_khz: counter does not advance\n");
		return 1;
	}
	printf("%llu\n", (unsigned long long)khz[2]);
	return 0;
}
