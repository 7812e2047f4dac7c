// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem_rs in a guest, against QEMU's ivshmem-plain and ivshmem-doorbell
 * devices and a host peer (host_peer.py: our ivshmem-server and
 * ivshmem-peer on the host side). Uses only the uapi
 * (include/uapi/linux/ivshmem.h).
 *
 * The host and the guest meet in the shared memory:
 *  - plain: the conf put "HOST-PLAIN" at 4096 of the backing file; the
 *    guest writes "GUEST-PLAIN" at 8192; the host answers "ACK-PLAIN" at
 *    12288 once it saw it in the file.
 *  - doorbell: the guest writes "G <id>" at 0; the host rings it on
 *    vector 1, writes "H <its id>" at 64; the guest rings the host on
 *    vector 0; the host writes "OK0" at 128 when its wait saw exactly that,
 *    then rings the guest on vector 0 (the eventfd case).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <linux/dma-buf.h>
#include <linux/ivshmem.h>

#include "kselftest_harness.h"

#define DEV_DIR "/dev/ivshmem"
#define DRV "/sys/bus/pci/drivers/ivshmem_rs"

struct dev {
	char path[128];
	char addr[64];
	struct ivshmem_info info;
};

/* Every device node, with its info; the count. */
static int find_devs(struct dev *d, int max)
{
	DIR *dir = opendir(DEV_DIR);
	struct dirent *e;
	int n = 0;

	if (!dir)
		return 0;
	while ((e = readdir(dir)) && n < max) {
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(d[n].path, sizeof(d[n].path), DEV_DIR "/%s", e->d_name);
		snprintf(d[n].addr, sizeof(d[n].addr), "%s", e->d_name);
		fd = open(d[n].path, O_RDWR);
		if (fd < 0)
			continue;
		if (!ioctl(fd, IVSHMEM_IOCTL_INFO, &d[n].info))
			n++;
		close(fd);
	}
	closedir(dir);
	return n;
}

