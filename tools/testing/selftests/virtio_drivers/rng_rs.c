// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_rng_rs: the Rust virtio-rng driver on the Rust vring, against
 * QEMU's virtio-rng-device behind virtio_mmio_rs (see vm.conf).
 *
 * - every rng device on our transport is bound to virtio_rng_rs, with the
 *   ring formats vrs.rng= declares (packed x event index, each once);
 * - each device's hwrng source gives random bytes through /dev/hwrng, and
 *   its interrupt count goes up (buffers came back through the Rust ring);
 * - per-queue reset and resize (RING_RESET) while a reader streams: the
 *   buffer with the device comes back, the source reads on every size;
 * - system sleep (pm_test=devices) while a reader streams: the queues are
 *   set up again on restore (on their resized rings) and every source
 *   reads afterwards;
 * - unbind and rmmod while a reader is blocked in /dev/hwrng: the reader
 *   comes back, nothing hangs, the devices bind again;
 * - choosing per device: a device moves to the stock C virtio_rng and
 *   back with sysfs unbind/bind;
 * - (arm64) a virtio-rng-pci device, on the C virtio-pci transport, is
 *   refused by virtio_rng_rs (no raw queue ops) and taken by virtio_rng.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "../virtio_mmio/mmio_util.h"

#define DRIVER "virtio_rng_rs"
#define HWRNG "/sys/class/misc/hw_random"

static int rng_devices(struct vdev *v, int max)
{
	return find_vdevs(VIRTIO_ID_RNG, v, max);
}

/* Interrupts of the wired line or vectors named @name in /proc/interrupts. */
static long long irqs_of(const char *name)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[4096];
	long long total = 0;
	int ncpu = 0;

	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f))
		for (char *t = strtok(line, " \n"); t; t = strtok(NULL, " \n"))
			ncpu++;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':'), *end;
		long long sum = 0;
		int i;

		if (!p)
			continue;
		p++;
		for (i = 0; i < ncpu; i++) {
			long long c = strtoll(p, &end, 10);

			if (end == p)
				break;
			sum += c;
			p = end;
		}
		/* The name is the last word: "virtio3" (wired) or "virtio3-..." */
		line[strcspn(line, "\n")] = 0;
		end = strrchr(line, ' ');
		if (end && (!strcmp(end + 1, name) ||
			    (!strncmp(end + 1, name, strlen(name)) && end[1 + strlen(name)] == '-')))
			total += sum;
	}
	fclose(f);
	return total;
}

static int rng_available_has(const char *name)
{
	char buf[4096];

	if (read_line(HWRNG "/rng_available", buf, sizeof(buf)))
		return 0;
	for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
		if (!strcmp(t, name))
			return 1;
	return 0;
}

/* Read @len bytes from /dev/hwrng with source @src selected; 0 if they
 * look random (all 256 byte values seen in 16 KiB, no 64-byte repeat). */
static int read_source(struct __test_metadata *_metadata, const char *src, size_t len)
{
	unsigned char *buf = malloc(len);
	int seen[256] = { 0 }, distinct = 0;
	size_t got = 0;
	int fd, ret = 0;

	if (!buf)
		return -1;
	if (write_str(HWRNG "/rng_current", src)) {
		TH_LOG("cannot select %s", src);
		free(buf);
		return -1;
	}
	fd = open("/dev/hwrng", O_RDONLY);
	if (fd < 0) {
		free(buf);
		return -1;
	}
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);

		if (r <= 0) {
			TH_LOG("%s: read %zd (%s) after %zu bytes", src, r, strerror(errno), got);
			ret = -1;
			break;
		}
		got += r;
	}
	close(fd);
	for (size_t i = 0; i < got; i++)
		if (!seen[buf[i]]++)
			distinct++;
	if (!ret && distinct < 256) {
		TH_LOG("%s: only %d distinct byte values in %zu bytes", src, distinct, got);
		ret = -1;
	}
	for (size_t i = 64; !ret && i + 64 <= got; i += 64)
		if (!memcmp(buf, buf + i, 64)) {
			TH_LOG("%s: 64-byte block repeats at %zu", src, i);
			ret = -1;
		}
	free(buf);
	return ret;
}

FIXTURE(rng) {
	struct vdev v[MAX_DEVS];
	int n;
};

FIXTURE_SETUP(rng)
{
	self->n = rng_devices(self->v, MAX_DEVS);
}

FIXTURE_TEARDOWN(rng)
{
}

