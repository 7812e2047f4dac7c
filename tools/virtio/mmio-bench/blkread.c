// SPDX-License-Identifier: GPL-2.0
/*
 * blkread: the guest side of tools/virtio/mmio-bench. Runs in the VM as
 * the boot's only "test"; loads the two virtio-mmio transports in turn
 * (Debian's virtio_mmio.ko and this tree's virtio_mmio_rs.ko) under the
 * same stock virtio_blk and the same QEMU disk, and does 4 KiB random
 * O_DIRECT reads through each.
 *
 * Kernel command line (from bench.sh's conf):
 *   vrs.bench=throughput  rounds of "C then Rust" (order alternates),
 *                         each a timed run per job count; prints
 *                         "VRS-BENCH impl=<c|rust> round=<n> jobs=<j> reads=<n> secs=<s>"
 *   vrs.bench=trace       per transport: "VRS-MARK <impl>-start", a fixed
 *                         number of reads, "VRS-MARK <impl>-end", with
 *                         pauses so the host helper can count QEMU's trace
 *                         events (trapped MMIO accesses) or the guest's
 *                         instructions in between; first "VRS-MARK
 *                         idle-start", 2 s of nothing, "VRS-MARK idle-end":
 *                         the pauses' share of a window
 *   vrs.kallsyms=1        (trace) after each driver's measured reads, copy
 *                         /proc/kallsyms (its modules loaded) onto the first
 *                         disk at <driver index> * 16 MiB, NUL-terminated,
 *                         for the host's profile (blk-bench PROF=1)
 *   vrs.rounds=N vrs.secs=S vrs.reads=N
 *   vrs.msi=1             three transports instead of two: C, Rust on its
 *                         wired interrupt (force_wired=1) and Rust with MSI
 *                         ("c", "wired", "msi"; the device offers MSI)
 *   vrs.drivers=1         compare the block drivers instead of the
 *                         transports: Debian's virtio_blk ("c") and this
 *                         tree's virtio_blk_rs ("rust"), both on
 *                         virtio_mmio_rs (loaded by the boot); throughput
 *                         lines then carry "irqs=<n>", the interrupts of
 *                         the disk's device during the run
 *   vrs.disks=a,b         the disks to read, by serial (default: the first);
 *                         every line and mark then names its disk
 *   vrs.netmq=<mac>,<ip>,<host ip>:<port>
 *                         also a virtio-net request/response rate through
 *                         each transport (stock virtio_net): 1-byte TCP
 *                         request, 1-byte response with the host's echo
 *                         server (tools/testing/vm/net_echo.py), 1 and 4
 *                         connections, each pinned to its own CPU; lines
 *                         and marks name it "disk=net", "reads" counting
 *                         transactions
 *
 * Output is KTAP: one case per transport load, so the runner reports a
 * failure if a transport cannot be loaded or a read fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <limits.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define BLK 4096

static int cases;
static int failed;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmdline_long(const char *key, long def)
{
	char buf[4096], *p;
	size_t kl = strlen(key);
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return def;
	}
	fclose(f);
	for (p = strstr(buf, key); p; p = strstr(p + 1, key))
		if ((p == buf || p[-1] == ' ') && p[kl] == '=')
			return strtol(p + kl + 1, NULL, 0);
	return def;
}

static int cmdline_is(const char *kv)
{
	char buf[4096];
	FILE *f = fopen("/proc/cmdline", "r");
	int r = 0;

	if (f && fgets(buf, sizeof(buf), f))
		r = strstr(buf, kv) != NULL;
	if (f)
		fclose(f);
	return r;
}

static void result(int ok, const char *fmt, const char *arg)
{
	printf("%s %d ", ok ? "ok" : "not ok", ++cases);
	printf(fmt, arg);
	printf("\n");
	fflush(stdout);
	failed += !ok;
}

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* /dev/vdX of the virtio block device under platform driver @drv, with
 * serial @serial (any if empty). */
