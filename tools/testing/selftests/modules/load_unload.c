// SPDX-License-Identifier: GPL-2.0
/*
 * Load and unload every module this tree builds (one test case each) in the
 * stock Debian kernel, and check what the kernel did: the module is live in
 * sysfs after finit_module(), gone after delete_module(), the kernel log of
 * the load/unload holds nothing at warning level or above besides the
 * out-of-tree/unsigned taint notices, and no taint beyond O and E appears.
 *
 * The module list is generated at build time from build/<arch>/modules.list.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define MODULES_DIR "/vrs/modules/"
#define TAINT_ALLOWED ((1UL << 12) | (1UL << 13)) /* O, E */

FIXTURE(module) {
	int kmsg;
};

FIXTURE_VARIANT(module) {
	const char *name;
	const char *path;
	const char *deps; /* comma-separated, from the module's .modinfo */
};

#define VRS_MODULE(n, p, d) \
	FIXTURE_VARIANT_ADD(module, n) { .name = #n, .path = p, .deps = d };
#include "modules.h"
#undef VRS_MODULE

/* Every module of the tree, to load a case's dependencies from. */
static const struct { const char *name, *path; } all_modules[] = {
#define VRS_MODULE(n, p, d) { #n, p },
#include "modules.h"
#undef VRS_MODULE
};

FIXTURE_SETUP(module)
{
	self->kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_GE(self->kmsg, 0);
	/* Only records from now on. */
	ASSERT_GE(lseek(self->kmsg, 0, SEEK_END), 0);
}

FIXTURE_TEARDOWN(module)
{
	close(self->kmsg);
}

static int sysfs_state(const char *name, char *buf, size_t len)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/module/%s/initstate", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static unsigned long tainted(void)
{
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");
	unsigned long t = ~0UL;

	if (f) {
		if (fscanf(f, "%lu", &t) != 1)
			t = ~0UL;
		fclose(f);
	}
	return t;
}

/* Number of kernel log records at warning level or above that are not the
 * expected taint notices; each is printed as a diagnostic. */
static int bad_kmsg(struct __test_metadata *_metadata, int fd)
{
	char rec[2048];
	int bad = 0;
	ssize_t n;

	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		char *msg;
		int pri;

		if (n <= 0)
			continue; /* EPIPE: records overwritten, go on */
		rec[n] = '\0';
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		msg[strcspn(msg, "\n")] = '\0';
		pri = atoi(rec) & 7;
		if (strstr(msg, "WARNING:") || strstr(msg, "BUG:") || strstr(msg, "Oops") ||
		    strstr(msg, "Call Trace")) {
			TH_LOG("kernel: %s", msg);
			bad++;
		} else if (pri <= 4 && !strstr(msg, "taints kernel") &&
			   !strstr(msg, "module verification failed")) {
			TH_LOG("kernel (level %d): %s", pri, msg);
			bad++;
		}
	}
	return bad;
}

/*
 * Parameters a module gets here: test_vring runs its cases at load, and
 * its concurrent stress (2,000,000 buffers per case by default, the
 * vring area's run) would make this load/unload check depend on how busy
 * the machine is; a short stress still starts and stops its work items.
 */
static const char *params_for(const char *name)
{
	if (!strcmp(name, "test_vring"))
		return "stress_buffers=20000";
	return "";
}

/*
 * Load the dependencies of a case that are modules of this tree and not
 * loaded yet (insmod does not resolve them); their names go to @loaded,
 * to be unloaded after the case, in reverse. Others are the kernel's.
 */
static int load_deps(struct __test_metadata *_metadata, const char *deps,
		     char loaded[][64], int max)
{
	char list[256], *save = NULL, *d, state[64];
	int n = 0;

	snprintf(list, sizeof(list), "%s", deps);
	for (d = strtok_r(list, ",", &save); d && n < max; d = strtok_r(NULL, ",", &save)) {
		char path[512];
		size_t i;
		int fd;

		if (sysfs_state(d, state, sizeof(state)) == 0)
			continue;
		for (i = 0; i < sizeof(all_modules) / sizeof(all_modules[0]); i++)
			if (!strcmp(all_modules[i].name, d))
				break;
		if (i == sizeof(all_modules) / sizeof(all_modules[0]))
			continue;
		snprintf(path, sizeof(path), MODULES_DIR "%s", all_modules[i].path);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, "", 0)) {
			TH_LOG("dependency %s: %s", d, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
		snprintf(loaded[n++], 64, "%s", d);
	}
	return n;
}

TEST_F(module, load_unload)
{
	char path[512], state[64], deps[4][64];
	unsigned long taint_before = tainted();
	int fd, ndeps;

	ndeps = load_deps(_metadata, variant->deps, deps, 4);
	ASSERT_GE(ndeps, 0);
	snprintf(path, sizeof(path), MODULES_DIR "%s", variant->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0) TH_LOG("open %s: %s", path, strerror(errno));
	ASSERT_EQ(0, syscall(SYS_finit_module, fd, params_for(variant->name), 0))
		TH_LOG("finit_module %s: %s", path, strerror(errno));
	close(fd);

	ASSERT_EQ(0, sysfs_state(variant->name, state, sizeof(state)));
	EXPECT_STREQ("live", state);

	ASSERT_EQ(0, syscall(SYS_delete_module, variant->name, O_NONBLOCK))
		TH_LOG("delete_module %s: %s", variant->name, strerror(errno));
	EXPECT_EQ(-ENOENT, sysfs_state(variant->name, state, sizeof(state)));
	for (int i = ndeps - 1; i >= 0 && i < 4; i--) {
		const char *dep = deps[i];

		EXPECT_EQ(0, syscall(SYS_delete_module, dep, O_NONBLOCK))
			TH_LOG("delete_module %s: %s", dep, strerror(errno));
	}

	EXPECT_EQ(0, bad_kmsg(_metadata, self->kmsg));
	EXPECT_EQ(0UL, (tainted() & ~TAINT_ALLOWED) & ~taint_before)
		TH_LOG("taint 0x%lx -> 0x%lx", taint_before, tainted());
}

TEST_HARNESS_MAIN
