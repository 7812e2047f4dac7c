// SPDX-License-Identifier: GPL-2.0
/*
 * insn_counter: a QEMU TCG plugin for tools/virtio/blk-bench. Counts the
 * guest instructions every vCPU executes (kernel and user, an inline add
 * per translation block, so the count costs little) and keeps the running
 * total in a file, rewritten every 20 ms as "insns <n>\n":
 *
 *   -plugin insn_counter.so,out=insns.txt
 *
 * qmp_helper.py --counter insns.txt copies the file's pairs into its
 * "MARK <tag> ..." lines, so that a guest that prints a mark, pauses,
 * works, prints a mark and pauses again gets the instructions of its work
 * as the difference: guest CPU cost, which TCG's timing noise does not
 * touch. A block that ends early (an interrupt, a fault) counts whole.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static struct qemu_plugin_scoreboard *board;
static qemu_plugin_u64 insns;
static char *path;
static pthread_t writer;
static volatile int stop;

static void write_total(void)
{
	char tmp[4096], line[64];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	snprintf(line, sizeof(line), "insns %" PRIu64 "\n", qemu_plugin_u64_sum(insns));
	fputs(line, f);
	if (fclose(f) == 0)
		rename(tmp, path);
}

static void *writer_fn(void *arg)
{
	(void)arg;
	/* The vCPUs (and their scoreboard entries) exist by then. */
	sleep(2);
	while (!stop) {
		write_total();
		usleep(20 * 1000);
	}
	return NULL;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	(void)id;
	qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_ADD_U64, insns,
							  qemu_plugin_tb_n_insns(tb));
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
	(void)id;
	(void)p;
	stop = 1;
	pthread_join(writer, NULL);
	write_total();
	qemu_plugin_scoreboard_free(board);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			path = strdup(argv[i] + 4);
	if (!path) {
		fprintf(stderr, "insn_counter: needs out=<path>\n");
		return -1;
	}
	board = qemu_plugin_scoreboard_new(sizeof(uint64_t));
	insns = qemu_plugin_scoreboard_u64(board);
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	if (pthread_create(&writer, NULL, writer_fn, NULL)) {
		fprintf(stderr, "insn_counter: no thread: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}
