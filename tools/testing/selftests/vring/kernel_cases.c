// SPDX-License-Identifier: GPL-2.0
/*
 * Load lib/test_vring.ko, which runs the vring core's cases in kernel
 * context on DMA-coherent memory and prints one KTAP line per case to the
 * kernel log, and report each of those cases here. The module's load
 * result must agree with its cases (it fails to load when one fails), and
 * the number of cases must match its plan. The concurrent stress cases
 * (a driver and a device thread on one ring) print their notification
 * counts, relayed as diagnostics.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest.h"

#define MODULE_PATH "/vrs/modules/lib/test_vring.ko"
#define PREFIX "test_vring: "

int main(void)
{
	static char rec[4096];
	int kmsg, fd, ret, plan = -1, n = 0, failed = 0;
	ssize_t len;

	ksft_print_header();
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg < 0 || lseek(kmsg, 0, SEEK_END) < 0)
		ksft_exit_fail_msg("/dev/kmsg: %s\n", strerror(errno));
	fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		ksft_exit_fail_msg("%s: %s\n", MODULE_PATH, strerror(errno));
	ret = syscall(SYS_finit_module, fd, "", 0);
	int load_errno = errno;
	close(fd);

	/* First pass: find the plan, so ours can be printed before results. */
	static char lines[256][256];
	int nl = 0;
	while ((len = read(kmsg, rec, sizeof(rec) - 1)) > 0 || (len < 0 && errno == EPIPE)) {
		char *msg;

		if (len <= 0)
			continue;
		rec[len] = '\0';
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		msg[strcspn(msg, "\n")] = '\0';
		if (strncmp(msg, PREFIX, strlen(PREFIX)))
			continue;
		msg += strlen(PREFIX);
		if (sscanf(msg, "1..%d", &plan) == 1)
			continue;
		if (!strncmp(msg, "# stress_", 9)) {
			/* The stress cases' notification counts. */
			ksft_print_msg("%s\n", msg + 2);
			continue;
		}
		if ((!strncmp(msg, "ok ", 3) || !strncmp(msg, "not ok ", 7)) && nl < 256)
			snprintf(lines[nl++], sizeof(lines[0]), "%s", msg);
	}
	if (plan < 0)
		ksft_exit_fail_msg("test_vring printed no KTAP plan (load: %s)\n",
				   ret ? strerror(load_errno) : "ok");
	ksft_set_plan(plan + 1);
	for (int i = 0; i < nl; i++) {
		int ok = !strncmp(lines[i], "ok ", 3);
		char *name = strchr(lines[i] + (ok ? 3 : 7), ' ');

		name = name ? name + 1 : lines[i];
		n++;
		failed += !ok;
		ksft_test_result(ok, "%s\n", name);
	}
	for (; n < plan; n++)
		ksft_test_result_fail("case %d missing from the kernel log\n", n + 1);
	/* The module refuses to load exactly when a case failed. */
	ksft_test_result((ret == 0) == (failed == 0), "module_load_result_matches_cases\n");
	if (ret == 0)
		syscall(SYS_delete_module, "test_vring", O_NONBLOCK);
	ksft_finished();
}
