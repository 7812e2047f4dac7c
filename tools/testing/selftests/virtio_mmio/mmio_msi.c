// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-mmio MSI (Documentation/virtio/mmio-msi.rst) with virtio_mmio_rs on
 * the project's QEMU (tools/qemu/patches/0003-*): arm64 virt with a GICv3
 * ITS, where the transport gets vectors from the platform MSI domain, and
 * machines where it must fall back to the wired interrupt.
 *
 * The boot says what to expect on the kernel command line:
 *   vrs.msi=<id>:<mode>,...   the irq_mode (debugfs) of each bound device
 *                             type: per-queue, shared or wired
 *   vrs.msiwhy=<text>         the reason the transport logs when MSI is
 *                             offered but not used (wired boots)
 *   vrs.msivec=<n>            the devices' MsiVecNum (msi-vectors=)
 *   vrs.mq=<serial>,...       the multiqueue disks
 *   vrs.netmq=<mac>,<ip>,<host ip>:<port>
 *                             the multiqueue NIC (on a multiqueue tap), the
 *                             address it gets, and the host's echo server
 *                             (tools/testing/vm/net_echo.py)
 *
 * Some cases read and write the transport's registers through /dev/mem
 * (iomem=relaxed), which is how they watch the device model's state and
 * mask a vector behind the driver's back.
 */
#include <ctype.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/mman.h>
#include "kselftest_harness.h"
#include "mmio_util.h"
#include "net_util.h"
#include <linux/virtio_mmio_msi.h>

#define STATUS 0x070
#define QUEUE_SEL 0x030
#define QUEUE_NUM 0x038
#define QUEUE_READY 0x044
#define QUEUE_RESET 0x0c0
#define INTERRUPT_STATUS 0x060
#define DRIVER_FEATURES 0x020
#define DRIVER_FEATURES_SEL 0x024
#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8

FIXTURE(slow) {};
FIXTURE_SETUP(slow) {}
FIXTURE_TEARDOWN(slow) {}

/* The expected irq_mode of device type @id ("" if the boot says nothing). */
static const char *want_mode(long id, char *buf, size_t n)
{
	char all[256], *tok, *save;

	buf[0] = 0;
	if (cmdline_arg("vrs.msi", all, sizeof(all)))
		return buf;
	for (tok = strtok_r(all, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (atol(tok) == id && strchr(tok, ':'))
			snprintf(buf, n, "%s", strchr(tok, ':') + 1);
	return buf;
}

/* Interrupts on MSI vector @vec of the device (debugfs); -1 if none. */
static long long vector_count(const char *pdev, int vec)
{
	char line[512], *s;
	long long v = -1;

	if (stat_str(pdev, "vector_interrupts", line, sizeof(line)))
		return -1;
	for (s = line; *s;) {
		char *end;
		long i = strtol(s, &end, 10);

		if (end == s || *end != ':')
			break;
		if (i == vec)
			v = strtoll(end + 1, NULL, 10);
		strtoll(end + 1, &s, 10);
	}
	return v;
}

/* Vectors in use (entries of vector_interrupts). */
static int vector_total(const char *pdev)
{
	char line[512];
	int n = 0;

	if (stat_str(pdev, "vector_interrupts", line, sizeof(line)))
		return -1;
	for (char *s = line; (s = strchr(s, ':')); s++)
		n++;
	return n;
}

/*
 * The /proc/interrupts line named @name: its irq number, and the count on
 * each CPU in @per_cpu (up to @ncpu). -1 if there is none.
 */
static int proc_irq(const char *name, long long *per_cpu, int ncpu)
{
	char line[2048];
	int irq = -1, cpus = 0;
	FILE *f = fopen("/proc/interrupts", "r");

	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f))
		for (char *s = line; (s = strstr(s, "CPU")); s += 3)
			cpus++;
	while (fgets(line, sizeof(line), f)) {
		char *end, *s;
		size_t nl = strlen(name);
		long n = strtol(line, &end, 10);

		line[strcspn(line, "\n")] = 0;
		if (end == line || *end != ':')
			continue;
		s = line + strlen(line);
		while (s > line && !isspace((unsigned char)s[-1]))
			s--;
		if (strcmp(s, name) || strlen(s) != nl)
			continue;
		irq = n;
		s = end + 1;
		for (int c = 0; c < cpus; c++) {
			long long v = strtoll(s, &end, 10);

			if (c < ncpu && per_cpu)
				per_cpu[c] = v;
			s = end;
		}
	}
	fclose(f);
	return irq;
}

/* Lines of /proc/interrupts whose name starts with "<pdev>-". */
static int proc_vectors(const char *pdev)
{
	char line[2048], pre[80];
	int n = 0;
	FILE *f = fopen("/proc/interrupts", "r");

	if (!f)
		return -1;
	snprintf(pre, sizeof(pre), " %s-", pdev);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, pre))
			n++;
	fclose(f);
	return n;
}

/* Entries in /sys/kernel/irq: allocated interrupt descriptors. */
static int irq_descs(void)
{
	DIR *d = opendir("/sys/kernel/irq");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* "0-1,3" style list, normalised through a bitmask of CPUs 0..63. */
static unsigned long long cpu_list(const char *s)
{
	unsigned long long m = 0;

	while (*s) {
		char *end;
		long a = strtol(s, &end, 10), b = a;

		if (end == s)
			break;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && c < 64; c++)
			m |= 1ULL << c;
		s = *end == ',' ? end + 1 : end;
	}
	return m;
}

static unsigned long long cpu_list_file(const char *path)
{
	char buf[256];

	if (read_line(path, buf, sizeof(buf)))
		return 0;
	return cpu_list(buf);
}

/* The transport's registers through /dev/mem. */
struct regs {
	volatile uint32_t *base;
	void *map;
	size_t len;
};

/* The start of the memory region the transport claimed for @pdev
 * (/proc/iomem names it after the device); 0 if not found. */
static unsigned long long pdev_base(const char *pdev)
{
	char line[256], want[80];
	unsigned long long base = 0;
	FILE *f = fopen("/proc/iomem", "r");

	if (!f)
		return 0;
	snprintf(want, sizeof(want), " : %s\n", pdev);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, want))
			base = strtoull(line + strspn(line, " "), NULL, 16);
	fclose(f);
	return base;
}

