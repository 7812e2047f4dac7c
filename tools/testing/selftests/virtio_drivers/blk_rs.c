// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_blk_rs: the Rust virtio-blk driver on the Rust vring, against
 * QEMU's virtio-blk-device behind virtio_mmio_rs (see vm.blk.conf).
 *
 * - every disk device on our transport is bound to virtio_blk_rs, with the
 *   ring features vrs.blk= declares (packed x event index x indirect, and
 *   ACCESS_PLATFORM negotiated or not);
 * - data: a pattern written over each whole disk with O_DIRECT, read back
 *   with scatter-gather shapes (many separate pages: multi-segment chains
 *   and indirect tables) and written again with mixed segment sizes;
 * - flush (write cache), discard and write zeroes read back as zeroes;
 * - the multiqueue disk has one hardware queue per virtqueue, and each
 *   CPU's reads succeed;
 * - the ring's own counters (debugfs of virtio_blk_rs): at queue depth 1,
 *   one kick and at most one interrupt per request, and the kicks the ring
 *   counts are the notifications the transport counts;
 * - per-queue reset and resize (RING_RESET) of every queue of every disk
 *   while a checking reader per CPU runs: no read fails or is wrong,
 *   nothing in flight is taken back;
 * - system sleep (pm_test=devices) with a checking reader on every disk:
 *   the queues are set up again on restore (on their resized rings), no
 *   read fails or is wrong;
 * - resize through QMP reaches the disk's capacity;
 * - unbind under I/O fails the reader cleanly, the disk comes back;
 * - the stock C virtio_blk reads back what the Rust driver wrote (and the
 *   Rust driver what the C driver wrote), after moving a device between
 *   them through sysfs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "../virtio_mmio/mmio_util.h"

#define DRIVER "virtio_blk_rs"
#define F_INDIRECT 28
#define F_ACCESS_PLATFORM 33
#define MIB (1024 * 1024)

struct disk {
	struct vdev v;
	char name[32];	/* rvdN */
	char path[48];	/* /dev/rvdN */
	long sectors;
};

/* Disks of our transport's block devices (bound to any driver). */
static int disks(struct disk *d, int max)
{
	struct vdev v[MAX_DEVS];
	int n = find_vdevs(VIRTIO_ID_BLOCK, v, MAX_DEVS), found = 0;

	for (int i = 0; i < n && found < max; i++) {
		char p[PATH_MAX];

		d[found].v = v[i];
		d[found].name[0] = 0;
		child_of(&v[i], "block", d[found].name, sizeof(d[found].name));
		snprintf(d[found].path, sizeof(d[found].path), "/dev/%s", d[found].name);
		snprintf(p, sizeof(p), "/sys/class/block/%s/size", d[found].name);
		d[found].sectors = d[found].name[0] ? read_long(p) : -1;
		found++;
	}
	return found;
}

static int open_direct(const char *path)
{
	return open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
}

/* Read [0, span) back as @nseg separate page-sized buffers per request. */
static int verify_scattered(const char *path, size_t span, uint64_t seed, int nseg)
{
	struct iovec iov[64];
	int fd = open_direct(path), ret = 0;

	if (fd < 0)
		return -errno;
	for (int i = 0; i < nseg; i++) {
		/* Separate allocations: no two pages are neighbours. */
		if (posix_memalign(&iov[i].iov_base, 4096, 8192))
			return -ENOMEM;
		iov[i].iov_len = 4096;
	}
	for (size_t off = 0; off < span && !ret; off += (size_t)nseg * 4096) {
		/* The last request of the span may be shorter. */
		int k = (span - off) / 4096 < (size_t)nseg ? (int)((span - off) / 4096) : nseg;
		ssize_t r = preadv(fd, iov, k, off);

		if (r != (ssize_t)k * 4096) {
			ret = r < 0 ? -errno : -EIO;
			break;
		}
		for (int i = 0; i < k; i++)
			if (!pat_ok(iov[i].iov_base, 4096, off + (size_t)i * 4096, seed)) {
				ret = -EILSEQ;
				break;
			}
	}
	for (int i = 0; i < nseg; i++)
		free(iov[i].iov_base);
	close(fd);
	return ret;
}

/* Rewrite [@off, @off + 64 KiB) with segments of mixed sizes (512 B .. 16 KiB). */
static int write_mixed(const char *path, off_t off, uint64_t seed)
{
	static const size_t sizes[] = { 512, 3584, 4096, 16384, 1024, 7168, 512, 32768 };
	struct iovec iov[8];
	size_t total = 0;
	int fd = open_direct(path), ret = 0;

	if (fd < 0)
		return -errno;
	for (int i = 0; i < 8; i++) {
		if (posix_memalign(&iov[i].iov_base, 4096, sizes[i] + 4096))
			return -ENOMEM;
		/* 512-aligned, not page-aligned: a segment may cross a page. */
		iov[i].iov_base = (char *)iov[i].iov_base + (i % 2 ? 512 : 0);
		iov[i].iov_len = sizes[i];
		for (size_t j = 0; j < sizes[i]; j += 8) {
			uint64_t w = pat_word(off + total + j, seed);

			memcpy((char *)iov[i].iov_base + j, &w, 8);
		}
		total += sizes[i];
	}
	if (pwritev(fd, iov, 8, off) != (ssize_t)total)
		ret = -errno ?: -EIO;
	if (!ret && fsync(fd))
		ret = -errno;
	for (int i = 0; i < 8; i++)
		free((char *)iov[i].iov_base - (i % 2 ? 512 : 0));
	close(fd);
	return ret;
}

