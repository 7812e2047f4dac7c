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
 *    busy on it (every completed read checked against the disk's data),
 *    then bound again and verified;
 *  - rmmod/insmod 50 times with the devices in use by their drivers and a
 *    checking reader busy on a disk across each reload;
 *  - the two NICs unbound and bound 10 times under a frame flood in both
 *    directions;
 *  - a probe whose virtio registration fails (test_virtio_fail.ko) leaves
 *    the device bindable: the next bind succeeds.
 *
 * Runs after mmio_devices: it reloads the module, which renumbers devices.
 */
#include <sys/klog.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "mmio_util.h"
#include "net_util.h"

#define MAGIC 0x74726976 /* "virt" */

/* The tests that take longer than the harness's default 30 s. */
FIXTURE(slow) {};
FIXTURE_SETUP(slow) {}
FIXTURE_TEARDOWN(slow) {}

/* Fault injection: whatever the test's outcome, disarm and unload it, so
 * later registrations in this boot are not failed. */
FIXTURE(faultinj) {};
FIXTURE_SETUP(faultinj) {}
FIXTURE_TEARDOWN(faultinj)
{
	if (!access("/sys/module/test_virtio_fail", F_OK)) {
		int fd = open("/sys/module/test_virtio_fail/parameters/fail_register", O_WRONLY);

		if (fd >= 0) {
			(void)!write(fd, "0", 1);
			close(fd);
		}
		(void)!system("rmmod test_virtio_fail");
	}
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

	REQUIRE_DEVICES();
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
		{ MAGIC, 2, 0, NULL }, /* a placeholder: refused without a word */
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

		if (want)
			EXPECT_TRUE(log_has(log, TRANSPORT ".", want)) TH_LOG("no log line '%s'", want);
	}
	/*
	 * Spec 4.2.3.1.1: DeviceID 0 is not an error; virtio_mmio.c is silent
	 * (the driver says so at debug level only).
	 */
	EXPECT_FALSE(log_has_above_debug(log, TRANSPORT ".", "DeviceID 0"))
		TH_LOG("the empty slot was reported in the kernel log");
	free(log);
	/* Back to the boot's parameters: the crafted devices go away. */
	EXPECT_EQ(0, reload(ko, params));
	EXPECT_EQ(0, wait_bound(before, 10));
}

#define SPAN (4 << 20) /* bytes of pattern the readers check */

/* Start pat_reader() on @dev in a child; *rfd gets the result pipe. */
static pid_t start_reader(const char *dev, uint64_t seed, double secs, int *rfd)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		pat_reader(dev, SPAN, seed, secs, p[1]);
	}
	close(p[1]);
	*rfd = p[0];
	return pid;
}

/* Wait up to @secs for the reader; its result, or reads = -1 if it hung
 * (then it is killed) or died. */
static struct rd_result end_reader(pid_t pid, int rfd, double secs)
{
	struct rd_result r = { -1, 0, 0 };
	double t0 = now_s();
	int st;

	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now_s() - t0 > secs) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			close(rfd);
			return r;
		}
		usleep(20 * 1000);
	}
	if (read(rfd, &r, sizeof(r)) != sizeof(r))
		r.reads = -1;
	close(rfd);
	return r;
}

/* The block node of the disk on platform device @pdev, waiting up to
 * @secs for it to appear. */
static int disk_of(const char *pdev, char *dev, size_t n, double secs)
{
	struct vdev v[MAX_DEVS];
	double t0 = now_s();
	char b[32];

	do {
		int k = find_vdevs(VIRTIO_ID_BLOCK, v, MAX_DEVS), i;

		for (i = 0; i < k; i++)
			if (!strcmp(v[i].pdev, pdev) && !child_of(&v[i], "block", b, sizeof(b))) {
				snprintf(dev, n, "/dev/%s", b);
				return 0;
			}
		usleep(20 * 1000);
	} while (now_s() - t0 < secs);
	return -1;
}

/*
 * A disk unbound from the transport while a reader is busy on it: the
 * reader ends with an I/O error (or runs out its time), never hangs, and
 * every read that completed returned the data on the disk. The disk is
 * then bound again and works.
 */