static int regs_map(const char *pdev, struct regs *r)
{
	unsigned long long phys = pdev_base(pdev);
	long pg = sysconf(_SC_PAGESIZE);
	unsigned long long start = phys & ~(unsigned long long)(pg - 1);
	int fd = open("/dev/mem", O_RDWR | O_SYNC);

	if (fd < 0 || !phys) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	r->len = pg;
	r->map = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, start);
	close(fd);
	if (r->map == MAP_FAILED)
		return -1;
	r->base = (volatile uint32_t *)((char *)r->map + (phys - start));
	return 0;
}

/* As a long long, so that it compares with any constant without casts. */
static long long rd(struct regs *r, unsigned int off)
{
	return r->base[off / 4];
}

static void wr(struct regs *r, unsigned int off, uint32_t v)
{
	r->base[off / 4] = v;
}

/*
 * The debug kernel is built without /dev/mem (tools/testing/vm/debug-kernel):
 * the register-level cases skip there; the stock kernels have it and must
 * run them.
 */
#define NEED_DEVMEM()                                                          \
	do {                                                                   \
		if (access("/dev/mem", F_OK) && debug_kernel())                \
			SKIP(return, "no /dev/mem on the debug kernel");       \
	} while (0)

static int ncpus(void)
{
	return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

/* Every bound device uses the interrupt mode the boot expects. */
TEST(irq_mode_as_configured)
{
	static const long ids[] = { VIRTIO_ID_NET, VIRTIO_ID_BLOCK, VIRTIO_ID_CONSOLE,
				    VIRTIO_ID_RNG };
	char want[32], got[32], why[128], *log;
	struct vdev v[MAX_DEVS];
	int checked = 0;

	REQUIRE_DEVICES();
	for (unsigned int k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
		int n = find_vdevs(ids[k], v, MAX_DEVS);

		want_mode(ids[k], want, sizeof(want));
		if (!want[0])
			continue;
		for (int i = 0; i < n; i++) {
			ASSERT_EQ(0, stat_str(v[i].pdev, "irq_mode", got, sizeof(got)));
			EXPECT_STREQ(want, got) TH_LOG("%s (%s, type %ld)", v[i].pdev, v[i].driver,
						       ids[k]);
			checked++;
		}
	}
	ASSERT_LT(0, checked) TH_LOG("vrs.msi= names no bound device");
	if (!cmdline_arg("vrs.msiwhy", why, sizeof(why))) {
		int bound = transport_devices();

		for (char *s = why; *s; s++)
			if (*s == '_')
				*s = ' ';
		/* The runner clears the log between tests: probe one device
		 * (the rng) again so that the transport says it once more. */
		ASSERT_LT(0, find_vdevs(VIRTIO_ID_RNG, v, MAX_DEVS));
		ASSERT_EQ(0, write_str("/sys/bus/platform/drivers/" TRANSPORT "/unbind", v[0].pdev));
		ASSERT_EQ(0, write_str("/sys/bus/platform/drivers/" TRANSPORT "/bind", v[0].pdev));
		ASSERT_EQ(0, wait_bound(bound, 10));
		log = klog();
		ASSERT_NE(NULL, log);
		EXPECT_TRUE(log_has(log, "using the wired interrupt", why))
			TH_LOG("no log line saying MSI is not used because \"%s\"", why);
		free(log);
	}
	TH_LOG("%d device(s) in the expected mode", checked);
}

/*
 * Each MSI device has its vectors in /proc/interrupts, named
 * <device>-config and <device>-<queue>, as many as debugfs counts; a
 * per-queue disk has one per request queue.
 */
TEST(vectors_named_in_proc_interrupts)
{
	static const long ids[] = { VIRTIO_ID_NET, VIRTIO_ID_BLOCK, VIRTIO_ID_CONSOLE,
				    VIRTIO_ID_RNG };
	struct vdev v[MAX_DEVS];
	char mode[32], name[128], all[256];
	int msi = 0;

	REQUIRE_DEVICES();
	for (unsigned int k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
		int n = find_vdevs(ids[k], v, MAX_DEVS);

		for (int i = 0; i < n; i++) {
			ASSERT_EQ(0, stat_str(v[i].pdev, "irq_mode", mode, sizeof(mode)));
			if (!strcmp(mode, "wired")) {
				EXPECT_EQ(0, proc_vectors(v[i].pdev));
				continue;
			}
			msi++;
			EXPECT_EQ(vector_total(v[i].pdev), proc_vectors(v[i].pdev))
				TH_LOG("%s", v[i].pdev);
			snprintf(name, sizeof(name), "%s-config", v[i].pdev);
			EXPECT_LT(0, proc_irq(name, NULL, 0)) TH_LOG("no %s", name);
			if (ids[k] == VIRTIO_ID_BLOCK && !strcmp(mode, "msi-per-queue")) {
				snprintf(name, sizeof(name), "%s-req.0", v[i].pdev);
				EXPECT_LT(0, proc_irq(name, NULL, 0)) TH_LOG("no %s", name);
			}
			if (ids[k] == VIRTIO_ID_NET && !strcmp(mode, "msi-per-queue")) {
				snprintf(name, sizeof(name), "%s-input.0", v[i].pdev);
				EXPECT_LT(0, proc_irq(name, NULL, 0)) TH_LOG("no %s", name);
				snprintf(name, sizeof(name), "%s-output.0", v[i].pdev);
				EXPECT_LT(0, proc_irq(name, NULL, 0)) TH_LOG("no %s", name);
			}
			if (!strcmp(mode, "msi-shared")) {
				snprintf(name, sizeof(name), "%s-virtqueues", v[i].pdev);
				EXPECT_LT(0, proc_irq(name, NULL, 0)) TH_LOG("no %s", name);
			}
		}
	}
	if (!cmdline_arg("vrs.msi", all, sizeof(all)) && strstr(all, ":msi"))
		ASSERT_LT(0, msi) TH_LOG("no device uses MSI");
	TH_LOG("%d device(s) with MSI vectors", msi);
}

/* Hardware queues of the blk-mq disk @dev ("/dev/vdX"). */
static int hw_queues(const char *dev)
{
	char p[PATH_MAX];
	int n = 0;

	for (;; n++) {
		snprintf(p, sizeof(p), "/sys/block/%s/mq/%d", dev + 5, n);
		if (access(p, F_OK))
			return n;
	}
}

/*
 * One multiqueue disk: each hardware queue's CPUs (blk-mq, from
 * get_vq_affinity) are its vector's affinity, and I/O from each CPU, data
 * verified, raises its queue's vector on a CPU of that affinity and
 * nowhere else. 1 if checked, 0 if the disk has no per-queue vectors.
 */
static int mq_disk(struct __test_metadata *_metadata, const char *serial)
{
	char dev[64], p[PATH_MAX], name[128], mode[32];
	unsigned long long aff[16];
	int ncpu = ncpus(), nq, cpu;
	uint64_t ws, rs;
	struct vdev d;

	ASSERT_EQ(0, blk_by_serial(serial, &d, dev, sizeof(dev))) TH_LOG("no disk %s", serial);
	ASSERT_EQ(0, stat_str(d.pdev, "irq_mode", mode, sizeof(mode)));
	if (strcmp(mode, "msi-per-queue")) {
		TH_LOG("%s (%s) is in %s mode: no per-queue vectors", serial, d.pdev, mode);
		return 0;
	}
	nq = hw_queues(dev);
	ASSERT_LE(2, nq) TH_LOG("%s: %d hardware queue(s)", dev, nq);
	ASSERT_LE(nq, 16);
	for (int q = 0; q < nq; q++) {
		unsigned long long hw;
		int irq;

		snprintf(name, sizeof(name), "%s-req.%d", d.pdev, q);
		irq = proc_irq(name, NULL, 0);
		ASSERT_LT(0, irq) TH_LOG("no vector %s", name);
		snprintf(p, sizeof(p), "/sys/block/%s/mq/%d/cpu_list", dev + 5, q);
		hw = cpu_list_file(p);
		snprintf(p, sizeof(p), "/proc/irq/%d/smp_affinity_list", irq);
		aff[q] = cpu_list_file(p);
		EXPECT_NE(0ULL, hw) TH_LOG("%s", p);
		EXPECT_EQ(aff[q], hw) TH_LOG("%s queue %d: blk-mq CPUs %#llx, vector %d affinity %#llx",
					     serial, q, hw, irq, aff[q]);
		TH_LOG("%s queue %d: CPUs %#llx (vector irq %d)", serial, q, hw, irq);
	}
	for (cpu = 0; cpu < ncpu; cpu++) {
		long long before[16] = { 0 }, after[16] = { 0 }, in = 0, out = 0;
		cpu_set_t set;
		int q = -1, irq;

		/* The queue that blk-mq gives this CPU. */
		for (int k = 0; k < nq && q < 0; k++) {
			snprintf(p, sizeof(p), "/sys/block/%s/mq/%d/cpu_list", dev + 5, k);
			if (cpu_list_file(p) & (1ULL << cpu))
				q = k;
		}
		ASSERT_LE(0, q) TH_LOG("CPU %d in no hardware queue", cpu);
		snprintf(name, sizeof(name), "%s-req.%d", d.pdev, q);
		irq = proc_irq(name, before, 16);
		ASSERT_LT(0, irq);
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		ASSERT_EQ(0, sched_setaffinity(0, sizeof(set), &set));
		ASSERT_EQ(0, blk_verify(dev, (off_t)cpu << 20, 1 << 20, 100 + cpu, &ws, &rs))
			TH_LOG("%s from CPU %d", dev, cpu);
		EXPECT_EQ(ws, rs);
		proc_irq(name, after, 16);
		for (int c = 0; c < ncpu; c++) {
			if (aff[q] & (1ULL << c))
				in += after[c] - before[c];
			else
				out += after[c] - before[c];
		}
		EXPECT_LT(0, in) TH_LOG("I/O from CPU %d: no interrupt of %s (irq %d) on CPUs %#llx",
					cpu, name, irq, aff[q]);
		EXPECT_EQ(0, out) TH_LOG("I/O from CPU %d: %lld interrupt(s) of %s outside CPUs %#llx",
					 cpu, out, name, aff[q]);
		TH_LOG("%s: CPU %d -> queue %d, vector irq %d: %lld interrupt(s) on CPUs %#llx", serial,
		       cpu, q, irq, in, aff[q]);
	}
	return 1;
}

/*
 * The multiqueue disks (vrs.mq=): blk-mq maps each CPU to the queue whose
 * vector targets it, and I/O from a CPU completes on that vector. With as
 * many queues as CPUs blk-mq's own map (without get_vq_affinity) would be
 * the same; with 2 queues on 4 CPUs the transport's spread ({0,2}, {1,3})
 * differs from blk-mq's default ({0,1}, {2,3}), so only a working
 * get_vq_affinity passes.
 */
TEST(blk_queues_follow_vector_affinity)
{
	char all[128], *tok, *save, pin[64];
	cpu_set_t cpus;
	int disks = 0;

	REQUIRE_DEVICES();
	if (cmdline_arg("vrs.mq", all, sizeof(all)))
		SKIP(return, "no multiqueue disk in this boot (vrs.mq=)");
	ASSERT_LE(2, ncpus());
	ASSERT_LE(ncpus(), 16);
	ASSERT_EQ(0, sched_getaffinity(0, sizeof(cpus), &cpus));
	for (tok = strtok_r(all, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		snprintf(pin, sizeof(pin), "%s", tok);
		disks += mq_disk(_metadata, pin);
		sched_setaffinity(0, sizeof(cpus), &cpus);
	}
	if (!disks)
		SKIP(return, "no multiqueue disk has per-queue vectors (irq_mode_as_configured checks the mode)");
}

/* ------------------------------------------------------ multiqueue NIC */

struct mqnic {
	char ifname[IFNAMSIZ];
	struct vdev v;
	struct sockaddr_in host;
	char mode[32];
	int ctl; /* AF_INET socket for the ioctls */
};

/* "3", "0000000f" or "00000000,0000000f": a hex CPU bitmap. */
static unsigned long long hex_mask_file(const char *path)
{
	char buf[256], hex[256];
	size_t k = 0;

	if (read_line(path, buf, sizeof(buf)))
		return 0;
	for (char *s = buf; *s && k < sizeof(hex) - 1; s++)
		if (isxdigit((unsigned char)*s))
			hex[k++] = *s;
	hex[k] = 0;
	if (k > 16)
		memmove(hex, hex + k - 16, 17);
	return strtoull(hex, NULL, 16);
}

static int nic_queues(const struct mqnic *m)
{
	char p[PATH_MAX];
	int n = 0;

	for (;; n++) {
		snprintf(p, sizeof(p), "/sys/class/net/%s/queues/tx-%d", m->ifname, n);
		if (access(p, F_OK))
			return n;
	}
}

static unsigned long long xps_of(const struct mqnic *m, int q)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "/sys/class/net/%s/queues/tx-%d/xps_cpus", m->ifname, q);
	return hex_mask_file(p);
}