static int all_zero(const char *path, off_t off, size_t len)
{
	unsigned char *b;
	int fd = open_direct(path), ret = 0;

	if (fd < 0 || posix_memalign((void **)&b, 4096, len))
		return -1;
	if (pread(fd, b, len, off) != (ssize_t)len)
		ret = -1;
	for (size_t i = 0; !ret && i < len; i++)
		if (b[i])
			ret = -1;
	free(b);
	close(fd);
	return ret;
}

FIXTURE(blk) {
	struct disk d[MAX_DEVS];
	int n;
};

FIXTURE_SETUP(blk)
{
	self->n = disks(self->d, MAX_DEVS);
}

FIXTURE_TEARDOWN(blk)
{
}

TEST_F(blk, bound_with_declared_formats)
{
	char spec[256], want[MAX_DEVS][16];
	int nwant = 0, matched[MAX_DEVS] = { 0 };

	ASSERT_EQ(declared_devices(), self->n) TH_LOG("disks on " TRANSPORT);
	ASSERT_EQ(0, cmdline_arg("vrs.blk", spec, sizeof(spec)));
	for (char *t = strtok(spec, ","); t && nwant < MAX_DEVS; t = strtok(NULL, ","))
		snprintf(want[nwant++], sizeof(want[0]), "%s", t);
	ASSERT_EQ(nwant, self->n);
	for (int i = 0; i < self->n; i++) {
		struct disk *d = &self->d[i];
		char got[16];
		int j;

		EXPECT_STREQ(DRIVER, d->v.driver) TH_LOG("%s", d->v.name);
		EXPECT_NE(0, d->name[0]) TH_LOG("%s has no disk", d->v.name);
		snprintf(got, sizeof(got), "p%de%di%da%d", has_feature(&d->v, F_RING_PACKED),
			 has_feature(&d->v, F_EVENT_IDX), has_feature(&d->v, F_INDIRECT),
			 has_feature(&d->v, F_ACCESS_PLATFORM));
		for (j = 0; j < nwant; j++)
			if (!matched[j] && !strncmp(want[j], got, strlen(got)))
				break;
		EXPECT_LT(j, nwant) TH_LOG("%s negotiated %s, not declared", d->v.name, got);
		if (j < nwant)
			matched[j] = 1;
		ksft_print_msg("%s: %s on %s, %s, %ld sectors\n", d->name, d->v.name, d->v.pdev,
			       got, d->sectors);
	}
}

/* Pattern over each whole disk, read back scattered, partly rewritten with
 * mixed segments, read back again. */
TEST_F_TIMEOUT(blk, data_roundtrip_scatter_gather, 600)
{
	ASSERT_GT(self->n, 0);
	for (int i = 0; i < self->n; i++) {
		struct disk *d = &self->d[i];
		size_t span = (size_t)d->sectors * 512;
		uint64_t seed = 0x5eed0000 + i;

		ASSERT_LT(0, d->sectors);
		ASSERT_EQ(0, pat_fill(d->path, span, seed)) TH_LOG("%s: fill", d->name);
		EXPECT_EQ(0, verify_scattered(d->path, span, seed, 33))
			TH_LOG("%s: 33-page scattered read-back", d->name);
		EXPECT_EQ(0, write_mixed(d->path, 3 * MIB + 512, seed));
		EXPECT_EQ(0, verify_scattered(d->path, span, seed, 7))
			TH_LOG("%s: read-back after the mixed write", d->name);
	}
}

TEST_F_TIMEOUT(blk, flush_discard_write_zeroes, 300)
{
	ASSERT_GT(self->n, 0);
	for (int i = 0; i < self->n; i++) {
		struct disk *d = &self->d[i];
		char p[PATH_MAX], wc[32];
		uint64_t range[2];
		int fd;

		snprintf(p, sizeof(p), "/sys/class/block/%s/queue/write_cache", d->name);
		ASSERT_EQ(0, read_line(p, wc, sizeof(wc)));
		EXPECT_STREQ("write back", wc) TH_LOG("%s: no flush negotiated?", d->name);
		snprintf(p, sizeof(p), "/sys/class/block/%s/queue/discard_max_hw_bytes", d->name);
		EXPECT_LT(0, read_long(p)) TH_LOG("%s: no discard", d->name);
		snprintf(p, sizeof(p), "/sys/class/block/%s/queue/write_zeroes_max_bytes", d->name);
		EXPECT_LT(0, read_long(p)) TH_LOG("%s: no write zeroes", d->name);
		fd = open_direct(d->path);
		ASSERT_LE(0, fd);
		EXPECT_EQ(0, fsync(fd));
		range[0] = 4 * MIB;
		range[1] = MIB;
		EXPECT_EQ(0, ioctl(fd, BLKDISCARD, range)) TH_LOG("%s: BLKDISCARD: %s", d->name, strerror(errno));
		range[0] = 6 * MIB;
		EXPECT_EQ(0, ioctl(fd, BLKZEROOUT, range)) TH_LOG("%s: BLKZEROOUT: %s", d->name, strerror(errno));
		close(fd);
		EXPECT_EQ(0, all_zero(d->path, 4 * MIB, MIB)) TH_LOG("%s: discarded range", d->name);
		EXPECT_EQ(0, all_zero(d->path, 6 * MIB, MIB)) TH_LOG("%s: zeroed range", d->name);
		/* The neighbours kept their data. */
		EXPECT_EQ(0, verify_scattered(d->path, 4 * MIB, 0x5eed0000 + i, 16));
	}
}

