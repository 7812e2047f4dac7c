// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_mmio_rs coming and going, and refusing what is not a device:
 *
 *  - a system sleep cycle (suspend-to-idle, pm_test=devices): every
 *    device with a driver is frozen and restored (its queues set up
 *    again), and the disks still read back what is written;
 *  - three device= regions crafted in an ivshmem BAR (bad magic, bad
 *    version, DeviceID 0) are refused, each with its log line;
 *  - a disk unbound from the transport through sysfs while a reader is
 *    busy on it, then bound again and verified;
 *  - rmmod/insmod 50 times with the devices in use by their drivers.
 *
 * Runs after mmio_devices: it reloads the module, which renumbers devices.
 */
#include <sys/klog.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "mmio_util.h"

#define MAGIC 0x74726976 /* "virt" */

/* This tree's virtio_mmio_rs.ko in the image. */
static int module_path(char *out, size_t n)
{
	char line[PATH_MAX];
	FILE *f = fopen("/vrs/modules.list", "r");
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!strcmp(strrchr(line, '/') ? strrchr(line, '/') + 1 : line, TRANSPORT ".ko")) {
			snprintf(out, n, "/vrs/modules/%s", line);
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

/* The module's current device= parameters, as insmod arguments. */
static void current_params(char *out, size_t n)
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

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int reload(const char *ko, const char *params)
{
	char cmd[8192];

	if (run("rmmod " TRANSPORT))
		return -1;
	snprintf(cmd, sizeof(cmd), "insmod %s%s", ko, params);
	return run(cmd) ? -2 : 0;
}

/* Wait until @count devices are bound to the transport. */
static int wait_bound(int count, double secs)
{
	double t0 = now_s();

	while (transport_devices() != count) {
		if (now_s() - t0 > secs)
			return -1;
		usleep(20 * 1000);
	}
	return 0;
}

/* The first ivshmem-plain device's BAR 2 start and size. */
static int ivshmem_bar(char *pci, size_t n, unsigned long long *base, unsigned long long *size)
{
	struct dirent *e;
	DIR *d = opendir("/sys/bus/pci/devices");
	int ret = -1;

	if (!d)
		return -1;
	while (ret && (e = readdir(d))) {
		char p[PATH_MAX], line[256];
		unsigned long long s, end, fl;
		FILE *f;
		int i;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/vendor", e->d_name);
		if (read_long(p) != 0x1af4)
			continue;
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/device", e->d_name);
		if (read_long(p) != 0x1110)
			continue;
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/resource", e->d_name);
		f = fopen(p, "r");
		if (!f)
			continue;
		for (i = 0; i <= 2 && fgets(line, sizeof(line), f); i++)
			;
		fclose(f);
		if (i == 3 && sscanf(line, "%llx %llx %llx", &s, &end, &fl) == 3 && s) {
			*base = s;
			*size = end - s + 1;
			snprintf(pci, n, "%s", e->d_name);
			ret = 0;
		}
	}
	closedir(d);
	return ret;
}

TEST(system_sleep_cycle)
{
	struct vdev v[MAX_DEVS];
	long long before[MAX_DEVS], after;
	char dev[64], b[32];
	uint64_t ws, rs;
	int n, i;

	if (transport_devices() <= 0)
		SKIP(return, "no virtio-mmio devices on this machine");
	if (access("/sys/power/pm_test", W_OK))
		SKIP(return, "no /sys/power/pm_test (CONFIG_PM_DEBUG)");
	n = find_vdevs(VIRTIO_ID_BLOCK, v, MAX_DEVS);
	ASSERT_LT(0, n);
	for (i = 0; i < n; i++) {
		before[i] = stat_of(v[i].pdev, "queue_setups");
		ASSERT_LT(0, before[i]) TH_LOG("%s", v[i].pdev);
	}
	write_str("/sys/module/suspend/parameters/pm_test_delay", "0");
	ASSERT_EQ(0, write_str("/sys/power/pm_test", "devices"));
	/* Devices suspend (freeze), then resume (restore); no firmware step. */
	EXPECT_EQ(0, write_str("/sys/power/state", "freeze")) TH_LOG("%s", strerror(errno));
	write_str("/sys/power/pm_test", "none");
	for (i = 0; i < n; i++) {
		after = stat_of(v[i].pdev, "queue_setups");
		EXPECT_EQ(before[i] + 1, after) TH_LOG("%s: queues not set up again", v[i].pdev);
		ASSERT_EQ(0, child_of(&v[i], "block", b, sizeof(b)));
		snprintf(dev, sizeof(dev), "/dev/%s", b);
		ASSERT_EQ(0, blk_verify(dev, 2 * 1024 * 1024, 1024 * 1024, 99 + i, &ws, &rs))
			TH_LOG("%s after resume", dev);
		EXPECT_EQ(ws, rs);
	}
	TH_LOG("%d disk(s) frozen, restored and verified", n);
}

TEST(refuse_bad_regions)
{
	static const struct {
		uint32_t magic, version, id;
		const char *log;
	} bad[] = {
		{ 0x12345678, 2, 2, "Wrong magic value 0x12345678" },
		{ MAGIC, 3, 2, "Version 3 not supported" },
		{ MAGIC, 2, 0, "no device (DeviceID 0)" },
	};
	unsigned long long base, size;
	char pci[64], p[PATH_MAX], ko[PATH_MAX], params[4096], args[1024], all[8192], *log;
	int fd, before, i;
	volatile uint32_t *m;

	if (ivshmem_bar(pci, sizeof(pci), &base, &size))
		SKIP(return, "no ivshmem-plain device to craft regions in");
	ASSERT_LE(0x4000ULL, size);
	ASSERT_EQ(0, module_path(ko, sizeof(ko)));
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/enable", pci);
	write_str(p, "1");
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/resource2", pci);
	fd = open(p, O_RDWR | O_SYNC);
	ASSERT_GE(fd, 0) TH_LOG("open %s: %s", p, strerror(errno));
	m = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	args[0] = 0;
	for (i = 0; i < 3; i++) {
		volatile uint32_t *r = m + i * 0x1000 / 4;
		size_t len = strlen(args);

		r[0] = bad[i].magic;
		r[1] = bad[i].version;
		r[2] = bad[i].id;
		ASSERT_EQ(bad[i].magic, r[0]);
		snprintf(args + len, sizeof(args) - len, " device=0x200@0x%llx:1",
			 base + i * 0x1000);
	}
	munmap((void *)m, 0x4000);
	close(fd);

	before = transport_devices();
	current_params(params, sizeof(params));
	snprintf(all, sizeof(all), "%s%s", params, args);
	ASSERT_EQ(0, reload(ko, all)) TH_LOG("insmod%s", all);
	/* The good devices are back, the crafted ones are not bound. */
	EXPECT_EQ(0, wait_bound(before, 10)) TH_LOG("%d bound, %d before", transport_devices(), before);
	log = klog();
	ASSERT_NE(NULL, log);
	for (i = 0; i < 3; i++) {
		const char *want = bad[i].log;

		EXPECT_TRUE(log_has(log, TRANSPORT ".", want)) TH_LOG("no log line '%s'", want);
	}
	free(log);
	/* Back to the boot's parameters: the crafted devices go away. */
	EXPECT_EQ(0, reload(ko, params));
	EXPECT_EQ(0, wait_bound(before, 10));
}

/* A reader busy on @dev until it gets an error or @secs pass; exits with
 * the number of reads done (capped at 255). */
static void reader(const char *dev, double secs)
{
	unsigned char *buf;
	uint64_t s = 1;
	int fd, n = 0;
	double t0 = now_s();

	if (posix_memalign((void **)&buf, 4096, 65536))
		_exit(0);
	fd = open(dev, O_RDONLY | O_DIRECT);
	if (fd < 0)
		_exit(0);
	while (now_s() - t0 < secs) {
		off_t off = (xorshift(&s) % 256) * 65536;

		if (pread(fd, buf, 65536, off) != 65536)
			break;
		n++;
	}
	_exit(n > 255 ? 255 : n);
}

TEST(unbind_bind_under_io)
{
	char dev[64], pdev[64], b[32], p[PATH_MAX];
	struct vdev v[MAX_DEVS];
	uint64_t ws, rs;
	double t0;
	pid_t pid;
	int st = 0, reads;

	if (transport_devices() <= 0)
		SKIP(return, "no virtio-mmio devices on this machine");
	ASSERT_LT(0, find_vdevs(VIRTIO_ID_BLOCK, v, MAX_DEVS));
	ASSERT_EQ(0, child_of(&v[0], "block", b, sizeof(b)));
	snprintf(dev, sizeof(dev), "/dev/%s", b);
	snprintf(pdev, sizeof(pdev), "%s", v[0].pdev);

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		reader(dev, 20);
	usleep(300 * 1000);
	ASSERT_EQ(0, write_str("/sys/bus/platform/drivers/" TRANSPORT "/unbind", pdev))
		TH_LOG("unbind %s", pdev);
	/* The reader gets an error (the disk is gone) instead of hanging. */
	t0 = now_s();
	while (waitpid(pid, &st, WNOHANG) == 0 && now_s() - t0 < 15)
		usleep(50 * 1000);
	if (now_s() - t0 >= 15) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		ASSERT_TRUE(0) TH_LOG("reader still running 15 s after unbind");
	}
	reads = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	EXPECT_LT(0, reads) TH_LOG("the reader did no I/O before the unbind");
	snprintf(p, sizeof(p), "/sys/bus/platform/devices/%s/driver", pdev);
	EXPECT_NE(0, access(p, F_OK));

	ASSERT_EQ(0, write_str("/sys/bus/platform/drivers/" TRANSPORT "/bind", pdev))
		TH_LOG("bind %s", pdev);
	ASSERT_EQ(0, access(p, F_OK));
	/* The disk is back under a new virtio device. */
	t0 = now_s();
	while (now_s() - t0 < 10) {
		int n = find_vdevs(VIRTIO_ID_BLOCK, v, MAX_DEVS), i;

		for (i = 0; i < n; i++)
			if (!strcmp(v[i].pdev, pdev) && !child_of(&v[i], "block", b, sizeof(b)))
				goto found;
		usleep(50 * 1000);
	}
	ASSERT_TRUE(0) TH_LOG("no disk on %s after bind", pdev);
found:
	snprintf(dev, sizeof(dev), "/dev/%s", b);
	ASSERT_EQ(0, blk_verify(dev, 0, 1024 * 1024, 42, &ws, &rs)) TH_LOG("%s", dev);
	EXPECT_EQ(ws, rs);
	TH_LOG("%s: %d reads before unbind; back as %s and verified", pdev, reads, dev);
}

