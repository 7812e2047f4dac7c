// SPDX-License-Identifier: GPL-2.0
/*
 * Counts the notifications a ring implementation sends through main.c's
 * kick() and call(): linked with -Wl,--wrap=kick,--wrap=call into every
 * benchmark binary, C and Rust alike, and printed at exit.
 */
#include <stdatomic.h>
#include <stdio.h>

void __real_kick(void);
void __real_call(void);

static atomic_ulong kicks, calls;

void __wrap_kick(void)
{
	atomic_fetch_add_explicit(&kicks, 1, memory_order_relaxed);
	__real_kick();
}

void __wrap_call(void)
{
	atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
	__real_call();
}

__attribute__((destructor)) static void report(void)
{
	fprintf(stderr, "notifications: kicks %lu calls %lu\n",
		atomic_load(&kicks), atomic_load(&calls));
}