/* The disk with num-queues=4: one hardware queue per virtqueue (at most one
 * per CPU), and reads from every CPU. */
TEST_F_TIMEOUT(blk, multiqueue, 300)
{
	int found = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);

	for (int i = 0; i < self->n; i++) {
		struct disk *d = &self->d[i];
		char p[PATH_MAX];
		struct dirent *e;
		int hw = 0;
		DIR *dir;

		snprintf(p, sizeof(p), "/sys/class/block/%s/mq", d->name);
		dir = opendir(p);
		ASSERT_NE(NULL, dir);
		while ((e = readdir(dir)))
			hw += e->d_name[0] != '.';
		closedir(dir);
		if (hw == 1)
			continue;
		found++;
		EXPECT_EQ(ncpu < 4 ? ncpu : 4, hw) TH_LOG("%s", d->name);
		for (int c = 0; c < ncpu; c++) {
			cpu_set_t set;
			pid_t pid;
			int st;

			CPU_ZERO(&set);
			CPU_SET(c, &set);
			pid = fork();
			if (!pid) {
				sched_setaffinity(0, sizeof(set), &set);
				_exit(verify_scattered(d->path, 2 * MIB, 0x5eed0000 + i, 8) ? 1 : 0);
			}
			waitpid(pid, &st, 0);
			EXPECT_TRUE(WIFEXITED(st) && !WEXITSTATUS(st)) TH_LOG("%s from CPU %d", d->name, c);
		}
		ksft_print_msg("%s: %d hardware queues, reads from %ld CPUs\n", d->name, hw, ncpu);
	}
	EXPECT_EQ(1, found) TH_LOG("no multiqueue disk");
}

/* Sums of the ring counters of a disk (all its queues). */
struct ring_counters {
	long long added, kicks, suppressed, used, callbacks;
	int queues;
	char fault[32];
	char dma[16];	/* "physical" or "api" */
};

/* Feature bit @bit of a bound virtio device as negotiated, or -1. */
static int feature_bit(const char *vdev, int bit)
{
	char p[PATH_MAX], feat[128] = "";
	FILE *f;

	snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/features", vdev);
	f = fopen(p, "r");
	if (!f)
		return -1;
	if (!fgets(feat, sizeof(feat), f))
		feat[0] = 0;
	fclose(f);
	if ((int)strlen(feat) <= bit)
		return -1;
	return feat[bit] == '1';
}

static int ring_counters(const char *vdev, struct ring_counters *c)
{
	char p[PATH_MAX], line[256];
	FILE *f;

	memset(c, 0, sizeof(*c));
	snprintf(p, sizeof(p), "/sys/kernel/debug/" DRIVER "/%s", vdev);
	f = fopen(p, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		long long a, k, s, u, i;
		int q;

		if (sscanf(line, "queue %d: added %lld kicks %lld kicks_suppressed %lld used %lld callbacks %lld",
			   &q, &a, &k, &s, &u, &i) == 6) {
			c->added += a;
			c->kicks += k;
			c->suppressed += s;
			c->used += u;
			c->callbacks += i;
			c->queues++;
		} else if (!strncmp(line, "fault: ", 7)) {
			snprintf(c->fault, sizeof(c->fault), "%.*s", (int)strcspn(line + 7, "\n"), line + 7);
		} else if (!strncmp(line, "dma: ", 5)) {
			snprintf(c->dma, sizeof(c->dma), "%.*s", (int)strcspn(line + 5, "\n"), line + 5);
		}
	}
	fclose(f);
	return c->queues ? 0 : -1;
}

/*
 * The ring's notification accounting, from its own counters: 256 reads at
 * queue depth 1 on each disk take one request each, one kick each (the
 * device is idle when each is added, with or without event index) and
 * about one interrupt callback each: a wired interrupt runs every queue's,
 * but a queue with nothing in flight returns before it counts (a little
 * slack for an interrupt that finds its buffer not used yet); every kick
 * the ring counts is a notification the transport counts (two counters in
 * two modules).
 */