static int find_kind(struct dev *out, int doorbell)
{
	struct dev d[8];
	int n = find_devs(d, 8);

	for (int i = 0; i < n; i++)
		if (!!(d[i].info.flags & IVSHMEM_INFO_DOORBELL) == doorbell) {
			*out = d[i];
			return 0;
		}
	return -1;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Waits up to @secs (0: just looks) for @want at @off of the mapping. */
static int wait_text(volatile char *m, size_t off, const char *want, double secs)
{
	double t0 = now_s();

	for (;;) {
		if (!memcmp((const char *)m + off, want, strlen(want)))
			return 0;
		if (now_s() - t0 >= secs)
			return -1;
		usleep(20000);
	}
}

static long sysfs_num(const char *addr, const char *attr)
{
	char p[256], buf[64];
	FILE *f;
	long v = -1;

	snprintf(p, sizeof(p), "/sys/class/misc/ivshmem!%s/%s", addr, attr);
	f = fopen(p, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 0);
	fclose(f);
	return v;
}

TEST(both_devices_bound_with_their_info)
{
	struct dev d[8];
	int n = find_devs(d, 8), plain = 0, bell = 0;

	ASSERT_EQ(2, n) TH_LOG("the conf gives one ivshmem-plain and one ivshmem-doorbell");
	for (int i = 0; i < n; i++) {
		struct ivshmem_info *in = &d[i].info;

		EXPECT_EQ(1U, in->revision);
		EXPECT_EQ(1ULL << 20, in->shm_size);
		EXPECT_EQ((long)in->shm_size, sysfs_num(d[i].addr, "shm_size"));
		EXPECT_EQ((long)in->peer_id, sysfs_num(d[i].addr, "peer_id"));
		EXPECT_EQ((long)in->vectors, sysfs_num(d[i].addr, "vectors"));
		EXPECT_EQ((long)!!(in->flags & IVSHMEM_INFO_DOORBELL), sysfs_num(d[i].addr, "doorbell"));
		if (in->flags & IVSHMEM_INFO_DOORBELL) {
			bell++;
			EXPECT_EQ(2U, in->vectors) TH_LOG("vectors=2 in the conf");
		} else {
			plain++;
			EXPECT_EQ(0U, in->vectors);
			EXPECT_EQ(0U, in->peer_id);
		}
	}
	EXPECT_EQ(1, plain);
	EXPECT_EQ(1, bell);
}

TEST(plain_memory_is_the_host_file)
{
	struct dev d;
	char *m;
	int fd;

	ASSERT_EQ(0, find_kind(&d, 0));
	fd = open(d.path, O_RDWR);
	ASSERT_LE(0, fd);
	m = mmap(NULL, d.info.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(0, memcmp(m + 4096, "HOST-PLAIN", 10)) TH_LOG("the host's bytes are not in BAR2");
	memcpy(m + 8192, "GUEST-PLAIN", 11);
	EXPECT_EQ(0, wait_text(m, 12288, "ACK-PLAIN", 60)) TH_LOG("the host never saw our write");
	/* Read-only: O_RDONLY and a shared PROT_READ mapping are enough. */
	{
		int ro = open(d.path, O_RDONLY);
		char *r;

		ASSERT_LE(0, ro);
		r = mmap(NULL, 8192, PROT_READ, MAP_SHARED, ro, 0);
		ASSERT_NE(MAP_FAILED, r) TH_LOG("read-only shared mapping: %s", strerror(errno));
		EXPECT_EQ(0, memcmp(r + 4096, "HOST-PLAIN", 10));
		munmap(r, 8192);
		close(ro);
	}
	/* A partial mapping at an offset sees the same bytes. */
	{
		char *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 4096);

		ASSERT_NE(MAP_FAILED, p);
		EXPECT_EQ(0, memcmp(p, "HOST-PLAIN", 10));
		munmap(p, 4096);
	}
	munmap(m, d.info.shm_size);
	close(fd);
}

/* A dma-buf of part of the plain memory: the same bytes through both. */
TEST(dmabuf_of_the_shared_memory)
{
	struct ivshmem_dmabuf req = { .offset = 4096, .size = 8192, .flags = O_CLOEXEC | O_RDWR };
	struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW };
	char path[64], info[512] = "";
	struct dev d;
	char *b, *m;
	int fd, dfd, n;

	ASSERT_EQ(0, find_kind(&d, 0));
	fd = open(d.path, O_RDWR);
	ASSERT_LE(0, fd);
	dfd = ioctl(fd, IVSHMEM_IOCTL_EXPORT_DMABUF, &req);
	ASSERT_LE(0, dfd) TH_LOG("export: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", dfd);
	n = open(path, O_RDONLY);
	ASSERT_LE(0, n);
	ASSERT_LT(0, read(n, info, sizeof(info) - 1));
	close(n);
	EXPECT_NE(NULL, strstr(info, "exp_name:\tivshmem_rs")) TH_LOG("%s", info);
	EXPECT_NE(NULL, strstr(info, "size:\t8192")) TH_LOG("%s", info);

	b = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, dfd, 0);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_EQ(0, ioctl(dfd, DMA_BUF_IOCTL_SYNC, &sync));
	EXPECT_EQ(0, memcmp(b, "HOST-PLAIN", 10)) TH_LOG("the dma-buf does not start at offset 4096");
	memcpy(b + 100, "THROUGH-DMABUF", 14);
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
	ASSERT_EQ(0, ioctl(dfd, DMA_BUF_IOCTL_SYNC, &sync));
	m = mmap(NULL, 3 * 4096, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(0, memcmp(m + 4096 + 100, "THROUGH-DMABUF", 14));
	/* The dma-buf is 8 KiB: nothing beyond. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, dfd, 8192));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 3 * 4096, PROT_READ, MAP_SHARED, dfd, 0));
	munmap(b, 8192);
	close(dfd);

	/* Bad ranges and flags. */
	req = (struct ivshmem_dmabuf){ .offset = 100, .size = 4096 };
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_EXPORT_DMABUF, &req));
	EXPECT_EQ(EINVAL, errno) TH_LOG("unaligned offset");
	req = (struct ivshmem_dmabuf){ .offset = 0, .size = 0 };
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_EXPORT_DMABUF, &req));
	EXPECT_EQ(EINVAL, errno) TH_LOG("empty");
	req = (struct ivshmem_dmabuf){ .offset = 4096, .size = 1 << 20 };
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_EXPORT_DMABUF, &req));
	EXPECT_EQ(EINVAL, errno) TH_LOG("beyond BAR2");
	req = (struct ivshmem_dmabuf){ .offset = ~0ULL & ~4095ULL, .size = 8192 };
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_EXPORT_DMABUF, &req));
	EXPECT_EQ(EINVAL, errno) TH_LOG("offset + size overflows");
	req = (struct ivshmem_dmabuf){ .offset = 0, .size = 4096, .flags = O_APPEND };
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_EXPORT_DMABUF, &req));
	EXPECT_EQ(EINVAL, errno) TH_LOG("flags");
	req = (struct ivshmem_dmabuf){ .offset = 0, .size = 4096, .reserved = 1 };
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_EXPORT_DMABUF, &req));
	EXPECT_EQ(EINVAL, errno) TH_LOG("reserved field");
	munmap(m, 3 * 4096);
	close(fd);
}

