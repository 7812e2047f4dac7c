// SPDX-License-Identifier: GPL-2.0
/*
 * Runner self-test: one case passes, one fails on purpose. Only booted by
 * tools/testing/vm/selftest.sh, which checks the runner fails the run.
 * Built a second time with -DPASS_ONLY for the warning scenario, where the
 * only failure must come from the kernel log.
 */
#include "kselftest_harness.h"

TEST(passes)
{
	ASSERT_EQ(4, 2 + 2);
}

#ifndef PASS_ONLY
TEST(fails_on_purpose)
{
	ASSERT_EQ(5, 2 + 2);
}
#endif

TEST_HARNESS_MAIN
