// SPDX-License-Identifier: GPL-2.0
/*
 * The VM runner's self-test for the debug kernel (issue 10): loaded with
 * bug=<name>[,<name>...], commits each named bug once, each for a
 * different detector of the debug kernel to report, and loads
 * successfully, so that the only sign of a bug is its report; the runner must turn that report into a failed
 * run (tools/testing/vm/selftest.sh, tools/testing/selftests/vm_runner/
 * debug_*.vmconf).
 *
 *   uaf        reads a freed slab object              KASAN
 *   lock_order takes two mutexes in both orders        lockdep
 *   sleep      sleeps with a spinlock held             DEBUG_ATOMIC_SLEEP
 *   list       list_add() with a corrupted neighbour   DEBUG_LIST
 *   leak       drops the only pointer to an object     kmemleak
 *
 * Loaded without bug= it does nothing. Only for the debug kernel: on a
 * kernel without the detector the bug is real (a use-after-free read of a
 * just-freed object is harmless in practice; the others are by
 * construction: the list_add is refused by DEBUG_LIST before it writes,
 * and the inverted mutexes are never contended).
 */
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

static char *bug = "";
module_param(bug, charp, 0444);
MODULE_PARM_DESC(bug, "comma-separated: uaf, lock_order, sleep, list, leak");

static DEFINE_MUTEX(lock_a);
static DEFINE_MUTEX(lock_b);
static DEFINE_MUTEX(lock_c);
static DEFINE_SPINLOCK(spin);
/* Keeps the leaked pointer out of reach of the optimiser, not of kmemleak. */
static void *volatile sink;

static noinline void do_uaf(void)
{
	char *p = kmalloc(64, GFP_KERNEL);

	if (!p)
		return;
	kfree(p);
	pr_info("read after free: %d\n", READ_ONCE(p[8]));
}

static noinline void do_lock_order(void)
{
	mutex_lock(&lock_a);
	mutex_lock(&lock_b);
	mutex_unlock(&lock_b);
	mutex_unlock(&lock_a);
	/* The other order: a deadlock waiting for two threads. */
	mutex_lock(&lock_b);
	mutex_lock(&lock_a);
	mutex_unlock(&lock_a);
	mutex_unlock(&lock_b);
}

static noinline void do_sleep(void)
{
	/* mutex_lock() may sleep: might_sleep() reports it under a spinlock. */
	spin_lock(&spin);
	mutex_lock(&lock_c);
	mutex_unlock(&lock_c);
	spin_unlock(&spin);
}

static noinline void do_list(void)
{
	LIST_HEAD(head);
	struct list_head a, b;

	INIT_LIST_HEAD(&a);
	list_add(&a, &head);
	/* head.next is a; make a's prev disagree, then insert after head. */
	a.prev = &b;
	list_add(&b, &head);
}

static noinline void do_leak(void)
{
	int i;

	/*
	 * Several objects, each pointer overwritten by the next: a stale copy
	 * of the last one may survive in a register or in the stack of this
	 * thread (which kmemleak scans), the others are unreferenced. Larger
	 * than the largest kmalloc cache, so they come from the page
	 * allocator: a small object's pointer stays behind in the slab
	 * allocator's per-CPU array it was taken from (7.3's sheaves), where
	 * kmemleak finds it and takes it for a reference.
	 */
	for (i = 0; i < 4; i++)
		sink = kzalloc(4 * PAGE_SIZE, GFP_KERNEL);
	sink = NULL;
}

static int __init test_debug_detectors_init(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} bugs[] = {
		{ "uaf", do_uaf }, { "lock_order", do_lock_order }, { "sleep", do_sleep },
		{ "list", do_list }, { "leak", do_leak },
	};
	const char *s = bug;
	int i;

	while (*s) {
		size_t len = strcspn(s, ",");

		for (i = 0; i < ARRAY_SIZE(bugs); i++)
			if (strlen(bugs[i].name) == len && !strncmp(s, bugs[i].name, len))
				break;
		if (i == ARRAY_SIZE(bugs)) {
			pr_err("unknown bug '%.*s'\n", (int)len, s);
			return -EINVAL;
		}
		pr_info("committing bug '%s' on purpose\n", bugs[i].name);
		bugs[i].fn();
		s += len;
		if (*s == ',')
			s++;
	}
	return 0;
}
module_init(test_debug_detectors_init);

static void __exit test_debug_detectors_exit(void)
{
}
module_exit(test_debug_detectors_exit);

MODULE_DESCRIPTION("Commits one bug on request, to test the debug kernel's detectors");
MODULE_LICENSE("GPL");
