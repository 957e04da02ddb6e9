#!/usr/bin/env python3
"""Send UDP datagrams to a closed port on loopback for a fixed time and print
the rate achieved (packets/s). Each datagram is dropped by the kernel with
reason NO_SOCKET, so it fires skb:kfree_skb once."""
import socket
import sys
import time

port = int(sys.argv[1]) if len(sys.argv) > 1 else 39_999
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = b"x" * 32
sent = 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    for _ in range(1000):
        try:
            sock.sendto(payload, ("127.0.0.1", port))
            sent += 1
        except OSError:
            pass  # ICMP errors reported back on the socket; keep flooding
print(int(sent / seconds))
