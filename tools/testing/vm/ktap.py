#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn one VM boot's serial console log into KTAP and a pass/fail count.

The guest's /init frames each selftest binary with VRS-TEST-BEGIN/END
markers and dumps the kernel log after each one. Every top-level
"ok"/"not ok" line a selftest printed is one test case. On top of those,
each boot contributes three checks of the kernel itself:

  boot_completed    the guest reached the end of /init (no hang, no panic)
  kernel_log_clean  no WARNING/BUG/Oops/KASAN/UBSAN/RCU stall/refcount splat
  taint_clean       no taint other than out-of-tree (O) and unsigned (E)

A selftest that never started, stopped without finishing its plan, or
exited non-zero without reporting a failing case counts as a failure.
"""
import argparse
import re
import sys

SPLAT = re.compile(
    r"WARNING:|BUG:|Oops|KASAN|UBSAN|rcu.*stall|refcount_t:|Kernel panic|"
    r"general protection fault|Unable to handle kernel|Call [Tt]race:")
RESULT = re.compile(r"^(not ok|ok) (\d+)(?: - | )?([^#]*?)\s*(?:#\s*(\S+)(.*))?$")
PLAN = re.compile(r"^1\.\.(\d+)")
ALLOWED_TAINT = (1 << 12) | (1 << 13)  # O: out-of-tree, E: unsigned module


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--tests", default="")
    ap.add_argument("--timed-out", default="0")
    ap.add_argument("--result", required=True, help="file to write 'P F S' to")
    ap.add_argument("log")
    a = ap.parse_args()

    with open(a.log, "rb") as f:
        lines = [l.decode("utf-8", "replace").rstrip("\r\n") for l in f]

    cases = []  # (ok: bool|None for skip, description, detail)
    def add(ok, desc, detail=""):
        cases.append((ok, desc, detail))

    expected = a.tests.split()
    seen = {}
    cur = None
    body = []
    taint = None
    done = False
    splats = []
    for l in lines:
        # Strip a leading console timestamp/garbage before markers.
        m = re.search(r"VRS-[A-Z-]+.*", l)
        marker = m.group(0) if m else ""
        if SPLAT.search(l) and not l.startswith(("ok ", "not ok ", "#")):
            splats.append(l.strip())
        if marker.startswith("VRS-TEST-BEGIN "):
            cur = marker.split()[1]
            body = []
            continue
        if marker.startswith("VRS-TEST-END ") and cur:
            rc = int(marker.rsplit("rc=", 1)[1]) if "rc=" in marker else -1
            seen[cur] = (body, rc)
            cur = None
            continue
        if marker.startswith("VRS-TAINT "):
            taint = int(marker.split()[1])
        elif marker.startswith("VRS-DONE"):
            done = True
        elif marker.startswith("VRS-ERROR"):
            add(False, "setup", marker)
        if cur is not None:
            body.append(l)
    if cur is not None:
        seen[cur] = (body, None)  # started, never ended

    for t in expected:
        prefix = t.replace("/", ":")
        if t not in seen:
            add(False, prefix, "never ran")
            continue
        body, rc = seen[t]
        plan = None
        n = 0
        failed = 0
        for l in body:
            pm = PLAN.match(l)
            if pm and plan is None:
                plan = int(pm.group(1))
            rm = RESULT.match(l)
            if not rm:
                continue
            n += 1
            ok = rm.group(1) == "ok"
            directive = (rm.group(4) or "").upper()
            desc = f"{prefix}:{rm.group(3).strip() or rm.group(2)}"
            if directive == "SKIP":
                add(None, desc, (rm.group(5) or "").strip())
            elif directive in ("TODO", "XFAIL") and not ok:
                add(None, desc, "xfail")
            else:
                add(ok, desc)
                failed += not ok
        if rc is None:
            add(False, prefix, "did not finish (hang or crash)")
        elif plan is not None and n < plan:
            add(False, prefix, f"planned {plan} cases, reported {n}")
        elif n == 0:
            add(False, prefix, f"reported no test case (exit {rc})")
        elif rc not in (0, 4) and failed == 0:
            add(False, prefix, f"exited {rc} without a failing case")

    timed_out = a.timed_out == "1"
    add(done and not timed_out, "boot_completed",
        "guest timed out" if timed_out else ("" if done else "guest stopped before the end of /init"))
    add(not splats, "kernel_log_clean", "; ".join(splats[:5]))
    if taint is None:
        add(False, "taint_clean", "taint not reported")
    else:
        add(taint & ~ALLOWED_TAINT == 0, "taint_clean", f"tainted={taint}")

    print("KTAP version 1")
    print(f"# {a.name}")
    print(f"1..{len(cases)}")
    p = f = s = 0
    for i, (ok, desc, detail) in enumerate(cases, 1):
        if ok is None:
            s += 1
            print(f"ok {i} {a.name}:{desc} # SKIP {detail}")
        elif ok:
            p += 1
            print(f"ok {i} {a.name}:{desc}")
        else:
            f += 1
            print(f"not ok {i} {a.name}:{desc}" + (f" # {detail}" if detail else ""))
    if f:
        print(f"# {a.name}: console log: {a.log}")
        for l in splats[:20]:
            print(f"#   splat: {l}")
    print(f"# {a.name}: pass:{p} fail:{f} skip:{s}")
    with open(a.result, "w") as out:
        out.write(f"{p} {f} {s}\n")
    return 1 if f else 0


if __name__ == "__main__":
    sys.exit(main())
