#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Create the tap devices of a boot (VM_TAPS of vm.sh).

    tap.py NAME:QUEUES:ADDR/PREFIX ...

vm.sh runs this in the boot's own network namespace (unshare --net), so
nothing touches the host's network. Each tap is persistent and, with more
than one queue, multiqueue (IFF_MULTI_QUEUE), which is what QEMU's
"-netdev tap,ifname=NAME,queues=QUEUES" attaches to; the host end gets
ADDR/PREFIX and is brought up, with the loopback device.
"""
import fcntl
import os
import struct
import subprocess
import sys

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_MULTI_QUEUE = 0x0100


def ip(*args):
    subprocess.run(["busybox", "ip", *args], check=True)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: tap.py NAME:QUEUES:ADDR/PREFIX ...")
    ip("link", "set", "lo", "up")
    for spec in sys.argv[1:]:
        try:
            name, queues, addr = spec.split(":")
            queues = int(queues)
        except ValueError:
            sys.exit(f"tap.py: bad spec '{spec}' (NAME:QUEUES:ADDR/PREFIX)")
        flags = IFF_TAP | IFF_NO_PI | (IFF_MULTI_QUEUE if queues > 1 else 0)
        fd = os.open("/dev/net/tun", os.O_RDWR)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
            fcntl.ioctl(fd, TUNSETPERSIST, 1)
        finally:
            os.close(fd)
        ip("addr", "add", addr, "dev", name)
        ip("link", "set", name, "up")


if __name__ == "__main__":
    main()