/* The affinity of the vector named <pdev>-<qname>; 0 if there is none. */
static unsigned long long vector_affinity(const char *pdev, const char *qname, int *irq)
{
	char name[128], p[PATH_MAX];

	snprintf(name, sizeof(name), "%s-%s", pdev, qname);
	*irq = proc_irq(name, NULL, 0);
	if (*irq < 0)
		return 0;
	snprintf(p, sizeof(p), "/proc/irq/%d/smp_affinity_list", *irq);
	return cpu_list_file(p);
}

/* Find the NIC of vrs.netmq=, give it its address and bring it up. */
static int mqnic_up(struct __test_metadata *_metadata, struct mqnic *m)
{
	char arg[128], *mac, *ip, *host, *port, got[64];
	struct vdev v[MAX_DEVS];
	struct sockaddr_in *a;
	struct ifreq ifr = {};
	int n, found = 0;

	if (cmdline_arg("vrs.netmq", arg, sizeof(arg)))
		return -1;
	mac = strtok(arg, ",");
	ip = strtok(NULL, ",");
	host = strtok(NULL, ":");
	port = strtok(NULL, "");
	if (!mac || !ip || !host || !port) {
		TH_LOG("vrs.netmq=<mac>,<ip>,<host ip>:<port>, not %s", arg);
		return -1;
	}
	n = find_vdevs(VIRTIO_ID_NET, v, MAX_DEVS);
	for (int i = 0; i < n && !found; i++)
		if (!vdev_mac(&v[i], got, sizeof(got)) && !strcasecmp(got, mac)) {
			m->v = v[i];
			found = !child_of(&v[i], "net", m->ifname, sizeof(m->ifname));
		}
	if (!found) {
		TH_LOG("no virtio-net device with MAC %s on " TRANSPORT, mac);
		return -1;
	}
	m->host = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
	inet_pton(AF_INET, host, &m->host.sin_addr);
	m->ctl = socket(AF_INET, SOCK_DGRAM, 0);
	if (m->ctl < 0) {
		TH_LOG("socket: %s", strerror(errno));
		return -1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", m->ifname);
	a = (struct sockaddr_in *)&ifr.ifr_addr;
	a->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &a->sin_addr);
	if (ioctl(m->ctl, SIOCSIFADDR, &ifr) && errno != EEXIST) {
		TH_LOG("%s: address %s: %s", m->ifname, ip, strerror(errno));
		goto fail;
	}
	inet_pton(AF_INET, "255.255.255.0", &a->sin_addr);
	if (ioctl(m->ctl, SIOCSIFNETMASK, &ifr) || ioctl(m->ctl, SIOCGIFFLAGS, &ifr))
		goto fail_errno;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(m->ctl, SIOCSIFFLAGS, &ifr))
		goto fail_errno;
	if (stat_str(m->v.pdev, "irq_mode", m->mode, sizeof(m->mode)))
		goto fail;
	return 0;
