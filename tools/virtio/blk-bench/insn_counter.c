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
 *
 * With prof=1 it also counts, per translation block, how often the block
 * ran (one more inline add per block, into a slot of a large scoreboard
 * entry). Whenever a file "<out>.snap" appears (qmp_helper.py --snap
 * writes it at each mark), holding a name, the plugin writes every block's
 * "<vaddr> <insns> <executions>" to "<out>.<name>" and deletes the
 * request: two snapshots around a window give where its instructions went
 * (tools/virtio/blk-bench/profile.py maps them to the guest's symbols).
 */
#include <errno.h>
#include <glib.h>
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

/* prof=1: one u64 per block in every vCPU's scoreboard entry. */
#define PROF_SLOTS (1u << 20)
struct block {
	uint64_t vaddr;
	uint32_t insns;
};
static int prof;
static struct qemu_plugin_scoreboard *prof_board;
static GHashTable *prof_index; /* (vaddr, insns) -> slot + 1 */
static struct block *prof_blocks;
static unsigned int prof_used;
static GMutex prof_lock;

static guint block_hash(gconstpointer p)
{
	const struct block *b = p;

	return g_int64_hash(&b->vaddr) ^ b->insns;
}

static gboolean block_equal(gconstpointer a, gconstpointer b)
{
	const struct block *x = a, *y = b;

	return x->vaddr == y->vaddr && x->insns == y->insns;
}

static qemu_plugin_u64 prof_slot(unsigned int slot)
{
	return (qemu_plugin_u64){ prof_board, slot * sizeof(uint64_t) };
}

/* Writes every block's count to "<out>.<name>" (name from "<out>.snap"). */
static void prof_snapshot(void)
{
	char req[4096], name[128] = "", dst[4300], tmp[4400];
	unsigned int used, i;
	FILE *f;

	snprintf(req, sizeof(req), "%s.snap", path);
	f = fopen(req, "r");
	if (!f)
		return;
	if (!fgets(name, sizeof(name), f))
		name[0] = 0;
	fclose(f);
	name[strcspn(name, "\n/ ")] = 0;
	if (!name[0]) {
		unlink(req);
		return;
	}
	snprintf(dst, sizeof(dst), "%s.%s", path, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
	f = fopen(tmp, "w");
	if (!f)
		return;
	g_mutex_lock(&prof_lock);
	used = prof_used;
	g_mutex_unlock(&prof_lock);
	for (i = 0; i < used; i++) {
		uint64_t n = qemu_plugin_u64_sum(prof_slot(i));

		if (n)
			fprintf(f, "%" PRIx64 " %u %" PRIu64 "\n", prof_blocks[i].vaddr,
				prof_blocks[i].insns, n);
	}
	if (fclose(f) == 0 && rename(tmp, dst) == 0)
		unlink(req);
}

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
		if (prof)
			prof_snapshot();
		usleep(20 * 1000);
	}
	return NULL;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	(void)id;
	qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_ADD_U64, insns,
							  qemu_plugin_tb_n_insns(tb));
	if (prof) {
		struct block key = { qemu_plugin_tb_vaddr(tb), qemu_plugin_tb_n_insns(tb) };
		unsigned int slot;
		gpointer v;

		g_mutex_lock(&prof_lock);
		v = g_hash_table_lookup(prof_index, &key);
		if (v) {
			slot = GPOINTER_TO_UINT(v) - 1;
		} else if (prof_used < PROF_SLOTS) {
			slot = prof_used;
			prof_blocks[slot] = key;
			g_hash_table_insert(prof_index, &prof_blocks[slot], GUINT_TO_POINTER(slot + 1));
			prof_used++;
		} else {
			slot = PROF_SLOTS; /* full: not counted */
		}
		g_mutex_unlock(&prof_lock);
		if (slot < PROF_SLOTS)
			qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(
				tb, QEMU_PLUGIN_INLINE_ADD_U64, prof_slot(slot), 1);
	}
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
		else if (!strcmp(argv[i], "prof=1"))
			prof = 1;
	if (!path) {
		fprintf(stderr, "insn_counter: needs out=<path>\n");
		return -1;
	}
	board = qemu_plugin_scoreboard_new(sizeof(uint64_t));
	insns = qemu_plugin_scoreboard_u64(board);
	if (prof) {
		prof_board = qemu_plugin_scoreboard_new(PROF_SLOTS * sizeof(uint64_t));
		prof_blocks = calloc(PROF_SLOTS, sizeof(*prof_blocks));
		prof_index = g_hash_table_new(block_hash, block_equal);
		if (!prof_blocks) {
			fprintf(stderr, "insn_counter: no memory for prof=1\n");
			return -1;
		}
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	if (pthread_create(&writer, NULL, writer_fn, NULL)) {
		fprintf(stderr, "insn_counter: no thread: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}
