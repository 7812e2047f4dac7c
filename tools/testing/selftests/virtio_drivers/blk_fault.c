// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_blk_rs against a misbehaving device: QEMU's virtio-blk-device with
 * the project's test-only "x-fault" property (tools/qemu/patches/0004),
 * armed over QMP while the disk is in use (see vm.fault.conf).
 *
 * Each case takes one disk (disk i is (4 + i) MiB; QEMU id "f<i>"), arms
 * one fault and shows that the ring's hardening catches it and that it
 * reaches the block layer as an I/O error, not a crash or a hang:
 *
 * - before the fault, written data reads back;
 * - the fault ends an I/O with EIO within seconds, and every later I/O,
 *   on every CPU (hardware queue), fails at once with EIO;
 * - the driver reset the device (status 0) and its debugfs counters name
 *   the queue that caught the fault;
 * - the kernel log has exactly one line about it, from the device,
 *   naming the fault the ring found;
 * - (two of the faults) a system sleep cycle (pm_test=devices) revives
 *   the disk without rebinding: restore resets the device and restarts
 *   its queues;
 * - unbinding the device does not hang; bound again (the device is reset
 *   and the fault was one-shot), the disk reads back what was written
 *   before the fault.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "../virtio_mmio/mmio_util.h"

#define DRIVER "virtio_blk_rs"
#define MIB (1024 * 1024)
/* What the test writes before the fault and finds again after rebinding. */
#define SPAN (1 * MIB)

/* Disk @idx of vm.fault.conf: its virtio device and /dev node. */
static int fault_disk(int idx, struct vdev *v, char *path, size_t n)
{
	struct vdev all[MAX_DEVS];
	int cnt = find_vdevs(VIRTIO_ID_BLOCK, all, MAX_DEVS);

	for (int i = 0; i < cnt; i++) {
		char name[32] = "", p[PATH_MAX];

		if (child_of(&all[i], "block", name, sizeof(name)))
			continue;
		snprintf(p, sizeof(p), "/sys/class/block/%s/size", name);
		if (read_long(p) != (4 + idx) * 2048L)
			continue;
		*v = all[i];
		snprintf(path, n, "/dev/%s", name);
		return 0;
	}
	return -1;
}

/* One 4 KiB O_DIRECT write + read back of block @blk (pattern @seed):
 * 0, or the errno of the first operation that failed (EILSEQ: bad data). */
static int io_once(const char *path, unsigned int blk, uint64_t seed)
{
	unsigned char *b;
	off_t off = (off_t)blk * 4096;
	int fd, ret = 0;

	if (posix_memalign((void **)&b, 4096, 4096))
		return ENOMEM;
	fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		free(b);
		return errno;
	}
	for (int i = 0; i < 4096; i += 8) {
		uint64_t w = pat_word(off + i, seed);

		memcpy(b + i, &w, 8);
	}
	if (pwrite(fd, b, 4096, off) != 4096)
		ret = errno ?: EIO;
	memset(b, 0, 4096);
	if (!ret && pread(fd, b, 4096, off) != 4096)
		ret = errno ?: EIO;
	if (!ret && !pat_ok(b, 4096, off, seed))
		ret = EILSEQ;
	close(fd);
	free(b);
	return ret;
}

/* 0 if [0, @span) of @path reads back as the pattern @seed. */
static int pat_check(const char *path, size_t span, uint64_t seed)
{
	const size_t chunk = 64 * 1024;
	unsigned char *b;
	int fd, ret = 0;

	if (posix_memalign((void **)&b, 4096, chunk))
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		free(b);
		return -errno;
	}
	for (size_t off = 0; off < span && !ret; off += chunk) {
		if (pread(fd, b, chunk, off) != (ssize_t)chunk)
			ret = -(errno ?: EIO);
		else if (!pat_ok(b, chunk, off, seed))
			ret = -EILSEQ;
	}
	close(fd);
	free(b);
	return ret;
}

/* The exit status of child @pid, or ETIMEDOUT if it runs over @secs (a
 * child stuck in the kernel cannot die: it is sent SIGKILL and left). */
static int wait_child(pid_t pid, double secs)
{
	double t0 = now_s();
	int st;

	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now_s() - t0 > secs) {
			kill(pid, SIGKILL);
			return ETIMEDOUT;
		}
		usleep(10 * 1000);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : EINTR;
}

/* io_once() of block @blk on CPU @cpu, in a child that may take at most
 * @secs (ETIMEDOUT: a request that never ends). */
static int io_on_cpu(const char *path, int cpu, unsigned int blk, uint64_t seed, double secs)
{
	pid_t pid = fork();

	if (!pid) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			_exit(200);
		_exit(io_once(path, blk, seed));
	}
	return wait_child(pid, secs);
}

