// SPDX-License-Identifier: GPL-2.0
/*
 * Two guests on one ivshmem server, with ivshmem_rs on both sides and only
 * the uapi (include/uapi/linux/ivshmem.h). vm.twoguest.conf boots guest A
 * (this program, as a KTAP test); its host helper (two_guests.py) boots
 * guest B from the same image with "vrs.role=b", where VM_GUEST_CMDS runs
 * this program as "--peer". Each guest has two ivshmem-doorbell devices
 * with 2 vectors: one on our ivshmem-server (1 MiB of shared memory), one on
 * QEMU's contrib/ivshmem-server (2 MiB), and everything below runs on both.
 *
 * The guests meet in the shared memory:
 *
 *   0x000  "A <id> <len> <sum>\n"   A's id, and the data it wrote
 *   0x040  "B <id>\n"               B is ready (its eventfds are set)
 *   0x080  "R <v0> <v1> <mask> <sum>\n"
 *                                   B's report: its vector 0 and 1 eventfd
 *                                   counts and read() mask when A's ring came,
 *                                   and the sum of the data it read
 *   0x800  "B-DONE <verdict>\n"     the host helper, once B's QEMU exited:
 *                                   "clean" when B passed and its kernel log
 *                                   has no splat
 *   0x900  "GONE <id>\n"            the host helper's monitor peer: the
 *                                   server said peer <id> left
 *   0x1000 samples/ivshmem/ivshmem_pingpong's page
 *   0x10000 the data (DATA_LEN bytes)
 *
 * A writes the data and its header, rings B on vector 1 and waits for its
 * own vector 0; B, woken by vector 1, reads the data and reports, then
 * rings A on vector 0. Then A pings B with the sample (B answers with the
 * sample's pong), and B powers off: the server tells the remaining peers,
 * and the helper's monitor writes what it heard. The rounds of ping-pong
 * come from the kernel command line (ivt.rounds=N, default 300).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/ivshmem.h>

#include "kselftest_harness.h"

#define DATA_OFF 0x10000
#define DATA_LEN (256 << 10)
#define SAMPLE "/vrs/samples/ivshmem/ivshmem_pingpong"

struct dev {
	char path[128];
	struct ivshmem_info info;
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* The doorbell device whose shared memory is @size bytes. */
static int find_dev(struct dev *out, uint64_t size)
{
	DIR *dir = opendir("/dev/ivshmem");
	struct dirent *e;
	int found = -1;

	while (dir && (e = readdir(dir))) {
		struct dev d;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(d.path, sizeof(d.path), "/dev/ivshmem/%s", e->d_name);
		fd = open(d.path, O_RDWR);
		if (fd < 0)
			continue;
		if (!ioctl(fd, IVSHMEM_IOCTL_INFO, &d.info) && (d.info.flags & IVSHMEM_INFO_DOORBELL) &&
		    d.info.shm_size == size) {
			*out = d;
			found = 0;
		}
		close(fd);
	}
	if (dir)
		closedir(dir);
	return found;
}

/* Waits up to @secs for text starting with @prefix at @off. */
static int wait_text(volatile char *m, size_t off, const char *prefix, double secs)
{
	double t0 = now_s();

	while (memcmp((const char *)m + off, prefix, strlen(prefix))) {
		if (now_s() - t0 >= secs)
			return -1;
		usleep(20000);
	}
	return 0;
}

