// SPDX-License-Identifier: GPL-2.0
/*
 * Load lib/vring_kunit.ko, whose KUnit suite "vring" runs the vring
 * core's cases (one KUnit case each) when the module goes live, and report
 * each KUnit case here, read back from /sys/kernel/debug/kunit/vring/results.
 * The number of cases must match the suite's plan, and the suite's own
 * result must agree with its cases. Only for kernels with KUnit (the debug
 * kernel): vring/vm.conf adds it to the debug lane, where the module is
 * built; Debian's kernels run the same cases through test_vring.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest.h"

#define MODULE_PATH "/vrs/modules/lib/vring_kunit.ko"
#define RESULTS "/sys/kernel/debug/kunit/vring/results"
#define MAX_CASES 256

int main(void)
{
	static char lines[MAX_CASES][256], line[512];
	int fd, plan = -1, nl = 0, failed = 0, suite_ok = -1;
	struct stat st;
	FILE *f;

	ksft_print_header();
	if (stat("/sys/kernel/debug/kunit", &st))
		ksft_exit_fail_msg("/sys/kernel/debug/kunit: %s (a kernel without KUnit "
				   "or KUNIT_DEBUGFS cannot run this test)\n", strerror(errno));
	fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		ksft_exit_fail_msg("%s: %s\n", MODULE_PATH, strerror(errno));
	/* KUnit runs the module's suites before finit_module() returns. */
	if (syscall(SYS_finit_module, fd, "", 0))
		ksft_exit_fail_msg("loading %s: %s\n", MODULE_PATH, strerror(errno));
	close(fd);

	f = fopen(RESULTS, "r");
	if (!f)
		ksft_exit_fail_msg("%s: %s\n", RESULTS, strerror(errno));
	/*
	 * KTAP with the suite as subtest 1: the cases are the lines indented
	 * by one level ("    ok 3 split_roundtrip"), with their plan; the
	 * unindented "ok 1 vring" is the suite's result. Diagnostics of a
	 * failed case ("    # split_x: ASSERTION FAILED ...") are relayed.
	 */
	while (fgets(line, sizeof(line), f)) {
		char *p = line;
		int indent = 0, n;

		line[strcspn(line, "\n")] = '\0';
		while (*p == ' ') {
			p++;
			indent++;
		}
		if (indent == 4 && sscanf(p, "1..%d", &n) == 1) {
			plan = n;
		} else if (indent == 4 && (!strncmp(p, "ok ", 3) || !strncmp(p, "not ok ", 7))) {
			if (nl < MAX_CASES)
				snprintf(lines[nl++], sizeof(lines[0]), "%s", p);
		} else if (indent == 0 && !strncmp(p, "ok 1 vring", 10)) {
			suite_ok = 1;
		} else if (indent == 0 && !strncmp(p, "not ok 1 vring", 14)) {
			suite_ok = 0;
		} else if (indent >= 4 && p[0] == '#' && strncmp(p, "# Subtest", 9)) {
			ksft_print_msg("%s\n", p + 1 + (p[1] == ' '));
		}
	}
	fclose(f);
	if (plan < 0)
		ksft_exit_fail_msg("%s has no plan for the suite's cases\n", RESULTS);
	ksft_set_plan(plan + 2);
	for (int i = 0; i < nl; i++) {
		int ok = !strncmp(lines[i], "ok ", 3);
		char *name = strchr(lines[i] + (ok ? 3 : 7), ' ');

		name = name ? name + 1 : lines[i];
		/* A skipped KUnit case is not a pass. */
		if (ok && strstr(name, "# SKIP"))
			ok = 0;
		failed += !ok;
		ksft_test_result(ok, "kunit_%s\n", name);
	}
	for (int n = nl; n < plan; n++)
		ksft_test_result_fail("case %d missing from %s\n", n + 1, RESULTS);
	ksft_test_result(nl == plan && plan > 0, "kunit_every_planned_case_reported\n");
	ksft_test_result(suite_ok == (failed == 0 && nl == plan), "kunit_suite_result_matches_cases\n");
	syscall(SYS_delete_module, "vring_kunit", O_NONBLOCK);
	ksft_finished();
}
