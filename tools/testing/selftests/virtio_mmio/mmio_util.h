/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the virtio_mmio selftests: finding the virtio devices
 * that sit on virtio_mmio_rs, their block/net/port nodes, feature bits,
 * debugfs counters, the kernel command line the conf passed, and
 * REQUIRE_DEVICES() (include kselftest_harness.h first to use it).
 */
#ifndef VRS_MMIO_UTIL_H
#define VRS_MMIO_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TRANSPORT "virtio_mmio_rs"
#define DEBUGFS_DIR "/sys/kernel/debug/" TRANSPORT

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

#define F_EVENT_IDX 29
#define F_VERSION_1 32
#define F_RING_PACKED 34
#define F_NOTIFICATION_DATA 38
#define F_RING_RESET 40

#define MAX_DEVS 16

/* Basename of the symlink at path into out ("" if none). */
static inline void link_name(const char *path, char *out, size_t n)
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

/* First line of a file, newline stripped; -1 if unreadable. */
static inline int read_line(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "r");

	out[0] = 0;
	if (!f)
		return -1;
	if (!fgets(out, n, f))
		out[0] = 0;
	fclose(f);
	out[strcspn(out, "\n")] = 0;
	return 0;
}

static inline long read_long(const char *path)
{
	char buf[64];

	if (read_line(path, buf, sizeof(buf)) || !buf[0])
		return -1;
	return strtol(buf, NULL, 0);
}

static inline int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t r;

	if (fd < 0)
		return -errno;
	r = write(fd, s, strlen(s));
	r = r < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* A virtio device on our transport. */
struct vdev {
	char name[32];	 /* virtioN */
	char pdev[64];	 /* the platform device under virtio_mmio_rs */
	char driver[32]; /* the virtio driver bound to it */
	char features[72];
};

/* The virtio devices of type @id on virtio_mmio_rs, sorted by name. */
static inline int find_vdevs(long id, struct vdev *out, int max)
{
	struct dirent **ents;
	int n, i, found = 0;

	n = scandir("/sys/bus/virtio/devices", &ents, NULL, versionsort);
	for (i = 0; i < n; i++) {
		char p[PATH_MAX], drv[64];
		struct vdev *v = &out[found];

		if (ents[i]->d_name[0] == '.' || found >= max)
			goto next;
		snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/device", ents[i]->d_name);
		if (read_long(p) != id)
			goto next;
		snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/../driver", ents[i]->d_name);
		link_name(p, drv, sizeof(drv));
		if (strcmp(drv, TRANSPORT))
			goto next;
		snprintf(v->name, sizeof(v->name), "%s", ents[i]->d_name);
		snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/..", ents[i]->d_name);
		{
			char real[PATH_MAX], *b;

			if (!realpath(p, real))
				goto next;
			b = strrchr(real, '/');
			snprintf(v->pdev, sizeof(v->pdev), "%s", b ? b + 1 : real);
		}
		snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/driver", ents[i]->d_name);
		link_name(p, v->driver, sizeof(v->driver));
		snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/features", ents[i]->d_name);
		read_line(p, v->features, sizeof(v->features));
		found++;
next:
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
	return found;
}

static inline int has_feature(const struct vdev *v, int bit)
{
	return (int)strlen(v->features) > bit && v->features[bit] == '1';
}

/* The first entry of /sys/bus/virtio/devices/<name>/<sub>/ ("vda", "eth0"). */
static inline int child_of(const struct vdev *v, const char *sub, char *out, size_t n)
{
	char p[PATH_MAX];
	struct dirent *e;
	DIR *d;

	out[0] = 0;
	snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/%s", v->name, sub);
	d = opendir(p);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && strlen(e->d_name) < n)
			memcpy(out, e->d_name, strlen(e->d_name) + 1);
	closedir(d);
	return out[0] ? 0 : -1;
}

/* Platform devices bound to virtio_mmio_rs. */
static inline int transport_devices(void)
{
	DIR *d = opendir("/sys/bus/platform/drivers/" TRANSPORT);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/bus/platform/drivers/" TRANSPORT "/%s/driver",
			 e->d_name);
		if (!lstat(p, &st))
			n++;
	}
	closedir(d);
	return n;
}

