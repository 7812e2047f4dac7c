// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem_rs with a region larger than 4 GiB: an 8 GiB ivshmem-plain
 * device on a sparse host file (vm.large.conf). The guest maps windows
 * above 4 GiB and at the very end, reads the host's marker in each,
 * writes its own, and waits for the host (large_ack.py) to have seen it
 * in the file at that offset.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <linux/ivshmem.h>

#include "kselftest_harness.h"

#define GIB (1ULL << 30)

static int open_dev(struct ivshmem_info *info)
{
	DIR *d = opendir("/dev/ivshmem");
	struct dirent *e;
	char path[300];
	int fd = -1;

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "/dev/ivshmem/%s", e->d_name);
			fd = open(path, O_RDWR);
			if (fd >= 0 && !ioctl(fd, IVSHMEM_IOCTL_INFO, info))
				break;
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
	if (d)
		closedir(d);
	return fd;
}

TEST(windows_above_4_gib)
{
	/* Offsets the host filled with "HOST@<offset>" (vm.large.conf). */
	static const uint64_t offs[] = { 4 * GIB + 4096, 6 * GIB, 8 * GIB - 4096 };
	struct ivshmem_info info;
	char want[64], got[64];
	int fd = open_dev(&info);

	ASSERT_LE(0, fd) TH_LOG("no ivshmem device");
	ASSERT_EQ(8 * GIB, info.shm_size) TH_LOG("the conf gives an 8 GiB device");
	for (unsigned int i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offs[i]);

		ASSERT_NE(MAP_FAILED, m) TH_LOG("offset %#llx: %s", (unsigned long long)offs[i], strerror(errno));
		snprintf(want, sizeof(want), "HOST@%llx", (unsigned long long)offs[i]);
		memcpy(got, m, strlen(want));
		got[strlen(want)] = 0;
		EXPECT_STREQ(want, got);
		snprintf(m + 64, 64, "GUEST@%llx", (unsigned long long)offs[i]);
		snprintf(want, sizeof(want), "ACK@%llx", (unsigned long long)offs[i]);
		for (int t = 0; t < 3000 && memcmp(m + 128, want, strlen(want)); t++)
			usleep(20000);
		EXPECT_EQ(0, memcmp(m + 128, want, strlen(want)))
			TH_LOG("the host never saw our bytes at %#llx", (unsigned long long)offs[i]);
		munmap(m, 4096);
	}
	/* One page past the end is refused. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 8 * GIB));
	close(fd);
}

TEST_HARNESS_MAIN