/* vrs.drivers=1: impls name block drivers, find_disk() looks for them. */
static int by_driver;

static int find_disk(const char *drv, const char *serial, char *dev, size_t n)
{
	DIR *d = opendir("/sys/bus/virtio/devices");
	struct dirent *e;
	int ret = -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char p[PATH_MAX], l[PATH_MAX];
		ssize_t r;
		DIR *b;
		struct dirent *be;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), by_driver ? "/sys/bus/virtio/devices/%s/driver" :
			 "/sys/bus/virtio/devices/%s/../driver", e->d_name);
		r = readlink(p, l, sizeof(l) - 1);
		if (r < 0)
			continue;
		l[r] = 0;
		if (strcmp(strrchr(l, '/') + 1, drv))
			continue;
		snprintf(p, sizeof(p), "/sys/bus/virtio/devices/%s/block", e->d_name);
		b = opendir(p);
		if (!b)
			continue;
		while ((be = readdir(b))) {
			char sp[PATH_MAX], got[64] = "";
			FILE *sf;

			if (be->d_name[0] == '.')
				continue;
			snprintf(sp, sizeof(sp), "/sys/class/block/%s/serial", be->d_name);
			sf = fopen(sp, "r");
			if (sf) {
				if (fgets(got, sizeof(got), sf))
					got[strcspn(got, "\n")] = 0;
				fclose(sf);
			}
			if (serial[0] && strcmp(got, serial))
				continue;
			snprintf(dev, n, "/dev/%s", be->d_name);
			ret = 0;
		}
		closedir(b);
	}
	closedir(d);
	return ret;
}

/* ------------------------------------------ virtio-net request/response */

static char net_mac[32], net_ip[32];
static struct sockaddr_in net_host;
static int have_net;

static void parse_net(void)
{
	char buf[4096], *p, *host, *port;
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	p = strstr(buf, "vrs.netmq=");
	if (!p)
		return;
	p += strlen("vrs.netmq=");
	p[strcspn(p, " \n")] = 0;
	snprintf(net_mac, sizeof(net_mac), "%s", strtok(p, ",") ?: "");
	snprintf(net_ip, sizeof(net_ip), "%s", strtok(NULL, ",") ?: "");
	host = strtok(NULL, ":");
	port = strtok(NULL, "");
	if (!net_mac[0] || !net_ip[0] || !host || !port)
		return;
	net_host = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
	have_net = inet_pton(AF_INET, host, &net_host.sin_addr) == 1;
}

/* The interface with MAC net_mac (10 s from @t0), addressed and up. */
static int net_up(char *ifname, size_t n, double t0)
{
	struct sockaddr_in *a;
	struct ifreq ifr = {};
	int s, ret = -1;

	for (;;) {
		DIR *d = opendir("/sys/class/net");
		struct dirent *e;
		int found = 0;

		while (d && (e = readdir(d)) && !found) {
			char p[PATH_MAX], mac[64] = "";
			FILE *f;

			snprintf(p, sizeof(p), "/sys/class/net/%s/address", e->d_name);
			f = fopen(p, "r");
			if (f && fgets(mac, sizeof(mac), f) && !strncasecmp(mac, net_mac, strlen(net_mac))) {
				snprintf(ifname, n, "%s", e->d_name);
				found = 1;
			}
			if (f)
				fclose(f);
		}
		if (d)
			closedir(d);
		if (found)
			break;
		if (now_s() - t0 > 10)
			return -1;
		usleep(20000);
	}
	s = socket(AF_INET, SOCK_DGRAM, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	a = (struct sockaddr_in *)&ifr.ifr_addr;
	a->sin_family = AF_INET;
	inet_pton(AF_INET, net_ip, &a->sin_addr);
	if (ioctl(s, SIOCSIFADDR, &ifr) && errno != EEXIST)
		goto out;
	inet_pton(AF_INET, "255.255.255.0", &a->sin_addr);
	if (ioctl(s, SIOCSIFNETMASK, &ifr) || ioctl(s, SIOCGIFFLAGS, &ifr))
		goto out;
	ifr.ifr_flags |= IFF_UP;
	ret = ioctl(s, SIOCSIFFLAGS, &ifr);
out:
	close(s);
	return ret;
}

struct rr {
	int cpu;
	double until;
	long max;
	long done;
	int err;
};

/* One connection pinned to one CPU: 1-byte request, 1-byte response. */
static void *rr_flow(void *arg)
{
	struct rr *j = arg;
	struct timeval tv = { .tv_sec = 10 };
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	cpu_set_t set;
	char c = 'x';
	ssize_t n;

	if (s < 0) {
		j->err = errno;
		return NULL;
	}
	CPU_ZERO(&set);
	CPU_SET(j->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() too */
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (const struct sockaddr *)&net_host, sizeof(net_host))) {
		j->err = errno;
		close(s);
		return NULL;
	}
	while (j->max ? j->done < j->max : now_s() < j->until) {
		if (send(s, &c, 1, 0) != 1) {
			j->err = errno;
			break;
		}
		n = recv(s, &c, 1, MSG_WAITALL);
		if (n != 1) {
			j->err = n == 0 ? EPIPE : errno; /* 0: the peer closed */
			break;
		}
		j->done++;
	}
	close(s);
	return NULL;
}

