// SPDX-License-Identifier: GPL-2.0
/*
 * Counts the notifications a ring implementation sends through main.c's
 * kick() and call(), and how often each thread went to sleep for one:
 * linked with -Wl,--wrap=kick,--wrap=call,--wrap=eventfd,--wrap=read into
 * every benchmark binary, C and Rust alike, and printed at exit.
 *
 * main.c creates the kick eventfd first and the call eventfd second, and
 * reads them only in wait_for_kick() (host thread) and wait_for_call()
 * (guest thread): every read of one is a sleep of that thread. A sleep
 * consumes every notification sent since the last one, so a thread sleeps
 * at most once per notification: kicks per host sleep and calls per guest
 * sleep are 1.0 when no notification is wasted.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <sys/types.h>

void __real_kick(void);
void __real_call(void);
int __real_eventfd(unsigned int initval, int flags);
ssize_t __real_read(int fd, void *buf, size_t count);

static atomic_ulong kicks, calls, host_sleeps, guest_sleeps;
static atomic_int fds[2] = { -1, -1 };
static atomic_int nfds;

int __wrap_eventfd(unsigned int initval, int flags)
{
	int fd = __real_eventfd(initval, flags);
	int i = atomic_fetch_add(&nfds, 1);

	if (i < 2)
		atomic_store(&fds[i], fd);
	return fd;
}

ssize_t __wrap_read(int fd, void *buf, size_t count)
{
	if (fd >= 0 && fd == atomic_load_explicit(&fds[0], memory_order_relaxed))
		atomic_fetch_add_explicit(&host_sleeps, 1, memory_order_relaxed);
	else if (fd >= 0 && fd == atomic_load_explicit(&fds[1], memory_order_relaxed))
		atomic_fetch_add_explicit(&guest_sleeps, 1, memory_order_relaxed);
	return __real_read(fd, buf, count);
}

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
	fprintf(stderr, "sleeps: host %lu guest %lu\n",
		atomic_load(&host_sleeps), atomic_load(&guest_sleeps));
}
