#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host side of ivshmem_large (VM_HOST_HELPER of vm.large.conf).

    large_ack.py FILE OFFSET...

For each OFFSET, waits until the guest wrote "GUEST@<offset in hex>" at
OFFSET + 64 of FILE (the 8 GiB region's backing file) and answers
"ACK@<offset in hex>" at OFFSET + 128, so the guest knows its bytes
reached the host file at that place.
"""
import mmap
import os
import sys
import time


def main():
    path, offs = sys.argv[1], [int(o) for o in sys.argv[2:]]
    fd = os.open(path, os.O_RDWR)
    done = set()
    deadline = time.time() + 600
    while len(done) < len(offs) and time.time() < deadline:
        for o in offs:
            if o in done:
                continue
            page = o - o % mmap.PAGESIZE
            with mmap.mmap(fd, mmap.PAGESIZE, offset=page) as m:
                want = f"GUEST@{o:x}".encode()
                at = o - page + 64
                if m[at:at + len(want)] == want:
                    ack = f"ACK@{o:x}".encode()
                    m[o - page + 128:o - page + 128 + len(ack)] = ack
                    print(f"large_ack: saw the guest at {o:#x}", flush=True)
                    done.add(o)
        time.sleep(0.1)


if __name__ == "__main__":
    main()