/* @flows connections on CPUs 0.. for @secs (or @max transactions each if
 * non-zero); transactions done, -errno on failure. */
static long rr_run(int flows, double secs, long max)
{
	pthread_t t[16];
	struct rr j[16];
	long total = 0;
	int i, err = 0;

	for (i = 0; i < flows; i++) {
		j[i] = (struct rr){ .cpu = i, .until = now_s() + secs, .max = max };
		pthread_create(&t[i], NULL, rr_flow, &j[i]);
	}
	for (i = 0; i < flows; i++) {
		pthread_join(t[i], NULL);
		total += j[i].done;
		err = err ?: j[i].err;
	}
	return err ? -err : total;
}

struct impl {
	const char *name, *driver, *load;
};

static char rust_load[PATH_MAX + 64], wired_load[PATH_MAX + 80];
static struct impl impls[3] = {
	{ "c", "virtio-mmio", "rmmod virtio_mmio_rs 2>/dev/null; rmmod virtio_mmio 2>/dev/null; modprobe virtio_mmio" },
	{ "rust", "virtio_mmio_rs", rust_load },
	{ "msi", "virtio_mmio_rs", rust_load },
};
static int nimpls = 2;

/* The disks' serials (vrs.disks=); one empty name: the first disk. */
static char disks[4][32];
static int ndisks = 1;

/* Wait (from @t0, 10 s) for disk @serial under @im's driver. */
static int find_node(const struct impl *im, const char *serial, char *dev, size_t n, double t0)
{
	while (find_disk(im->driver, serial, dev, n)) {
		if (now_s() - t0 > 10)
			return -1;
		usleep(20000);
	}
	/* udev-less image: devtmpfs creates the node; wait for it. */
	while (access(dev, R_OK)) {
		if (now_s() - t0 > 10)
			return -1;
		usleep(20000);
	}
	return 0;
}

struct job {
	const char *dev;
	double until;
	long max;
	long reads;
	int err;
	uint64_t seed;
	off_t blocks;
};

static void *reader(void *arg)
{
	struct job *j = arg;
	unsigned char *buf;
	int fd;

	if (posix_memalign((void **)&buf, BLK, BLK)) {
		j->err = ENOMEM;
		return NULL;
	}
	fd = open(j->dev, O_RDONLY | O_DIRECT);
	if (fd < 0) {
		j->err = errno;
		free(buf);
		return NULL;
	}
	while ((j->max ? j->reads < j->max : now_s() < j->until)) {
		off_t blk;

		j->seed ^= j->seed << 13;
		j->seed ^= j->seed >> 7;
		j->seed ^= j->seed << 17;
		blk = j->seed % j->blocks;
		if (pread(fd, buf, BLK, blk * BLK) != BLK) {
			j->err = errno ?: EIO;
			break;
		}
		j->reads++;
	}
	close(fd);
	free(buf);
	return NULL;
}