/* Every rng device on our transport is driven by virtio_rng_rs, in the
 * ring formats vm.conf asked for. */
TEST_F(rng, bound_with_declared_formats)
{
	char spec[256], want[8][8];
	int nwant = 0, matched[8] = { 0 };

	ASSERT_EQ(declared_devices(), self->n) TH_LOG("rng devices on " TRANSPORT);
	ASSERT_EQ(0, cmdline_arg("vrs.rng", spec, sizeof(spec)));
	for (char *t = strtok(spec, ","); t && nwant < 8; t = strtok(NULL, ","))
		snprintf(want[nwant++], sizeof(want[0]), "%s", t);
	ASSERT_EQ(nwant, self->n);
	for (int i = 0; i < self->n; i++) {
		char got[8];
		int j;

		EXPECT_STREQ(DRIVER, self->v[i].driver) TH_LOG("%s", self->v[i].name);
		snprintf(got, sizeof(got), "p%de%d", has_feature(&self->v[i], F_RING_PACKED),
			 has_feature(&self->v[i], F_EVENT_IDX));
		for (j = 0; j < nwant; j++)
			if (!matched[j] && !strcmp(want[j], got))
				break;
		EXPECT_LT(j, nwant) TH_LOG("%s negotiated %s, not declared", self->v[i].name, got);
		if (j < nwant)
			matched[j] = 1;
	}
}

/* Each device's source gives random bytes, and its interrupts count them. */
TEST_F(rng, hwrng_reads_every_device)
{
	ASSERT_GT(self->n, 0);
	for (int i = 0; i < self->n; i++) {
		char src[64];
		long long before, after;

		snprintf(src, sizeof(src), DRIVER ".%s", self->v[i].name);
		ASSERT_TRUE(rng_available_has(src)) TH_LOG("%s not in rng_available", src);
		before = irqs_of(self->v[i].name);
		EXPECT_EQ(0, read_source(_metadata, src, 16384));
		after = irqs_of(self->v[i].name);
		/* 16 KiB in buffers of 512 bytes: 32 buffers, each returned
		 * with an interrupt (one buffer is in flight at a time, so the
		 * ring suppresses none). One of them may have been filled, and
		 * its interrupt counted, before @before was read: at least 31.
		 * (32 failed once so, 31 counted, on amd64.) */
		EXPECT_GE(after - before, 31)
			TH_LOG("%s: %lld interrupts for 16 KiB", self->v[i].name, after - before);
		ksft_print_msg("%s (%s, %s): 16384 bytes, %lld interrupts\n", self->v[i].name,
			       has_feature(&self->v[i], F_RING_PACKED) ? "packed" : "split",
			       has_feature(&self->v[i], F_EVENT_IDX) ? "event index" : "no event index",
			       after - before);
	}
}

struct reader {
	char src[64];
	volatile int done;
	ssize_t last;
	int err;
};

static void *reader_fn(void *arg)
{
	struct reader *r = arg;
	unsigned char buf[4096];
	int fd = open("/dev/hwrng", O_RDONLY);

	if (fd < 0) {
		r->err = errno;
		r->done = 1;
		return NULL;
	}
	for (;;) {
		r->last = read(fd, buf, sizeof(buf));
		if (r->last <= 0) {
			r->err = errno;
			break;
		}
		if (r->done)
			break;
	}
	close(fd);
	r->done = 1;
	return NULL;
}

/* Wait up to @secs for the reader to finish. */
static int reader_join(struct reader *r, pthread_t t, double secs)
{
	double t0 = now_s();

	r->done = 1;
	while (now_s() - t0 < secs) {
		if (!pthread_tryjoin_np(t, NULL))
			return 0;
		usleep(10000);
	}
	return -1;
}

/*
 * Per-queue reset and resize (VIRTIO_F_RING_RESET, QueueReset on
 * virtio-mmio) through the driver's debugfs <virtioN>.resize, on every
 * device (split and packed, event index on and off) while a reader
 * streams from it. vrs.qreset= says what the device does:
 *   works (the project's QEMU): each resize takes effect (the counters
 *     show the new size, down to one entry), the buffer with the device
 *     comes back (none is lost: added = used + reclaimed + the one in
 *     flight); the first device is left on a 2-entry ring for the system
 *     sleep test (restore gives the device the resized ring);
 *   broken (QEMU 10.0 ignores QueueReset): each resize fails with EIO
 *     and a log line, the ring keeps its size and its buffers.
 * Either way the reader goes on and the source gives random bytes; bad
 * requests are refused and change nothing.
 */