TEST_F_TIMEOUT(slow, unbind_bind_under_io, 120)
{
	char dev[64], pdev[64], p[PATH_MAX];
	struct vdev v[MAX_DEVS];
	struct rd_result r, first;
	uint64_t ws, rs;
	pid_t pid;
	int rfd;

	REQUIRE_DEVICES();
	ASSERT_LT(0, find_vdevs(VIRTIO_ID_BLOCK, v, MAX_DEVS));
	snprintf(pdev, sizeof(pdev), "%s", v[0].pdev);
	ASSERT_EQ(0, disk_of(pdev, dev, sizeof(dev), 5));
	ASSERT_EQ(0, pat_fill(dev, SPAN, 11)) TH_LOG("%s", dev);

	pid = start_reader(dev, 11, 20, &rfd);
	ASSERT_LT(0, pid);
	usleep(300 * 1000);
	ASSERT_EQ(0, write_str("/sys/bus/platform/drivers/" TRANSPORT "/unbind", pdev))
		TH_LOG("unbind %s", pdev);
	r = end_reader(pid, rfd, 15);
	first = r;
	ASSERT_LE(0, r.reads) TH_LOG("reader still running 15 s after unbind");
	EXPECT_LT(0, r.reads) TH_LOG("the reader did no I/O before the unbind");
	EXPECT_EQ(0, r.bad) TH_LOG("%d of %d completed reads returned wrong data", r.bad, r.reads);
	EXPECT_NE(0, r.err) TH_LOG("the reader saw no error although its disk went away");
	snprintf(p, sizeof(p), "/sys/bus/platform/devices/%s/driver", pdev);
	EXPECT_NE(0, access(p, F_OK));

	ASSERT_EQ(0, write_str("/sys/bus/platform/drivers/" TRANSPORT "/bind", pdev))
		TH_LOG("bind %s", pdev);
	ASSERT_EQ(0, access(p, F_OK));
	/* The disk is back under a new virtio device, with its data. */
	ASSERT_EQ(0, disk_of(pdev, dev, sizeof(dev), 10)) TH_LOG("no disk on %s after bind", pdev);
	pid = start_reader(dev, 11, 1, &rfd);
	r = end_reader(pid, rfd, 15);
	EXPECT_LT(0, r.reads);
	EXPECT_EQ(0, r.bad) TH_LOG("data changed across unbind/bind");
	EXPECT_EQ(0, r.err) TH_LOG("read after bind: %s", strerror(r.err));
	ASSERT_EQ(0, blk_verify(dev, SPAN, 1024 * 1024, 42, &ws, &rs)) TH_LOG("%s", dev);
	EXPECT_EQ(ws, rs);
	TH_LOG("%s: %d verified reads, then %s; back as %s", pdev, first.reads,
	       strerror(first.err), dev);
}

/*
 * rmmod/insmod 50 times (10 on the debug kernel, several times slower),
 * each time with a reader busy on one of the disks:
 * the unload takes the disk away under it; the reader ends (error or
 * time), never hangs, and every read that completed returned the data on
 * the disk.
 */
TEST_F_TIMEOUT(slow, rmmod_insmod_repeated, 300)
{
	const int rounds = debug_kernel() ? 10 : 50;
	char ko[PATH_MAX], params[4096], dev[64], pdevs[MAX_DEVS][64];
	struct vdev v[MAX_DEVS];
	int before, i, n, reads = 0, errors = 0;
	uint64_t ws, rs;
	double t0 = now_s();

	REQUIRE_DEVICES();
	before = transport_devices();
	ASSERT_EQ(0, module_path(ko, sizeof(ko)));
	current_params(params, sizeof(params));
	n = find_vdevs(VIRTIO_ID_BLOCK, v, MAX_DEVS);
	ASSERT_LT(0, n);
	for (i = 0; i < n; i++) {
		snprintf(pdevs[i], sizeof(pdevs[i]), "%s", v[i].pdev);
		ASSERT_EQ(0, disk_of(pdevs[i], dev, sizeof(dev), 5));
		ASSERT_EQ(0, pat_fill(dev, SPAN, 21 + i)) TH_LOG("%s", dev);
	}
	for (i = 0; i < rounds; i++) {
		struct rd_result r;
		int d = i % n, rfd;
		pid_t pid;

		ASSERT_EQ(0, disk_of(pdevs[d], dev, sizeof(dev), 10)) TH_LOG("round %d", i);
		pid = start_reader(dev, 21 + d, 5, &rfd);
		ASSERT_LT(0, pid);
		usleep(50 * 1000);
		ASSERT_EQ(0, reload(ko, params)) TH_LOG("round %d", i);
		r = end_reader(pid, rfd, 15);
		ASSERT_LE(0, r.reads) TH_LOG("round %d: reader hung across the reload", i);
		ASSERT_EQ(0, r.bad) TH_LOG("round %d: %d reads returned wrong data", i, r.bad);
		reads += r.reads;
		errors += r.err != 0;
		ASSERT_EQ(0, wait_bound(before, 10)) TH_LOG("round %d: %d bound, want %d", i,
							   transport_devices(), before);
	}
	EXPECT_LT(0, reads) TH_LOG("no read completed in any round");
	EXPECT_LT(0, errors) TH_LOG("no reader ever saw its disk go away");
	/* Everything is back and works. */
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, disk_of(pdevs[i], dev, sizeof(dev), 10));
		ASSERT_EQ(0, blk_verify(dev, SPAN, 1024 * 1024, 7 + i, &ws, &rs)) TH_LOG("%s", dev);
		EXPECT_EQ(ws, rs);
	}
	EXPECT_LE(0, stat_of(pdevs[0], "interrupts")) TH_LOG("debugfs file missing after reload");
	TH_LOG("%d reloads with %d device(s) and a reader each in %.1f s: %d verified reads, %d cut off",
	       rounds, before, now_s() - t0, reads, errors);
}