fail_errno:
	TH_LOG("%s: netmask/up: %s", m->ifname, strerror(errno));
fail:
	close(m->ctl);
	m->ctl = -1;
	return -1;
}

static int set_channels(struct mqnic *m, unsigned int combined)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_SCHANNELS, .combined_count = combined };
	struct ifreq ifr = {};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", m->ifname);
	ifr.ifr_data = (void *)&ch;
	return ioctl(m->ctl, SIOCETHTOOL, &ifr);
}

/*
 * @rounds request/response exchanges of 1..1400 bytes with the host's echo
 * server on one TCP connection, then one of 64 KiB; every byte that comes
 * back is checked. Bytes verified, or -1 (@err says why).
 */
static long long echo_rounds(const struct mqnic *m, int rounds, uint64_t seed, char *err,
			     size_t errlen)
{
	static unsigned char out[65536], in[65536];
	struct timeval tv = { .tv_sec = 15 };
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	long long total = 0;

	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (const struct sockaddr *)&m->host, sizeof(m->host))) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		close(s);
		return -1;
	}
	for (int r = 0; r <= rounds; r++) {
		size_t len = r < rounds ? 1 + xorshift(&seed) % 1400 : sizeof(out), got = 0;

		for (size_t i = 0; i < len; i++)
			out[i] = (unsigned char)xorshift(&seed);
		if (send(s, out, len, 0) != (ssize_t)len) {
			snprintf(err, errlen, "round %d: send: %s", r, strerror(errno));
			goto fail;
		}
		while (got < len) {
			ssize_t k = recv(s, in + got, len - got, 0);

			if (k <= 0) {
				snprintf(err, errlen, "round %d: %zu of %zu bytes back: %s", r, got,
					 len, k ? strerror(errno) : "connection closed");
				goto fail;
			}
			got += k;
		}
		if (memcmp(in, out, len)) {
			snprintf(err, errlen, "round %d: the %zu bytes that came back differ", r,
				 len);
			goto fail;
		}
		total += len;
	}
	close(s);
	return total;
fail:
	close(s);
	return -1;
}

/*
 * Traffic from each CPU in turn: it leaves on the tx queue XPS gives the
 * CPU, the tap answers on the same queue pair (tun's flow steering), and
 * with per-queue vectors the queue's input and output vectors fire on
 * CPUs of their affinity and nowhere else. Data checked end to end.
 */
