#!/usr/bin/env python3
"""Minimal ICMP echo client for hosts without iputils-ping (needs root).

Usage: ping.py DST [COUNT] [TIMEOUT_S] [SIZE]
Sends COUNT echo requests (56 octets of payload, or IPv4 packets of SIZE
octets, fragmented by the local stack where the route's MTU is smaller:
DF clear), one per second, and prints one line per reply; exits 0 only
if every request got its reply.
"""
import os
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main() -> int:
    dst = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 56 + 28
    ident = os.getpid() & 0xFFFF
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    # IP_MTU_DISCOVER = IP_PMTUDISC_DONT: DF clear, so a large echo is
    # fragmented rather than refused.
    sock.setsockopt(socket.IPPROTO_IP, 10, 0)
    got = 0
    for seq in range(1, count + 1):
        payload = bytes(i & 0xFF for i in range(max(size - 28, 0)))
        header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload
        sent = time.time()
        sock.sendto(packet, (dst, 0))
        deadline = sent + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                print(f"no reply from {dst} icmp_seq={seq}")
                break
            sock.settimeout(left)
            try:
                data, addr = sock.recvfrom(65535)
            except socket.timeout:
                continue
            ihl = (data[0] & 0x0F) * 4
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident and rseq == seq and addr[0] == dst:
                print(f"{len(data) - ihl} bytes from {dst}: icmp_seq={seq} time={(time.time() - sent) * 1000:.1f} ms")
                got += 1
                break
        if seq < count:
            time.sleep(max(0.0, 1.0 - (time.time() - sent)))
    print(f"{count} packets transmitted, {got} received")
    return 0 if got == count else 1


if __name__ == "__main__":
    sys.exit(main())
