#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The host end of the guests' network tests (VM_HOST_HELPER of vm.sh).

    net_echo.py ADDR PORT

Echoes every TCP connection and every UDP datagram (up to 64 KiB) on
ADDR:PORT back to its sender, byte for byte, until killed. A conf starts
it in VM_HOST_HELPER; vm.sh runs the helper in the boot's network
namespace, where ADDR is the host end of a tap (VM_TAPS); the guest
checks what comes back against what it sent.
"""
import socket
import socketserver
import sys
import threading


class Tcp(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class Udp(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


class UdpServer(socketserver.UDPServer):
    max_packet_size = 65535  # the default (8192) would truncate silently


class TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: net_echo.py ADDR PORT")
    addr = (sys.argv[1], int(sys.argv[2]))
    udp = UdpServer(addr, Udp)
    threading.Thread(target=udp.serve_forever, daemon=True).start()
    with TcpServer(addr, Tcp) as tcp:
        print(f"echoing TCP and UDP on {addr[0]}:{addr[1]}", flush=True)
        tcp.serve_forever()


if __name__ == "__main__":
    main()
