// SPDX-License-Identifier: GPL-2.0
/*
 * Runner self-test: KTAP the runner must not accept, one kind per binary.
 * The Makefile builds this file once per kind (-DKIND=<kind>, binary
 * vm_runner/ktap_<kind>); bad_ktap.vmconf runs them all in one boot and
 * tools/testing/vm/selftest.sh checks that each fails with its reason.
 */
#include <stdio.h>
#include <string.h>

#define STR(x) #x
#define XSTR(x) STR(x)

static const struct {
	const char *kind, *ktap;
	int rc;
} kinds[] = {
	/* results, but no "1..N" */
	{ "no_plan", "ok 1 first\nok 2 second\n", 0 },
	/* a plan of 2 and three results */
	{ "plan_mismatch", "1..2\nok 1 first\nok 2 second\nok 3 third\n", 0 },
	/* test number 2 twice */
	{ "duplicate", "1..3\nok 1 first\nok 2 second\nok 2 second_again\n", 0 },
	/* 1, 3, 2 */
	{ "out_of_order", "1..3\nok 1 first\nok 3 third\nok 2 second\n", 0 },
	/* nothing ran: what ksft_exit_skip() prints before any case */
	{ "no_case", "1..0 # SKIP nothing to test here\n", 4 },
	/* every case skipped */
	{ "all_skipped", "1..2\nok 1 first # SKIP no device\nok 2 second # SKIP no device\n", 0 },
};

int main(void)
{
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].kind, XSTR(KIND))) {
			printf("TAP version 13\n%s", kinds[i].ktap);
			return kinds[i].rc;
		}
	printf("TAP version 13\n1..1\nnot ok 1 no such kind: %s\n", XSTR(KIND));
	return 1;
}
