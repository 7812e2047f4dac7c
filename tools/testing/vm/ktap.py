#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn one VM boot's serial console log into KTAP and a pass/fail count.

The guest's /init frames each selftest binary with VRS-TEST-BEGIN/END
markers and dumps the kernel log after each one. Every top-level
"ok"/"not ok" line a selftest printed is one test case; indented lines
(nested KTAP: subtests) and "#" lines (diagnostics, including a nested
document that a runner prefixed with "# ") belong to a case and are not
cases themselves. On top of those, each boot contributes three checks of
the kernel itself:

  boot_completed    the guest reached the end of /init (no hang, no panic)
  kernel_log_clean  no WARNING/BUG/Oops/KASAN/UBSAN/RCU stall/refcount splat,
                    no lockdep, debugobjects, list-corruption or kmemleak report
  taint_clean       no taint other than out-of-tree (O), unsigned (E) and
                    test (N, set once a KUnit suite has run)

A selftest binary fails as a whole (one failed line naming it, with the
reasons) when it never started, did not finish, or its KTAP does not hold
up: no plan line "1..N" (or more than one), a plan that disagrees with the
number of results, duplicate, out-of-order or missing test numbers, a
"Bail out!", no case at all ("1..0" or no result line), every case
skipped, or a non-zero exit without a failing case. A run must not pass on
nothing: a binary whose cases all skip has tested nothing.
"""
import argparse
import re
import sys

SPLAT = re.compile(
    r"WARNING:|BUG:|Oops|KASAN|UBSAN|rcu.*stall|refcount_t:|Kernel panic|"
    r"general protection fault|Unable to handle kernel|Call [Tt]race:|"
    # The debug kernel's detectors (lockdep, debugobjects, DEBUG_LIST,
    # kmemleak), by their own words in case a report comes without the
    # WARNING:/BUG: header.
    r"possible recursive locking|inconsistent lock state|suspicious RCU usage|"
    r"possible circular locking|ODEBUG:|list_(?:add|del) corruption|"
    r"unreferenced object( \(\w+\))? 0x|"
    # kmemleak gave up: from then on it checked nothing.
    r"kmemleak: Memory pool empty|kmemleak: .*leak detector disabled")
RESULT = re.compile(r"^(not ok|ok) (\d+)(?: - | )?([^#]*?)\s*(?:#\s*(\S+)(.*))?$")
PLAN = re.compile(r"^1\.\.(\d+)\s*(?:#\s*(.*))?$")
BAIL = re.compile(r"^Bail out!\s*(.*)")
MARKER = re.compile(r"VRS-[A-Z-]+.*")
EXIT_RC = re.compile(r"\brc=(-?\d+)")
# O: out-of-tree, E: unsigned module, N: a KUnit suite ran (debug kernel).
ALLOWED_TAINT = (1 << 12) | (1 << 13) | (1 << 18)


class Console:
    """What one boot's console log holds: per-binary bodies and boot facts."""

    def __init__(self):
        self.runs = {}      # binary -> [(body lines, exit code or None)], in order
        self.taint = None
        self.done = False
        self.splats = []
        self.errors = []    # VRS-ERROR markers (a module failed to load, ...)


def split_console(lines):
    """Split a console log into the KTAP of each selftest binary.

    A binary's body is every line between its VRS-TEST-BEGIN and
    VRS-TEST-END markers. Text in front of a marker on the same line
    (the binary's last line without a newline) stays in the body. A binary
    whose END never came (hang, crash, or the next BEGIN came first) gets
    the exit code None.
    """
    c = Console()
    cur = None
    body = []

    def close(rc):
        c.runs.setdefault(cur, []).append((body, rc))

    for l in lines:
        # Markers may follow a console timestamp or the binary's own text.
        m = MARKER.search(l)
        marker = m.group(0) if m else ""
        if SPLAT.search(l) and not l.startswith(("ok ", "not ok ", "#")):
            c.splats.append(l.strip())
        if marker.startswith(("VRS-TEST-BEGIN ", "VRS-TEST-END ")):
            if cur is not None and m.start() > 0:
                body.append(l[:m.start()])
            words = marker.split()
            name = words[1] if len(words) > 1 else ""
            if marker.startswith("VRS-TEST-BEGIN "):
                if cur is not None:
                    close(None)  # a new binary started: the previous never ended
                cur, body = name, []
            elif cur is not None:
                rc = EXIT_RC.search(marker)
                # An END for another binary means this one never ended.
                close((int(rc.group(1)) if rc else -1) if name == cur else None)
                cur, body = None, []
            continue
        if marker.startswith("VRS-TAINT "):
            try:
                c.taint = int(marker.split()[1])
            except (IndexError, ValueError):
                pass
        elif marker.startswith("VRS-DONE"):
            c.done = True
        elif marker.startswith("VRS-ERROR"):
            c.errors.append(marker)
        if cur is not None:
            body.append(l)
    if cur is not None:
        close(None)  # started, never ended
    return c


