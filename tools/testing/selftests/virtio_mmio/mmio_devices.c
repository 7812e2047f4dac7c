// SPDX-License-Identifier: GPL-2.0
/*
 * QEMU's virtio-mmio devices through virtio_mmio_rs, driven by the kernel's
 * own virtio drivers (Debian's virtio_blk, virtio_net, virtio_rng and the
 * built-in virtio_console):
 *
 *  - which driver bound where, and the negotiated features of each block
 *    device against the matrix the conf asked for (vrs.blk= on the kernel
 *    command line: one "m<0|1>p<0|1>e<0|1>" per disk, in order, which is
 *    also the disk's serial: modern, packed ring, event index);
 *  - data written to every disk and read back, random bytes from
 *    /dev/hwrng, Ethernet frames between two NICs on one QEMU hub, bytes
 *    through two virtio-serial ports joined by a socket;
 *  - the transport features (notification data, queue reset) negotiated
 *    exactly where offered;
 *  - a queue reset (ring resize) where the device offers it;
 *  - the debugfs counters against /proc/interrupts;
 *  - a config-change interrupt: the host resizes the first disk over QMP.
 */
#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "kselftest_harness.h"
#include "mmio_util.h"
#include "net_util.h"

/* Every device the conf declares is bound; none declared: skip. */
TEST(transport_bound_devices)
{
	int n = transport_devices(), want = declared_devices();

	ASSERT_GE(n, 0) TH_LOG(TRANSPORT " is not a registered platform driver");
	REQUIRE_DEVICES();
	if (want)
		EXPECT_EQ(want, n) TH_LOG("%d device(s) bound to " TRANSPORT ", the conf declares %d",
					  n, want);
	TH_LOG("%d device(s) bound to " TRANSPORT, n);
}

TEST(drivers_bound)
{
	static const struct { long id; const char *drv; } want[] = {
		{ VIRTIO_ID_BLOCK, "virtio_blk" },
		{ VIRTIO_ID_RNG, "virtio_rng" },
		{ VIRTIO_ID_NET, "virtio_net" },
		{ VIRTIO_ID_CONSOLE, "virtio_console" },
	};
	struct vdev v[MAX_DEVS];
	size_t i;
	int n, j;

	REQUIRE_DEVICES();
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		n = find_vdevs(want[i].id, v, MAX_DEVS);
		EXPECT_LT(0, n) TH_LOG("no device of type %ld on " TRANSPORT, want[i].id);
		for (j = 0; j < n; j++)
			EXPECT_STREQ(want[i].drv, v[j].driver) TH_LOG("%s", v[j].name);
	}
}

/* VIRTIO_F_NOTIFICATION_DATA and VIRTIO_F_RING_RESET are transport
 * features the vring core filters or keeps for the transport: each must be
 * negotiated exactly when a version 2 device offers it (device_features in
 * debugfs). With vrs.ndata=on the conf runs the project's QEMU with
 * -global virtio-mmio.notification-data=on: every device must then offer
 * and negotiate it, so every data test of this file writes notification
 * data to QueueNotify (a wrong value makes QEMU see the wrong number of
 * buffers). */
TEST(transport_features_negotiated)
{
	static const long ids[] = { VIRTIO_ID_NET, VIRTIO_ID_BLOCK, VIRTIO_ID_CONSOLE, VIRTIO_ID_RNG };
	static const int bits[] = { F_NOTIFICATION_DATA, F_RING_RESET };
	struct vdev v[MAX_DEVS];
	int total = 0, ndata = 0, n, i, j, b;
	char want[8];

	REQUIRE_DEVICES();
	cmdline_arg("vrs.ndata", want, sizeof(want));
	for (i = 0; i < (int)(sizeof(ids) / sizeof(ids[0])); i++) {
		n = find_vdevs(ids[i], v, MAX_DEVS);
		for (j = 0; j < n; j++) {
			long long offered = stat_of(v[j].pdev, "device_features");
			int modern = has_feature(&v[j], F_VERSION_1);

			ASSERT_NE(-1, offered) TH_LOG("no device_features for %s", v[j].pdev);
			for (b = 0; b < 2; b++) {
				int off = (unsigned long long)offered >> bits[b] & 1;

				EXPECT_EQ(modern && off, has_feature(&v[j], bits[b]))
					TH_LOG("%s (%s): feature %d offered %d, modern %d, negotiated %d",
					       v[j].name, v[j].driver, bits[b], off, modern,
					       has_feature(&v[j], bits[b]));
			}
			ndata += has_feature(&v[j], F_NOTIFICATION_DATA);
			total++;
		}
	}
	TH_LOG("%d of %d devices with VIRTIO_F_NOTIFICATION_DATA", ndata, total);
	if (!strcmp(want, "on"))
		EXPECT_EQ(total, ndata);
}

