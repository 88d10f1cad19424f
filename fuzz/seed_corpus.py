#!/usr/bin/env python3
"""Seed each fuzz target's corpus from the shared vectors.

usage: seed_corpus.py VECTORS_DIR CORPUS_DIR TARGET...

Every hex string in the vector files (PPTP control messages, GRE packets,
PPP frames, MPPE packets, crypto values) becomes a seed. Targets that take
a PPP packet also get each frame without its ff03/protocol prefix, and the
async-HDLC target gets each frame HDLC-encoded (RFC 1662 FCS-16 and
escapes), so the fuzzer starts from real bytes of every layer.
"""
import hashlib
import pathlib
import re
import sys
import tomllib

HEX = re.compile(r"^(?:[0-9a-f]{2}){4,}$")


def hex_blobs(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from hex_blobs(v)
    elif isinstance(node, list):
        for v in node:
            yield from hex_blobs(v)
    elif isinstance(node, str) and HEX.match(node):
        yield bytes.fromhex(node)


def fcs16(data):
    # RFC 1662 Appendix C.2, bit-reversed polynomial 0x8408.
    fcs = 0xFFFF
    for b in data:
        fcs ^= b
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs ^ 0xFFFF


def hdlc_encode(frame):
    fcs = fcs16(frame)
    body = frame + bytes([fcs & 0xFF, fcs >> 8])
    out = bytearray([0x7E])
    for b in body:
        if b < 0x20 or b in (0x7D, 0x7E):
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    out.append(0x7E)
    return bytes(out)


def main():
    vectors, corpus, targets = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3:]
    blobs = set()
    for f in sorted(vectors.glob("*.toml")):
        blobs.update(hex_blobs(tomllib.loads(f.read_text())))
    ppp_frames = [b for b in blobs if b[:2] == b"\xff\x03"]
    for t in targets:
        seeds = set(blobs)
        if t.startswith(("lcp", "auth", "ipcp", "ccp")):
            seeds.update(b[4:] for b in ppp_frames)
        if t.startswith("hdlc"):
            seeds.update(hdlc_encode(b) for b in ppp_frames)
        d = corpus / t
        d.mkdir(parents=True, exist_ok=True)
        for s in seeds:
            (d / hashlib.sha1(s).hexdigest()).write_bytes(s)
        print(f"seeded {t}: {len(seeds)} inputs")


if __name__ == "__main__":
    main()