/*
 * Frames flood both ways between the two NICs (two sender/receiver
 * children, reopening their sockets whenever the NICs come back) while the
 * NICs' transport devices are unbound and bound again 10 times: interrupts
 * arrive while queues are torn down and set up. Afterwards frames flow both
 * ways again, and the kernel log stays clean (checked by the runner).
 */
static int stopped(int stopfd)
{
	struct pollfd p = { .fd = stopfd, .events = POLLIN };

	return poll(&p, 1, 0) != 0;
}

/* Until @stopfd reads EOF (or 120 s): frames from NIC @k to the other one,
 * reading what the other flooder sends back; reopens both when the NICs
 * come back. Writes frames sent and received to @wfd. */
static void flooder(int k, int stopfd, int wfd)
{
	unsigned char out[1514], in[2048];
	long sent = 0, got = 0;
	double t0 = now_s();

	while (!stopped(stopfd) && now_s() - t0 < 120) {
		struct nic nics[2];
		int j;

		if (find_nics(nics) != 2) {
			usleep(20 * 1000);
			continue;
		}
		close(nics[1 - k].sock);
		for (j = 0; j < 1000000 && (j % 256 || !stopped(stopfd)); j++) {
			size_t len = 60 + (j * 97) % (1514 - 60 + 1);

			frame_fill(out, len, &nics[k], &nics[1 - k], j);
			if (send(nics[k].sock, out, len, MSG_DONTWAIT) == (ssize_t)len)
				sent++;
			else if (errno != EAGAIN && errno != ENOBUFS)
				break;
			while (recv(nics[k].sock, in, sizeof(in), MSG_DONTWAIT) > 0)
				got++;
		}
		close(nics[k].sock);
	}
	(void)!write(wfd, &sent, sizeof(sent));
	(void)!write(wfd, &got, sizeof(got));
	_exit(0);
}