TEST(bad_input_is_refused_cleanly)
{
	struct ivshmem_ring r = { .peer = 0x10000, .vector = 0 };
	struct ivshmem_eventfd ev = { .vector = 99, .fd = -1 };
	struct dev plain, bell;
	uint64_t mask;
	int fd, pfd, efd, other;
	void *m;

	ASSERT_EQ(0, find_kind(&plain, 0));
	ASSERT_EQ(0, find_kind(&bell, 1));
	fd = open(bell.path, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, fd);
	pfd = open(plain.path, O_RDWR);
	ASSERT_LE(0, pfd);

	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_RING, &r));
	EXPECT_EQ(EINVAL, errno) TH_LOG("peer id above 65535");
	r = (struct ivshmem_ring){ .peer = 1, .vector = 0x10000 };
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_RING, &r));
	EXPECT_EQ(EINVAL, errno) TH_LOG("vector above 65535");
	r.vector = 0;
	EXPECT_EQ(-1, ioctl(pfd, IVSHMEM_IOCTL_RING, &r));
	EXPECT_EQ(EOPNOTSUPP, errno) TH_LOG("ringing from ivshmem-plain");
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_RING, (void *)8));
	EXPECT_EQ(EFAULT, errno);

	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_SET_EVENTFD, &ev));
	EXPECT_EQ(EINVAL, errno) TH_LOG("vector out of range");
	ev = (struct ivshmem_eventfd){ .vector = 0, .fd = pfd };
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_SET_EVENTFD, &ev));
	EXPECT_EQ(EINVAL, errno) TH_LOG("not an eventfd");
	ev.fd = 1000;
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_SET_EVENTFD, &ev));
	EXPECT_EQ(EBADF, errno);
	/* One owner per vector. */
	efd = eventfd(0, EFD_CLOEXEC);
	ev = (struct ivshmem_eventfd){ .vector = 1, .fd = efd };
	EXPECT_EQ(0, ioctl(fd, IVSHMEM_IOCTL_SET_EVENTFD, &ev));
	other = open(bell.path, O_RDWR);
	EXPECT_EQ(-1, ioctl(other, IVSHMEM_IOCTL_SET_EVENTFD, &ev));
	EXPECT_EQ(EBUSY, errno);
	close(other);
	ev.fd = -1;
	EXPECT_EQ(0, ioctl(fd, IVSHMEM_IOCTL_SET_EVENTFD, &ev));
	close(efd);

	/* Unknown command, and a known one with the wrong size. */
	EXPECT_EQ(-1, ioctl(fd, _IO(IVSHMEM_IOCTL_MAGIC, 42)));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(fd, _IOR(IVSHMEM_IOCTL_MAGIC, 0, __u64), &mask));
	EXPECT_EQ(ENOTTY, errno);

	/* read(): too small a buffer; nothing pending without blocking. */
	EXPECT_EQ(-1, read(fd, &mask, 4));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, read(fd, &mask, 8));
	EXPECT_EQ(EAGAIN, errno);

	/* mmap: beyond BAR2, straddling its end, private, unaligned. */
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, pfd, 1 << 20);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, pfd, (1 << 20) - 4096);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	m = mmap(NULL, (2 << 20), PROT_READ, MAP_SHARED, pfd, 0);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, pfd, 0);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	/* (An unaligned offset is refused by mmap() itself.) */
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, pfd, 100);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	close(pfd);
	close(fd);
}