/* Write @val to sysfs @attr in a child; ETIMEDOUT if it takes over @secs. */
static int write_str_timed(const char *attr, const char *val, double secs)
{
	pid_t pid = fork();
	int r;

	if (!pid)
		_exit(write_str(attr, val) ? 1 : 0);
	r = wait_child(pid, secs);
	return r == 0 || r == ETIMEDOUT ? r : EIO;
}

/* Lines of the kernel log with both @a and @b; the last one in @line. */
static int log_count(const char *a, const char *b, char *line, size_t n)
{
	char *log = klog(), *l = log;
	int cnt = 0;

	while (l && *l) {
		char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);

		if (memmem(l, len, a, strlen(a)) && memmem(l, len, b, strlen(b))) {
			cnt++;
			snprintf(line, n, "%.*s", (int)len, l);
		}
		l = nl ? nl + 1 : NULL;
	}
	free(log);
	return cnt;
}

FIXTURE(fault) {
	struct vdev v;
	char path[48];
};

FIXTURE_VARIANT(fault) {
	int disk;		/* index in vm.fault.conf */
	int packed;		/* its ring format */
	const char *mode;	/* x-fault value */
	const char *found;	/* what the ring reports (Fault variant) */
	int sleep;		/* a system sleep cycle revives the disk */
};

FIXTURE_VARIANT_ADD(fault, split_used_id_out_of_range) {
	.disk = 0, .packed = 0, .mode = "id-range", .found = "UsedIdOutOfRange",
};
FIXTURE_VARIANT_ADD(fault, split_used_id_not_in_flight) {
	.disk = 1, .packed = 0, .mode = "id-idle", .found = "UsedIdNotInFlight",
};
FIXTURE_VARIANT_ADD(fault, split_used_len_too_large) {
	.disk = 2, .packed = 0, .mode = "len", .found = "UsedLenTooLarge",
};
FIXTURE_VARIANT_ADD(fault, split_used_index_jump) {
	.disk = 3, .packed = 0, .mode = "idx-jump", .found = "IndexJump", .sleep = 1,
};
FIXTURE_VARIANT_ADD(fault, packed_used_id_out_of_range) {
	.disk = 4, .packed = 1, .mode = "id-range", .found = "UsedIdOutOfRange",
};
FIXTURE_VARIANT_ADD(fault, packed_used_id_not_in_flight) {
	.disk = 5, .packed = 1, .mode = "id-idle", .found = "UsedIdNotInFlight",
};
FIXTURE_VARIANT_ADD(fault, packed_used_len_too_large) {
	.disk = 6, .packed = 1, .mode = "len", .found = "UsedLenTooLarge",
};
FIXTURE_VARIANT_ADD(fault, packed_wrap_counter_multiqueue) {
	.disk = 7, .packed = 1, .mode = "wrap", .found = "WrapCounter", .sleep = 1,
};

FIXTURE_SETUP(fault)
{
	char flag[8];

	if (cmdline_arg("vrs.qmp", flag, sizeof(flag)))
		SKIP(return, "no QMP helper in this boot (vrs.qmp=)");
	ASSERT_EQ(0, fault_disk(variant->disk, &self->v, self->path, sizeof(self->path)))
		TH_LOG("no disk of %d MiB", 4 + variant->disk);
	ASSERT_STREQ(DRIVER, self->v.driver) TH_LOG("%s", self->v.name);
	ASSERT_EQ(variant->packed, has_feature(&self->v, F_RING_PACKED)) TH_LOG("%s", self->v.name);
}

FIXTURE_TEARDOWN(fault)
{
}