TEST_F_TIMEOUT(slow, net_flood_while_rebinding, 300)
{
	const char *unbind = "/sys/bus/platform/drivers/" TRANSPORT "/unbind";
	const char *bind = "/sys/bus/platform/drivers/" TRANSPORT "/bind";
	struct vdev v[MAX_DEVS];
	char pdev[2][64], err[256];
	long sent[2] = { 0 }, got[2] = { 0 };
	struct nic nics[2];
	int p[2][2], stop[2], i, k;
	pid_t pid[2];
	double t1;

	REQUIRE_DEVICES();
	ASSERT_EQ(2, hub_net_vdevs(v, MAX_DEVS));
	for (k = 0; k < 2; k++)
		snprintf(pdev[k], sizeof(pdev[k]), "%s", v[k].pdev);
	ASSERT_EQ(0, pipe(stop));
	for (k = 0; k < 2; k++) {
		ASSERT_EQ(0, pipe(p[k]));
		pid[k] = fork();
		ASSERT_LE(0, pid[k]);
		if (!pid[k]) {
			close(stop[1]);
			flooder(k, stop[0], p[k][1]);
		}
		close(p[k][1]);
	}
	close(stop[0]);
	usleep(500 * 1000);
	for (i = 0; i < 10; i++) {
		for (k = 0; k < 2; k++)
			ASSERT_EQ(0, write_str(unbind, pdev[k])) TH_LOG("round %d: unbind %s", i, pdev[k]);
		usleep(100 * 1000);
		for (k = 0; k < 2; k++)
			ASSERT_EQ(0, write_str(bind, pdev[k])) TH_LOG("round %d: bind %s", i, pdev[k]);
		/* Until both NICs are back, then let the flood run a little. */
		t1 = now_s();
		while (hub_net_vdevs(v, MAX_DEVS) != 2 ||
		       child_of(&v[0], "net", err, sizeof(err)) || child_of(&v[1], "net", err, sizeof(err))) {
			ASSERT_GT(10, now_s() - t1) TH_LOG("round %d: NICs not back", i);
			usleep(20 * 1000);
		}
		usleep(500 * 1000);
	}
	close(stop[1]);
	for (k = 0; k < 2; k++) {
		int st;

		waitpid(pid[k], &st, 0);
		EXPECT_EQ((ssize_t)sizeof(long), read(p[k][0], &sent[k], sizeof(long)));
		EXPECT_EQ((ssize_t)sizeof(long), read(p[k][0], &got[k], sizeof(long)));
		close(p[k][0]);
	}
	EXPECT_LT(0, sent[0] + sent[1]) TH_LOG("the flood sent nothing");
	EXPECT_LT(0, got[0] + got[1]) TH_LOG("the flood received nothing");
	/* Traffic flows both ways again, frame for frame. */
	ASSERT_EQ(2, find_nics(nics));
	EXPECT_EQ(100, frames_between(&nics[0], &nics[1], 100, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_EQ(100, frames_between(&nics[1], &nics[0], 100, err, sizeof(err))) TH_LOG("%s", err);
	close(nics[0].sock);
	close(nics[1].sock);
	TH_LOG("10 unbind/bind rounds under a flood: sent %ld/%ld, received %ld/%ld frames",
	       sent[0], sent[1], got[0], got[1]);
}

/* The transport device of the first virtio device with id @id. */
static int pdev_of(long id, char *out, size_t n)
{
	struct vdev v[MAX_DEVS];

	if (find_vdevs(id, v, MAX_DEVS) < 1)
		return -1;
	snprintf(out, n, "%s", v[0].pdev);
	return 0;
}

TEST_F(faultinj, failed_registration_leaves_device_bindable)
{
	char ko[PATH_MAX], cmd[PATH_MAX + 16], pdev[64], p[PATH_MAX], drv[64];
	const char *bind = "/sys/bus/platform/drivers/" TRANSPORT "/bind";
	const char *fail = "/sys/module/test_virtio_fail/parameters/fail_register";
	double t0;
	int r;

	REQUIRE_DEVICES();
	ASSERT_EQ(0, module_path_of("test_virtio_fail", ko, sizeof(ko)));
	snprintf(cmd, sizeof(cmd), "insmod %s", ko);
	ASSERT_EQ(0, run(cmd));
	ASSERT_EQ(0, pdev_of(VIRTIO_ID_RNG, pdev, sizeof(pdev)));
	ASSERT_EQ(0, write_str("/sys/bus/platform/drivers/" TRANSPORT "/unbind", pdev));

	/* The registration fails: so does the bind, with the core's error. */
	ASSERT_EQ(0, write_str(fail, "1"));
	r = write_str(bind, pdev);
	EXPECT_EQ(-ENOMEM, r) TH_LOG("bind: %d, not the registration's -ENOMEM", r);
	EXPECT_EQ(1, read_long("/sys/module/test_virtio_fail/parameters/failed"));
	snprintf(p, sizeof(p), "/sys/bus/platform/devices/%s/driver", pdev);
	EXPECT_NE(0, access(p, F_OK));

	/* Nothing of the failed probe remains: the next bind works. */
	r = write_str(bind, pdev);
	ASSERT_EQ(0, r) TH_LOG("second bind: %s", strerror(-r));
	t0 = now_s();
	while (pdev_of(VIRTIO_ID_RNG, drv, sizeof(drv)) && now_s() - t0 < 10)
		usleep(20 * 1000);
	EXPECT_STREQ(pdev, drv);
}

TEST_HARNESS_MAIN
