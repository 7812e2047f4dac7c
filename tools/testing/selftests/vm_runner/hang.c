// SPDX-License-Identifier: GPL-2.0
/* Runner self-test: never returns, so the runner's timeout must fire. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("TAP version 13\n1..1\n# hanging on purpose\n");
	fflush(stdout);
	for (;;)
		pause();
}