TEST_F_TIMEOUT(fault, io_error_one_line_rebind, 300)
{
	uint64_t seed = 0xfa170000 + variant->disk;
	char who[40], line[512] = "", attr[PATH_MAX];
	int ncpu = sysconf(_SC_NPROCESSORS_ONLN), err = 0, before;
	unsigned int blk = 0, ok = 0;
	struct vdev again;
	char path[48];
	double t0;

	/* Log lines of this device: "virtio_blk_rs virtioN: ...". */
	snprintf(who, sizeof(who), "%s: ", self->v.name);
	before = log_count(who, "misbehaved", line, sizeof(line));
	ASSERT_EQ(0, before) TH_LOG("%s faulted before the test: %s", self->v.name, line);
	ASSERT_EQ(0, pat_fill(self->path, SPAN, seed));

	/* Arm the fault; I/O until it hits (the helper's QMP is asynchronous). */
	printf("VRS-QMP fault-f%d {\"execute\":\"qom-set\",\"arguments\":"
	       "{\"path\":\"/machine/peripheral/f%d\",\"property\":\"x-fault\",\"value\":\"%s\"}}\n",
	       variant->disk, variant->disk, variant->mode);
	fflush(stdout);
	t0 = now_s();
	while (!err && now_s() - t0 < 30) {
		/* Blocks past SPAN: what was written before stays the pattern. */
		err = io_on_cpu(self->path, blk % ncpu, SPAN / 4096 + blk % 64, seed, 20);
		blk++;
		ok += !err;
	}
	ASSERT_EQ(EIO, err) TH_LOG("%s: %u I/Os ok, then %s after %.1f s", self->v.name, ok,
				   err ? strerror(err) : "no error", now_s() - t0);
	ksft_print_msg("%s: fault '%s' hit after %u good I/Os (%.1f s)\n", self->v.name,
		       variant->mode, ok, now_s() - t0);

	/* Failed for good, on every hardware queue, at once. */
	for (int c = 0; c < ncpu; c++) {
		double t1 = now_s();

		EXPECT_EQ(EIO, io_on_cpu(self->path, c, SPAN / 4096, seed, 10)) TH_LOG("CPU %d", c);
		EXPECT_LT(now_s() - t1, 5.0) TH_LOG("CPU %d: EIO took %.1f s", c, now_s() - t1);
	}

	/* The driver reset the device (its status reads 0) and its counters
	 * name the queue that caught the fault. */
	snprintf(attr, sizeof(attr), "/sys/bus/virtio/devices/%s/status", self->v.name);
	EXPECT_EQ(0, read_long(attr)) TH_LOG("%s: device status after the fault", self->v.name);
	snprintf(attr, sizeof(attr), "/sys/kernel/debug/" DRIVER "/%s", self->v.name);
	{
		char buf[1024] = "";
		FILE *f = fopen(attr, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		if (f)
			fclose(f);
		buf[n] = 0;
		EXPECT_NE(NULL, strstr(buf, "fault: queue ")) TH_LOG("%s: %s", attr, buf);
	}

	/* One line, naming what the ring found. */
	EXPECT_EQ(1, log_count(who, "misbehaved", line, sizeof(line)))
		TH_LOG("last: %s", line);
	EXPECT_NE(NULL, strstr(line, variant->found)) TH_LOG("%s", line);
	ksft_print_msg("%s\n", strchr(line, '>') ? strchr(line, '>') + 1 : line);

	/*
	 * A system sleep cycle (pm_test=devices) resets the device and
	 * restarts its queues: the disk works again without rebinding, with
	 * its data, and its counters no longer name a fault.
	 */
	if (variant->sleep && !access("/sys/power/pm_test", W_OK)) {
		char buf[1024] = "";
		FILE *f;
		size_t n;

		write_str("/sys/module/suspend/parameters/pm_test_delay", "0");
		ASSERT_EQ(0, write_str("/sys/power/pm_test", "devices"));
		EXPECT_EQ(0, write_str("/sys/power/state", "freeze")) TH_LOG("%s", strerror(errno));
		write_str("/sys/power/pm_test", "none");
		EXPECT_EQ(0, pat_check(self->path, SPAN, seed)) TH_LOG("%s after the sleep", self->path);
		for (int c = 0; c < ncpu; c++) {
			EXPECT_EQ(0, io_on_cpu(self->path, c, SPAN / 4096 + c, seed, 10))
				TH_LOG("CPU %d after the sleep", c);
		}
		snprintf(attr, sizeof(attr), "/sys/kernel/debug/" DRIVER "/%s", self->v.name);
		f = fopen(attr, "r");
		n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = 0;
		EXPECT_NE(NULL, strstr(buf, "fault: none")) TH_LOG("%s: %s", attr, buf);
		ksft_print_msg("%s: working again after a sleep cycle, without rebinding\n",
			       self->v.name);
	}

	/* Unbind does not hang; bound again, the disk has its data. */
	snprintf(attr, sizeof(attr), "/sys/bus/virtio/drivers/%s/unbind", DRIVER);
	ASSERT_EQ(0, write_str_timed(attr, self->v.name, 30)) TH_LOG("unbind %s", self->v.name);
	snprintf(attr, sizeof(attr), "/sys/bus/virtio/drivers/%s/bind", DRIVER);
	ASSERT_EQ(0, write_str_timed(attr, self->v.name, 30)) TH_LOG("bind %s", self->v.name);
	ASSERT_EQ(0, fault_disk(variant->disk, &again, path, sizeof(path)));
	EXPECT_STREQ(DRIVER, again.driver);
	EXPECT_EQ(0, pat_check(path, SPAN, seed)) TH_LOG("%s after rebinding", path);
	EXPECT_EQ(0, io_once(path, SPAN / 4096, seed)) TH_LOG("%s after rebinding", path);
}

TEST_HARNESS_MAIN
