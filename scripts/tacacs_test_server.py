#!/usr/bin/env python3
"""A small loopback TACACS+ (RFC 8907) server for testing ppp-core's client.

No registry ships a TACACS+ server, so this one is built on an independent
implementation: the PyPI package `tacacs_plus` (client-side). From it we use
  - TACACSHeader.unpacked / .packed     (the 12-octet header),
  - crypt() / TACACSPacket              (the MD5 pseudo-pad obfuscation),
  - TACACSAuthenticationStart.packed, TACACSAuthorizationStart.packed,
    TACACSAccountingStart.packed        (re-encode every request we parsed and
                                         require the same bytes: our client's
                                         encoding must equal the package's),
  - TACACSAuthenticationReply.unpacked, TACACSAuthorizationReply.unpacked,
    TACACSAccountingReply.unpacked      (decode every reply we built and
                                         require the same fields).
The MS-CHAP arithmetic comes from ../shared/aaa/aaacrypto.py (pure Python
MD4/DES/MS-CHAP, independent of the Rust code). Nothing here uses ppp-core.

Users: AAA_USER/AAA_PASS and AAA_USER2/AAA_PASS2 (lib.sh defaults).
Authorization of service=ppp protocol=ip returns addr=192.0.2.10 and
dns-servers=192.0.2.53 192.0.2.54 for AAA_USER, nothing extra for AAA_USER2,
FAIL for unknown users. Accounting records are appended as JSON lines to
--acct-log. Single-connection mode (flag 0x04) is echoed when asked for.
A user named "getpass" makes PAP answer GETPASS first (then CONTINUE).

Usage: tacacs_test_server.py --port 10049 --key KEY [--acct-log FILE]
"""
import argparse
import hashlib
import json
import os
import socket
import socketserver
import struct
import sys
import threading

from tacacs_plus.packet import TACACSHeader, TACACSPacket, crypt
from tacacs_plus.authentication import TACACSAuthenticationStart, TACACSAuthenticationReply
from tacacs_plus.authorization import TACACSAuthorizationStart, TACACSAuthorizationReply
from tacacs_plus.accounting import TACACSAccountingStart, TACACSAccountingReply
from tacacs_plus import flags as F

SHARED = os.environ.get("AAA_SHARED") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "aaa")
sys.path.insert(0, SHARED)
import aaacrypto as C  # noqa: E402

USERS = {
    os.environ.get("AAA_USER", "User"): os.environ.get("AAA_PASS", "clientPass"),
    os.environ.get("AAA_USER2", "alice"): os.environ.get("AAA_PASS2", "alice-pw-123"),
    "getpass": "getpass-pw",
}
PRIMARY = os.environ.get("AAA_USER", "User")
LOCK = threading.Lock()
STATS = {"conformance_errors": 0}


def log(*a):
    print("[tacacs]", *a, file=sys.stderr, flush=True)


def s(b):
    return b.decode("latin-1")


def read_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            return None
        out += chunk
    return out


def take(body, at, n):
    if at + n > len(body):
        raise ValueError("field past the end")
    return body[at:at + n], at + n


def parse_start(body):
    action, priv, atype, svc, ul, pl, rl, dl = struct.unpack("8B", body[:8])
    at = 8
    user, at = take(body, at, ul)
    port, at = take(body, at, pl)
    rem, at = take(body, at, rl)
    data, at = take(body, at, dl)
    if at != len(body):
        raise ValueError("trailing octets in START")
    return dict(action=action, priv=priv, type=atype, service=svc, user=user, port=port, rem=rem, data=data)


def parse_continue(body):
    ul, dl, fl = struct.unpack("!HHB", body[:5])
    user_msg, at = take(body, 5, ul)
    data, at = take(body, at, dl)
    if at != len(body):
        raise ValueError("trailing octets in CONTINUE")
    return user_msg, data, fl


def parse_request(body, with_flags):
    at = 0
    fl = None
    if with_flags:
        fl = body[0]
        at = 1
    method, priv, atype, svc, ul, pl, rl, argc = struct.unpack("8B", body[at:at + 8])
    at += 8
    lens, at = take(body, at, argc)
    user, at = take(body, at, ul)
    port, at = take(body, at, pl)
    rem, at = take(body, at, rl)
    args = []
    for n in lens:
        a, at = take(body, at, n)
        args.append(a)
    if at != len(body):
        raise ValueError("trailing octets in request")
    return dict(flags=fl, method=method, priv=priv, type=atype, service=svc, user=user, port=port, rem=rem,
                args=args)


def conformance(what, ok):
    if not ok:
        with LOCK:
            STATS["conformance_errors"] += 1
        log("CONFORMANCE FAILURE:", what)
    return ok


