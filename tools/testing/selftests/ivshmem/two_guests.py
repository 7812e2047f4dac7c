#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The host side of the two-guest ivshmem test (VM_HOST_HELPER of
vm.twoguest.conf).

    two_guests.py BINDIR QEMUBINDIR WORKDIR

Starts two servers with 2 vectors each: ours (BINDIR/ivshmem-server, 1 MiB,
WORKDIR/ours.sock) and QEMU's contrib one (QEMUBINDIR/ivshmem-server, 2 MiB,
WORKDIR/qemu.sock), and on each a monitor (BINDIR/ivshmem-peer monitor) that
logs peers coming and going. Creates WORKDIR/ready: guest A (the runner's
QEMU, whose command line is WORKDIR/qemu.argv) may start. Then boots guest
B from the same command line with "vrs.role=b" added to its kernel command
line and its console in WORKDIR/console-b.log; B runs
"ivshmem_twoguest --peer" (VM_GUEST_CMDS) and powers off.

When B's QEMU has exited, for each server this script writes at 0x800 of
its shared memory (which it maps, as a POSIX shared-memory object):

  "B-DONE <verdict>\\n"   verdict "clean" if B's console has
                          "VRS-PEER-END rc=0" and no kernel splat (the
                          runner's own patterns, ktap.py), else what is wrong
  "GONE <id>\\n" at 0x900 once the monitor has seen peer <id> leave, for
                          each id that left (the last one wins)

Guest A's test (ivshmem_twoguest.c) asserts on them: the server told the
other peers that B left, with B's id. B's console is copied to this
script's output (the runner prints it as "[host helper] ..."), without
the kernel's lines unless they are a splat.
"""
import mmap
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../vm"))
from ktap import SPLAT  # noqa: E402


def log(*a):
    print("two_guests:", *a, flush=True)


def start_server(cmd, sock):
    srv = subprocess.Popen(cmd)
    t0 = time.time()
    while not os.path.exists(sock):
        if srv.poll() is not None or time.time() - t0 > 10:
            log("server did not start:", cmd)
            sys.exit(1)
        time.sleep(0.05)
    return srv


def map_shm(name, size):
    fd = os.open(f"/dev/shm/{name}", os.O_RDWR)
    m = mmap.mmap(fd, size)
    os.close(fd)
    # The servers keep their descriptors: nothing is left in /dev/shm
    # however this script ends.
    os.unlink(f"/dev/shm/{name}")
    return m


class Monitor(threading.Thread):
    """ivshmem-peer monitor on one server: writes GONE <id> into the
    server's memory for each peer that leaves."""

    def __init__(self, name, peer, sock, shm):
        super().__init__(daemon=True)
        self.name_, self.shm = name, shm
        self.p = subprocess.Popen([peer, "-S", sock, "-n", "2", "monitor"],
                                  stdout=subprocess.PIPE, text=True)

    def run(self):
        for line in self.p.stdout:
            line = line.strip()
            if not line.startswith("vector"):
                log(f"{self.name_} monitor:", line)
            m = re.fullmatch(r"peer (\d+) left", line)
            if m:
                text = f"GONE {m.group(1)}\n".encode().ljust(32, b"\0")
                self.shm[0x900:0x900 + 32] = text


def main():
    bindir, qbindir, work = sys.argv[1:4]
    peer = os.path.join(bindir, "ivshmem-peer")
    ours_sock, qemu_sock = os.path.join(work, "ours.sock"), os.path.join(work, "qemu.sock")
    ours_shm, qemu_shm = f"vrs-ivs-ours-{os.getpid()}", f"vrs-ivs-qemu-{os.getpid()}"
    servers = [
        start_server([os.path.join(bindir, "ivshmem-server"), "-F", "-v", "-S", ours_sock,
                      "-M", ours_shm, "-l", "1M", "-n", "2"], ours_sock),
        start_server([os.path.join(qbindir, "ivshmem-server"), "-F", "-S", qemu_sock,
                      "-M", qemu_shm, "-l", "2M", "-n", "2"], qemu_sock),
    ]
    shms = {"ours": map_shm(ours_shm, 1 << 20), "qemu": map_shm(qemu_shm, 2 << 20)}
    mons = [Monitor("ours", peer, ours_sock, shms["ours"]),
            Monitor("qemu", peer, qemu_sock, shms["qemu"])]
    for m in mons:
        m.start()

    with open(os.path.join(work, "qemu.argv"), "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0")[:-1]]
    i = argv.index("-append")
    argv[i + 1] += " vrs.role=b"
    console_b = os.path.join(work, "console-b.log")
    argv += ["-serial", f"file:{console_b}"]
    open(os.path.join(work, "ready"), "w").close()
    log("servers up; booting guest B")
    b = subprocess.Popen(argv, stdin=subprocess.DEVNULL, cwd=work)
    rc = b.wait()
    with open(console_b, errors="replace") as f:
        lines = f.read().splitlines()
    # B's own lines and any splat; the whole console stays in console-b.log.
    for line in lines:
        if not line.startswith("[") or SPLAT.search(line):
            print("[guest B]", line, flush=True)
    if not any(re.search(r"VRS-PEER-END rc=0\b", ln) for ln in lines):
        verdict = "no VRS-PEER-END rc=0 on its console"
    else:
        splats = [ln for ln in lines if SPLAT.search(ln)]
        verdict = "clean" if not splats else "kernel log: " + splats[0][:200]
    log(f"guest B's QEMU exited {rc}: {verdict}")
    for m in shms.values():
        m[0x800:0x800 + 256] = f"B-DONE {verdict}\n".encode()[:255].ljust(256, b"\0")
    for s in servers:
        s.wait()


if __name__ == "__main__":
    main()