/* A counter from the device's debugfs file; -1 if absent. */
static inline long long stat_of(const char *pdev, const char *key)
{
	char p[PATH_MAX], line[512];
	long long v = -1;
	size_t kl = strlen(key);
	FILE *f;

	snprintf(p, sizeof(p), DEBUGFS_DIR "/%s", pdev);
	f = fopen(p, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = (long long)strtoull(line + kl + 1, NULL, 0);
	fclose(f);
	return v;
}

/* A "key: value" line of the device's debugfs file, as a string. */
static inline int stat_str(const char *pdev, const char *key, char *out, size_t n)
{
	char p[PATH_MAX], line[512];
	size_t kl = strlen(key);
	int ret = -1;
	FILE *f;

	snprintf(p, sizeof(p), DEBUGFS_DIR "/%s", pdev);
	f = fopen(p, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			char *v = line + kl + 1;

			while (*v == ' ')
				v++;
			v[strcspn(v, "\n")] = 0;
			snprintf(out, n, "%s", v);
			ret = 0;
		}
	fclose(f);
	return ret;
}

/* Notifications of queue @q (all queues: -1) from the device's debugfs
 * file; -1 if absent. */
static inline long long notifies_of(const char *pdev, int q)
{
	char p[PATH_MAX], line[512], *s;
	long long v = -1;
	FILE *f;

	snprintf(p, sizeof(p), DEBUGFS_DIR "/%s", pdev);
	f = fopen(p, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "notifications:", 14))
			continue;
		if (q < 0)
			v = 0;
		s = line + 14;
		while (*s) {
			char *end;
			long i = strtol(s, &end, 10);

			if (end == s || *end != ':')
				break;
			if (i == q || q < 0)
				v = (v < 0 ? 0 : v) + strtoll(end + 1, NULL, 10);
			strtoll(end + 1, &s, 10);
		}
	}
	fclose(f);
	return v;
}

/* The kernel log since boot. */
static inline char *klog(void)
{
	int n = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *b;

	if (n <= 0)
		return NULL;
	b = calloc(1, n + 1);
	if (b && klogctl(3 /* SYSLOG_ACTION_READ_ALL */, b, n) < 0) {
		free(b);
		return NULL;
	}
	return b;
}

/* A line of @log with both @a and @b. */
static inline int log_has(const char *log, const char *a, const char *b)
{
	const char *l = log;

	while (l && *l) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		const char *pa = memmem(l, len, a, strlen(a)), *pb = memmem(l, len, b, strlen(b));

		if (pa && pb)
			return 1;
		l = nl ? nl + 1 : NULL;
	}
	return 0;
}

/*
 * Like log_has(), but only lines logged above debug level: klogctl()
 * records start with "<N>", N & 7 == 7 is KERN_DEBUG (which a kernel
 * with Rust debug assertions, the debug kernel, prints for pr_debug!).
 */
static inline int log_has_above_debug(const char *log, const char *a, const char *b)
{
	const char *l = log;

	while (l && *l) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		int pri = -1;

		if (sscanf(l, "<%d>", &pri) != 1 || (pri & 7) != 7) {
			char line[1024];

			snprintf(line, sizeof(line), "%.*s", (int)len, l);
			if (log_has(line, a, b))
				return 1;
		}
		l = nl ? nl + 1 : NULL;
	}
	return 0;
}

/* The debug kernel (tools/testing/vm/debug-kernel): several times slower. */
static inline int debug_kernel(void)
{
	struct utsname u;

	return !uname(&u) && strstr(u.release, "-vrs-debug") != NULL;
}

/* The value of "key=" on /proc/cmdline into out; 0 if found. */
static inline int cmdline_arg(const char *key, char *out, size_t n)
{
	char buf[4096], *tok, *save;
	size_t kl = strlen(key);
	FILE *f = fopen("/proc/cmdline", "r");

	out[0] = 0;
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (!strncmp(tok, key, kl) && tok[kl] == '=') {
			snprintf(out, n, "%s", tok + kl + 1);
			return 0;
		}
	return -1;
}

/*
 * How many virtio devices the conf puts on this machine for the transport
 * (vrs.devices=N on the kernel command line, from the conf's
 * VM_EXPECT_DEVICES; see tools/testing/vm/vm.sh); 0 when it declares none.
 */
static inline int declared_devices(void)
{
	char buf[16];

	if (cmdline_arg("vrs.devices", buf, sizeof(buf)))
		return 0;
	return atoi(buf);
}

/*
 * For a test that needs devices bound to the transport: skip it on a
 * machine the conf gave none, fail it when the conf declares devices and
 * none is bound (a run with nothing bound is a failure, not a skip).
 * Uses the kselftest harness: only in a TEST() body.
 */
#define REQUIRE_DEVICES()                                                     \
	do {                                                                  \
		int __want = declared_devices();                              \
		if (transport_devices() > 0)                                  \
			break;                                                \
		ASSERT_EQ(0, __want)                                          \
			TH_LOG("the conf declares %d virtio device(s), "      \
			       "none is bound to " TRANSPORT, __want);        \
		SKIP(return, "no virtio-mmio devices on this machine");       \
	} while (0)

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

/* The position-addressable pattern: the 8-byte word at byte offset @off
 * (splitmix64 of the offset), so any block read back can be checked. */
