// SPDX-License-Identifier: GPL-2.0
/*
 * QEMU's virtio-mmio devices through virtio_mmio_rs, driven by the kernel's
 * own virtio drivers: which driver bound where, random bytes from
 * virtio-rng, data written to virtio-blk and read back, and interrupts
 * counted on the transport's line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define TRANSPORT "virtio_mmio_rs"

/* Basename of the symlink at path, or "" if none. */
static void link_name(const char *path, char *out, size_t n)
{
	char buf[PATH_MAX];
	ssize_t r = readlink(path, buf, sizeof(buf) - 1);
	const char *b;

	out[0] = 0;
	if (r < 0)
		return;
	buf[r] = 0;
	b = strrchr(buf, '/');
	b = b ? b + 1 : buf;
	if (strlen(b) < n)
		memcpy(out, b, strlen(b) + 1);
}

static long read_long(const char *path)
{
	char buf[64] = "";
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fgets(buf, sizeof(buf), f))
			v = strtol(buf, NULL, 0);
		fclose(f);
	}
	return v;
}

/*
 * Find the virtio device of type @id on our transport; fills its name
 * (virtioN) and its driver's name. Returns the number of such devices.
 */
static int find_virtio(long id, char *name, size_t nlen, char *drv, size_t dlen)
{
	DIR *d = opendir("/sys/bus/virtio/devices");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char p[PATH_MAX], parent_drv[64];

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/device", e->d_name);
		if (read_long(p) != id)
			continue;
		snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/../driver", e->d_name);
		link_name(p, parent_drv, sizeof(parent_drv));
		if (strcmp(parent_drv, TRANSPORT))
			continue;
		if (!found++ && strlen(e->d_name) < nlen) {
			memcpy(name, e->d_name, strlen(e->d_name) + 1);
			snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/driver", e->d_name);
			link_name(p, drv, dlen);
		}
	}
	closedir(d);
	return found;
}

static int transport_devices(void)
{
	DIR *d = opendir("/sys/bus/platform/drivers/" TRANSPORT);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strchr(e->d_name, '.') && e->d_name[0] != '.')
			n++; /* bound devices are named like a000000.virtio_mmio */
	closedir(d);
	return n;
}

/* Skip the calling test on a machine without virtio-mmio devices. */
#define REQUIRE_DEVICES()                                                     \
	do {                                                                  \
		if (transport_devices() <= 0)                                 \
			SKIP(return, "no virtio-mmio devices on this machine"); \
	} while (0)

TEST(transport_bound_devices)
{
	int n = transport_devices();

	ASSERT_GE(n, 0) TH_LOG(TRANSPORT " is not a registered platform driver");
	if (n == 0)
		SKIP(return, "no virtio-mmio devices on this machine");
	TH_LOG("%d device(s) bound to " TRANSPORT, n);
}

TEST(blk_bound_to_virtio_blk)
{
	char name[64], drv[64];

	REQUIRE_DEVICES();
	ASSERT_EQ(1, find_virtio(2, name, sizeof(name), drv, sizeof(drv)));
	EXPECT_STREQ("virtio_blk", drv);
}

TEST(rng_bound_to_virtio_rng)
{
	char name[64], drv[64];

	REQUIRE_DEVICES();
	ASSERT_EQ(1, find_virtio(4, name, sizeof(name), drv, sizeof(drv)));
	EXPECT_STREQ("virtio_rng", drv);
}

TEST(rng_bytes_through_hwrng)
{
	unsigned char a[256], b[256];
	char cur[64] = "";
	int fd, zero = 1;
	size_t i;
	FILE *f;

	REQUIRE_DEVICES();
	f = fopen("/sys/class/misc/hw_random/rng_current", "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(cur, sizeof(cur), f));
	fclose(f);
	EXPECT_EQ(0, strncmp(cur, "virtio_rng", 10)) TH_LOG("rng_current: %s", cur);

	fd = open("/dev/hwrng", O_RDONLY);
	ASSERT_GE(fd, 0) TH_LOG("open /dev/hwrng: %s", strerror(errno));
	ASSERT_EQ((ssize_t)sizeof(a), read(fd, a, sizeof(a)));
	ASSERT_EQ((ssize_t)sizeof(b), read(fd, b, sizeof(b)));
	close(fd);
	for (i = 0; i < sizeof(a); i++)
		zero &= !a[i];
	EXPECT_FALSE(zero);
	EXPECT_NE(0, memcmp(a, b, sizeof(a)));
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

TEST(blk_write_read_verify)
{
	const size_t chunk = 256 * 1024, total = 8 * 1024 * 1024;
	char name[64], drv[64], dev[PATH_MAX], p[PATH_MAX];
	uint64_t seed = 0x9e3779b97f4a7c15ull, wsum = 0, rsum = 0;
	unsigned char *w, *r;
	struct dirent *e;
	size_t off, i;
	DIR *d;
	int fd;

	REQUIRE_DEVICES();
	ASSERT_EQ(1, find_virtio(2, name, sizeof(name), drv, sizeof(drv)));
	snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/block", name);
	d = opendir(p);
	ASSERT_NE(NULL, d);
	dev[0] = 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			snprintf(dev, sizeof(dev), "/dev/%s", e->d_name);
	closedir(d);
	ASSERT_NE(0, dev[0]);
	ASSERT_EQ(16 * 1024 * 1024 / 512, read_long(strcat(strcat(strcpy(p, "/sys/class/block/"),
						   strrchr(dev, '/') + 1), "/size")));

	ASSERT_EQ(0, posix_memalign((void **)&w, 4096, chunk));
	ASSERT_EQ(0, posix_memalign((void **)&r, 4096, chunk));
	fd = open(dev, O_RDWR | O_DIRECT);
	ASSERT_GE(fd, 0) TH_LOG("open %s: %s", dev, strerror(errno));
	for (off = 0; off < total; off += chunk) {
		for (i = 0; i < chunk; i += 8) {
			uint64_t v = xorshift(&seed);

			memcpy(w + i, &v, 8);
		}
		wsum ^= fnv1a(w, chunk) + off;
		ASSERT_EQ((ssize_t)chunk, pwrite(fd, w, chunk, off));
	}
	ASSERT_EQ(0, fsync(fd));
	seed = 0x9e3779b97f4a7c15ull;
	for (off = 0; off < total; off += chunk) {
		ASSERT_EQ((ssize_t)chunk, pread(fd, r, chunk, off));
		for (i = 0; i < chunk; i += 8) {
			uint64_t v = xorshift(&seed);

			memcpy(w + i, &v, 8);
		}
		ASSERT_EQ(0, memcmp(w, r, chunk)) TH_LOG("mismatch in chunk at %zu", off);
		rsum ^= fnv1a(r, chunk) + off;
	}
	EXPECT_EQ(wsum, rsum);
	close(fd);
	free(w);
	free(r);
}

TEST(interrupts_counted)
{
	char line[1024];
	unsigned long total = 0;
	FILE *f;

	REQUIRE_DEVICES();
	f = fopen("/proc/interrupts", "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		char *s = strchr(line, ':');
		unsigned long v;
		char *end;

		if (!s || !strstr(line, "virtio-mmio-rs"))
			continue;
		s++;
		/* one count per CPU, then the chip and the name */
		while ((v = strtoul(s, &end, 10)), end != s) {
			total += v;
			s = end;
		}
	}
	fclose(f);
	EXPECT_LT(0UL, total) TH_LOG("no interrupt counted on a virtio-mmio-rs line");
	TH_LOG("%lu interrupts on virtio-mmio-rs lines", total);
}

TEST_HARNESS_MAIN