TEST(rmmod_insmod_50_times)
{
	char ko[PATH_MAX], params[4096], dev[64], b[32];
	struct vdev v[MAX_DEVS];
	int before, i, n;
	uint64_t ws, rs;
	double t0 = now_s();

	before = transport_devices();
	if (before <= 0)
		SKIP(return, "no virtio-mmio devices on this machine");
	ASSERT_EQ(0, module_path(ko, sizeof(ko)));
	current_params(params, sizeof(params));
	for (i = 0; i < 50; i++) {
		ASSERT_EQ(0, reload(ko, params)) TH_LOG("round %d", i);
		ASSERT_EQ(0, wait_bound(before, 10)) TH_LOG("round %d: %d bound, want %d", i,
							   transport_devices(), before);
	}
	/* Everything is back and works. */
	n = find_vdevs(VIRTIO_ID_BLOCK, v, MAX_DEVS);
	ASSERT_LT(0, n);
	for (i = 0; i < n; i++) {
		double t1 = now_s();

		while (child_of(&v[i], "block", b, sizeof(b)) && now_s() - t1 < 5)
			usleep(20 * 1000);
		ASSERT_EQ(0, child_of(&v[i], "block", b, sizeof(b)));
		snprintf(dev, sizeof(dev), "/dev/%s", b);
		ASSERT_EQ(0, blk_verify(dev, 0, 1024 * 1024, 7 + i, &ws, &rs)) TH_LOG("%s", dev);
		EXPECT_EQ(ws, rs);
	}
	EXPECT_LE(0, stat_of(v[0].pdev, "interrupts")) TH_LOG("debugfs file missing after reload");
	TH_LOG("50 reloads with %d device(s) in %.1f s", before, now_s() - t0);
}

TEST_HARNESS_MAIN