TEST_F_TIMEOUT(blk, ring_counters, 300)
{
	const int n = 256;

	ASSERT_GT(self->n, 0);
	for (int i = 0; i < self->n; i++) {
		struct disk *d = &self->d[i];
		struct ring_counters a, b;
		long long na, nb;
		unsigned char *buf;
		int fd;

		ASSERT_EQ(0, ring_counters(d->v.name, &a)) TH_LOG("%s: no debugfs counters", d->v.name);
		na = notifies_of(d->v.pdev, -1);
		ASSERT_LE(0, na);
		fd = open_direct(d->path);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, posix_memalign((void **)&buf, 4096, 4096));
		for (int k = 0; k < n; k++)
			ASSERT_EQ(4096, pread(fd, buf, 4096, (off_t)(k * 7 % 2048) * 4096));
		free(buf);
		close(fd);
		ASSERT_EQ(0, ring_counters(d->v.name, &b));
		nb = notifies_of(d->v.pdev, -1);
		EXPECT_STREQ("none", b.fault);
		/* Nothing else uses the disk meanwhile (a little slack). */
		EXPECT_LE(n, b.added - a.added) TH_LOG("%s", d->name);
		EXPECT_GE(n + 8, b.added - a.added) TH_LOG("%s", d->name);
		EXPECT_EQ(b.added - a.added, b.used - a.used) TH_LOG("%s: in flight at rest", d->name);
		EXPECT_EQ(b.added - a.added, b.kicks - a.kicks) TH_LOG("%s: kicks at depth 1", d->name);
		EXPECT_GE((b.used - a.used) * 9 / 8, b.callbacks - a.callbacks) TH_LOG("%s: %d queues", d->name, b.queues);
		EXPECT_LT(0, b.callbacks - a.callbacks) TH_LOG("%s", d->name);
		EXPECT_EQ(b.kicks - a.kicks, nb - na) TH_LOG("%s: ring kicks vs transport notifications", d->name);
		/* Buffers at physical addresses unless the device negotiated
		 * VIRTIO_F_ACCESS_PLATFORM (vring_use_dma_api()); the data
		 * tests check the bytes either way. */
		ASSERT_LE(0, feature_bit(d->v.name, 33));
		EXPECT_STREQ(feature_bit(d->v.name, 33) ? "api" : "physical", b.dma) TH_LOG("%s", d->name);
		ksft_print_msg("%s (%s, dma %s): %d reads: %.2f kicks, %.2f callbacks per request; totals: added %lld kicks %lld suppressed %lld callbacks %lld\n",
			       d->name, d->v.name, b.dma, n, (double)(b.kicks - a.kicks) / (b.added - a.added),
			       (double)(b.callbacks - a.callbacks) / (b.used - a.used),
			       b.added, b.kicks, b.suppressed, b.callbacks);
	}
}

/*
 * Per-queue reset and resize (VIRTIO_F_RING_RESET, QueueReset on
 * virtio-mmio) through the driver's debugfs <virtioN>.resize, while a
 * checking reader per CPU keeps every hardware queue busy: each queue of
 * each disk is asked for the smallest ring the largest request fits in
 * (max_segments + header + status: no chain may be longer than the ring,
 * indirect or not; one entry less is refused), the largest, and half of
 * it. vrs.qreset= says what the device does:
 *   works (the project's QEMU): each resize takes effect; nothing was in
 *     flight when a ring was replaced (the driver quiesces the disk: no
 *     request was taken back); the rings stay at half their maximum for
 *     the system sleep test;
 *   broken (QEMU 10.0 ignores QueueReset): each fails with EIO, the rings
 *     keep their size.
 * Either way no read fails or reads wrong data and the disk writes and
 * reads back afterwards. Bad requests are refused and change nothing.
 */