/* FNV-1a over the data. */
static uint64_t sum(const volatile uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static unsigned int rounds(void)
{
	char buf[1024] = "", *p;
	FILE *f = fopen("/proc/cmdline", "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	p = strstr(buf, "ivt.rounds=");
	return p ? strtoul(p + 11, NULL, 0) : 300;
}

/* ---- guest B: --peer ---------------------------------------------------- */

struct peer_dev {
	struct dev d;
	int fd, efd[2];
	char *m;
};

static int peer_open(struct peer_dev *p, uint64_t size)
{
	char buf[32];

	if (find_dev(&p->d, size)) {
		printf("peer: no doorbell device of %" PRIu64 " bytes\n", size);
		return -1;
	}
	p->fd = open(p->d.path, O_RDWR | O_NONBLOCK);
	p->m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
	if (p->fd < 0 || p->m == MAP_FAILED) {
		printf("peer: %s: %s\n", p->d.path, strerror(errno));
		return -1;
	}
	for (int v = 0; v < 2; v++) {
		struct ivshmem_eventfd ev = { .vector = v };

		p->efd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ev.fd = p->efd[v];
		if (ioctl(p->fd, IVSHMEM_IOCTL_SET_EVENTFD, &ev)) {
			printf("peer: SET_EVENTFD %d: %s\n", v, strerror(errno));
			return -1;
		}
	}
	snprintf(buf, sizeof(buf), "B %u\n", p->d.info.peer_id);
	memcpy(p->m + 0x40, buf, strlen(buf) + 1);
	printf("peer: %s is peer %u, ready\n", p->d.path, p->d.info.peer_id);
	return 0;
}

static uint64_t efd_count(int efd)
{
	uint64_t n = 0;

	if (read(efd, &n, 8) != 8)
		n = 0;
	return n;
}

/* Waits for A's ring, reads A's data, reports and rings A back. */
static int peer_answer(struct peer_dev *p)
{
	struct pollfd pf[2] = { { .fd = p->efd[0], .events = POLLIN }, { .fd = p->efd[1], .events = POLLIN } };
	struct ivshmem_ring r = { .vector = 0 };
	uint64_t v0, v1, mask = 0, s;
	unsigned int a, len;
	char buf[128];

	if (poll(pf, 2, 300000) < 1) {
		printf("peer: %s: no ring from A in 300 s\n", p->d.path);
		return -1;
	}
	/* A rang once; anything else that moves in the next 300 ms is wrong. */
	usleep(300000);
	v0 = efd_count(p->efd[0]);
	v1 = efd_count(p->efd[1]);
	if (read(p->fd, &mask, 8) != 8)
		mask = 0;
	if (sscanf(p->m, "A %u %u", &a, &len) != 2 || len != DATA_LEN) {
		printf("peer: %s: no header from A: %.32s\n", p->d.path, p->m);
		return -1;
	}
	s = sum((uint8_t *)p->m + DATA_OFF, len);
	snprintf(buf, sizeof(buf), "R %" PRIu64 " %" PRIu64 " %" PRIx64 " %" PRIx64 "\n", v0, v1, mask, s);
	memcpy(p->m + 0x80, buf, strlen(buf) + 1);
	printf("peer: %s: A is %u: %s", p->d.path, a, buf);
	r.peer = a;
	if (ioctl(p->fd, IVSHMEM_IOCTL_RING, &r)) {
		printf("peer: ring A: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int peer_main(void)
{
	struct peer_dev p[2];
	uint64_t sizes[2] = { 1 << 20, 2 << 20 };
	char cmd[256];
	int rc = 0;

	for (int i = 0; i < 2; i++)
		if (peer_open(&p[i], sizes[i]))
			return 1;
	for (int i = 0; i < 2 && !rc; i++)
		rc = peer_answer(&p[i]);
	for (int i = 0; i < 2; i++) {
		close(p[i].efd[0]);
		close(p[i].efd[1]);
		munmap(p[i].m, sizes[i]);
		close(p[i].fd);
	}
	/* The sample's pong, on each server in turn. */
	for (int i = 0; i < 2 && !rc; i++) {
		snprintf(cmd, sizeof(cmd), SAMPLE " -d %s -s -n %u", p[i].d.path, rounds());
		rc = system(cmd) ? 1 : 0;
	}
	return rc;
}

/* ---- guest A: the test --------------------------------------------------- */

/* A rings B on vector 1 with data in the shared memory; B reports. */
static void ring_b(struct __test_metadata *_metadata, uint64_t size)
{
	struct ivshmem_ring r = { .vector = 1 };
	uint64_t v0, v1, bmask, bsum, mask = 0, s;
	struct pollfd pf;
	char buf[64], *m;
	unsigned int b;
	struct dev d;
	int fd, rings = 0;
	double t0;

	ASSERT_EQ(0, find_dev(&d, size)) TH_LOG("no doorbell device with %" PRIu64 " bytes", size);
	ASSERT_EQ(2U, d.info.vectors);
	fd = open(d.path, O_RDWR);
	ASSERT_LE(0, fd);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, wait_text(m, 0x40, "B ", 300)) TH_LOG("guest B never said it was ready");
	ASSERT_EQ(1, sscanf(m + 0x40, "B %u", &b));
	ASSERT_NE(d.info.peer_id, b);
	TH_LOG("%s: we are peer %u, guest B is peer %u", d.path, d.info.peer_id, b);

	for (size_t i = 0; i < DATA_LEN; i++)
		m[DATA_OFF + i] = (char)(i * 7 + d.info.peer_id + (i >> 12));
	s = sum((uint8_t *)m + DATA_OFF, DATA_LEN);
	snprintf(buf, sizeof(buf), "A %u %u %" PRIx64 "\n", d.info.peer_id, DATA_LEN, s);
	memcpy(m, buf, strlen(buf) + 1);

	/*
	 * Ring B on vector 1 and wait for vector 0. B's QEMU knew our id long
	 * before B was ready, so the first ring should do; a second one after
	 * 10 s quiet tells a lost ring from a missing peer in the log.
	 */
	r.peer = b;
	pf = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (t0 = now_s(); now_s() - t0 < 120;) {
		if (!rings || !poll(&pf, 1, 10000)) {
			ASSERT_EQ(0, ioctl(fd, IVSHMEM_IOCTL_RING, &r));
			rings++;
			continue;
		}
		break;
	}
	ASSERT_EQ(8, read(fd, &mask, 8)) TH_LOG("guest B never rang back (%d rings)", rings);
	EXPECT_EQ(1ULL << 0, mask) TH_LOG("B rings vector 0 only");
	EXPECT_EQ(1, rings) TH_LOG("a ring to B was lost");
	ASSERT_EQ(0, wait_text(m, 0x80, "R ", 1));
	ASSERT_EQ(4, sscanf(m + 0x80, "R %" SCNu64 " %" SCNu64 " %" SCNx64 " %" SCNx64, &v0, &v1, &bmask, &bsum));
	EXPECT_EQ(0ULL, v0) TH_LOG("B's vector 0 moved");
	EXPECT_EQ((uint64_t)rings, v1) TH_LOG("B's vector 1 eventfd count");
	EXPECT_EQ(1ULL << 1, bmask) TH_LOG("B's read() mask: vector 1 only");
	EXPECT_EQ(s, bsum) TH_LOG("B read other bytes than we wrote");
	munmap(m, size);
	close(fd);
}

/* samples/ivshmem/ivshmem_pingpong between the guests: A pings, B pongs. */
static void pingpong(struct __test_metadata *_metadata, uint64_t size)
{
	char cmd[256], line[256] = "", want[64];
	unsigned int n = rounds();
	struct dev d;
	FILE *p;

	ASSERT_EQ(0, find_dev(&d, size));
	snprintf(cmd, sizeof(cmd), SAMPLE " -d %s -n %u 2>&1", d.path, n);
	p = popen(cmd, "r");
	ASSERT_NE(NULL, p);
	while (fgets(line + strlen(line), sizeof(line) - strlen(line), p))
		;
	EXPECT_EQ(0, pclose(p));
	/* The figure, for the log and tools/ivshmem/bench/bench.sh. */
	printf("# guest<->guest %s %s", size == 1 << 20 ? "ours" : "qemu", line);
	snprintf(want, sizeof(want), "ping: %u round trips with peer ", n);
	EXPECT_EQ(0, strncmp(line, want, strlen(want))) TH_LOG("%s", line);
}

/* B powered off: the helper says how B ended and what the server said. */
static void b_left(struct __test_metadata *_metadata, uint64_t size)
{
	unsigned int b, gone;
	struct dev d;
	char *m;
	int fd;

	ASSERT_EQ(0, find_dev(&d, size));
	fd = open(d.path, O_RDWR);
	ASSERT_LE(0, fd);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(1, sscanf(m + 0x40, "B %u", &b));
	ASSERT_EQ(0, wait_text(m, 0x800, "B-DONE ", 240)) TH_LOG("guest B did not end");
	EXPECT_EQ(0, strncmp(m + 0x800, "B-DONE clean\n", 13)) TH_LOG("%.200s", m + 0x800);
	/* The monitor hears of the departure after QEMU has gone. */
	for (double t0 = now_s(); now_s() - t0 < 30; usleep(50000))
		if (sscanf(m + 0x900, "GONE %u", &gone) == 1 && gone == b)
			break;
	EXPECT_EQ(1, sscanf(m + 0x900, "GONE %u", &gone)) TH_LOG("the server announced no departure");
	EXPECT_EQ(b, gone) TH_LOG("the departure was not B's");
	munmap(m, size);
	close(fd);
}

FIXTURE(two) {};
FIXTURE_SETUP(two) {}
FIXTURE_TEARDOWN(two) {}

/* B boots alongside A under TCG: the waits are long. */
TEST_F_TIMEOUT(two, a_rings_b_on_our_server, 400) { ring_b(_metadata, 1 << 20); }
TEST_F_TIMEOUT(two, a_rings_b_on_qemus_server, 400) { ring_b(_metadata, 2 << 20); }
TEST_F_TIMEOUT(two, pingpong_on_our_server, 300) { pingpong(_metadata, 1 << 20); }
TEST_F_TIMEOUT(two, pingpong_on_qemus_server, 300) { pingpong(_metadata, 2 << 20); }
TEST_F_TIMEOUT(two, b_leaves_our_server, 300) { b_left(_metadata, 1 << 20); }
TEST_F_TIMEOUT(two, b_leaves_qemus_server, 60) { b_left(_metadata, 2 << 20); }

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--peer"))
		return peer_main();
	return test_harness_run(argc, argv);
}
