// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem_bw: memcpy bandwidth into an ivshmem device's shared memory
 * (mapped through /dev/ivshmem/<address>, write-combining) against the
 * same copy into ordinary memory, using only the ivshmem_rs uapi.
 *
 *   ivshmem_bw [-d DEV] [-m MIB] [-r REPEAT]
 *
 * Copies MIB MiB (default: the whole region, at most 64) REPEAT times
 * (default 4) from a buffer into the mapping, then into a malloc'd buffer
 * of the same size, and prints both in MiB/s and their ratio. The last
 * copy is read back and compared, so a mapping that drops writes fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <linux/ivshmem.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double copy_rate(void *dst, const void *src, size_t len, int repeat)
{
	double t0 = now();

	for (int i = 0; i < repeat; i++)
		memcpy(dst, src, len);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return (double)len * repeat / (1 << 20) / (now() - t0);
}

int main(int argc, char **argv)
{
	const char *dev = NULL;
	char path[300];
	size_t mib = 0, len;
	int repeat = 4, c, fd;
	struct ivshmem_info info;
	void *map, *ram, *src;
	double bar, mem;

	while ((c = getopt(argc, argv, "d:m:r:")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'm': mib = strtoul(optarg, NULL, 0); break;
		case 'r': repeat = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-d DEV] [-m MIB] [-r REPEAT]\n", argv[0]);
			return 2;
		}
	}
	if (!dev) {
		DIR *d = opendir("/dev/ivshmem");
		struct dirent *e;

		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.') {
				snprintf(path, sizeof(path), "/dev/ivshmem/%s", e->d_name);
				dev = path;
				break;
			}
		if (d)
			closedir(d);
		if (!dev) {
			fprintf(stderr, "no device in /dev/ivshmem\n");
			return 1;
		}
	}
	fd = open(dev, O_RDWR);
	if (fd < 0 || ioctl(fd, IVSHMEM_IOCTL_INFO, &info)) {
		perror(dev);
		return 1;
	}
	len = mib ? mib << 20 : info.shm_size;
	if (len > (64u << 20))
		len = 64u << 20;
	if (len > info.shm_size) {
		fprintf(stderr, "%s has only %llu bytes\n", dev, (unsigned long long)info.shm_size);
		return 1;
	}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ram = malloc(len);
	src = malloc(len);
	if (map == MAP_FAILED || !ram || !src) {
		perror("mmap/malloc");
		return 1;
	}
	for (size_t i = 0; i < len; i++)
		((uint8_t *)src)[i] = (uint8_t)(i * 7 + 3);
	memset(ram, 0, len);
	memset(map, 0, len); /* first touch: map the pages before timing */
	bar = copy_rate(map, src, len, repeat);
	mem = copy_rate(ram, src, len, repeat);
	if (memcmp(map, src, len)) {
		fprintf(stderr, "read back differs from what was written\n");
		return 1;
	}
	printf("bandwidth: %zu MiB x %d: shared memory %.0f MiB/s, RAM %.0f MiB/s, ratio %.2f\n",
	       len >> 20, repeat, bar, mem, bar / mem);
	return 0;
}
