#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run QMP commands a guest asks for (VM_HOST_HELPER of vm.sh).

A selftest that needs the host to act on the VM (resize a disk, ...)
prints one line on the serial console:

    VRS-QMP <id> {"execute": "block_resize", "arguments": {...}}

This helper, started by vm.sh next to QEMU in the boot's work directory,
follows console.log, sends each such command to QEMU's QMP socket
(qmp.sock) and logs the reply to helper.out. The guest sees only the
effect (a resized disk, a config interrupt), which is what it tests.

With --trace FILE (QEMU's -D log of trace events), a console line

    VRS-MARK <tag>

logs "MARK <tag> <event> <count> ..." to helper.out: how many times each
event occurs in FILE so far. A guest that prints a mark, pauses, works,
prints another mark and pauses again gets the events of its work as the
difference (tools/virtio/mmio-bench counts trapped MMIO accesses so).
With --counter FILE (a file of "<name> <count>" lines that something on
the host keeps current, e.g. tools/virtio/blk-bench/insn_counter.c's
guest instruction count), the MARK lines also carry FILE's pairs as read
at the mark. With --snap FILE, each mark also writes its tag to FILE, a
request that insn_counter.c (prof=1) answers with a profile snapshot
named after the tag.
"""
import json
import os
import socket
import sys
import time


def qmp_connect(path, deadline):
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    f = s.makefile("rw")
    json.loads(f.readline())  # greeting
    f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
    f.flush()
    reply(f)
    return s, f


def reply(f):
    while True:
        msg = json.loads(f.readline())
        if "event" in msg:
            continue
        return msg


class TraceCounter:
    """Counts trace events in a growing QEMU log, line by line."""

    def __init__(self, path):
        self.path, self.pos, self.counts = path, 0, {}

    def update(self):
        try:
            with open(self.path, "rb") as t:
                t.seek(self.pos)
                data = t.read()
        except FileNotFoundError:
            return self.counts
        end = data.rfind(b"\n") + 1
        self.pos += end
        for line in data[:end].splitlines():
            # "<pid>@<time>:event args" or "event args"
            name = line.split(b" ", 1)[0].rsplit(b":", 1)[-1].decode(errors="replace")
            self.counts[name] = self.counts.get(name, 0) + 1
        return self.counts


def read_counter(path):
    """The "<name> <count>" pairs of FILE (none if it is not there yet)."""
    try:
        with open(path) as c:
            pairs = [l.split() for l in c]
    except FileNotFoundError:
        return {}
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}


def main():
    args = sys.argv[1:]
    trace = counter = snap = None
    while args[:1] in (["--trace"], ["--counter"], ["--snap"]):
        if args[0] == "--trace":
            trace = TraceCounter(args[1])
        elif args[0] == "--snap":
            snap = args[1]
        else:
            counter = args[1]
        args = args[2:]
    log = args[0] if args else "console.log"
    sock = args[1] if len(args) > 1 else "qmp.sock"
    _, f = qmp_connect(sock, time.time() + 30)
    pos = 0
    done = set()
    while True:
        try:
            with open(log, "rb") as c:
                c.seek(pos)
                data = c.read()
        except FileNotFoundError:
            data = b""
        # Only whole lines; the rest is read again next time.
        end = data.rfind(b"\n") + 1
        pos += end
        for line in data[:end].decode(errors="replace").splitlines():
            m = line.find("VRS-MARK ")
            if m >= 0 and (trace or counter or snap):
                counts = dict(trace.update()) if trace else {}
                if counter:
                    counts.update(read_counter(counter))
                tag = line[m + 9:].strip()
                if snap:
                    with open(snap + ".tmp", "w") as r:
                        r.write(tag.split()[0] + "\n")
                    os.replace(snap + ".tmp", snap)
                ev = " ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                print(f"MARK {tag} {ev}", flush=True)
                continue
            i = line.find("VRS-QMP ")
            if i < 0:
                continue
            tag, _, cmd = line[i + 8:].partition(" ")
            if tag in done:
                continue
            done.add(tag)
            try:
                req = json.loads(cmd)
            except ValueError as e:
                print(f"{tag}: bad command {cmd!r}: {e}", flush=True)
                continue
            f.write(json.dumps(req) + "\n")
            f.flush()
            print(f"{tag}: {json.dumps(req)} -> {json.dumps(reply(f))}", flush=True)
        time.sleep(0.1)


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError) as e:
        if not os.path.exists("qemu.rc"):
            print(f"qmp helper: {e}", file=sys.stderr)