TEST_F_TIMEOUT(blk, ring_resize, 300)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	int works = qreset_works();

	ASSERT_GT(self->n, 0);
	ASSERT_LE(0, works) TH_LOG("the conf must say vrs.qreset=works or vrs.qreset=broken");
	for (int i = 0; i < self->n; i++) {
		struct disk *d = &self->d[i];
		const char *vd = d->v.name;
		struct ring_queue a[MAX_DEVS], b[MAX_DEVS];
		int nq = ring_queues(DRIVER, vd, a, MAX_DEVS);
		int max, min, steps, sizes[3], nsizes = 3, rfd[8];
		char p[PATH_MAX];
		long segs;
		pid_t pid[8];
		uint64_t ws, rs;

		ASSERT_LT(0, nq) TH_LOG("%s: no debugfs counters", vd);
		ASSERT_TRUE(has_feature(&d->v, F_RING_RESET)) TH_LOG("%s", vd);
		max = a[0].size;
		snprintf(p, sizeof(p), "/sys/class/block/%s/queue/max_segments", d->name);
		segs = read_long(p);
		ASSERT_LT(0, segs);
		for (min = 1; min < segs + 2; min *= 2)
			;
		ASSERT_LE(min, max / 2) TH_LOG("%s: %ld segments, ring of %d", vd, segs, max);
		sizes[0] = min;
		sizes[1] = max;
		sizes[2] = max / 2;
		/* Refused, nothing changes. */
		EXPECT_EQ(-EINVAL, ring_resize_to(DRIVER, vd, nq, min)) TH_LOG("%s: queue %d", vd, nq);
		EXPECT_EQ(-EINVAL, ring_resize_to(DRIVER, vd, 0, min + min / 2)) TH_LOG("not a power of two");
		EXPECT_EQ(-EINVAL, ring_resize_to(DRIVER, vd, 0, a[0].max * 2))
			TH_LOG("above the device's maximum %d", a[0].max);
		EXPECT_EQ(-EINVAL, ring_resize(DRIVER, vd, "0 16 x"));
		EXPECT_EQ(-EINVAL, ring_resize_to(DRIVER, vd, 0, min / 2))
			TH_LOG("%s: a %ld-segment request does not fit", vd, segs);
		ASSERT_EQ(nq, ring_queues(DRIVER, vd, b, MAX_DEVS));
		for (int q = 0; q < nq; q++) {
			EXPECT_EQ(a[q].size, b[q].size) TH_LOG("%s: queue %d", vd, q);
		}

		steps = nq * nsizes;
		for (int c = 0; c < ncpu && c < 8; c++) {
			int p[2];

			ASSERT_EQ(0, pipe(p));
			pid[c] = fork();
			ASSERT_LE(0, pid[c]);
			if (!pid[c]) {
				cpu_set_t set;

				CPU_ZERO(&set);
				CPU_SET(c, &set);
				sched_setaffinity(0, sizeof(set), &set);
				close(p[0]);
				pat_reader(d->path, 4 * MIB, 0x5eed0000 + i, 1 + 0.4 * steps, p[1]);
			}
			close(p[1]);
			rfd[c] = p[0];
		}
		usleep(200 * 1000);
		for (int q = 0; q < nq; q++)
			for (int k = 0; k < nsizes; k++) {
				struct ring_queue now[MAX_DEVS];

				EXPECT_EQ(works ? 0 : -EIO, ring_resize_to(DRIVER, vd, q, sizes[k]))
					TH_LOG("%s: queue %d to %d", vd, q, sizes[k]);
				ASSERT_EQ(nq, ring_queues(DRIVER, vd, now, MAX_DEVS));
				EXPECT_EQ(works ? sizes[k] : max, now[q].size) TH_LOG("%s: queue %d", vd, q);
				usleep(300 * 1000);
			}
		for (int c = 0; c < ncpu && c < 8; c++) {
			struct rd_result r = { -1, 0, 0 };
			int st;

			waitpid(pid[c], &st, 0);
			if (read(rfd[c], &r, sizeof(r)) != sizeof(r))
				r.reads = -1;
			close(rfd[c]);
			EXPECT_LT(0, r.reads) TH_LOG("%s: reader on CPU %d died or read nothing", d->name, c);
			EXPECT_EQ(0, r.err) TH_LOG("%s: reader on CPU %d: %s", d->name, c, strerror(r.err));
			EXPECT_EQ(0, r.bad) TH_LOG("%s: %d of %d reads wrong", d->name, r.bad, r.reads);
		}
		EXPECT_EQ(0, blk_verify(d->path, 6 * MIB, MIB, 0x7e5e0000 + i, &ws, &rs))
			TH_LOG("%s: write and read back on the resized rings", d->name);
		EXPECT_EQ(ws, rs);
		ASSERT_EQ(nq, ring_queues(DRIVER, vd, b, MAX_DEVS));
		for (int q = 0; q < nq; q++) {
			EXPECT_EQ(works ? sizes[nsizes - 1] : max, b[q].size) TH_LOG("%s: queue %d", vd, q);
			EXPECT_EQ(a[q].reclaimed, b[q].reclaimed) TH_LOG("%s: queue %d: requests taken back", vd, q);
			EXPECT_EQ(b[q].added, b[q].used) TH_LOG("%s: queue %d: in flight at rest", vd, q);
		}
		{
			char seq[64];
			int len = snprintf(seq, sizeof(seq), "%d", max);

			for (int k = 0; k < nsizes; k++)
				len += snprintf(seq + len, sizeof(seq) - len, " -> %d", sizes[k]);
			ksft_print_msg("%s (%s): %d queue(s) resized %s under %ld checking readers%s\n",
				       d->name, vd, nq, seq, ncpu,
				       works ? "" : ": refused (QueueReset ignored)");
		}
	}
	if (!works) {
		char *log = klog();

		EXPECT_TRUE(log && log_has(log, TRANSPORT, "not reset: still ready after QueueReset"))
			TH_LOG("no refusal line in the kernel log");
		free(log);
	}
}

/*
 * System sleep (suspend-to-idle with pm_test=devices: devices freeze and
 * restore, no firmware step) with a checking reader busy on every disk:
 * virtio_blk_rs quiesces its disk, the layer deletes the queues and, on
 * restore, starts every ring afresh on its memory and gives it to the
 * device again. The transport counts one more queue set-up per disk, no
 * reader sees an error or wrong data, and each disk writes and reads back
 * after the resume.
 */