/* The disk node of a virtio block device ("/dev/vda"). */
static int blk_node(const struct vdev *v, char *dev, size_t n)
{
	char b[32];

	if (child_of(v, "block", b, sizeof(b)))
		return -1;
	snprintf(dev, n, "/dev/%s", b);
	return 0;
}


TEST(blk_feature_matrix)
{
	char want[256], *tok, *save, dev[64];
	struct vdev v[MAX_DEVS], d;
	int n, i = 0;

	REQUIRE_DEVICES();
	if (cmdline_arg("vrs.blk", want, sizeof(want)))
		SKIP(return, "the conf declares no disk matrix (vrs.blk=)");
	n = find_vdevs(VIRTIO_ID_BLOCK, v, MAX_DEVS);
	for (tok = strtok_r(want, ",", &save); tok; tok = strtok_r(NULL, ",", &save), i++) {
		int m, pk, e;

		ASSERT_EQ(3, sscanf(tok, "m%dp%de%d", &m, &pk, &e)) TH_LOG("bad vrs.blk entry %s", tok);
		ASSERT_EQ(0, blk_by_serial(tok, &d, dev, sizeof(dev))) TH_LOG("no disk %s", tok);
		EXPECT_EQ(m, has_feature(&d, F_VERSION_1)) TH_LOG("%s VERSION_1", tok);
		EXPECT_EQ(pk, has_feature(&d, F_RING_PACKED)) TH_LOG("%s RING_PACKED", tok);
		EXPECT_EQ(e, has_feature(&d, F_EVENT_IDX)) TH_LOG("%s EVENT_IDX", tok);
		TH_LOG("%s on %s (%s): features %s", tok, d.pdev, dev, d.features);
	}
	EXPECT_EQ(i, n) TH_LOG("%d disks, the conf declared %d", n, i);
}

TEST(blk_write_read_verify)
{
	struct vdev v[MAX_DEVS];
	char dev[64], p[PATH_MAX];
	uint64_t ws, rs;
	int n, i;

	REQUIRE_DEVICES();
	n = find_vdevs(VIRTIO_ID_BLOCK, v, MAX_DEVS);
	ASSERT_LT(0, n);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, blk_node(&v[i], dev, sizeof(dev)));
		snprintf(p, sizeof(p), "/sys/class/block/%s/size", dev + 5);
		ASSERT_EQ(16 * 1024 * 1024 / 512, read_long(p));
		/* A different pattern per disk, at a different offset. */
		ASSERT_EQ(0, blk_verify(dev, i * 1024 * 1024, 4 * 1024 * 1024,
					0x9e3779b97f4a7c15ull + i, &ws, &rs))
			TH_LOG("%s", dev);
		EXPECT_EQ(ws, rs);
		TH_LOG("%s (%s): 4 MiB written and read back, fnv %016llx", dev, v[i].pdev,
		       (unsigned long long)rs);
	}
}