/* The host peer's steps take a while under TCG: a timeout of its own. */
FIXTURE(host) {};
FIXTURE_SETUP(host) {}
FIXTURE_TEARDOWN(host) {}

TEST_F_TIMEOUT(host, doorbells_with_a_host_peer, 300)
{
	struct dev d;
	struct ivshmem_eventfd ev;
	struct ivshmem_ring r;
	struct pollfd p;
	uint64_t mask, cnt;
	unsigned int host;
	char *m, buf[32];
	int fd, efd, n;

	ASSERT_EQ(0, find_kind(&d, 1));
	fd = open(d.path, O_RDWR);
	ASSERT_LE(0, fd);
	m = mmap(NULL, d.info.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ev = (struct ivshmem_eventfd){ .vector = 0, .fd = efd };
	ASSERT_EQ(0, ioctl(fd, IVSHMEM_IOCTL_SET_EVENTFD, &ev));

	/* 1. Tell the host our id; it answers with its own. */
	snprintf(buf, sizeof(buf), "G %u\n", d.info.peer_id);
	memcpy(m, buf, strlen(buf) + 1);
	ASSERT_EQ(0, wait_text(m, 64, "H ", 60)) TH_LOG("no host peer id in the shared memory");
	ASSERT_EQ(1, sscanf(m + 64, "H %u", &host));

	/*
	 * 2. Ring the host on vector 0; it says whether that came, and only
	 * that. QEMU learns of the host peer asynchronously and drops a ring
	 * to a peer it does not know yet: ring again until the answer.
	 */
	r = (struct ivshmem_ring){ .peer = host, .vector = 0 };
	for (n = 0; n < 30 && wait_text(m, 128, "OK0", 0.0) && wait_text(m, 128, "BAD", 0.0); n++) {
		ASSERT_EQ(0, ioctl(fd, IVSHMEM_IOCTL_RING, &r));
		wait_text(m, 128, "OK0", 2);
	}
	EXPECT_EQ(0, wait_text(m, 128, "OK0", 1)) TH_LOG("the host peer did not see vector 0: %.16s", m + 128);

	/* 3. The host rings us on vector 1. */
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 60000) != 1) {
		char line[256];
		FILE *f = fopen("/proc/interrupts", "r");

		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, "ivshmem"))
				TH_LOG("%s", line);
		if (f)
			fclose(f);
		ASSERT_TRUE(0) TH_LOG("no interrupt from the host peer");
	}
	ASSERT_EQ(8, read(fd, &mask, 8));
	EXPECT_EQ(1ULL << 1, mask) TH_LOG("the host rang vector 1 only");
	EXPECT_EQ(-1, read(efd, &cnt, 8)) TH_LOG("vector 0's eventfd moved");
	memcpy(m + 160, "GOT1", 5); /* the host rings vector 0 only after this */

	/* 3. The host rings vector 0 again: the eventfd counts it, read() shows it. */
	p = (struct pollfd){ .fd = efd, .events = POLLIN };
	ASSERT_EQ(1, poll(&p, 1, 60000)) TH_LOG("vector 0's eventfd never fired");
	ASSERT_EQ(8, read(efd, &cnt, 8));
	EXPECT_EQ(1ULL, cnt);
	n = read(fd, &mask, 8);
	EXPECT_EQ(8, n);
	EXPECT_EQ(1ULL << 0, mask);
	memcpy(m + 192, "DONE", 5);
	munmap(m, d.info.shm_size);
	close(efd);
	close(fd);
}