TEST_F_TIMEOUT(blk, system_sleep, 300)
{
	struct rd_result r[MAX_DEVS];
	struct ring_queue ring[MAX_DEVS][MAX_DEVS];
	long long before[MAX_DEVS];
	int rfd[MAX_DEVS], nq[MAX_DEVS];
	pid_t pid[MAX_DEVS];
	char *log;

	ASSERT_GT(self->n, 0);
	if (access("/sys/power/pm_test", W_OK))
		SKIP(return, "no /sys/power/pm_test (CONFIG_PM_DEBUG)");
	for (int i = 0; i < self->n; i++) {
		struct disk *d = &self->d[i];
		int p[2];

		before[i] = stat_of(d->v.pdev, "queue_setups");
		ASSERT_LT(0, before[i]) TH_LOG("%s", d->v.pdev);
		nq[i] = ring_queues(DRIVER, d->v.name, ring[i], MAX_DEVS);
		ASSERT_LT(0, nq[i]);
		ASSERT_EQ(0, pat_fill(d->path, 4 * MIB, 0xf5ee0000 + i));
		ASSERT_EQ(0, pipe(p));
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (!pid[i]) {
			close(p[0]);
			pat_reader(d->path, 4 * MIB, 0xf5ee0000 + i, 6, p[1]);
		}
		close(p[1]);
		rfd[i] = p[0];
	}
	usleep(500 * 1000);
	write_str("/sys/module/suspend/parameters/pm_test_delay", "0");
	ASSERT_EQ(0, write_str("/sys/power/pm_test", "devices"));
	EXPECT_EQ(0, write_str("/sys/power/state", "freeze")) TH_LOG("%s", strerror(errno));
	write_str("/sys/power/pm_test", "none");
	for (int i = 0; i < self->n; i++) {
		double t0 = now_s();
		int st;

		r[i] = (struct rd_result){ -1, 0, 0 };
		while (waitpid(pid[i], &st, WNOHANG) == 0 && now_s() - t0 < 30)
			usleep(20 * 1000);
		if (waitpid(pid[i], &st, WNOHANG) == 0) {
			kill(pid[i], SIGKILL);
			waitpid(pid[i], &st, 0);
		} else if (read(rfd[i], &r[i], sizeof(r[i])) != sizeof(r[i])) {
			r[i].reads = -1;
		}
		close(rfd[i]);
	}
	for (int i = 0; i < self->n; i++) {
		struct disk *d = &self->d[i];
		struct ring_queue now[MAX_DEVS];
		struct ring_counters c;
		uint64_t ws, rs;

		EXPECT_EQ(before[i] + 1, stat_of(d->v.pdev, "queue_setups"))
			TH_LOG("%s: queues not set up again", d->name);
		/* Restored on the rings they had (ring_resize resized some). */
		ASSERT_EQ(nq[i], ring_queues(DRIVER, d->v.name, now, MAX_DEVS));
		for (int q = 0; q < nq[i]; q++) {
			EXPECT_EQ(ring[i][q].size, now[q].size) TH_LOG("%s: queue %d", d->name, q);
		}
		EXPECT_LT(0, r[i].reads) TH_LOG("%s: reader hung, died or read nothing", d->name);
		EXPECT_EQ(0, r[i].err) TH_LOG("%s: reader error %s", d->name, strerror(r[i].err));
		EXPECT_EQ(0, r[i].bad) TH_LOG("%s: %d of %d reads wrong", d->name, r[i].bad, r[i].reads);
		EXPECT_EQ(0, blk_verify(d->path, 4 * MIB, MIB, 0xf5ef0000 + i, &ws, &rs))
			TH_LOG("%s: write and read back after the resume", d->name);
		EXPECT_EQ(ws, rs);
		ASSERT_EQ(0, ring_counters(d->v.name, &c));
		EXPECT_STREQ("none", c.fault);
		EXPECT_EQ(c.added, c.used) TH_LOG("%s: in flight at rest", d->name);
		ksft_print_msg("%s (%s): %d checked reads across the sleep cycle, %s ring\n",
			       d->name, d->v.name, r[i].reads,
			       has_feature(&d->v, F_RING_PACKED) ? "packed" : "split");
		/* The pattern the later tests expect (data_roundtrip's). */
		ASSERT_EQ(0, pat_fill(d->path, 6 * MIB, 0x5eed0000 + i));
	}
	log = klog();
	ASSERT_NE(NULL, log);
	EXPECT_FALSE(log_has(log, DRIVER " virtio", "system sleep is not supported"));
	EXPECT_FALSE(log_has(log, DRIVER " virtio", "in flight at freeze"));
	EXPECT_FALSE(log_has(log, DRIVER " virtio", "did not take its queues back"));
	free(log);
}