TEST_F(rng, queue_resize)
{
	int works = qreset_works();

	ASSERT_GT(self->n, 0);
	for (int i = 0; i < self->n; i++) {
		const char *vd = self->v[i].name;
		struct ring_queue q[2];
		struct reader r = { 0 };
		char src[64];
		pthread_t t;
		int max, sizes[3];

		ASSERT_EQ(1, ring_queues(DRIVER, vd, q, 2)) TH_LOG("%s: no debugfs counters", vd);
		ASSERT_TRUE(has_feature(&self->v[i], F_RING_RESET)) TH_LOG("%s", vd);
		ASSERT_LE(0, works) TH_LOG("the conf must say vrs.qreset=works or vrs.qreset=broken");
		max = q[0].size;
		ASSERT_LE(4, max) TH_LOG("%s", vd);
		/* Refused, nothing changes. */
		EXPECT_EQ(-EINVAL, ring_resize_to(DRIVER, vd, 1, 4));
		EXPECT_EQ(-EINVAL, ring_resize_to(DRIVER, vd, 0, 3));
		EXPECT_EQ(-EINVAL, ring_resize_to(DRIVER, vd, 0, 0));
		EXPECT_EQ(-EINVAL, ring_resize_to(DRIVER, vd, 0, q[0].max * 2))
			TH_LOG("above the device's maximum %d", q[0].max);
		EXPECT_EQ(-EINVAL, ring_resize(DRIVER, vd, "0"));
		EXPECT_EQ(-EINVAL, ring_resize(DRIVER, vd, "0 4 4"));
		EXPECT_EQ(-EINVAL, ring_resize(DRIVER, vd, "zero four"));
		ASSERT_EQ(1, ring_queues(DRIVER, vd, q, 2));
		EXPECT_EQ(max, q[0].size);

		snprintf(src, sizeof(src), DRIVER ".%s", vd);
		ASSERT_EQ(0, write_str(HWRNG "/rng_current", src));
		ASSERT_EQ(0, pthread_create(&t, NULL, reader_fn, &r));
		usleep(100000);
		sizes[0] = max / 2;
		sizes[1] = 1;
		sizes[2] = i ? max : 2;
		for (int k = 0; k < 3; k++) {
			EXPECT_EQ(works ? 0 : -EIO, ring_resize_to(DRIVER, vd, 0, sizes[k]))
				TH_LOG("%s: to %d", vd, sizes[k]);
			ASSERT_EQ(1, ring_queues(DRIVER, vd, q, 2));
			EXPECT_EQ(works ? sizes[k] : max, q[0].size) TH_LOG("%s", vd);
			usleep(100000);
			EXPECT_FALSE(r.done) TH_LOG("%s: the reader stopped: read %zd (%s)", vd, r.last,
						    strerror(r.err));
		}
		EXPECT_EQ(0, reader_join(&r, t, 10)) TH_LOG("%s: reader hangs", vd);
		EXPECT_LT(0, r.last) TH_LOG("%s: last read %zd (%s)", vd, r.last, strerror(r.err));
		EXPECT_EQ(0, read_source(_metadata, src, 16384)) TH_LOG("%s on %d entries", src, sizes[2]);
		ASSERT_EQ(1, ring_queues(DRIVER, vd, q, 2));
		EXPECT_LE(0, q[0].added - q[0].used - q[0].reclaimed) TH_LOG("%s", vd);
		EXPECT_GE(1, q[0].added - q[0].used - q[0].reclaimed) TH_LOG("%s", vd);
		ksft_print_msg("%s: ring %d -> %d -> %d -> %d entries under a reader%s; added %lld used %lld reclaimed %lld\n",
			       vd, max, sizes[0], sizes[1], sizes[2],
			       works ? "" : " refused (QueueReset ignored)", q[0].added, q[0].used,
			       q[0].reclaimed);
	}
	if (!works) {
		char *log = klog();

		EXPECT_TRUE(log && log_has(log, TRANSPORT, "not reset: still ready after QueueReset"))
			TH_LOG("no refusal line in the kernel log");
		free(log);
	}
}

/*
 * System sleep (suspend-to-idle, pm_test=devices) while a reader streams
 * from one of our sources: every device's queue is suspended (the buffer
 * with the device comes back) and set up again on restore; the reader
 * goes on, and every source gives random bytes after the resume.
 */