/* @jobs threads of random reads for @secs (or @max reads in total if
 * non-zero); returns the reads done, -errno on failure. */
/* Interrupts so far of the virtio device under block device @dev
 * (/proc/interrupts lines named "virtioN" or "virtioN-..."; 0 if none). */
static long long dev_irqs(const char *dev)
{
	char p[PATH_MAX], l[PATH_MAX], name[64], line[4096];
	long long total = 0;
	ssize_t r;
	FILE *f;
	int ncpu = 0;

	snprintf(p, sizeof(p), "/sys/class/block/%s/device", strrchr(dev, '/') + 1);
	r = readlink(p, l, sizeof(l) - 1);
	if (r < 0)
		return 0;
	l[r] = 0;
	snprintf(name, sizeof(name), "%s", strrchr(l, '/') ? strrchr(l, '/') + 1 : l);
	f = fopen("/proc/interrupts", "r");
	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f))
		for (char *t = strtok(line, " \n"); t; t = strtok(NULL, " \n"))
			ncpu++;
	while (fgets(line, sizeof(line), f)) {
		char *q = strchr(line, ':'), *end, *last;
		long long sum = 0;

		if (!q)
			continue;
		q++;
		for (int i = 0; i < ncpu; i++) {
			long long c = strtoll(q, &end, 10);

			if (end == q)
				break;
			sum += c;
			q = end;
		}
		line[strcspn(line, "\n")] = 0;
		last = strrchr(line, ' ');
		if (last && (!strcmp(last + 1, name) ||
			     (!strncmp(last + 1, name, strlen(name)) && last[1 + strlen(name)] == '-')))
			total += sum;
	}
	fclose(f);
	return total;
}

/* /proc/kallsyms onto dev at off (at most 16 MiB, NUL-terminated). */
static int dump_kallsyms(const char *dev, off_t off)
{
	static char buf[16 << 20];
	size_t len = 0;
	ssize_t n;
	int fd, ok;

	fd = open("/proc/kallsyms", O_RDONLY);
	if (fd < 0)
		return -1;
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(fd);
	if (len >= sizeof(buf) - 1)
		return -1;
	buf[len++] = 0;
	fd = open(dev, O_WRONLY);
	if (fd < 0)
		return -1;
	ok = pwrite(fd, buf, len, off) == (ssize_t)len && fsync(fd) == 0;
	close(fd);
	return ok ? 0 : -1;
}

static long readers(const char *dev, int jobs, double secs, long max)
{
	pthread_t t[16];
	struct job j[16];
	char p[PATH_MAX];
	long total = 0, sectors;
	int i, err = 0;
	FILE *f;

	snprintf(p, sizeof(p), "/sys/class/block/%s/size", strrchr(dev, '/') + 1);
	f = fopen(p, "r");
	if (!f || fscanf(f, "%ld", &sectors) != 1)
		return -EIO;
	fclose(f);
	for (i = 0; i < jobs; i++) {
		j[i] = (struct job){ .dev = dev, .until = now_s() + secs, .max = max / jobs,
				     .seed = 0x9e3779b97f4a7c15ull * (i + 1),
				     .blocks = sectors * 512 / BLK };
		pthread_create(&t[i], NULL, reader, &j[i]);
	}
	for (i = 0; i < jobs; i++) {
		pthread_join(t[i], NULL);
		total += j[i].reads;
		err = err ?: j[i].err;
	}
	return err ? -err : total;
}

