#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host-side tests of ktap.py: small console logs shaped like the ones the
guest's /init (vm.sh) prints, no VM.

  python3 tools/testing/vm/test_ktap.py      KTAP, one line per test (make check)
  python3 -m unittest -v tools/testing/vm/test_ktap.py

Each kind of KTAP the runner must not accept (no plan, a plan that
disagrees with the results, duplicate or out-of-order test numbers, no
case run, every case skipped, ...) has a test that expects the binary to
fail with its reason; a realistic passing boot must pass untouched.
"""
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ktap  # noqa: E402

TAINT_OE = (1 << 12) | (1 << 13)

# A passing boot of the virtio_mmio area as the serial console holds it:
# /init's markers, the kernel log dumped after each binary, kselftest
# harness output (diagnostics on "#" lines, one skipped case, a VRS-QMP
# request), CRLF line ends from the tty, and the power-off message.
REALISTIC = """\
VRS-BOOTED 1.84
VRS-STEP modprobe virtio_blk
VRS-STEP modprobe virtio_rng
VRS-STEP modprobe virtio_net
VRS-STEP insmod virtio_mmio_rs
VRS-DMESG-BEGIN boot
[    0.000000] Linux version 7.3.4+deb14-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0) #1 SMP PREEMPT_DYNAMIC Debian 7.3.4-1
[    0.000000] Command line: console=ttyS0 loglevel=1 panic=-1 oops=panic rdinit=/init  vrs.blk=m0p0e1,m0p0e0 vrs.qmp=1 vrs.devices=6
[    1.601233] virtio_mmio_rs: loading out-of-tree module taints kernel.
[    1.601402] virtio_mmio_rs: module verification failed: signature and/or required key missing - tainting kernel
[    1.622861] virtio_blk virtio0: [vda] 32768 512-byte logical blocks (16.8 MB/16.0 MiB)
VRS-DMESG-END boot
VRS-TEST-BEGIN virtio_mmio/mmio_devices
TAP version 13
1..4
# Starting 4 tests from 1 test cases.
#  RUN           global.transport_bound_devices ...
# mmio_devices.c:48:transport_bound_devices:6 device(s) bound to virtio_mmio_rs
#            OK  global.transport_bound_devices
ok 1 global.transport_bound_devices
#  RUN           global.blk_feature_matrix ...
# mmio_devices.c:160:blk_feature_matrix:m0p0e1 on 1e000.virtio_mmio (/dev/vda): features 0010000000000000000000000000010000000000000000000000000000000000
#            OK  global.blk_feature_matrix
ok 2 global.blk_feature_matrix
#  RUN           global.net_queue_reset_resize ...
#      SKIP      legacy (version 1) device: no QueueReset register
#            OK  global.net_queue_reset_resize
ok 3 global.net_queue_reset_resize # SKIP legacy (version 1) device: no QueueReset register
#  RUN           global.config_change_on_resize ...
VRS-QMP resize-d0 {"execute":"block_resize","arguments":{"device":"d0","size":33554432}}
# mmio_devices.c:540:config_change_on_resize:/dev/vda (m0p0e1): resized to 65536 sectors after 0.4 s, config interrupts 0 -> 1
#            OK  global.config_change_on_resize
ok 4 global.config_change_on_resize
# PASSED: 4 / 4 tests passed.
# Totals: pass:3 fail:0 xfail:0 xpass:0 skip:1 error:0
VRS-TEST-END virtio_mmio/mmio_devices rc=0
VRS-DMESG-BEGIN virtio_mmio/mmio_devices
[    9.412200] virtio_blk virtio0: [vda] new size: 65536 512-byte logical blocks (33.6 MB/32.0 MiB)
VRS-DMESG-END virtio_mmio/mmio_devices
VRS-TEST-BEGIN virtio_mmio/mmio_lifecycle
TAP version 13
1..2
# Starting 2 tests from 1 test cases.
#  RUN           global.refuse_bad_regions ...
#            OK  global.refuse_bad_regions
ok 1 global.refuse_bad_regions
#  RUN           global.rmmod_insmod_50_times ...
# mmio_lifecycle.c:336:rmmod_insmod_50_times:50 reloads with 6 device(s) in 21.3 s
#            OK  global.rmmod_insmod_50_times
ok 2 global.rmmod_insmod_50_times
# PASSED: 2 / 2 tests passed.
# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0
VRS-TEST-END virtio_mmio/mmio_lifecycle rc=0
VRS-DMESG-BEGIN virtio_mmio/mmio_lifecycle
[   31.020000] virtio_mmio_rs virtio-mmio.2: Wrong magic value 0x12345678
VRS-DMESG-END virtio_mmio/mmio_lifecycle
VRS-TAINT 12288
VRS-DONE 33.71
[   33.752311] reboot: Power down
VRS-HOST elapsed=41 qemu_rc=0
"""
REALISTIC_TESTS = ["virtio_mmio/mmio_devices", "virtio_mmio/mmio_lifecycle"]


def ktap_doc(text):
    """Lines of a KTAP document written indented in a test."""
    return textwrap.dedent(text).strip("\n").splitlines()


def console(*runs, taint=TAINT_OE, done=True):
    """A console log as /init prints it. Each run is (binary, lines, rc);
    rc None: the binary never ended (the log stops there)."""
    lines = ["VRS-BOOTED 1.02", "VRS-STEP insmod virtio_mmio_rs",
             "VRS-DMESG-BEGIN boot", "[    1.20] virtio_mmio_rs: loading out-of-tree module taints kernel.",
             "VRS-DMESG-END boot"]
    for t, body, rc in runs:
        lines.append(f"VRS-TEST-BEGIN {t}")
        lines += body
        if rc is None:
            return lines
        lines += [f"VRS-TEST-END {t} rc={rc}", f"VRS-DMESG-BEGIN {t}", f"VRS-DMESG-END {t}"]
    if taint is not None:
        lines.append(f"VRS-TAINT {taint}")
    if done:
        lines.append("VRS-DONE 9.50")
    return lines


def harness(*results, plan=None):
    """kselftest harness output for results given as (name, "ok"|"fail"|"skip")."""
    out = ["TAP version 13", f"1..{len(results) if plan is None else plan}",
           f"# Starting {len(results)} tests from 1 test cases."]
    for i, (name, how) in enumerate(results, 1):
        out.append(f"#  RUN           global.{name} ...")
        if how == "skip":
            out += ["#      SKIP      no device", f"#            OK  global.{name}",
                    f"ok {i} global.{name} # SKIP no device"]
        elif how == "fail":
            out += [f"# t.c:10:{name}:Expected 5 (5) == 2 + 2 (4)",
                    f"# {name}: Test terminated by assertion",
                    f"#          FAIL  global.{name}", f"not ok {i} global.{name}"]
        else:
            out += [f"#            OK  global.{name}", f"ok {i} global.{name}"]
    return out


class KtapTest(unittest.TestCase):
    def evaluate(self, lines, tests, timed_out=False):
        cases, _ = ktap.evaluate(lines, tests, timed_out)
        return cases

    def failures(self, cases):
        return [(desc, detail) for ok, desc, detail in cases if ok is False]

    def count(self, cases):
        return (sum(ok is True for ok, _, _ in cases), sum(ok is False for ok, _, _ in cases),
                sum(ok is None for ok, _, _ in cases))

    def assertPasses(self, cases):
        self.assertEqual([], self.failures(cases))

    def assertBinaryFails(self, cases, binary, *reasons):
        """Exactly one failure, the binary's own line, with every reason."""
        fails = self.failures(cases)
        prefix = binary.replace("/", ":")
        self.assertEqual([prefix], [d for d, _ in fails], fails)
        for r in reasons:
            self.assertIn(r, fails[0][1])
        return fails[0][1]

    def check_one(self, body, rc=0, binary="area/bin"):
        return self.evaluate(console((binary, body, rc)), [binary])

    # ------------------------------------------------------- legitimate runs

    def test_realistic_boot_passes(self):
        lines = [l.rstrip("\r") for l in REALISTIC.replace("\n", "\r\n").splitlines()]
        cases = self.evaluate(lines, REALISTIC_TESTS)
        self.assertPasses(cases)
        # 5 cases that ran, 1 skipped, 3 kernel checks.
        self.assertEqual((5 + 3, 0, 1), self.count(cases))
        self.assertIn((None, "virtio_mmio:mmio_devices:global.net_queue_reset_resize",
                       "legacy (version 1) device: no QueueReset register"), cases)

    def test_realistic_boot_end_to_end(self):
        """ktap.py as vm.sh runs it: exit 0, 'P F S' written, and its own
        output is well-formed KTAP by its own rules."""
        with tempfile.TemporaryDirectory() as d:
            log, res = os.path.join(d, "console.log"), os.path.join(d, "result")
            with open(log, "wb") as f:
                f.write(REALISTIC.replace("\n", "\r\n").encode())
            p = subprocess.run([sys.executable, os.path.join(HERE, "ktap.py"),
                                "--name", "x86_64/virtio_mmio", "--tests", " ".join(REALISTIC_TESTS),
                                "--timed-out", "0", "--result", res, log],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
            self.assertEqual(0, p.returncode, p.stdout + p.stderr)
            with open(res) as f:
                self.assertEqual("8 0 1\n", f.read())
        out = p.stdout.splitlines()
        self.assertEqual("KTAP version 1", out[0])
        self.assertIn("ok 1 x86_64/virtio_mmio:virtio_mmio:mmio_devices:global.transport_bound_devices", out)
        self.assertIn("ok 7 x86_64/virtio_mmio:boot_completed", out)
        self.assertEqual("# x86_64/virtio_mmio: pass:8 fail:0 skip:1", out[-1])
        cases, problems = ktap.binary_cases("ktap.py", out, 0)
        self.assertEqual([], problems)
        self.assertEqual(9, len(cases))

    def test_some_cases_skipped_is_fine(self):
        cases = self.check_one(harness(("a", "ok"), ("b", "skip"), ("c", "skip")))
        self.assertPasses(cases)
        self.assertEqual((1 + 3, 0, 2), self.count(cases))

    def test_nested_ktap_counts_top_level_only(self):
        """Subtests (indented, or a runner's '# '-prefixed document) have
        their own plan and numbering; only the parent's lines are cases."""
        body = ktap_doc("""
            KTAP version 1
            1..2
                KTAP version 1
                # Subtest: split_ring
                1..3
                ok 1 add_get
                ok 2 event_idx
                ok 3 indirect
            ok 1 split_ring
                KTAP version 1
                # Subtest: packed_ring
                1..2
                ok 1 add_get
                ok 1 add_get
                ok 2 wrap # SKIP no wrap
            ok 2 packed_ring
            # TAP version 13
            # 1..1
            # ok 1 from_a_runner
            # ok 1 from_a_runner
        """)
        cases = self.check_one(body)
        self.assertPasses(cases)
        self.assertEqual(["area:bin:split_ring", "area:bin:packed_ring"],
                         [d for _, d, _ in cases[:2]])
        self.assertEqual((2 + 3, 0, 0), self.count(cases))

    def test_failing_case_fails_only_itself(self):
        cases = self.check_one(harness(("passes", "ok"), ("fails_on_purpose", "fail")), rc=1)
        self.assertEqual([("area:bin:global.fails_on_purpose", "")], self.failures(cases))

    def test_xfail_and_todo_are_not_failures(self):
        body = ktap_doc("""
            TAP version 13
            1..3
            ok 1 works
            not ok 2 known_bug # TODO fix it
            ok 3 expected_failure # XFAIL documented
        """)
        self.assertPasses(self.check_one(body))

    def test_kselftest_exit_skip_after_plan_counts(self):
        """ksft_exit_skip() after a plan: 'ok N # SKIP', exit 4."""
        body = ktap_doc("""
            TAP version 13
            1..2
            ok 1 first
            ok 2 # SKIP second needs a device
        """)
        self.assertPasses(self.check_one(body, rc=4))

    # --------------------------------------------- KTAP that must not pass

    def test_missing_plan(self):
        body = ktap_doc("""
            TAP version 13
            ok 1 first
            ok 2 second
        """)
        self.assertBinaryFails(self.check_one(body), "area/bin", "no plan line")

    def test_plan_with_fewer_results(self):
        cases = self.check_one(harness(("a", "ok"), plan=3))
        self.assertBinaryFails(cases, "area/bin", "planned 3 cases, reported 1")

    def test_plan_with_more_results(self):
        cases = self.check_one(harness(("a", "ok"), ("b", "ok"), ("c", "ok"), plan=2))
        self.assertBinaryFails(cases, "area/bin", "planned 2 cases, reported 3")

    def test_two_plans(self):
        body = ktap_doc("""
            1..1
            ok 1 first
            1..1
        """)
        self.assertBinaryFails(self.check_one(body), "area/bin", "2 plan lines")

    def test_duplicate_numbers(self):
        body = ktap_doc("""
            1..3
            ok 1 first
            ok 2 second
            ok 2 second_again
        """)
        why = self.assertBinaryFails(self.check_one(body), "area/bin", "duplicate test number 2")
        self.assertNotIn("planned", why)

    def test_out_of_order_numbers(self):
        body = ktap_doc("""
            1..3
            ok 1 first
            ok 3 third
            ok 2 second
        """)
        self.assertBinaryFails(self.check_one(body), "area/bin",
                               "test number 2 out of order (after 3)",
                               "test number 3 where 2 was expected")

    def test_missing_number(self):
        body = ktap_doc("""
            1..2
            ok 1 first
            ok 3 third
        """)
        self.assertBinaryFails(self.check_one(body), "area/bin", "test number 3 where 2 was expected")

    def test_plan_zero(self):
        """ksft_exit_skip() before any case: '1..0 # SKIP', exit 4."""
        body = ktap_doc("""
            TAP version 13
            1..0 # SKIP no virtio-mmio devices on this machine
        """)
        self.assertBinaryFails(self.check_one(body, rc=4), "area/bin",
                               "ran no test case (plan 1..0 # SKIP no virtio-mmio devices")

    def test_no_output_at_all(self):
        why = self.assertBinaryFails(self.check_one([], rc=0), "area/bin",
                                     "no plan line", "reported no test case (exit 0)")
        self.assertNotIn("skipped", why)

    def test_all_cases_skipped(self):
        cases = self.check_one(harness(("a", "skip"), ("b", "skip")))
        self.assertBinaryFails(cases, "area/bin", "all 2 cases skipped")
        self.assertEqual(2, self.count(cases)[2])  # the cases still show as skipped

    def test_all_skipped_binary_beside_a_good_one(self):
        lines = console(("area/good", harness(("a", "ok")), 0),
                        ("area/empty", harness(("a", "skip")), 0))
        cases = self.evaluate(lines, ["area/good", "area/empty"])
        self.assertBinaryFails(cases, "area/empty", "all 1 cases skipped")
        self.assertIn((True, "area:good:global.a", ""), cases)

    def test_bail_out(self):
        body = ktap_doc("""
            TAP version 13
            Bail out! test_vring printed no KTAP plan (load: ok)
            # Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0
        """)
        why = self.assertBinaryFails(self.check_one(body, rc=1), "area/bin",
                                     "bailed out: test_vring printed no KTAP plan")
        self.assertNotIn("exited 1", why)

    def test_nonzero_exit_without_failing_case(self):
        cases = self.check_one(harness(("a", "ok")), rc=1)
        self.assertBinaryFails(cases, "area/bin", "exited 1 without a failing case")

    # ------------------------------------------- framing and kernel checks

    def test_hang(self):
        lines = console(("vm_runner/hang", ["TAP version 13", "1..1", "# hanging on purpose"], None))
        cases = self.evaluate(lines, ["vm_runner/hang"], timed_out=True)
        self.assertEqual([("vm_runner:hang", "did not finish (hang or crash)"),
                          ("boot_completed", "guest timed out"),
                          ("taint_clean", "taint not reported")], self.failures(cases))

    def test_never_ran(self):
        cases = self.evaluate(console(("area/a", harness(("x", "ok")), 0)), ["area/a", "area/b"])
        self.assertEqual([("area:b", "never ran")], self.failures(cases))

    def test_next_begin_before_end(self):
        lines = console(("area/a", harness(("x", "ok")), None))
        lines += ["VRS-TEST-BEGIN area/b"] + harness(("y", "ok")) + ["VRS-TEST-END area/b rc=0",
                                                                     "VRS-TAINT 0", "VRS-DONE 3.0"]
        cases = self.evaluate(lines, ["area/a", "area/b"])
        self.assertEqual([("area:a", "did not finish (hang or crash)")], self.failures(cases))

    def test_last_line_without_newline(self):
        """The binary's last result and /init's END marker on one line."""
        body = ["1..2", "ok 1 first", "ok 2 secondVRS-TEST-END area/bin rc=0"]
        lines = console(("area/bin", body, None)) + ["VRS-TAINT 0", "VRS-DONE 2.0"]
        cases = self.evaluate(lines, ["area/bin"])
        self.assertPasses(cases)
        self.assertIn((True, "area:bin:second", ""), cases)

    def test_same_binary_twice(self):
        lines = console(("area/bin", harness(("a", "ok")), 0), ("area/bin", harness(("a", "skip")), 0))
        cases = self.evaluate(lines, ["area/bin", "area/bin"])
        self.assertBinaryFails(cases, "area/bin", "all 1 cases skipped")
        self.assertIn((True, "area:bin:global.a", ""), cases)

    def test_kernel_warning_and_taint(self):
        lines = console(("area/bin", harness(("a", "ok")), 0), taint=TAINT_OE | (1 << 9))
        lines.insert(-2, "[    3.10] WARNING: CPU: 0 PID: 77 at lib/vm_splat.rs:20 init+0x10/0x20 [vm_splat]")
        fails = self.failures(self.evaluate(lines, ["area/bin"]))
        self.assertEqual(["kernel_log_clean", "taint_clean"], [d for d, _ in fails])
        self.assertIn("WARNING: CPU: 0", fails[0][1])

    def test_debug_kernel_reports(self):
        # The debug kernel's detectors, one report each, also without the
        # WARNING:/BUG: header line (kmemleak's output has none).
        for report in ("unreferenced object 0xffff000004c8e400 (size 64):",
                       "[    5.20] possible recursive locking detected",
                       "[    5.20] inconsistent lock state",
                       "[    5.20] suspicious RCU usage.",
                       "[    5.20] ODEBUG: free active (active state 0) object: 0000 object type: timer_list",
                       "[    5.20] list_add corruption. prev->next should be next (ffff0000), but was 0000.",
                       "[    5.20] kmemleak: Memory pool empty, consider increasing CONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE",
                       "[    5.20] kmemleak: Kernel memory leak detector disabled"):
            lines = console(("area/bin", harness(("a", "ok")), 0))
            lines.insert(-2, report)
            fails = self.failures(self.evaluate(lines, ["area/bin"]))
            self.assertEqual(["kernel_log_clean"], [d for d, _ in fails], report)

    def test_setup_error(self):
        lines = console(("area/bin", harness(("a", "ok")), 0))
        lines.insert(2, "VRS-ERROR insmod virtio_mmio_rs failed")
        self.assertEqual([("setup", "VRS-ERROR insmod virtio_mmio_rs failed")],
                         self.failures(self.evaluate(lines, ["area/bin"])))


def _tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _tests(t)
        else:
            yield t


def main():
    """Run every test, print one KTAP line each; non-zero on a failure."""
    tests = list(_tests(unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])))
    print("KTAP version 1")
    print(f"1..{len(tests)}")
    bad = 0
    for i, t in enumerate(tests, 1):
        r = unittest.TestResult()
        t.run(r)
        name = f"test_ktap:{t._testMethodName}"
        if r.failures or r.errors:
            bad += 1
            print(f"not ok {i} {name}")
            for _, tb in r.failures + r.errors:
                for l in tb.rstrip().splitlines():
                    print(f"# {l}")
        elif r.skipped:
            print(f"ok {i} {name} # SKIP {r.skipped[0][1]}")
        else:
            print(f"ok {i} {name}")
    return 1 if bad or not tests else 0


if __name__ == "__main__":
    sys.exit(main())