/* Limit QEMU disks b0..b<n-1> to @iops requests per second (0: no limit). */
static void throttle(int n, int iops)
{
	for (int i = 0; i < n; i++)
		printf("VRS-QMP throttle-b%d {\"execute\":\"block_set_io_throttle\",\"arguments\":"
		       "{\"id\":\"b%d\",\"bps\":0,\"bps_rd\":0,\"bps_wr\":0,\"iops\":%d,"
		       "\"iops_rd\":0,\"iops_wr\":0}}\n", i, i, iops);
	fflush(stdout);
}

/*
 * Requests in flight when the system goes to sleep are drained, not lost:
 * the freezer stops processes, not their asynchronous I/O. The disks are
 * throttled over QMP to a few requests per second (which QEMU disk is
 * which guest disk is not known here: all of them); 24 O_DIRECT reads are
 * submitted with io_submit and the system sleeps while most of them are
 * still with the device. virtio_blk_rs's freeze must wait for them
 * (blk_mq_freeze_queue) before it suspends its queues; had it not, they
 * would have been taken back and failed ("request in flight at freeze").
 * After the resume every read has completed with the right data.
 */
TEST_F_TIMEOUT(blk, system_sleep_drains_inflight, 300)
{
	enum { N = 24 };
	struct io_event ev[N];
	struct iocb cb[N], *cbp[N];
	aio_context_t ctx = 0;
	unsigned char *buf;
	struct disk *d = NULL;
	char flag[8], *log;
	int fd, got = 0, before, bad = 0;
	double t0, slept;

	if (access("/sys/power/pm_test", W_OK))
		SKIP(return, "no /sys/power/pm_test (CONFIG_PM_DEBUG)");
	if (cmdline_arg("vrs.qmp", flag, sizeof(flag)))
		SKIP(return, "no QMP helper in this boot (vrs.qmp=)");
	for (int i = 0; i < self->n && !d; i++)
		if (self->d[i].sectors == 32768)
			d = &self->d[i];
	ASSERT_NE(NULL, d);
	ASSERT_EQ(0, pat_fill(d->path, 4 * MIB, 0xa10));
	throttle(self->n, 8);
	sleep(2);
	fd = open_direct(d->path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, posix_memalign((void **)&buf, 4096, N * 4096));
	ASSERT_EQ(0, syscall(SYS_io_setup, N, &ctx));
	for (int i = 0; i < N; i++) {
		memset(&cb[i], 0, sizeof(cb[i]));
		cb[i].aio_fildes = fd;
		cb[i].aio_lio_opcode = IOCB_CMD_PREAD;
		cb[i].aio_buf = (uintptr_t)(buf + i * 4096);
		cb[i].aio_nbytes = 4096;
		cb[i].aio_offset = (off_t)(i * 37 % 1024) * 4096;
		cb[i].aio_data = i;
		cbp[i] = &cb[i];
	}
	ASSERT_EQ(N, syscall(SYS_io_submit, ctx, N, cbp));
	usleep(200 * 1000);
	{
		struct timespec zero = { 0, 0 };
		long r = syscall(SYS_io_getevents, ctx, 0, N, ev, &zero);

		ASSERT_LE(0, r);
		got = r;
	}
	before = got;
	/* Most are still with the (throttled) device: otherwise the test
	 * proves nothing. */
	ASSERT_GT(N / 2, before) TH_LOG("%d of %d reads done before the sleep: not throttled?", before, N);
	write_str("/sys/module/suspend/parameters/pm_test_delay", "0");
	ASSERT_EQ(0, write_str("/sys/power/pm_test", "devices"));
	t0 = now_s();
	EXPECT_EQ(0, write_str("/sys/power/state", "freeze")) TH_LOG("%s", strerror(errno));
	slept = now_s() - t0;
	write_str("/sys/power/pm_test", "none");
	throttle(self->n, 0);
	while (got < N) {
		struct timespec ts = { 20, 0 };
		long r = syscall(SYS_io_getevents, ctx, 1, N - got, ev + got, &ts);

		if (r <= 0)
			break;
		got += r;
	}
	EXPECT_EQ(N, got) TH_LOG("%d of %d reads completed", got, N);
	for (int k = 0; k < got; k++) {
		int i = ev[k].data;

		if (ev[k].res != 4096 || !pat_ok(buf + i * 4096, 4096, cb[i].aio_offset, 0xa10))
			bad++;
	}
	EXPECT_EQ(0, bad) TH_LOG("%d reads failed or returned wrong data", bad);
	syscall(SYS_io_destroy, ctx);
	free(buf);
	close(fd);
	log = klog();
	ASSERT_NE(NULL, log);
	EXPECT_FALSE(log_has(log, DRIVER " virtio", "in flight at freeze"));
	free(log);
	ksft_print_msg("%s: %d of %d reads in flight at the sleep; %d completed, %d failed or wrong; the cycle took %.1f s\n",
		       d->name, N - before, N, got, bad, slept);
	sleep(1);
	ASSERT_EQ(0, pat_fill(d->path, 6 * MIB, 0x5eed0000 + (d - self->d)));
}