static void parse_disks(void)
{
	char buf[4096], *p, *tok, *save;
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	p = strstr(buf, "vrs.disks=");
	if (!p)
		return;
	p += strlen("vrs.disks=");
	p[strcspn(p, " \n")] = 0;
	ndisks = 0;
	for (tok = strtok_r(p, ",", &save); tok && ndisks < 4; tok = strtok_r(NULL, ",", &save))
		snprintf(disks[ndisks++], sizeof(disks[0]), "%s", tok);
	if (!ndisks)
		ndisks = 1;
}

/* " disk=<serial>" when the boot names its disks. */
static const char *disk_tag(int d)
{
	static char t[48];

	if (!disks[d][0])
		return "";
	snprintf(t, sizeof(t), " disk=%s", disks[d]);
	return t;
}

int main(void)
{
	int rounds = cmdline_long("vrs.rounds", 3), secs = cmdline_long("vrs.secs", 5);
	long nreads = cmdline_long("vrs.reads", 2000);
	static const int jobs[] = { 1, 4 };
	char line[PATH_MAX], ko[PATH_MAX] = "";
	FILE *f = fopen("/vrs/modules.list", "r");
	int r, k, i;

	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (strstr(line, "virtio_mmio_rs.ko"))
			snprintf(ko, sizeof(ko), "/vrs/modules/%s", line);
	}
	if (f)
		fclose(f);
	snprintf(rust_load, sizeof(rust_load), "rmmod virtio_mmio_rs 2>/dev/null; rmmod virtio_mmio 2>/dev/null; insmod %s", ko);
	snprintf(wired_load, sizeof(wired_load), "%s force_wired=1", rust_load);
	if (cmdline_is("vrs.drivers=1")) {
		snprintf(ko, sizeof(ko), "%s", "");
		f = fopen("/vrs/modules.list", "r");
		while (f && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = 0;
			if (strstr(line, "virtio_blk_rs.ko"))
				snprintf(ko, sizeof(ko), "/vrs/modules/%s", line);
		}
		if (f)
			fclose(f);
		snprintf(rust_load, sizeof(rust_load),
			 "rmmod virtio_blk 2>/dev/null; rmmod virtio_blk_rs 2>/dev/null; insmod %s", ko);
		impls[0] = (struct impl){ "c", "virtio_blk",
			"rmmod virtio_blk_rs 2>/dev/null; rmmod virtio_blk 2>/dev/null; modprobe virtio_blk" };
		impls[1] = (struct impl){ "rust", "virtio_blk_rs", rust_load };
		by_driver = 1;
	}
	if (cmdline_is("vrs.msi=1")) {
		/* "rust" is then the wired one; "msi" the default load. */
		impls[1] = (struct impl){ "wired", "virtio_mmio_rs", wired_load };
		nimpls = 3;
	}
	parse_disks();
	parse_net();
	printf("TAP version 13\n");
	fflush(stdout);

	if (cmdline_is("vrs.bench=trace")) {
		printf("1..%d\n", nimpls);
		cpu_set_t cpu0;

		/* One CPU for every measured read of every driver: where the
		 * reader runs decides which queue it uses and whether its
		 * completions cross CPUs, which the counts would otherwise
		 * carry from run to run. */
		CPU_ZERO(&cpu0);
		CPU_SET(0, &cpu0);
		sched_setaffinity(0, sizeof(cpu0), &cpu0);
		/* The idle guest's share of a window (the pauses around the
		 * work: 2 s), for counters that run all the time. */
		printf("VRS-MARK idle-start\n");
		fflush(stdout);
		sleep(2);
		printf("VRS-MARK idle-end\n");
		fflush(stdout);
		sleep(1);
		for (k = 0; k < nimpls; k++) {
			int ok = 1, d;

			if (run(impls[k].load)) {
				result(0, "load %s", impls[k].name);
				continue;
			}
			for (d = 0; d < ndisks; d++) {
				char dev[64];
				long got;

				if (find_node(&impls[k], disks[d], dev, sizeof(dev), now_s())) {
					ok = 0;
					continue;
				}
				readers(dev, 1, 0.5, 0); /* warm up */
				sleep(1);
				printf("VRS-MARK %s%s%s-start\n", impls[k].name, disks[d][0] ? "-" : "",
				       disks[d]);
				fflush(stdout);
				sleep(1);
				got = readers(dev, 1, 0, nreads);
				sleep(1);
				printf("VRS-MARK %s%s%s-end reads=%ld\n", impls[k].name,
				       disks[d][0] ? "-" : "", disks[d], got);
				fflush(stdout);
				sleep(1);
				ok &= got == nreads;
				if (d == 0 && cmdline_is("vrs.kallsyms=1") &&
				    dump_kallsyms(dev, (off_t)k << 24)) {
					printf("# %s: kallsyms not written to %s\n", impls[k].name, dev);
					ok = 0;
				}
			}
			if (have_net) {
				char ifname[IFNAMSIZ];
				long got;

				if (net_up(ifname, sizeof(ifname), now_s()) || rr_run(1, 0.5, 0) < 0) {
					printf("# %s: no network (%s)\n", impls[k].name, net_mac);
					ok = 0;
				} else {
					sleep(1);
					printf("VRS-MARK %s-net-start\n", impls[k].name);
					fflush(stdout);
					sleep(1);
					got = rr_run(1, 0, nreads);
					sleep(1);
					printf("VRS-MARK %s-net-end reads=%ld\n", impls[k].name, got);
					fflush(stdout);
					sleep(1);
					ok &= got == nreads;
				}
			}
			result(ok, "trace %s", impls[k].name);
		}
		return failed ? 1 : 0;
	}

	printf("1..%d\n", rounds * nimpls);
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < nimpls; i++) {
			/* The order rotates from round to round. */
			const struct impl *im = &impls[(i + r) % nimpls];
			char dev[64], msg[64];
			int ok = 1, d;
			size_t q;

			if (run(im->load)) {
				result(0, "load %s", im->name);
				continue;
			}
			for (d = 0; d < ndisks; d++) {
				if (find_node(im, disks[d], dev, sizeof(dev), now_s())) {
					printf("# %s: no disk %s\n", im->name, disks[d]);
					ok = 0;
					continue;
				}
				readers(dev, 1, 0.5, 0); /* warm up */
				for (q = 0; q < sizeof(jobs) / sizeof(jobs[0]); q++) {
					long long i0 = dev_irqs(dev);
					double t0 = now_s();
					long got = readers(dev, jobs[q], secs, 0);
					double t = now_s() - t0;

					if (got < 0) {
						printf("# %s: read error %s\n", dev, strerror((int)-got));
						ok = 0;
						continue;
					}
					printf("VRS-BENCH impl=%s%s round=%d jobs=%d reads=%ld secs=%.3f irqs=%lld\n",
					       im->name, disk_tag(d), r + 1, jobs[q], got, t, dev_irqs(dev) - i0);
					fflush(stdout);
				}
			}
			if (have_net) {
				char ifname[IFNAMSIZ];

				if (net_up(ifname, sizeof(ifname), now_s()) || rr_run(1, 0.5, 0) < 0) {
					printf("# %s: no network (%s)\n", im->name, net_mac);
					ok = 0;
				}
				for (q = 0; ok && q < sizeof(jobs) / sizeof(jobs[0]); q++) {
					double t0 = now_s();
					long got = rr_run(jobs[q], secs, 0);
					double t = now_s() - t0;

					if (got < 0) {
						printf("# %s: request/response: %s\n", ifname,
						       strerror((int)-got));
						ok = 0;
						continue;
					}
					printf("VRS-BENCH impl=%s disk=net round=%d jobs=%d reads=%ld secs=%.3f\n",
					       im->name, r + 1, jobs[q], got, t);
					fflush(stdout);
				}
			}
			snprintf(msg, sizeof(msg), "%s round %d", im->name, r + 1);
			result(ok, "%s", msg);
		}
	}
	return failed ? 1 : 0;
}