static inline uint64_t pat_word(uint64_t off, uint64_t seed)
{
	uint64_t z = off + seed * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Whether @len bytes at @buf, read from byte offset @off, hold the pattern. */
static inline int pat_ok(const unsigned char *buf, size_t len, uint64_t off, uint64_t seed)
{
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t v = pat_word(off + i, seed);

		if (memcmp(buf + i, &v, 8))
			return 0;
	}
	return 1;
}

/* Write the pattern over [0, span) of @dev (O_DIRECT, then fsync). */
static inline int pat_fill(const char *dev, size_t span, uint64_t seed)
{
	const size_t chunk = 256 * 1024;
	unsigned char *w;
	size_t off, i;
	int fd, ret = 0;

	if (posix_memalign((void **)&w, 4096, chunk))
		return -ENOMEM;
	fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0) {
		free(w);
		return -errno;
	}
	for (off = 0; off < span && !ret; off += chunk) {
		for (i = 0; i < chunk; i += 8) {
			uint64_t v = pat_word(off + i, seed);

			memcpy(w + i, &v, 8);
		}
		if (pwrite(fd, w, chunk, off) != (ssize_t)chunk)
			ret = -errno ?: -EIO;
	}
	if (!ret && fsync(fd))
		ret = -errno;
	close(fd);
	free(w);
	return ret;
}

/* What a pattern reader saw. */
struct rd_result {
	int reads; /* reads that completed */
	int bad;   /* of those, with data not the pattern */
	int err;   /* errno of the read or open that ended it, 0 if it ran out of time */
};

/*
 * In a child: random 64 KiB O_DIRECT reads of [0, span) of @dev, each
 * checked against the pattern, until a read fails or @secs pass; writes
 * its rd_result to @wfd and exits.
 */