static void mqnic_traffic(struct __test_metadata *_metadata, struct mqnic *m, const char *when)
{
	int ncpu = ncpus(), nq = nic_queues(m), per_queue = !strcmp(m->mode, "msi-per-queue");
	cpu_set_t all;
	char err[256];

	ASSERT_EQ(0, sched_getaffinity(0, sizeof(all), &all));
	for (int cpu = 0; cpu < ncpu; cpu++) {
		long long in_b[16] = { 0 }, in_a[16] = { 0 }, out_b[16] = { 0 }, out_a[16] = { 0 };
		long long in_ok = 0, in_bad = 0, out_ok = 0, out_bad = 0, bytes;
		char qin[32], qout[32], nin[128], nout[128];
		unsigned long long aff = 0;
		cpu_set_t one;
		int q = -1, irq;

		for (int k = 0; k < nq && q < 0; k++)
			if (xps_of(m, k) & (1ULL << cpu))
				q = k;
		ASSERT_LE(0, q) TH_LOG("%s: CPU %d in no tx queue's XPS map", when, cpu);
		snprintf(qin, sizeof(qin), "input.%d", q);
		snprintf(qout, sizeof(qout), "output.%d", q);
		snprintf(nin, sizeof(nin), "%s-%s", m->v.pdev, qin);
		snprintf(nout, sizeof(nout), "%s-%s", m->v.pdev, qout);
		if (per_queue) {
			aff = vector_affinity(m->v.pdev, qin, &irq);
			ASSERT_NE(0ULL, aff) TH_LOG("no vector %s", nin);
			proc_irq(nin, in_b, 16);
			proc_irq(nout, out_b, 16);
		}
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		ASSERT_EQ(0, sched_setaffinity(0, sizeof(one), &one));
		bytes = echo_rounds(m, 100, 0x5eed0000ull + cpu * 977 + q, err, sizeof(err));
		sched_setaffinity(0, sizeof(all), &all);
		ASSERT_LT(0, bytes) TH_LOG("%s: echo from CPU %d: %s", when, cpu, err);
		if (!per_queue) {
			TH_LOG("%s: CPU %d -> queue pair %d: %lld bytes echoed and verified (%s)",
			       when, cpu, q, bytes, m->mode);
			continue;
		}
		proc_irq(nin, in_a, 16);
		proc_irq(nout, out_a, 16);
		for (int c = 0; c < ncpu; c++) {
			int inside = !!(aff & (1ULL << c));

			*(inside ? &in_ok : &in_bad) += in_a[c] - in_b[c];
			*(inside ? &out_ok : &out_bad) += out_a[c] - out_b[c];
		}
		EXPECT_LT(0, in_ok) TH_LOG("%s: echo from CPU %d: no interrupt of %s on CPUs %#llx",
					   when, cpu, nin, aff);
		EXPECT_LT(0, out_ok) TH_LOG("%s: echo from CPU %d: no interrupt of %s on CPUs %#llx",
					    when, cpu, nout, aff);
		EXPECT_EQ(0, in_bad + out_bad)
			TH_LOG("%s: %lld/%lld interrupt(s) of %s/%s outside CPUs %#llx", when,
			       in_bad, out_bad, nin, nout, aff);
		TH_LOG("%s: CPU %d -> queue pair %d, CPUs %#llx: %lld bytes verified, %s %lld, %s %lld",
		       when, cpu, q, aff, bytes, qin, in_ok, qout, out_ok);
	}
}

/* Each queue pair's vectors target the CPUs that XPS sends on it from
 * (virtio_net's virtnet_set_affinity() -> set_vq_affinity). */
static void mqnic_affinity(struct __test_metadata *_metadata, struct mqnic *m, const char *when)
{
	int nq = nic_queues(m);

	for (int q = 0; q < nq; q++) {
		unsigned long long xps = xps_of(m, q), ain, aout;
		char qn[32];
		int irq;

		snprintf(qn, sizeof(qn), "input.%d", q);
		ain = vector_affinity(m->v.pdev, qn, &irq);
		snprintf(qn, sizeof(qn), "output.%d", q);
		aout = vector_affinity(m->v.pdev, qn, &irq);
		EXPECT_NE(0ULL, xps) TH_LOG("%s: tx-%d has no XPS CPUs", when, q);
		EXPECT_EQ(xps, ain) TH_LOG("%s: queue pair %d: XPS %#llx, input vector %#llx", when,
					   q, xps, ain);
		EXPECT_EQ(xps, aout) TH_LOG("%s: queue pair %d: XPS %#llx, output vector %#llx",
					    when, q, xps, aout);
	}
}

/*
 * The multiqueue NIC (vrs.netmq=): one queue pair per CPU, each pair's
 * vectors where virtio_net puts the pair (set_vq_affinity), traffic from
 * every CPU on its own pair's vectors with the data verified end to end
 * against the host's echo server. Then ethtool -L to 2 channels: virtio_net
 * moves pair 0 to CPUs {0,1} and pair 1 to {2,3} (with 4 CPUs), so the
 * vectors must follow (a no-op set_vq_affinity leaves them on one CPU
 * each); traffic again; and back to one pair per CPU. On a wired boot the
 * same traffic and channel changes, without the vector checks.
 */
TEST(net_mq_queues_follow_vector_affinity)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr = {};
	struct mqnic m = {};
	char arg[128];
	int ncpu = ncpus(), nq;

	REQUIRE_DEVICES();
	if (cmdline_arg("vrs.netmq", arg, sizeof(arg)))
		SKIP(return, "no multiqueue NIC in this boot (vrs.netmq=)");
	ASSERT_EQ(0, mqnic_up(_metadata, &m));
	ASSERT_LE(2, ncpu);
	ASSERT_LE(ncpu, 16);
	nq = nic_queues(&m);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", m.ifname);
	ifr.ifr_data = (void *)&ch;
	ASSERT_EQ(0, ioctl(m.ctl, SIOCETHTOOL, &ifr)) TH_LOG("ETHTOOL_GCHANNELS: %s", strerror(errno));
	TH_LOG("%s (%s, %s): %d queue pair(s) of %u, %d CPUs", m.ifname, m.v.pdev, m.mode, nq,
	       ch.max_combined, ncpu);
	ASSERT_EQ((unsigned int)ncpu, ch.max_combined) TH_LOG("the conf gives the tap one queue per CPU");
	ASSERT_EQ(ncpu, nq);
	ASSERT_EQ((unsigned int)nq, ch.combined_count);
	if (!strcmp(m.mode, "msi-per-queue"))
		mqnic_affinity(_metadata, &m, "one pair per CPU");
	mqnic_traffic(_metadata, &m, "one pair per CPU");

	ASSERT_EQ(0, set_channels(&m, 2)) TH_LOG("ethtool -L combined 2: %s", strerror(errno));
	ASSERT_EQ(2, nic_queues(&m));
	if (!strcmp(m.mode, "msi-per-queue")) {
		mqnic_affinity(_metadata, &m, "2 pairs");
		if (ncpu == 4)
			EXPECT_EQ(0x3ULL, xps_of(&m, 0)) TH_LOG("virtio_net's map for 2 pairs on 4 CPUs");
	}
	mqnic_traffic(_metadata, &m, "2 pairs");

	ASSERT_EQ(0, set_channels(&m, nq)) TH_LOG("ethtool -L combined %d: %s", nq, strerror(errno));
	if (!strcmp(m.mode, "msi-per-queue"))
		mqnic_affinity(_metadata, &m, "back to one pair per CPU");
	mqnic_traffic(_metadata, &m, "back to one pair per CPU");
	close(m.ctl);
}

