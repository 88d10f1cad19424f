#!/usr/bin/env python3
"""Recomputes mschapv1_change_password.toml from RFC 2433 (Change Password
packets version 1, code 5, and version 2, code 6; Appendix A) and RFC 2548
(MS-CHAP-CPW-2, MS-CHAP-NT-Enc-PW) with
pycryptodome's MD4, DES and ARC4 (no code of the crate under test). Run:
python3 mschapv1_change_password.py > mschapv1_change_password.toml"""
import struct

from Crypto.Cipher import ARC4, DES
from Crypto.Hash import MD4


def nt_hash(password):  # A.6 NtPasswordHash: MD4 of the Unicode password
    return MD4.new(password.encode("utf-16-le")).digest()


def des_key(key7):  # 7 bits per octet, parity bit ignored by DES
    bits = int.from_bytes(key7, "big")
    return bytes(((bits >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))


def des_encrypt(clear, key7):
    return DES.new(des_key(key7), DES.MODE_ECB).encrypt(clear)


def lm_hash(password):  # A.2 LmPasswordHash: upper-cased, 14 octets
    upper = password.upper().encode("ascii")[:14].ljust(14, b"\0")
    return des_encrypt(b"KGS!@#$%", upper[:7]) + des_encrypt(b"KGS!@#$%", upper[7:])


def challenge_response(challenge, password_hash):  # A.5 ChallengeResponse
    z = password_hash + bytes(5)
    return b"".join(des_encrypt(challenge, z[7 * i:7 * i + 7]) for i in range(3))


def pw_block(new_password, key_hash, fill):  # New...EncryptedWithOld...Hash
    unicode = new_password.encode("utf-16-le")
    clear = fill[: 512 - len(unicode)] + unicode + struct.pack("<I", len(unicode))
    assert len(clear) == 516
    return ARC4.new(key_hash).encrypt(clear)


def hash_encrypted_with_block(password_hash, block):  # ...PasswordHashEncryptedWithBlock
    return des_encrypt(password_hash[:8], block[:7]) + des_encrypt(password_hash[8:], block[7:14])


def toml_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def common(vid, kind, user, old, new, challenge, identifier):
    print("[[vector]]")
    print(f'id = "{vid}"')
    print(f'kind = "{kind}"')
    print('source = "constructed per RFC 2433 Change Password packets (version 1: code 5, version 2: code 6) and Appendix A, RFC 2548 MS-CHAP-CPW-2 and MS-CHAP-NT-Enc-PW"')
    print('verified = "mschapv1_change_password.py: pycryptodome MD4, DES, ARC4"')
    print(f"username = {toml_string(user)}")
    print(f"old_password = {toml_string(old)}")
    print(f"new_password = {toml_string(new)}")
    print(f'challenge = "{challenge.hex()}"')
    print(f"identifier = {identifier}")
    print(f'old_password_hash = "{nt_hash(old).hex()}"')
    print(f'new_password_hash = "{nt_hash(new).hex()}"')


def version2(vid, user, old, new, challenge, identifier, fill, with_lm):
    old_h, new_h = nt_hash(old), nt_hash(new)
    enc_pw = pw_block(new, old_h, fill)
    enc_hash = hash_encrypted_with_block(old_h, new_h)
    if with_lm:
        # As a Windows 9x/NT peer with LM hashes fills them: the new
        # password under the old LM hash, the old LM hash under the new NT
        # hash, the LM response with the new password.
        old_lm, new_lm = lm_hash(old), lm_hash(new)
        enc_lm_pw = pw_block(new, old_lm, fill)
        enc_lm_hash = hash_encrypted_with_block(old_lm, new_h)
        lm_resp = challenge_response(challenge, new_lm)
    else:
        enc_lm_pw, enc_lm_hash, lm_resp = bytes(516), bytes(16), bytes(24)
    nt_resp = challenge_response(challenge, new_h)
    flags = 1  # use the NT-Response
    body = enc_pw + enc_hash + enc_lm_pw + enc_lm_hash + lm_resp + nt_resp + struct.pack(">H", flags)
    packet = bytes([6, identifier]) + struct.pack(">H", 4 + len(body)) + body
    assert len(packet) == 1118
    common(vid, "mschapv1_change_password_v2", user, old, new, challenge, identifier)
    print(f'fill = "{fill.hex()}"')
    print(f'encrypted_password = "{enc_pw.hex()}"')
    print(f'encrypted_hash = "{enc_hash.hex()}"')
    print(f'encrypted_lm_hash = "{enc_lm_hash.hex()}"')
    print(f'lm_response = "{lm_resp.hex()}"')
    print(f'nt_response = "{nt_resp.hex()}"')
    print(f"lm_fields = {'true' if with_lm else 'false'}")
    print(f'packet = "{packet.hex()}"')
    if not with_lm:
        # RFC 2548: MS-CHAP-CPW-2 (vendor type 4: Code 6, Ident,
        # Old-NT-Hash, Old-LM-Hash, LM-Response, NT-Response, Flags) and
        # MS-CHAP-NT-Enc-PW (6), each a Vendor-Specific (26), vendor 311.
        def vsa(vtype, value):
            inner = bytes([vtype, 2 + len(value)]) + value
            return bytes([26, 6 + len(inner)]) + struct.pack(">I", 311) + inner
        cpw = vsa(4, bytes([6, identifier]) + enc_hash + enc_lm_hash + lm_resp + nt_resp + struct.pack(">H", flags))
        assert len(cpw) == 6 + 86
        enc = b"".join(
            vsa(6, bytes([6, identifier]) + struct.pack(">H", seq + 1) + enc_pw[243 * seq:243 * seq + 243])
            for seq in range(3)
        )
        print(f'radius_ms_chap_cpw_2 = "{cpw.hex()}"')
        print(f'radius_ms_chap_nt_enc_pw = "{enc.hex()}"')
    print()


def version1(vid, user, old, new, challenge, identifier):
    old_h, new_h = nt_hash(old), nt_hash(new)
    old_lm, new_lm = lm_hash(old), lm_hash(new)
    fields = [
        hash_encrypted_with_block(old_lm, new_lm),
        hash_encrypted_with_block(new_lm, old_lm),
        hash_encrypted_with_block(old_h, new_h),
        hash_encrypted_with_block(new_h, old_h),
    ]
    body = b"".join(fields) + struct.pack(">HH", len(new), 1)
    packet = bytes([5, identifier]) + struct.pack(">H", 4 + len(body)) + body
    assert len(packet) == 72
    common(vid, "mschapv1_change_password_v1", user, old, new, challenge, identifier)
    print(f'encrypted_old_lm_hash = "{fields[0].hex()}"')
    print(f'encrypted_new_lm_hash = "{fields[1].hex()}"')
    print(f'encrypted_old_nt_hash = "{fields[2].hex()}"')
    print(f'encrypted_new_nt_hash = "{fields[3].hex()}"')
    print(f"password_length = {len(new)}")
    print(f'packet = "{packet.hex()}"')
    print()


# The primitives reproduce RFC 2433 Appendix B ("MyPw", challenge
# 102DB5DF085D3041) before anything is printed.
_c = bytes.fromhex("102db5df085d3041")
assert nt_hash("MyPw").hex() == "fc156af7edcd6c0edde3337d427f4eac"
assert challenge_response(_c, nt_hash("MyPw")).hex() == "4e9d3c8f9cfd385d5bf4d3246791956ca4c351ab409a3d61"
assert lm_hash("MyPw").hex() == "75ba30198e6d1975aad3b435b51404ee"

print("# Generated by mschapv1_change_password.py (see its docstring); do not edit.")
print("format_version = 1")
print()
version2("cpw1-v2-nt-only", "User", "clientPass", "newPass1",
         bytes.fromhex("d0b3e5a2c4f19688"), 3,
         bytes((i * 7 + 3) & 0xFF for i in range(512)), False)
# 256 UTF-16 units: the whole password area, no fill.
version2("cpw1-v2-non-ascii-long", "DOMAIN\\Jürgen", "alt", "Größer-Passwort-" + "é" * 240,
         bytes(range(8)), 255,
         bytes((255 - i) & 0xFF for i in range(512)), False)
version2("cpw1-v2-with-lm", "User", "MyPw", "NewPw-9x",
         bytes.fromhex("102db5df085d3041"), 0,
         bytes((i * 13 + 5) & 0xFF for i in range(512)), True)
version1("cpw1-v1", "User", "clientPass", "newPass1", bytes.fromhex("d0b3e5a2c4f19688"), 9)