static inline void pat_reader(const char *dev, size_t span, uint64_t seed, double secs, int wfd)
{
	struct rd_result r = { 0, 0, 0 };
	struct timespec ts;
	unsigned char *buf;
	uint64_t s = seed | 1;
	double t0;
	int fd;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = ts.tv_sec + ts.tv_nsec / 1e9;
	if (posix_memalign((void **)&buf, 4096, 65536))
		_exit(1);
	fd = open(dev, O_RDONLY | O_DIRECT);
	if (fd < 0)
		r.err = errno;
	while (fd >= 0) {
		off_t off;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (ts.tv_sec + ts.tv_nsec / 1e9 - t0 > secs)
			break;
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		off = (s % (span / 65536)) * 65536;
		if (pread(fd, buf, 65536, off) != 65536) {
			r.err = errno ?: EIO;
			break;
		}
		r.reads++;
		r.bad += !pat_ok(buf, 65536, off, seed);
	}
	if (write(wfd, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	_exit(0);
}

/*
 * Write @total bytes of a seeded pattern to @dev (O_DIRECT) from @start,
 * read them back and compare. Returns 0, or a negative errno / -EILSEQ on
 * a mismatch; *wsum and *rsum get the FNV checksums of what was written
 * and what was read.
 */
static inline int blk_verify(const char *dev, off_t start, size_t total, uint64_t seed0,
			     uint64_t *wsum, uint64_t *rsum)
{
	const size_t chunk = 256 * 1024;
	unsigned char *w = NULL, *r = NULL;
	uint64_t seed = seed0;
	int fd, ret = 0;
	size_t off, i;

	*wsum = *rsum = 0;
	if (posix_memalign((void **)&w, 4096, chunk) || posix_memalign((void **)&r, 4096, chunk))
		return -ENOMEM;
	fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	for (off = 0; off < total; off += chunk) {
		for (i = 0; i < chunk; i += 8) {
			uint64_t v = xorshift(&seed);

			memcpy(w + i, &v, 8);
		}
		*wsum ^= fnv1a(w, chunk) + off;
		if (pwrite(fd, w, chunk, start + off) != (ssize_t)chunk) {
			ret = -errno ?: -EIO;
			goto close;
		}
	}
	if (fsync(fd)) {
		ret = -errno;
		goto close;
	}
	seed = seed0;
	for (off = 0; off < total; off += chunk) {
		if (pread(fd, r, chunk, start + off) != (ssize_t)chunk) {
			ret = -errno ?: -EIO;
			goto close;
		}
		for (i = 0; i < chunk; i += 8) {
			uint64_t v = xorshift(&seed);

			memcpy(w + i, &v, 8);
		}
		*rsum ^= fnv1a(r, chunk) + off;
		if (memcmp(w, r, chunk))
			ret = -EILSEQ;
	}
close:
	close(fd);
out:
	free(w);
	free(r);
	return ret;
}

/* This tree's @name.ko in the image. */
static inline int module_path_of(const char *name, char *out, size_t n)
{
	char line[PATH_MAX];
	FILE *f = fopen("/vrs/modules.list", "r");
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		const char *base = strrchr(line, '/') ? strrchr(line, '/') + 1 : line;

		if (!strncmp(base, name, strlen(name)) && !strcmp(base + strlen(name), ".ko")) {
			snprintf(out, n, "/vrs/modules/%s", line);
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

static inline int module_path(char *out, size_t n)
{
	return module_path_of(TRANSPORT, out, n);
}

/* The module's current device= parameters, as insmod arguments. */
static inline void current_params(char *out, size_t n)
{
	char buf[4096], *tok, *save;
	size_t len;
	int fd = open("/sys/module/" TRANSPORT "/parameters/device", O_RDONLY);
	ssize_t r = fd < 0 ? 0 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	buf[r > 0 ? r : 0] = 0;
	out[0] = 0;
	for (tok = strtok_r(buf, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
		len = strlen(out);
		snprintf(out + len, n - len, " device=%s", tok);
	}
}

static inline int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline int reload(const char *ko, const char *params)
{
	char cmd[8192];

	if (run("rmmod " TRANSPORT))
		return -1;
	snprintf(cmd, sizeof(cmd), "insmod %s%s", ko, params);
	return run(cmd) ? -2 : 0;
}

/* Wait until @count devices are bound to the transport. */
static inline int wait_bound(int count, double secs)
{
	double t0 = now_s();

	while (transport_devices() != count) {
		if (now_s() - t0 > secs)
			return -1;
		usleep(20 * 1000);
	}
	return 0;
}

/* The disk whose serial is @serial: its virtio device and /dev node. */
static inline int blk_by_serial(const char *serial, struct vdev *out, char *dev, size_t n)
{
	struct vdev v[MAX_DEVS];
	char p[PATH_MAX], got[64], b[32];
	int i, cnt = find_vdevs(VIRTIO_ID_BLOCK, v, MAX_DEVS);

	for (i = 0; i < cnt; i++) {
		if (child_of(&v[i], "block", b, sizeof(b)))
			continue;
		snprintf(p, sizeof(p), "/sys/class/block/%s/serial", b);
		if (read_line(p, got, sizeof(got)) || strcmp(got, serial))
			continue;
		*out = v[i];
		snprintf(dev, n, "/dev/%s", b);
		return 0;
	}
	return -1;
}

/* One queue of a device bound to a Rust driver on the Rust vring, from
 * the driver's debugfs counters (/sys/kernel/debug/<drv>/<virtioN>). */
struct ring_queue {
	long long added, kicks, suppressed, used, callbacks, reclaimed;
	int size, max;
};

/* The queues of @vdev: how many (at most @max in @q), or -1. */
static inline int ring_queues(const char *drv, const char *vdev, struct ring_queue *q, int max)
{
	char p[PATH_MAX], line[256];
	int n = 0;
	FILE *f;

	snprintf(p, sizeof(p), "/sys/kernel/debug/%s/%s", drv, vdev);
	f = fopen(p, "r");
	if (!f)
		return -1;
	while (n < max && fgets(line, sizeof(line), f)) {
		struct ring_queue *r = &q[n];
		int i;

		if (sscanf(line, "queue %d: added %lld kicks %lld kicks_suppressed %lld used %lld callbacks %lld reclaimed %lld size %d max %d",
			   &i, &r->added, &r->kicks, &r->suppressed, &r->used, &r->callbacks,
			   &r->reclaimed, &r->size, &r->max) == 9 && i == n)
			n++;
	}
	fclose(f);
	return n ? n : -1;
}

/* What the conf says the device does with QueueReset (vrs.qreset=):
 * 1 it resets the queue (the project's QEMU), 0 it offers
 * VIRTIO_F_RING_RESET but ignores the register (QEMU 10.0), -1 unsaid. */
static inline int qreset_works(void)
{
	char v[16];

	if (cmdline_arg("vrs.qreset", v, sizeof(v)))
		return -1;
	return !strcmp(v, "works") ? 1 : !strcmp(v, "broken") ? 0 : -1;
}

/* Write @what ("<queue> <entries>") to @vdev's resize file of @drv:
 * 0 or -errno. */
static inline int ring_resize(const char *drv, const char *vdev, const char *what)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "/sys/kernel/debug/%s/%s.resize", drv, vdev);
	return write_str(p, what);
}

/* As ring_resize(), queue @q to @size entries. */
static inline int ring_resize_to(const char *drv, const char *vdev, int q, int size)
{
	char what[32];

	snprintf(what, sizeof(what), "%d %d\n", q, size);
	return ring_resize(drv, vdev, what);
}

#endif