TEST_F(rng, system_sleep)
{
	struct ring_queue ring[MAX_DEVS], after;
	struct reader r = { 0 };
	long long before[MAX_DEVS];
	char src[64], *log;
	pthread_t t;

	ASSERT_GT(self->n, 0);
	if (access("/sys/power/pm_test", W_OK))
		SKIP(return, "no /sys/power/pm_test (CONFIG_PM_DEBUG)");
	for (int i = 0; i < self->n; i++) {
		before[i] = stat_of(self->v[i].pdev, "queue_setups");
		ASSERT_LT(0, before[i]) TH_LOG("%s", self->v[i].pdev);
		ASSERT_EQ(1, ring_queues(DRIVER, self->v[i].name, &ring[i], 1));
	}
	snprintf(src, sizeof(src), DRIVER ".%s", self->v[0].name);
	ASSERT_EQ(0, write_str(HWRNG "/rng_current", src));
	ASSERT_EQ(0, pthread_create(&t, NULL, reader_fn, &r));
	usleep(200000);
	write_str("/sys/module/suspend/parameters/pm_test_delay", "0");
	ASSERT_EQ(0, write_str("/sys/power/pm_test", "devices"));
	EXPECT_EQ(0, write_str("/sys/power/state", "freeze")) TH_LOG("%s", strerror(errno));
	write_str("/sys/power/pm_test", "none");
	usleep(200000);
	EXPECT_FALSE(r.done) TH_LOG("the reader stopped: read %zd (%s)", r.last, strerror(r.err));
	EXPECT_EQ(0, reader_join(&r, t, 10)) TH_LOG("reader hangs after the resume");
	EXPECT_LT(0, r.last) TH_LOG("last read %zd (%s)", r.last, strerror(r.err));
	for (int i = 0; i < self->n; i++) {
		EXPECT_EQ(before[i] + 1, stat_of(self->v[i].pdev, "queue_setups"))
			TH_LOG("%s: queue not set up again", self->v[i].name);
		/* Restored on the ring it had (resized by queue_resize). */
		ASSERT_EQ(1, ring_queues(DRIVER, self->v[i].name, &after, 1));
		EXPECT_EQ(ring[i].size, after.size) TH_LOG("%s", self->v[i].name);
		snprintf(src, sizeof(src), DRIVER ".%s", self->v[i].name);
		EXPECT_EQ(0, read_source(_metadata, src, 16384)) TH_LOG("%s after the resume", src);
	}
	log = klog();
	ASSERT_NE(NULL, log);
	EXPECT_FALSE(log_has(log, DRIVER " virtio", "system sleep is not supported"));
	EXPECT_FALSE(log_has(log, DRIVER " virtio", "did not take its queues back"));
	free(log);
}

/* Unbind a device while a reader streams from it: the reader goes on
 * (another source) or ends; the device binds again and works. */
TEST_F(rng, unbind_under_io)
{
	struct reader r = { 0 };
	char src[64], path[PATH_MAX];
	pthread_t t;

	ASSERT_GT(self->n, 0);
	snprintf(src, sizeof(src), DRIVER ".%s", self->v[0].name);
	ASSERT_EQ(0, write_str(HWRNG "/rng_current", src));
	ASSERT_EQ(0, pthread_create(&t, NULL, reader_fn, &r));
	usleep(200000);
	ASSERT_EQ(0, write_str("/sys/bus/virtio/drivers/" DRIVER "/unbind", self->v[0].name));
	EXPECT_FALSE(rng_available_has(src));
	EXPECT_EQ(0, reader_join(&r, t, 10)) TH_LOG("reader hangs after unbind");
	ASSERT_EQ(0, write_str("/sys/bus/virtio/drivers/" DRIVER "/bind", self->v[0].name));
	snprintf(path, sizeof(path), "/sys/bus/virtio/drivers/" DRIVER "/%s", self->v[0].name);
	EXPECT_EQ(0, access(path, F_OK));
	EXPECT_EQ(0, read_source(_metadata, src, 16384));
}

/* rmmod while a reader is blocked on our source; the module loads again
 * and takes all its devices back. */