def check_start_with_package(body, st):
    # Re-encode with the package's packer and demand identical bytes.
    pkg = TACACSAuthenticationStart(s(st["user"]), st["type"], priv_lvl=st["priv"], data=st["data"],
                                    rem_addr=s(st["rem"]), port=s(st["port"]))
    pkg.action = st["action"]
    pkg.service = st["service"]
    return conformance("authentication START encoding", pkg.packed == body)


def authen_reply(status, msg=b"", data=b""):
    body = struct.pack("!BBHH", status, 0, len(msg), len(data)) + msg + data
    parsed = TACACSAuthenticationReply.unpacked(body)
    assert (parsed.status, parsed.server_msg, parsed.data) == (status, msg, data)
    return body


def author_reply(status, args, msg=b""):
    body = struct.pack("!BBHH", status, len(args), len(msg), 0) + bytes(len(a) for a in args) + msg + b"".join(args)
    parsed = TACACSAuthorizationReply.unpacked(body)
    assert parsed.status == status and list(parsed.arguments) == list(args), (parsed.arguments, args)
    return body


def acct_reply(status, msg=b""):
    body = struct.pack("!HHB", len(msg), 0, status) + msg
    parsed = TACACSAccountingReply.unpacked(body)
    assert parsed.status == status
    return body


def verify(st):
    """Returns (status, data) for an authentication START."""
    user = s(st["user"])
    pw = USERS.get(user)
    data = st["data"]
    t = st["type"]
    if st["action"] != F.TAC_PLUS_AUTHEN_LOGIN or st["service"] != 3:
        conformance("action LOGIN / service PPP", False)
        return F.TAC_PLUS_AUTHEN_STATUS_ERROR, b""
    if t == F.TAC_PLUS_AUTHEN_TYPE_PAP:
        if user == "getpass":
            return F.TAC_PLUS_AUTHEN_STATUS_GETPASS, b""
        ok = pw is not None and data == pw.encode()
        return (F.TAC_PLUS_AUTHEN_STATUS_PASS if ok else F.TAC_PLUS_AUTHEN_STATUS_FAIL), b""
    if t == F.TAC_PLUS_AUTHEN_TYPE_CHAP:
        ident, challenge, response = data[:1], data[1:-16], data[-16:]
        ok = pw is not None and len(data) > 17 and hashlib.md5(ident + pw.encode() + challenge).digest() == response
        return (F.TAC_PLUS_AUTHEN_STATUS_PASS if ok else F.TAC_PLUS_AUTHEN_STATUS_FAIL), b""
    if t == 5:  # MS-CHAPv1: id, challenge(8), response(49: LM 24, NT 24, flags)
        if not conformance("MS-CHAP data length 58", len(data) == 58):
            return F.TAC_PLUS_AUTHEN_STATUS_ERROR, b""
        challenge, response = data[1:9], data[9:58]
        ok = pw is not None and response[48] == 1 and C.mschap1_nt_response(challenge, pw) == response[24:48]
        return (F.TAC_PLUS_AUTHEN_STATUS_PASS if ok else F.TAC_PLUS_AUTHEN_STATUS_FAIL), b""
    if t == 6:  # MS-CHAPv2: id, challenge(16), response(49: peer 16, 8 zero, NT 24, flags)
        if not conformance("MS-CHAPv2 data length 66", len(data) == 66):
            return F.TAC_PLUS_AUTHEN_STATUS_ERROR, b""
        auth_chal, response = data[1:17], data[17:66]
        peer_chal, nt = response[:16], response[24:48]
        ok = pw is not None and C.mschap2_nt_response(auth_chal, peer_chal, user, pw) == nt
        if ok:
            s_text = C.mschap2_authenticator_response(pw, nt, peer_chal, auth_chal, user)
            return F.TAC_PLUS_AUTHEN_STATUS_PASS, s_text.encode()
        return F.TAC_PLUS_AUTHEN_STATUS_FAIL, b""
    return F.TAC_PLUS_AUTHEN_STATUS_ERROR, b""