/* The 8 MiB disk (d0) grows to 24 MiB over QMP. */
TEST_F_TIMEOUT(blk, resize_through_qmp, 300)
{
	char flag[8], p[PATH_MAX];
	struct disk *d = NULL;
	long size;
	double t0;

	if (cmdline_arg("vrs.qmp", flag, sizeof(flag)))
		SKIP(return, "no QMP helper in this boot (vrs.qmp=)");
	for (int i = 0; i < self->n; i++)
		if (self->d[i].sectors == 16384)
			d = &self->d[i];
	ASSERT_NE(NULL, d) TH_LOG("no 8 MiB disk");
	snprintf(p, sizeof(p), "/sys/class/block/%s/size", d->name);
	printf("VRS-QMP resize-d0 {\"execute\":\"block_resize\",\"arguments\":"
	       "{\"device\":\"d0\",\"size\":25165824}}\n");
	fflush(stdout);
	t0 = now_s();
	do {
		usleep(100 * 1000);
		size = read_long(p);
	} while (size != 49152 && now_s() - t0 < 20);
	EXPECT_EQ(49152, size) TH_LOG("%s still %ld sectors", d->name, size);
	/* The new space is usable. */
	EXPECT_EQ(0, pat_fill(d->path, 24 * MIB, 77));
	EXPECT_EQ(0, verify_scattered(d->path, 24 * MIB, 77, 16));
}

/* Unbind while a reader streams: the reader ends with an error (no hang),
 * the device binds again with its data. */
TEST_F_TIMEOUT(blk, unbind_under_io, 300)
{
	struct disk after[MAX_DEVS], *d = NULL;
	char path[48];
	uint64_t seed = 0;
	pid_t pid;
	int st, n;

	/* A 16 MiB disk: the 8 MiB one was refilled by the resize test. */
	for (int i = 0; i < self->n && !d; i++)
		if (self->d[i].sectors == 32768) {
			d = &self->d[i];
			seed = 0x5eed0000 + i;
		}
	ASSERT_NE(NULL, d);
	snprintf(path, sizeof(path), "%s", d->path);
	pid = fork();
	if (!pid) {
		for (;;)
			if (verify_scattered(path, 2 * MIB, seed, 4))
				_exit(0);
	}
	usleep(300 * 1000);
	ASSERT_EQ(0, write_str("/sys/bus/virtio/drivers/" DRIVER "/unbind", d->v.name));
	for (int t = 0; t < 100 && waitpid(pid, &st, WNOHANG) == 0; t++)
		usleep(100 * 1000);
	if (waitpid(pid, &st, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		EXPECT_TRUE(0) TH_LOG("reader still running 10 s after unbind");
	}
	ASSERT_EQ(0, write_str("/sys/bus/virtio/drivers/" DRIVER "/bind", d->v.name));
	n = disks(after, MAX_DEVS);
	for (int i = 0; i < n; i++)
		if (!strcmp(after[i].v.name, d->v.name)) {
			EXPECT_STREQ(DRIVER, after[i].v.driver);
			EXPECT_EQ(0, verify_scattered(after[i].path, 2 * MIB, seed, 4))
				TH_LOG("%s after rebinding", after[i].name);
		}
}

/* The stock C driver reads what ours wrote, and ours what it wrote. */
TEST_F_TIMEOUT(blk, c_driver_agrees, 300)
{
	struct disk *d = &self->d[0];
	struct disk after[MAX_DEVS];
	char p[PATH_MAX], drv[64], vd[32] = "", vdpath[48];
	int n;

	ASSERT_GT(self->n, 0);
	ASSERT_EQ(0, run("modprobe virtio_blk"));
	ASSERT_EQ(0, pat_fill(d->path, 4 * MIB, 4242));
	ASSERT_EQ(0, write_str("/sys/bus/virtio/drivers/" DRIVER "/unbind", d->v.name));
	ASSERT_EQ(0, write_str("/sys/bus/virtio/drivers/virtio_blk/bind", d->v.name));
	snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/driver", d->v.name);
	link_name(p, drv, sizeof(drv));
	ASSERT_STREQ("virtio_blk", drv);
	ASSERT_EQ(0, child_of(&d->v, "block", vd, sizeof(vd)));
	snprintf(vdpath, sizeof(vdpath), "/dev/%s", vd);
	EXPECT_EQ(0, verify_scattered(vdpath, 4 * MIB, 4242, 8)) TH_LOG("C driver reads ours");
	ASSERT_EQ(0, pat_fill(vdpath, 4 * MIB, 4343));
	ASSERT_EQ(0, write_str("/sys/bus/virtio/drivers/virtio_blk/unbind", d->v.name));
	ASSERT_EQ(0, write_str("/sys/bus/virtio/drivers/" DRIVER "/bind", d->v.name));
	n = disks(after, MAX_DEVS);
	for (int i = 0; i < n; i++)
		if (!strcmp(after[i].v.name, d->v.name)) {
			EXPECT_STREQ(DRIVER, after[i].v.driver);
			EXPECT_EQ(0, verify_scattered(after[i].path, 4 * MIB, 4343, 8))
				TH_LOG("ours reads the C driver's");
		}
}

TEST_HARNESS_MAIN