TEST_F(rng, rmmod_under_io)
{
	struct reader r = { 0 };
	char src[64], ko[PATH_MAX], cmd[PATH_MAX + 16];
	pthread_t t;

	ASSERT_GT(self->n, 0);
	ASSERT_EQ(0, module_path_of(DRIVER, ko, sizeof(ko)));
	snprintf(src, sizeof(src), DRIVER ".%s", self->v[self->n - 1].name);
	ASSERT_EQ(0, write_str(HWRNG "/rng_current", src));
	ASSERT_EQ(0, pthread_create(&t, NULL, reader_fn, &r));
	usleep(200000);
	ASSERT_EQ(0, run("rmmod " DRIVER));
	EXPECT_EQ(0, reader_join(&r, t, 10)) TH_LOG("reader hangs after rmmod");
	if (1) {
		struct vdev v[MAX_DEVS];
		int n = rng_devices(v, MAX_DEVS);

		ASSERT_EQ(self->n, n);
		for (int i = 0; i < n; i++) {
			EXPECT_STRNE(DRIVER, v[i].driver);
		}
	}
	snprintf(cmd, sizeof(cmd), "insmod %s", ko);
	ASSERT_EQ(0, run(cmd));
	if (1) {
		struct vdev v[MAX_DEVS];
		int n = rng_devices(v, MAX_DEVS);

		ASSERT_EQ(self->n, n);
		for (int i = 0; i < n; i++) {
			const char *vn = v[i].name;

			EXPECT_STREQ(DRIVER, v[i].driver) TH_LOG("%s after reload", vn);
		}
	}
	EXPECT_EQ(0, read_source(_metadata, src, 4096));
}

/* Per device: hand one to the stock C driver and back. Also loads the C
 * driver for the PCI case below. */
TEST_F(rng, per_device_choice)
{
	const char *name = self->v[0].name;
	char p[PATH_MAX], drv[64], csrc[64] = "", buf[4096];

	ASSERT_GT(self->n, 0);
	ASSERT_EQ(0, run("modprobe virtio_rng"));
	/* Ours keeps its devices: the C driver finds them bound. */
	snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/driver", name);
	link_name(p, drv, sizeof(drv));
	ASSERT_STREQ(DRIVER, drv);
	ASSERT_EQ(0, write_str("/sys/bus/virtio/drivers/" DRIVER "/unbind", name));
	ASSERT_EQ(0, write_str("/sys/bus/virtio/drivers/virtio_rng/bind", name));
	link_name(p, drv, sizeof(drv));
	EXPECT_STREQ("virtio_rng", drv);
	/* The C driver's source ("virtio_rng.N") reads. */
	ASSERT_EQ(0, read_line(HWRNG "/rng_available", buf, sizeof(buf)));
	for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
		if (!strncmp(t, "virtio_rng.", 11))
			snprintf(csrc, sizeof(csrc), "%s", t);
	ASSERT_NE(0, csrc[0]) TH_LOG("no virtio_rng source");
	EXPECT_EQ(0, read_source(_metadata, csrc, 4096));
	/* And back. */
	ASSERT_EQ(0, write_str("/sys/bus/virtio/drivers/virtio_rng/unbind", name));
	ASSERT_EQ(0, write_str("/sys/bus/virtio/drivers/" DRIVER "/bind", name));
	link_name(p, drv, sizeof(drv));
	EXPECT_STREQ(DRIVER, drv);
	snprintf(csrc, sizeof(csrc), DRIVER ".%s", name);
	EXPECT_EQ(0, read_source(_metadata, csrc, 4096));
}

/* A device on a transport without raw queue ops goes to the C driver. */
TEST_F(rng, other_transport_left_to_c_driver)
{
	char on[8], *log;
	struct dirent *e;
	DIR *d;
	int found = 0;

	if (cmdline_arg("vrs.pci_rng", on, sizeof(on)) || strcmp(on, "1"))
		SKIP(return, "no virtio-rng-pci in this machine");
	/* The debug kernel is built without virtio-pci. */
	if (access("/sys/bus/pci/drivers/virtio-pci", F_OK))
		SKIP(return, "kernel without virtio-pci");
	d = opendir("/sys/bus/virtio/devices");
	ASSERT_NE(NULL, d);
	while ((e = readdir(d))) {
		char p[PATH_MAX], real[PATH_MAX], drv[64];

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/device", e->d_name);
		if (read_long(p) != VIRTIO_ID_RNG)
			continue;
		snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s", e->d_name);
		if (!realpath(p, real) || !strstr(real, "/pci"))
			continue;
		snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/driver", e->d_name);
		link_name(p, drv, sizeof(drv));
		EXPECT_STREQ("virtio_rng", drv) TH_LOG("%s (PCI)", e->d_name);
		found++;
	}
	closedir(d);
	EXPECT_EQ(1, found);
	log = klog();
	ASSERT_NE(NULL, log);
	EXPECT_TRUE(log_has(log, DRIVER " virtio", "transport has no raw queue ops"));
	free(log);
}

TEST_HARNESS_MAIN
