// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem_pingpong: ping-pong over shared memory and doorbells between two
 * peers of an ivshmem server (two guests, or a guest and a host peer),
 * using only the ivshmem_rs uapi (<linux/ivshmem.h>).
 *
 *   ivshmem_pingpong [-d DEV] [-n ROUNDS]        ping (default)
 *   ivshmem_pingpong [-d DEV] -s [-n ROUNDS]     pong: answer ROUNDS pings
 *
 * DEV is /dev/ivshmem/<PCI address> (default: the first doorbell device).
 * The two sides meet in the shared memory, page 1 (offset 4096):
 *
 *   +0   u64  the ping's sequence number (written by ping)
 *   +8   u64  the same number echoed back (written by pong)
 *   +64  text "PONG <id>\n": pong is ready, and its peer id
 *   +96  text "PING <id>\n": ping's peer id (written before its first ring)
 *
 * A round: ping writes seq+1 at +0, rings pong on vector 0, waits for its
 * own vector 0 until +8 == seq+1. Pong waits for vector 0, copies +0 to
 * +8, rings ping on vector 0. A ring can be lost: QEMU learns of a new
 * peer asynchronously and drops doorbells to peers it does not know yet.
 * So ping rings again after a second without an answer, and pong answers
 * every ring (a repeated number is echoed again, counted once). tools/ivshmem's "ivshmem-peer pong" and
 * "ivshmem-peer ping" speak the same protocol on the host.
 *
 * Prints rounds, time, round trips per second, the slowest round, and in how
 * many rounds ping had to wait, with the median of those rounds: the
 * doorbell-and-interrupt round trip. In the other rounds the answer was
 * already in the shared memory when the ring ioctl returned (a fast peer on
 * another CPU), so the rate alone mixes two very different paths.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#define BASE 4096

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int first_doorbell(char *out, size_t n)
{
	DIR *d = opendir("/dev/ivshmem");
	struct dirent *e;
	int found = -1;

	while (d && (e = readdir(d))) {
		struct ivshmem_info info;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(out, n, "/dev/ivshmem/%s", e->d_name);
		fd = open(out, O_RDWR);
		if (fd >= 0 && !ioctl(fd, IVSHMEM_IOCTL_INFO, &info) &&
		    (info.flags & IVSHMEM_INFO_DOORBELL))
			found = 0;
		if (fd >= 0)
			close(fd);
		if (!found)
			break;
	}
	if (d)
		closedir(d);
	return found;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Waits for an interrupt on vector 0 (read() gives the mask). */
static int wait_vector0(int fd)
{
	uint64_t mask = 0;

	while (!(mask & 1)) {
		if (read(fd, &mask, sizeof(mask)) != sizeof(mask))
			return -1;
	}
	return 0;
}

/* Waits up to @secs for "<tag> <id>" at @off; the id or -1. */
static long wait_tag(volatile char *m, const char *tag, double secs)
{
	double t0 = now();
	unsigned int id;
	char fmt[16];

	snprintf(fmt, sizeof(fmt), "%s %%u", tag);
	while (now() - t0 < secs) {
		if (sscanf((const char *)m, fmt, &id) == 1)
			return id;
		usleep(1000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *dev = NULL;
	char path[128];
	long rounds = 1000, peer;
	int pong = 0, c, fd;
	struct ivshmem_info info;
	struct ivshmem_ring ring;
	volatile uint64_t *seq;
	volatile char *m;
	double t0, worst = 0, *slow;
	long waited = 0;

	while ((c = getopt(argc, argv, "d:n:s")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'n': rounds = atol(optarg); break;
		case 's': pong = 1; break;
		default:
			fprintf(stderr, "usage: %s [-d DEV] [-n ROUNDS] [-s]\n", argv[0]);
			return 2;
		}
	}
	if (!dev) {
		if (first_doorbell(path, sizeof(path))) {
			fprintf(stderr, "no ivshmem-doorbell device in /dev/ivshmem\n");
			return 1;
		}
		dev = path;
	}
	fd = open(dev, O_RDWR);
	if (fd < 0 || ioctl(fd, IVSHMEM_IOCTL_INFO, &info)) {
		perror(dev);
		return 1;
	}
	if (!(info.flags & IVSHMEM_INFO_DOORBELL) || info.shm_size < 2 * BASE) {
		fprintf(stderr, "%s: needs a doorbell device with at least 8 KiB\n", dev);
		return 1;
	}
	m = mmap(NULL, 2 * BASE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	m += BASE;
	seq = (volatile uint64_t *)m;

	if (pong) {
		snprintf((char *)m + 64, 32, "PONG %u\n", info.peer_id);
		peer = wait_tag(m + 96, "PING", 600);
		if (peer < 0) {
			fprintf(stderr, "no ping peer came\n");
			return 1;
		}
		ring = (struct ivshmem_ring){ .peer = peer, .vector = 0 };
		for (long n = 0, last = 0; n < rounds;) {
			uint64_t cur;

			if (wait_vector0(fd))
				return perror("read"), 1;
			cur = __atomic_load_n(&seq[0], __ATOMIC_ACQUIRE);
			seq[1] = cur;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (ioctl(fd, IVSHMEM_IOCTL_RING, &ring))
				return perror("ring"), 1;
			if ((long)cur != last) {
				last = cur;
				n++;
			}
		}
		printf("pong: answered %ld pings from peer %ld\n", rounds, peer);
		return 0;
	}

	peer = wait_tag(m + 64, "PONG", 600);
	if (peer < 0) {
		fprintf(stderr, "no pong peer is ready (nothing at shared memory offset %d)\n", BASE + 64);
		return 1;
	}
	snprintf((char *)m + 96, 32, "PING %u\n", info.peer_id);
	ring = (struct ivshmem_ring){ .peer = peer, .vector = 0 };
	slow = calloc(rounds > 0 ? rounds : 1, sizeof(*slow));
	if (!slow)
		return perror("calloc"), 1;
	t0 = now();
	for (long i = 1; i <= rounds; i++) {
		double r0 = now();
		int w;

		__atomic_store_n(&seq[0], (uint64_t)i, __ATOMIC_RELEASE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (ioctl(fd, IVSHMEM_IOCTL_RING, &ring))
			return perror("ring"), 1;
		w = seq[1] != (uint64_t)i; /* else the answer beat the ring's return */
		for (int tries = 0; seq[1] != (uint64_t)i;) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (poll(&p, 1, 1000) == 0) {
				if (++tries == 30) {
					fprintf(stderr, "round %ld: no answer from peer %ld\n", i, peer);
					return 1;
				}
				if (ioctl(fd, IVSHMEM_IOCTL_RING, &ring)) /* lost: again */
					return perror("ring"), 1;
				continue;
			}
			if (wait_vector0(fd)) /* an old answer wakes us too: check again */
				return perror("read"), 1;
		}
		r0 = now() - r0;
		if (r0 > worst)
			worst = r0;
		if (w)
			slow[waited++] = r0;
	}
	t0 = now() - t0;
	qsort(slow, waited, sizeof(*slow), cmp_double);
	printf("ping: %ld round trips with peer %ld in %.3f s: %.0f/s, slowest %.3f ms, waited in %ld (median %.1f us)\n",
	       rounds, peer, t0, rounds / t0, worst * 1e3, waited,
	       waited ? slow[waited / 2] * 1e6 : 0.0);
	free(slow);
	return 0;
}