def binary_cases(prefix, body, rc):
    """The cases one binary reported, and what is wrong with its run.

    Returns (cases, problems): cases as (ok: bool|None for skip, description,
    detail), problems a list of reasons the binary fails as a whole (empty
    when its KTAP holds up). Only top-level lines count: a nested document
    (indented, or prefixed "# ") has its own plan and numbering.
    """
    cases = []
    plans = []          # (count, directive text)
    numbers = []
    skipped = failed = 0
    bail = None
    for l in body:
        pm = PLAN.match(l)
        if pm:
            plans.append((int(pm.group(1)), (pm.group(2) or "").strip()))
            continue
        bm = BAIL.match(l)
        if bm and bail is None:
            bail = bm.group(1).strip()
            continue
        rm = RESULT.match(l)
        if not rm:
            continue
        numbers.append(int(rm.group(2)))
        ok = rm.group(1) == "ok"
        directive = (rm.group(4) or "").upper()
        desc = f"{prefix}:{rm.group(3).strip() or rm.group(2)}"
        if directive == "SKIP":
            cases.append((None, desc, (rm.group(5) or "").strip()))
            skipped += 1
        elif directive in ("TODO", "XFAIL") and not ok:
            cases.append((None, desc, "xfail"))
        else:
            cases.append((ok, desc, ""))
            failed += not ok

    if rc is None:
        # What it printed so far is incomplete anyway: one reason is enough.
        return cases, ["did not finish (hang or crash)"]

    problems = []
    n = len(numbers)
    if bail is not None:
        problems.append(f"bailed out: {bail}" if bail else "bailed out")
    if not plans:
        problems.append("no plan line (1..N)")
    elif len(plans) > 1:
        problems.append(f"{len(plans)} plan lines")
    plan, why = plans[0] if plans else (None, "")
    if plan == 0 and n == 0:
        problems.append("ran no test case (plan 1..0" + (f" # {why})" if why else ")"))
    elif plan is not None and n != plan:
        problems.append(f"planned {plan} cases, reported {n}")
    elif n == 0:
        problems.append(f"reported no test case (exit {rc})")
    # Test numbers run 1, 2, 3, ... in order; report the first of each kind.
    seen = set()
    numbering = {}
    last = 0
    for num in numbers:
        if num in seen:
            numbering.setdefault("dup", f"duplicate test number {num}")
        elif num < last:
            numbering.setdefault("order", f"test number {num} out of order (after {last})")
        elif num != last + 1:
            numbering.setdefault("gap", f"test number {num} where {last + 1} was expected")
        seen.add(num)
        last = max(last, num)
    problems += numbering.values()
    if n and skipped == n:
        problems.append(f"all {n} cases skipped")
    # A non-zero exit needs a reason: a failing case, or one of the above.
    if rc not in (0, 4) and failed == 0 and not problems:
        problems.append(f"exited {rc} without a failing case")
    return cases, problems


def evaluate(lines, tests, timed_out=False):
    """All the cases of one boot: each binary's, then the kernel's checks.

    Returns (cases, console) with cases as (ok|None, description, detail).
    """
    c = split_console(lines)
    cases = [(False, "setup", e) for e in c.errors]
    runs = {t: list(r) for t, r in c.runs.items()}
    for t in tests:
        prefix = t.replace("/", ":")
        if not runs.get(t):
            cases.append((False, prefix, "never ran"))
            continue
        body, rc = runs[t].pop(0)
        bc, problems = binary_cases(prefix, body, rc)
        cases += bc
        if problems:
            cases.append((False, prefix, "; ".join(problems)))

    cases.append((c.done and not timed_out, "boot_completed",
                  "guest timed out" if timed_out else
                  ("" if c.done else "guest stopped before the end of /init")))
    cases.append((not c.splats, "kernel_log_clean", "; ".join(c.splats[:5])))
    if c.taint is None:
        cases.append((False, "taint_clean", "taint not reported"))
    else:
        cases.append((c.taint & ~ALLOWED_TAINT == 0, "taint_clean", f"tainted={c.taint}"))
    return cases, c


def report(name, cases, log, splats, out=sys.stdout):
    """Print the KTAP of one boot; return (passed, failed, skipped)."""
    print("KTAP version 1", file=out)
    print(f"# {name}", file=out)
    print(f"1..{len(cases)}", file=out)
    p = f = s = 0
    for i, (ok, desc, detail) in enumerate(cases, 1):
        if ok is None:
            s += 1
            print(f"ok {i} {name}:{desc} # SKIP {detail}", file=out)
        elif ok:
            p += 1
            print(f"ok {i} {name}:{desc}", file=out)
        else:
            f += 1
            print(f"not ok {i} {name}:{desc}" + (f" # {detail}" if detail else ""), file=out)
    if f:
        print(f"# {name}: console log: {log}", file=out)
        for l in splats[:40]:
            print(f"#   splat: {l}", file=out)
    print(f"# {name}: pass:{p} fail:{f} skip:{s}", file=out)
    return p, f, s


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--tests", default="")
    ap.add_argument("--timed-out", default="0")
    ap.add_argument("--result", required=True, help="file to write 'P F S' to")
    ap.add_argument("log")
    a = ap.parse_args(argv)

    with open(a.log, "rb") as f:
        lines = [l.decode("utf-8", "replace").rstrip("\r\n") for l in f]
    cases, c = evaluate(lines, a.tests.split(), a.timed_out == "1")
    p, f, s = report(a.name, cases, a.log, c.splats)
    with open(a.result, "w") as out:
        out.write(f"{p} {f} {s}\n")
    return 1 if f else 0


if __name__ == "__main__":
    sys.exit(main())