TEST(rng_bytes_through_hwrng)
{
	unsigned char a[256], b[256];
	char cur[64];
	int fd, zero = 1;
	size_t i;

	REQUIRE_DEVICES();
	ASSERT_EQ(0, read_line("/sys/class/misc/hw_random/rng_current", cur, sizeof(cur)));
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

/* ------------------------------------------------------------------ net */

TEST(net_frames_between_two_nics)
{
	struct nic nics[2];
	char err[256];
	int n;

	REQUIRE_DEVICES();
	n = find_nics(nics);
	ASSERT_EQ(2, n) TH_LOG("need two virtio-net devices on " TRANSPORT);
	EXPECT_EQ(300, frames_between(&nics[0], &nics[1], 300, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_EQ(300, frames_between(&nics[1], &nics[0], 300, err, sizeof(err))) TH_LOG("%s", err);
	close(nics[0].sock);
	close(nics[1].sock);
}

/* Queue reset: ETHTOOL_SRINGPARAM makes virtio_net resize its rings with
 * virtqueue_resize(), i.e. the transport's per-queue reset (QueueReset).
 * The conf says with vrs.qreset= what the device does with the register:
 *   works:  it resets the queue; the rings take the new size;
 *   broken: it offers VIRTIO_F_RING_RESET but ignores QueueReset (QEMU
 *           10.0's virtio-mmio): the transport sees the queue still ready,
 *           refuses with EIO and a log line, and the ring keeps its size.
 * Either way no frame is lost: traffic then flows both ways. */
TEST(net_queue_reset_resize)
{
	struct ethtool_ringparam rp = { .cmd = ETHTOOL_GRINGPARAM }, before;
	struct vdev v[MAX_DEVS];
	struct ifreq ifr = {};
	struct nic nics[2];
	char err[256], expect[16], *log;
	long long offered, resets;
	int n, s, r, e;

	REQUIRE_DEVICES();
	n = hub_net_vdevs(v, MAX_DEVS);
	ASSERT_LE(2, n);
	if (!has_feature(&v[1], F_VERSION_1))
		SKIP(return, "legacy (version 1) device: no QueueReset register");
	offered = stat_of(v[1].pdev, "device_features");
	ASSERT_NE(-1, offered) TH_LOG("no device_features in debugfs for %s", v[1].pdev);
	if (!((unsigned long long)offered >> F_RING_RESET & 1))
		SKIP(return, "the device does not offer VIRTIO_F_RING_RESET");
	ASSERT_TRUE(has_feature(&v[1], F_RING_RESET))
		TH_LOG("%s offers VIRTIO_F_RING_RESET (%#llx) but it was not negotiated",
		       v[1].name, offered);
	cmdline_arg("vrs.qreset", expect, sizeof(expect));
	ASSERT_TRUE(!strcmp(expect, "works") || !strcmp(expect, "broken"))
		TH_LOG("the conf must say vrs.qreset=works or vrs.qreset=broken");

	ASSERT_EQ(2, find_nics(nics));
	s = socket(AF_INET, SOCK_DGRAM, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", nics[1].ifname);
	ifr.ifr_data = (void *)&rp;
	ASSERT_EQ(0, ioctl(s, SIOCETHTOOL, &ifr)) TH_LOG("%s", strerror(errno));
	before = rp;
	TH_LOG("%s rx %u/%u tx %u/%u, device QueueReset %s", nics[1].ifname, rp.rx_pending,
	       rp.rx_max_pending, rp.tx_pending, rp.tx_max_pending, expect);
	rp.cmd = ETHTOOL_SRINGPARAM;
	rp.rx_pending = rp.rx_max_pending / 2;
	rp.tx_pending = rp.tx_max_pending / 2;
	resets = stat_of(v[1].pdev, "queue_resets");
	r = ioctl(s, SIOCETHTOOL, &ifr);
	e = errno;
	rp.cmd = ETHTOOL_GRINGPARAM;
	ASSERT_EQ(0, ioctl(s, SIOCETHTOOL, &ifr));
	if (!strcmp(expect, "works")) {
		EXPECT_EQ(0, r) TH_LOG("resize: %s", strerror(e));
		EXPECT_EQ(before.rx_max_pending / 2, rp.rx_pending);
		EXPECT_EQ(before.tx_max_pending / 2, rp.tx_pending);
		/* One rx and one tx queue, each reset through QueueReset. */
		EXPECT_EQ(resets + 2, stat_of(v[1].pdev, "queue_resets"));
	} else {
		EXPECT_EQ(-1, r);
		EXPECT_EQ(EIO, e) TH_LOG("resize: %s", strerror(e));
		EXPECT_EQ(before.rx_pending, rp.rx_pending);
		EXPECT_EQ(before.tx_pending, rp.tx_pending);
		EXPECT_EQ(resets, stat_of(v[1].pdev, "queue_resets"));
		log = klog();
		EXPECT_TRUE(log && log_has(log, v[1].pdev, "not reset: still ready after QueueReset"))
			TH_LOG("no refusal line for %s in the kernel log", v[1].pdev);
		free(log);
	}
	EXPECT_EQ(300, frames_between(&nics[0], &nics[1], 300, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_EQ(300, frames_between(&nics[1], &nics[0], 300, err, sizeof(err))) TH_LOG("%s", err);
	if (!strcmp(expect, "works")) {
		/* Back to the full size: a second reset of the same queues. */
		rp = before;
		rp.cmd = ETHTOOL_SRINGPARAM;
		EXPECT_EQ(0, ioctl(s, SIOCETHTOOL, &ifr)) TH_LOG("resize back: %s", strerror(errno));
		rp.cmd = ETHTOOL_GRINGPARAM;
		ASSERT_EQ(0, ioctl(s, SIOCETHTOOL, &ifr));
		EXPECT_EQ(before.rx_pending, rp.rx_pending);
		EXPECT_EQ(before.tx_pending, rp.tx_pending);
		EXPECT_EQ(300, frames_between(&nics[0], &nics[1], 300, err, sizeof(err))) TH_LOG("%s", err);
		EXPECT_EQ(300, frames_between(&nics[1], &nics[0], 300, err, sizeof(err))) TH_LOG("%s", err);
	}
	close(s);
	close(nics[0].sock);
	close(nics[1].sock);
}

/* -------------------------------------------------------------- console */

/* The /dev node of the virtio-serial port named @name on our transport. */
static int port_node(const char *name, char *dev, size_t n)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int ret = -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char p[PATH_MAX], got[64], drv[64];

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", e->d_name);
		if (read_line(p, got, sizeof(got)) || strcmp(got, name))
			continue;
		/* .../virtioN/virtio-ports/vportNpM: the transport is virtioN's parent */
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/device/../driver", e->d_name);
		link_name(p, drv, sizeof(drv));
		if (strcmp(drv, TRANSPORT))
			continue;
		snprintf(dev, n, "/dev/%s", e->d_name);
		ret = 0;
	}
	closedir(d);
	return ret;
}

/* Chunks from @a to @b, each read back before the next is written. */
static int port_roundtrip(int a, int b, int chunks, uint32_t salt)
{
	unsigned char out[1024], in[1024];
	int c;
	size_t i;

	for (c = 0; c < chunks; c++) {
		size_t got = 0;

		for (i = 0; i < sizeof(out); i++)
			out[i] = (unsigned char)((c + salt) * 131 + i * 7);
		if (write(a, out, sizeof(out)) != (ssize_t)sizeof(out))
			return -errno ?: -EIO;
		while (got < sizeof(in)) {
			struct pollfd pfd = { .fd = b, .events = POLLIN };
			ssize_t r;

			if (poll(&pfd, 1, 5000) != 1)
				return -ETIMEDOUT;
			r = read(b, in + got, sizeof(in) - got);
			if (r <= 0)
				return r < 0 ? -errno : -EIO;
			got += r;
		}
		if (memcmp(in, out, sizeof(in)))
			return -EILSEQ;
	}
	return 0;
}

TEST(console_port_roundtrip)
{
	char pa[64], pb[64];
	int a, b;

	REQUIRE_DEVICES();
	ASSERT_EQ(0, port_node("vrs.a", pa, sizeof(pa))) TH_LOG("no port vrs.a on " TRANSPORT);
	ASSERT_EQ(0, port_node("vrs.b", pb, sizeof(pb))) TH_LOG("no port vrs.b on " TRANSPORT);
	a = open(pa, O_RDWR);
	b = open(pb, O_RDWR);
	ASSERT_GE(a, 0) TH_LOG("open %s: %s", pa, strerror(errno));
	ASSERT_GE(b, 0) TH_LOG("open %s: %s", pb, strerror(errno));
	/* 64 KiB each way, through QEMU's socket chardev pair. */
	EXPECT_EQ(0, port_roundtrip(a, b, 64, 1));
	EXPECT_EQ(0, port_roundtrip(b, a, 64, 2));
	TH_LOG("%s <-> %s: 64 KiB each way", pa, pb);
	close(a);
	close(b);
}

/* ------------------------------------------------------------- counters */

/*
 * The interrupts counted in /proc/interrupts on the line(s) whose action
 * is named @name (the transport names its interrupt after the virtio
 * device, as virtio_mmio.c does); -1 if no line has that name.
 */
/* Interrupts on the /proc/interrupts lines named @name, or, if @name ends
 * in '-', on every line whose name starts with it (a device's MSI vectors:
 * "<device>-config", "<device>-<queue>"). */
static long long proc_interrupts(const char *name)
{
	size_t nl = strlen(name);
	int prefix = nl && name[nl - 1] == '-';
	long long total = -1;
	char line[1024];
	FILE *f = fopen("/proc/interrupts", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *s = strchr(line, ':'), *end, *tok, *save;
		unsigned long long sum = 0, v;
		int named = 0;

		if (!s)
			continue;
		s++;
		/* one count per CPU, then the chip, hwirq, trigger and names */
		while ((v = strtoull(s, &end, 10)), end != s) {
			sum += v;
			s = end;
		}
		for (tok = strtok_r(s, " ,\n", &save); tok; tok = strtok_r(NULL, " ,\n", &save))
			named |= prefix ? !strncmp(tok, name, nl) : !strcmp(tok, name);
		if (named)
			total = (total < 0 ? 0 : total) + sum;
	}
	fclose(f);
	return total;
}

TEST(counters_in_debugfs)
{
	unsigned long long proc_all = 0, ours = 0;
	struct vdev v[MAX_DEVS];
	long ids[] = { VIRTIO_ID_NET, VIRTIO_ID_BLOCK, VIRTIO_ID_CONSOLE, VIRTIO_ID_RNG };
	int n, i;
	size_t k;

	REQUIRE_DEVICES();
	for (k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
		/* (A multiqueue NIC on a tap, vrs.netmq=, has its own test.) */
		n = ids[k] == VIRTIO_ID_NET ? hub_net_vdevs(v, MAX_DEVS) : find_vdevs(ids[k], v, MAX_DEVS);
		for (i = 0; i < n; i++) {
			long long irqs = stat_of(v[i].pdev, "interrupts");
			char mode[32], vecs[80];
			long long proc;

			/* Wired: one line named after the virtio device; MSI: one
			 * per vector, named after the transport device. */
			snprintf(vecs, sizeof(vecs), "%s-", v[i].pdev);
			if (stat_str(v[i].pdev, "irq_mode", mode, sizeof(mode)) || strncmp(mode, "msi", 3))
				proc = proc_interrupts(v[i].name);
			else
				proc = proc_interrupts(vecs);

			ASSERT_LE(0, irqs) TH_LOG("no " DEBUGFS_DIR "/%s", v[i].pdev);
			EXPECT_EQ(ids[k], stat_of(v[i].pdev, "device_id"));
			EXPECT_EQ(has_feature(&v[i], F_VERSION_1) ? 2 : 1,
				  stat_of(v[i].pdev, "version"));
			/* Every device here has done I/O by now. */
			EXPECT_LT(0, irqs) TH_LOG("%s: no interrupts", v[i].pdev);
			EXPECT_LT(0, notifies_of(v[i].pdev, -1)) TH_LOG("%s: no notifications", v[i].pdev);
			/* Its interrupt is named after it in /proc/interrupts, and
			 * debugfs counts those that had work: no more than /proc. */
			ASSERT_LE(0, proc) TH_LOG("no line named %s in /proc/interrupts", v[i].name);
			EXPECT_LE(irqs, proc) TH_LOG("%s", v[i].name);
			ours += irqs;
			proc_all += proc;
		}
	}
	EXPECT_LT(0ULL, ours);
	TH_LOG("%llu interrupts with work (debugfs), %llu on the devices' lines", ours, proc_all);
}

/* -------------------------------------------------------- config change */

TEST(config_change_on_resize)
{
	char dev[64], p[PATH_MAX], flag[8], want[256];
	long long before, after;
	struct vdev d;
	double t0;
	long size;

	REQUIRE_DEVICES();
	if (cmdline_arg("vrs.qmp", flag, sizeof(flag)))
		SKIP(return, "no QMP helper in this boot (vrs.qmp=)");
	/* Drive d0 is the first disk of vrs.blk=. */
	ASSERT_EQ(0, cmdline_arg("vrs.blk", want, sizeof(want)));
	want[strcspn(want, ",")] = 0;
	ASSERT_EQ(0, blk_by_serial(want, &d, dev, sizeof(dev)));
	snprintf(p, sizeof(p), "/sys/class/block/%s/size", dev + 5);
	ASSERT_EQ(32768, read_long(p));
	before = stat_of(d.pdev, "config_changes");
	ASSERT_LE(0, before);
	printf("VRS-QMP resize-d0 {\"execute\":\"block_resize\",\"arguments\":"
	       "{\"device\":\"d0\",\"size\":33554432}}\n");
	fflush(stdout);
	t0 = now_s();
	do {
		usleep(100 * 1000);
		size = read_long(p);
	} while (size != 65536 && now_s() - t0 < 20);
	after = stat_of(d.pdev, "config_changes");
	EXPECT_EQ(65536, size) TH_LOG("%s still %ld sectors", dev, size);
	EXPECT_LT(before, after) TH_LOG("no config interrupt counted");
	TH_LOG("%s (%s): resized to %ld sectors after %.1f s, config interrupts %lld -> %lld",
	       dev, want, size, now_s() - t0, before, after);
}

TEST_HARNESS_MAIN
