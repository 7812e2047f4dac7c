#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The host side of the ivshmem selftest (VM_HOST_HELPER of vm.conf).

    host_peer.py BINDIR WORKDIR

Starts our ivshmem-server (BINDIR/ivshmem-server) on WORKDIR/ivs.sock with
2 vectors and 1 MiB, creates WORKDIR/ready for the runner (QEMU's
ivshmem-doorbell connects at start-up), then plays the host peer of
ivshmem_test.c with BINDIR/ivshmem-peer, the CLI a user has:

  plain:    waits for "GUEST-PLAIN" at 8192 of WORKDIR/plain.shm (the
            backing file of ivshmem-plain), answers "ACK-PLAIN" at 12288;
  doorbell: waits for "G <id>" at 0 of the server's memory (a POSIX
            shared-memory object this script maps as well), starts
            "ivshmem-peer wait 0", writes "H <its id>" at 64, rings the
            guest on vector 1; when the wait sees exactly one ring on
            vector 0 it writes "OK0" at 128 (else "BAD ..."), then rings the
            guest on vector 0 again.

Every step is logged; the guest's test decides pass or fail.
"""
import mmap
import os
import subprocess
import sys
import time


def log(*a):
    print("host_peer:", *a, flush=True)


def main():
    bindir, work = sys.argv[1], sys.argv[2]
    sock = os.path.join(work, "ivs.sock")
    # A POSIX shared-memory object, so that this script can map it too.
    shm_name = f"vrs-ivshmem-test-{os.getpid()}"
    server_bin = os.environ.get("IVSHMEM_SERVER") or os.path.join(bindir, "ivshmem-server")
    server = subprocess.Popen([server_bin, "-F", "-v", "-S", sock,
                               "-M", shm_name, "-l", "1M", "-n", "2"])
    peer = os.path.join(bindir, "ivshmem-peer")
    t0 = time.time()
    while not os.path.exists(sock):
        if server.poll() is not None or time.time() - t0 > 10:
            log("the server did not start")
            sys.exit(1)
        time.sleep(0.05)
    open(os.path.join(work, "ready"), "w").close()
    log("server up on", sock)

    def run(*args, check=True):
        r = subprocess.run([peer, "-S", sock, "-n", "2", *args], capture_output=True, text=True)
        if check and r.returncode != 0:
            log("ivshmem-peer", *args, "failed:", r.stdout, r.stderr)
        return r

    shm_fd = os.open(f"/dev/shm/{shm_name}", os.O_RDWR)
    shm = mmap.mmap(shm_fd, 1 << 20)
    # The server and the mapping keep it: nothing is left in /dev/shm
    # however this script ends.
    os.unlink(f"/dev/shm/{shm_name}")

    def shm_read(off, n):
        return shm[off:off + n]

    plain_done = doorbell_done = False
    plain = os.path.join(work, "plain.shm")
    deadline = time.time() + 600
    while time.time() < deadline and not (plain_done and doorbell_done):
        if not plain_done:
            with open(plain, "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
                if m[8192:8203] == b"GUEST-PLAIN":
                    m[12288:12297] = b"ACK-PLAIN"
                    log("plain: saw the guest's write, acked")
                    plain_done = True
        if not doorbell_done:
            head = shm_read(0, 16)
            if head.startswith(b"G "):
                guest = int(head[2:].split(b"\n")[0])
                log("doorbell: guest is peer", guest)
                w = subprocess.Popen([peer, "-S", sock, "-n", "2", "wait", "0,1", "-t", "120", "-c", "1"],
                                     stdout=subprocess.PIPE, text=True)
                first = w.stdout.readline().split()
                if len(first) < 2 or not first[1].isdigit():
                    log("doorbell: ivshmem-peer wait did not start:", first, w.wait())
                    break
                host = int(first[1])
                run("write", "64", f"H {host}\n")
                log("doorbell: host peer", host, "waiting for the guest's ring")
                out, _ = w.communicate(timeout=150)
                log("doorbell: wait said", repr(out), "rc", w.returncode)
                # The guest may ring more than once (see ivshmem_test.c):
                # only vector 0 may have moved.
                ok = w.returncode == 0 and out.strip().startswith("vector 0: ")
                verdict = "OK0" if ok else "BAD " + out.strip()[:10]
                run("write", "128", verdict)
                log("doorbell: ringing the guest on vector 1")
                run("ring", str(guest), "1")
                # The guest says it got vector 1 before we ring vector 0.
                t1 = time.time()
                while shm[160:164] != b"GOT1" and time.time() - t1 < 120:
                    time.sleep(0.05)
                run("ring", str(guest), "0")
                log("doorbell: rang the guest on vector 0")
                # The sample's ping-pong (samples/ivshmem) against our pong.
                r = subprocess.run([peer, "-S", sock, "-n", "2", "pong", "-c", "200", "-t", "250"],
                                   capture_output=True, text=True)
                log("pingpong:", r.stdout.strip().replace("\n", "; "), r.stderr.strip(), "rc", r.returncode)
                doorbell_done = True
        time.sleep(0.1)
    log("done" if plain_done and doorbell_done else "gave up")
    server.wait()


if __name__ == "__main__":
    main()
