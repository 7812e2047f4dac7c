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


def main():
    log = sys.argv[1] if len(sys.argv) > 1 else "console.log"
    sock = sys.argv[2] if len(sys.argv) > 2 else "qmp.sock"
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