/* Ask the host to resize disk d0 to @mib MiB; wait until the guest sees
 * it (0) or @secs pass (-1). */
static int resize_d0(const char *dev, const char *tag, long mib, double secs)
{
	char p[PATH_MAX];
	double t0 = now_s();

	printf("VRS-QMP %s {\"execute\":\"block_resize\",\"arguments\":"
	       "{\"device\":\"d0\",\"size\":%ld}}\n", tag, mib << 20);
	fflush(stdout);
	snprintf(p, sizeof(p), "/sys/class/block/%s/size", dev + 5);
	while (read_long(p) != mib * 2048) {
		if (now_s() - t0 > secs)
			return -1;
		usleep(50 * 1000);
	}
	return 0;
}

/* The disk behind QEMU drive d0 (first serial of vrs.blk=). */
static int disk_d0(struct vdev *d, char *dev, size_t n)
{
	char want[256];

	if (cmdline_arg("vrs.blk", want, sizeof(want)))
		return -1;
	want[strcspn(want, ",")] = 0;
	return blk_by_serial(want, d, dev, n);
}

/*
 * A configuration change arrives on the config vector (vector 0), and only
 * there; then, with vector 0 masked in the device, the next change is held
 * pending (no interrupt, the guest does not see the new size) and is
 * delivered once when the vector is unmasked.
 */
TEST(config_change_on_config_vector_and_after_unmask)
{
	char dev[64], mode[32], flag[8], p[PATH_MAX];
	long long c0, c1, q0, q1;
	struct regs r;
	struct vdev d;
	long long st;
	double t0;

	REQUIRE_DEVICES();
	if (cmdline_arg("vrs.qmp", flag, sizeof(flag)))
		SKIP(return, "no QMP helper in this boot (vrs.qmp=)");
	ASSERT_EQ(0, disk_d0(&d, dev, sizeof(dev)));
	ASSERT_EQ(0, stat_str(d.pdev, "irq_mode", mode, sizeof(mode)));
	if (!strcmp(mode, "wired"))
		SKIP(return, "%s uses the wired interrupt", d.pdev);

	c0 = vector_count(d.pdev, 0);
	q0 = vector_count(d.pdev, 1);
	ASSERT_EQ(0, resize_d0(dev, "msi-cfg-1", 40, 20)) TH_LOG("no resize seen");
	c1 = vector_count(d.pdev, 0);
	q1 = vector_count(d.pdev, 1);
	EXPECT_LT(c0, c1) TH_LOG("config vector: %lld -> %lld", c0, c1);
	EXPECT_EQ(q0, q1) TH_LOG("queue vector 1 fired for a config change");

	/* Mask vector 0 in the device, behind the driver's back. The debug
	 * kernel has no /dev/mem: stop after the first half there. */
	if (access("/dev/mem", F_OK) && debug_kernel()) {
		TH_LOG("no /dev/mem on the debug kernel: mask/unmask not checked");
		return;
	}
	ASSERT_EQ(0, regs_map(d.pdev, &r)) TH_LOG("/dev/mem: %s (iomem=relaxed?)", strerror(errno));
	ASSERT_NE(0, rd(&r, VIRTIO_MMIO_MSI_STATE) & VIRTIO_MMIO_MSI_STATE_ENABLED);
	wr(&r, VIRTIO_MMIO_MSI_VEC_SEL, 0);
	wr(&r, VIRTIO_MMIO_MSI_CMD, VIRTIO_MMIO_MSI_CMD_MASK);
	st = rd(&r, VIRTIO_MMIO_MSI_STATE);
	EXPECT_EQ(VIRTIO_MMIO_MSI_STATE_ENABLED | VIRTIO_MMIO_MSI_STATE_MASKED, st);
	c0 = vector_count(d.pdev, 0);
	EXPECT_EQ(-1, resize_d0(dev, "msi-cfg-2", 48, 3))
		TH_LOG("the guest saw the resize while the config vector was masked");
	st = rd(&r, VIRTIO_MMIO_MSI_STATE);
	EXPECT_NE(0, st & VIRTIO_MMIO_MSI_STATE_PENDING) TH_LOG("MsiState %#llx", st);
	EXPECT_EQ(c0, vector_count(d.pdev, 0)) TH_LOG("an interrupt came through the mask");

	wr(&r, VIRTIO_MMIO_MSI_VEC_SEL, 0);
	wr(&r, VIRTIO_MMIO_MSI_CMD, VIRTIO_MMIO_MSI_CMD_UNMASK);
	snprintf(p, sizeof(p), "/sys/class/block/%s/size", dev + 5);
	t0 = now_s();
	while (read_long(p) != 48 * 2048 && now_s() - t0 < 20)
		usleep(50 * 1000);
	EXPECT_EQ(48 * 2048, read_long(p)) TH_LOG("pending change not delivered on unmask");
	st = rd(&r, VIRTIO_MMIO_MSI_STATE);
	EXPECT_EQ(VIRTIO_MMIO_MSI_STATE_ENABLED, st) TH_LOG("MsiState %#llx after unmask", st);
	EXPECT_EQ(c0 + 1, vector_count(d.pdev, 0));
	munmap(r.map, r.len);
}

/* The transport device of the (first) rng: unbound by the caller. */
static int rng_pdev(char *out, size_t n)
{
	struct vdev v[MAX_DEVS];

	if (find_vdevs(VIRTIO_ID_RNG, v, MAX_DEVS) < 1)
		return -1;
	snprintf(out, n, "%s", v[0].pdev);
	return 0;
}

/*
 * The device model, driven by hand with the driver unbound: every write
 * the spec forbids is refused visibly (the register reads what the spec
 * says), device reset clears all MSI state, and the driver binds again
 * afterwards.
 */