class Handler(socketserver.BaseRequestHandler):
    def send(self, req_header, seq_no, body, single):
        flags = 0x04 if single else 0  # RFC 8907 §4.3 TAC_PLUS_SINGLE_CONNECT_FLAG
        header = TACACSHeader(req_header.version, req_header.type, req_header.session_id, len(body),
                              seq_no=seq_no, flags=flags)
        self.request.sendall(bytes(TACACSPacket(header, body, self.server.key)))

    def handle(self):
        sock = self.request
        sessions = {}
        while True:
            raw = read_exact(sock, 12)
            if raw is None:
                return
            header = TACACSHeader.unpacked(raw)
            body = read_exact(sock, header.length)
            if body is None:
                return
            if header.flags & 0x01:
                conformance("client sent an unobfuscated body", False)
                return
            clear = crypt(header, body, self.server.key)
            single = bool(header.flags & 0x04)
            try:
                self.dispatch(header, clear, single, sessions)
            except Exception as e:  # a malformed request: log and drop the connection
                conformance("request parse: %r" % (e,), False)
                return

    def dispatch(self, header, clear, single, sessions):
        sid = header.session_id
        if header.type == F.TAC_PLUS_AUTHEN:
            if header.seq_no == 1:
                conformance("authentication minor version 1", header.version == 0xc1)
                st = parse_start(clear)
                if check_start_with_package(clear, st):
                    status, data = verify(st)
                else:
                    status, data = F.TAC_PLUS_AUTHEN_STATUS_ERROR, b""
                log("authen user=%s type=%d -> %d" % (s(st["user"]), st["type"], status))
                sessions[sid] = st
                self.send(header, 2, authen_reply(status, data=data), single)
            else:
                st = sessions.get(sid)
                user_msg, _, fl = parse_continue(clear)
                conformance("CONTINUE seq_no 3", header.seq_no == 3)
                ok = st is not None and USERS.get(s(st["user"])) == s(user_msg) and fl == 0
                log("authen CONTINUE user=%s -> %s" % (st and s(st["user"]), ok))
                status = F.TAC_PLUS_AUTHEN_STATUS_PASS if ok else F.TAC_PLUS_AUTHEN_STATUS_FAIL
                self.send(header, header.seq_no + 1, authen_reply(status), single)
        elif header.type == F.TAC_PLUS_AUTHOR:
            rq = parse_request(clear, with_flags=False)
            pkg = TACACSAuthorizationStart(s(rq["user"]), rq["method"], rq["priv"], rq["type"], rq["args"],
                                           rem_addr=s(rq["rem"]), port=s(rq["port"]))
            pkg.service = rq["service"]
            encoded_ok = conformance("authorization REQUEST encoding", pkg.packed == clear)
            user = s(rq["user"])
            wants = set(rq["args"])
            if not encoded_ok:
                body = author_reply(F.TAC_PLUS_AUTHOR_STATUS_ERROR, [], b"encoding mismatch")
            elif user in USERS and {b"service=ppp", b"protocol=ip"} <= wants:
                args = [b"addr=192.0.2.10", b"dns-servers=192.0.2.53 192.0.2.54"] if user == PRIMARY else []
                body = author_reply(F.TAC_PLUS_AUTHOR_STATUS_PASS_ADD, args)
            else:
                body = author_reply(F.TAC_PLUS_AUTHOR_STATUS_FAIL, [], b"not authorized")
            log("author user=%s args=%r" % (user, rq["args"]))
            self.send(header, 2, body, single)
        elif header.type == F.TAC_PLUS_ACCT:
            rq = parse_request(clear, with_flags=True)
            pkg = TACACSAccountingStart(s(rq["user"]), rq["flags"], rq["method"], rq["priv"], rq["type"],
                                        rq["args"], rem_addr=s(rq["rem"]), port=s(rq["port"]))
            pkg.service = rq["service"]
            encoded_ok = conformance("accounting REQUEST encoding", pkg.packed == clear)
            record = dict(user=s(rq["user"]), flags=rq["flags"], rem_addr=s(rq["rem"]),
                          args=dict(s(a).split("=", 1) for a in rq["args"] if b"=" in a))
            if self.server.acct_log:
                with LOCK, open(self.server.acct_log, "a") as f:
                    f.write(json.dumps(record) + "\n")
            log("acct %r" % (record,))
            status = F.TAC_PLUS_ACCT_STATUS_SUCCESS if encoded_ok else F.TAC_PLUS_ACCT_STATUS_ERROR
            self.send(header, 2, acct_reply(status), single)
        else:
            conformance("packet type", False)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("AAA_TACACS_PORT", "10049")))
    p.add_argument("--key", default=os.environ.get("AAA_TACACS_SECRET", "pptp-ci-tacacs"))
    p.add_argument("--acct-log", default=os.environ.get("AAA_TACACS_ACCT_LOG", ""))
    a = p.parse_args()
    srv = Server((a.host, a.port), Handler)
    srv.key = a.key
    srv.acct_log = a.acct_log
    log("listening on %s:%d" % (a.host, a.port))
    try:
        srv.serve_forever()
    finally:
        log("conformance errors: %d" % STATS["conformance_errors"])


if __name__ == "__main__":
    main()