/* samples/ivshmem/ivshmem_pingpong against the host's "ivshmem-peer pong". */
TEST_F_TIMEOUT(host, sample_pingpong_with_host_peer, 300)
{
	char line[256] = "";
	FILE *p;
	int rc;

	p = popen("/vrs/samples/ivshmem/ivshmem_pingpong -n 200 2>&1", "r");
	ASSERT_NE(NULL, p);
	while (fgets(line + strlen(line), sizeof(line) - strlen(line), p))
		;
	rc = pclose(p);
	TH_LOG("%s", line);
	EXPECT_EQ(0, rc);
	EXPECT_EQ(0, strncmp(line, "ping: 200 round trips with peer ", 32));
}

static sigjmp_buf fault_jmp;

static void on_sigbus(int sig)
{
	siglongjmp(fault_jmp, sig);
}

struct blocked {
	int fd;
	ssize_t ret;
	int err;
};

static void *blocked_reader(void *arg)
{
	struct blocked *b = arg;
	uint64_t mask;

	b->ret = read(b->fd, &mask, 8);
	b->err = errno;
	return NULL;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), r;

	if (fd < 0)
		return -1;
	r = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
	close(fd);
	return r;
}

/* Last: unbinding with an open file, a live mapping and a blocked reader. */
TEST(unbind_revokes_open_files)
{
	struct ivshmem_dmabuf req = { .offset = 0, .size = 4096, .flags = O_CLOEXEC | O_RDWR };
	struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ };
	struct ivshmem_info info;
	struct blocked b = { 0 };
	struct pollfd p;
	pthread_t t;
	struct dev d;
	volatile char *m, *dm;
	int fd, sig, dfd;

	ASSERT_EQ(0, find_kind(&d, 1));
	fd = open(d.path, O_RDWR);
	ASSERT_LE(0, fd);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	m[300] = 'x';
	dfd = ioctl(fd, IVSHMEM_IOCTL_EXPORT_DMABUF, &req);
	ASSERT_LE(0, dfd);
	dm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, dfd, 0);
	ASSERT_NE(MAP_FAILED, dm);
	EXPECT_EQ('x', dm[300]);
	b.fd = fd;
	ASSERT_EQ(0, pthread_create(&t, NULL, blocked_reader, &b));
	usleep(300000);

	ASSERT_EQ(0, write_str(DRV "/unbind", d.addr));
	pthread_join(t, NULL);
	EXPECT_EQ(-1, b.ret);
	EXPECT_EQ(ENODEV, b.err) TH_LOG("the blocked reader was not woken with ENODEV");
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	EXPECT_EQ(1, poll(&p, 1, 0));
	EXPECT_TRUE(p.revents & POLLHUP);
	EXPECT_EQ(-1, ioctl(fd, IVSHMEM_IOCTL_INFO, &info));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0));
	EXPECT_EQ(ENODEV, errno);
	signal(SIGBUS, on_sigbus);
	sig = sigsetjmp(fault_jmp, 1);
	if (!sig) {
		(void)m[300];
		EXPECT_TRUE(0) TH_LOG("the mapping still works after unbind");
	} else {
		EXPECT_EQ(SIGBUS, sig);
	}
	sig = sigsetjmp(fault_jmp, 1);
	if (!sig) {
		(void)dm[300];
		EXPECT_TRUE(0) TH_LOG("the dma-buf mapping still works after unbind");
	} else {
		EXPECT_EQ(SIGBUS, sig);
	}
	signal(SIGBUS, SIG_DFL);
	EXPECT_EQ(-1, ioctl(dfd, DMA_BUF_IOCTL_SYNC, &sync));
	EXPECT_EQ(ENODEV, errno) TH_LOG("CPU access to a revoked dma-buf");
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, dfd, 0));
	close(dfd);
	EXPECT_NE(0, access(d.path, F_OK)) TH_LOG("the device node is still there");
	close(fd);

	/* Bound again, it works again. */
	ASSERT_EQ(0, write_str(DRV "/bind", d.addr));
	fd = open(d.path, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, ioctl(fd, IVSHMEM_IOCTL_INFO, &info));
	EXPECT_EQ(d.info.peer_id, info.peer_id);
	close(fd);
}

TEST_HARNESS_MAIN