TEST(device_refuses_wrong_state)
{
	char pdev[64], buf[16], mode[32], want[32];
	long long nvec, nv = VIRTIO_MMIO_MSI_NO_VECTOR;
	unsigned char b[64];
	struct regs r;
	double t0;
	int fd;

	REQUIRE_DEVICES();
	if (cmdline_arg("vrs.msivec", buf, sizeof(buf)))
		SKIP(return, "no msi-vectors in this boot (vrs.msivec=)");
	nvec = atoi(buf);
	ASSERT_LE(2, nvec);
	NEED_DEVMEM();
	ASSERT_EQ(0, rng_pdev(pdev, sizeof(pdev)));
	/* Map while bound: /proc/iomem names the region after the device. */
	ASSERT_EQ(0, regs_map(pdev, &r)) TH_LOG("/dev/mem: %s", strerror(errno));
	ASSERT_EQ(0, write_str("/sys/bus/platform/drivers/" TRANSPORT "/unbind", pdev));

	wr(&r, STATUS, 0);
	EXPECT_EQ(0, rd(&r, STATUS));
	EXPECT_EQ(nvec, rd(&r, VIRTIO_MMIO_MSI_VEC_NUM));
	EXPECT_EQ(0, rd(&r, VIRTIO_MMIO_MSI_STATE));
	/* Selector out of range: reads NO_VECTOR. */
	wr(&r, VIRTIO_MMIO_MSI_VEC_SEL, nvec);
	EXPECT_EQ(nv, rd(&r, VIRTIO_MMIO_MSI_VEC_SEL));
	wr(&r, VIRTIO_MMIO_MSI_VEC_SEL, 1);
	EXPECT_EQ(1, rd(&r, VIRTIO_MMIO_MSI_VEC_SEL));
	/* Before the feature is negotiated: commands and mappings ignored. */
	wr(&r, VIRTIO_MMIO_MSI_CMD, VIRTIO_MMIO_MSI_CMD_ENABLE);
	EXPECT_EQ(0, rd(&r, VIRTIO_MMIO_MSI_STATE));
	wr(&r, VIRTIO_MMIO_CONFIG_MSI_VEC, 1);
	EXPECT_EQ(nv, rd(&r, VIRTIO_MMIO_CONFIG_MSI_VEC));

	/* Negotiate VERSION_1 (32) and MMIO_MSI (42). */
	wr(&r, STATUS, S_ACK | S_DRIVER);
	wr(&r, DRIVER_FEATURES_SEL, 1);
	wr(&r, DRIVER_FEATURES, (1u << (32 - 32)) | (1u << (VIRTIO_F_MMIO_MSI - 32)));
	wr(&r, DRIVER_FEATURES_SEL, 0);
	wr(&r, DRIVER_FEATURES, 0);
	wr(&r, STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	ASSERT_NE(0, rd(&r, STATUS) & S_FEATURES_OK);

	wr(&r, VIRTIO_MMIO_CONFIG_MSI_VEC, 1);
	EXPECT_EQ(1, rd(&r, VIRTIO_MMIO_CONFIG_MSI_VEC));
	wr(&r, VIRTIO_MMIO_CONFIG_MSI_VEC, nvec);
	EXPECT_EQ(nv, rd(&r, VIRTIO_MMIO_CONFIG_MSI_VEC)) TH_LOG("out-of-range config vector");
	wr(&r, QUEUE_SEL, 0);
	wr(&r, VIRTIO_MMIO_QUEUE_MSI_VEC, nvec + 5);
	EXPECT_EQ(nv, rd(&r, VIRTIO_MMIO_QUEUE_MSI_VEC)) TH_LOG("out-of-range queue vector");
	wr(&r, VIRTIO_MMIO_QUEUE_MSI_VEC, 1);
	EXPECT_EQ(1, rd(&r, VIRTIO_MMIO_QUEUE_MSI_VEC));
	/* A ready queue keeps its vector. */
	wr(&r, QUEUE_NUM, 8);
	wr(&r, QUEUE_READY, 1);
	wr(&r, VIRTIO_MMIO_QUEUE_MSI_VEC, 0);
	EXPECT_EQ(1, rd(&r, VIRTIO_MMIO_QUEUE_MSI_VEC)) TH_LOG("vector of a ready queue changed");
	/* A queue reset (which also forgets the ring addresses, 0 here)
	 * clears the queue's vector. */
	wr(&r, QUEUE_RESET, 1);
	EXPECT_EQ(0, rd(&r, QUEUE_READY));
	EXPECT_EQ(nv, rd(&r, VIRTIO_MMIO_QUEUE_MSI_VEC)) TH_LOG("vector survived QueueReset");

	wr(&r, VIRTIO_MMIO_MSI_CMD, 99);
	EXPECT_EQ(0, rd(&r, VIRTIO_MMIO_MSI_STATE)) TH_LOG("unknown command changed the state");
	wr(&r, VIRTIO_MMIO_MSI_CMD, VIRTIO_MMIO_MSI_CMD_ENABLE);
	EXPECT_EQ(VIRTIO_MMIO_MSI_STATE_ENABLED, rd(&r, VIRTIO_MMIO_MSI_STATE));
	/* Mask with no vector selected: ignored; with one: seen. */
	wr(&r, VIRTIO_MMIO_MSI_VEC_SEL, nvec);
	wr(&r, VIRTIO_MMIO_MSI_CMD, VIRTIO_MMIO_MSI_CMD_MASK);
	wr(&r, VIRTIO_MMIO_MSI_VEC_SEL, 1);
	EXPECT_EQ(VIRTIO_MMIO_MSI_STATE_ENABLED, rd(&r, VIRTIO_MMIO_MSI_STATE));
	wr(&r, VIRTIO_MMIO_MSI_CMD, VIRTIO_MMIO_MSI_CMD_MASK);
	EXPECT_EQ(VIRTIO_MMIO_MSI_STATE_ENABLED | VIRTIO_MMIO_MSI_STATE_MASKED,
		  rd(&r, VIRTIO_MMIO_MSI_STATE));
	EXPECT_EQ(0, rd(&r, INTERRUPT_STATUS));
	wr(&r, VIRTIO_MMIO_MSI_ADDR_LOW, 0x1234);
	EXPECT_EQ(0x1234, rd(&r, VIRTIO_MMIO_MSI_ADDR_LOW));

	/* Valid mappings, for the reset below to clear. */
	wr(&r, VIRTIO_MMIO_CONFIG_MSI_VEC, 1);
	EXPECT_EQ(1, rd(&r, VIRTIO_MMIO_CONFIG_MSI_VEC));
	wr(&r, QUEUE_SEL, 0);
	wr(&r, VIRTIO_MMIO_QUEUE_MSI_VEC, 1);
	EXPECT_EQ(1, rd(&r, VIRTIO_MMIO_QUEUE_MSI_VEC));

	/* After DRIVER_OK, DISABLE (and ENABLE) are refused. */
	wr(&r, STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	wr(&r, VIRTIO_MMIO_MSI_CMD, VIRTIO_MMIO_MSI_CMD_DISABLE);
	EXPECT_NE(0, rd(&r, VIRTIO_MMIO_MSI_STATE) & VIRTIO_MMIO_MSI_STATE_ENABLED)
		TH_LOG("DISABLE after DRIVER_OK took effect");

	/* Reset clears everything. */
	wr(&r, STATUS, 0);
	EXPECT_EQ(0, rd(&r, STATUS));
	EXPECT_EQ(0, rd(&r, VIRTIO_MMIO_MSI_STATE));
	EXPECT_EQ(0, rd(&r, VIRTIO_MMIO_MSI_VEC_SEL));
	EXPECT_EQ(0, rd(&r, VIRTIO_MMIO_MSI_ADDR_LOW));
	EXPECT_EQ(nv, rd(&r, VIRTIO_MMIO_CONFIG_MSI_VEC)) TH_LOG("config vector survived reset");
	wr(&r, QUEUE_SEL, 0);
	EXPECT_EQ(nv, rd(&r, VIRTIO_MMIO_QUEUE_MSI_VEC)) TH_LOG("queue vector survived reset");
	wr(&r, VIRTIO_MMIO_MSI_VEC_SEL, 1);
	EXPECT_EQ(0, rd(&r, VIRTIO_MMIO_MSI_STATE) & VIRTIO_MMIO_MSI_STATE_MASKED)
		TH_LOG("mask survived the reset");
	munmap(r.map, r.len);

	ASSERT_EQ(0, write_str("/sys/bus/platform/drivers/" TRANSPORT "/bind", pdev));
	t0 = now_s();
	while (stat_str(pdev, "irq_mode", mode, sizeof(mode)) && now_s() - t0 < 10)
		usleep(50 * 1000);
	ASSERT_EQ(0, stat_str(pdev, "irq_mode", mode, sizeof(mode)));
	EXPECT_STREQ(want_mode(VIRTIO_ID_RNG, want, sizeof(want)), mode)
		TH_LOG("%s after rebind", pdev);
	fd = open("/dev/hwrng", O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)sizeof(b), read(fd, b, sizeof(b)));
	close(fd);
}

/*
 * Unbind/bind and module reload release every vector and take them again:
 * no interrupt descriptor leaks, the names come back, a disk still works.
 * The reload with force_wired=1 puts every device on its wired interrupt,
 * saying why; the next reload brings MSI back.
 */
TEST_F_TIMEOUT(slow, rebind_and_reload_release_vectors, 240)
{
	char ko[PATH_MAX], params[4096], p2[4200], dev[64], mode[32], pdev[64];
	int descs0, descs, bound, i;
	uint64_t ws, rs;
	struct vdev d;
	char *log;

	REQUIRE_DEVICES();
	ASSERT_EQ(0, disk_d0(&d, dev, sizeof(dev)));
	snprintf(pdev, sizeof(pdev), "%s", d.pdev);
	ASSERT_EQ(0, stat_str(pdev, "irq_mode", mode, sizeof(mode)));
	if (!strcmp(mode, "wired"))
		SKIP(return, "%s uses the wired interrupt", pdev);
	bound = transport_devices();
	descs0 = irq_descs();
	ASSERT_LT(0, descs0);
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(0, write_str("/sys/bus/platform/drivers/" TRANSPORT "/unbind", pdev));
		EXPECT_EQ(0, proc_vectors(pdev)) TH_LOG("vectors left after unbind %d", i);
		ASSERT_EQ(0, write_str("/sys/bus/platform/drivers/" TRANSPORT "/bind", pdev));
		ASSERT_EQ(0, wait_bound(bound, 10));
	}
	descs = irq_descs();
	EXPECT_EQ(descs0, descs) TH_LOG("interrupt descriptors %d -> %d after 5 rebinds", descs0,
					descs);
	ASSERT_EQ(0, module_path(ko, sizeof(ko)));
	current_params(params, sizeof(params));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, reload(ko, params));
		ASSERT_EQ(0, wait_bound(bound, 10));
	}
	EXPECT_EQ(descs0, irq_descs()) TH_LOG("descriptors leaked by reloads");

	/* force_wired=1 */
	snprintf(p2, sizeof(p2), "%s force_wired=1", params);
	ASSERT_EQ(0, reload(ko, p2));
	ASSERT_EQ(0, wait_bound(bound, 10));
	ASSERT_EQ(0, disk_d0(&d, dev, sizeof(dev)));
	ASSERT_EQ(0, stat_str(pdev, "irq_mode", mode, sizeof(mode)));
	EXPECT_STREQ("wired", mode);
	EXPECT_EQ(0, proc_vectors(pdev));
	ASSERT_EQ(0, blk_verify(dev, 0, 1 << 20, 77, &ws, &rs));
	EXPECT_EQ(ws, rs);
	log = klog();
	ASSERT_NE(NULL, log);
	EXPECT_TRUE(log_has(log, "using the wired interrupt", "force_wired=1"));
	free(log);

	ASSERT_EQ(0, reload(ko, params));
	ASSERT_EQ(0, wait_bound(bound, 10));
	ASSERT_EQ(0, disk_d0(&d, dev, sizeof(dev)));
	ASSERT_EQ(0, stat_str(pdev, "irq_mode", mode, sizeof(mode)));
	EXPECT_STRNE("wired", mode);
	ASSERT_EQ(0, blk_verify(dev, 0, 1 << 20, 78, &ws, &rs));
	EXPECT_EQ(ws, rs);
	EXPECT_EQ(descs0, irq_descs());
	TH_LOG("%d descriptors before and after 5 rebinds, 5 reloads", descs0);
}

TEST_HARNESS_MAIN
