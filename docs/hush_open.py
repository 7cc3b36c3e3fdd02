#!/usr/bin/env python3
"""A second, independent implementation of the hush sealed format, written from
docs/FORMAT.md alone, used by the test suite to check that the document is complete.

Usage: hush_open.py (--key-file FILE | --passphrase-fd N) [INPUT]  -> stdout records on stdout
       hush_open.py --explain --key-file FILE [INPUT]             -> intermediate values
Requires the 'cryptography' package (AES-GCM, HMAC-SHA-512, Argon2id).
"""
import argparse
import base64
import hashlib
import hmac
import os
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

BEGIN = "-----BEGIN HUSH SEALED MESSAGE-----"
END = "-----END HUSH SEALED MESSAGE-----"
CHUNK, TAG = 16384, 16


def fail(msg):
    sys.stderr.write("hush_open.py: %s\n" % msg)
    sys.exit(1)


def b64key(text, length):
    text = "".join(text.split()).replace("-", "+").replace("_", "/").rstrip("=")
    raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    if len(raw) != length:
        fail("wrong length")
    return raw


def read_key_file(path):
    vals = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        vals[name.strip()] = value.strip()
    return b64key(vals["key"], 32), b64key(vals["iv"], 12)


def dearmor(data):
    if any(not (0x21 <= b <= 0x7E or b in b" \t\n\r\x0b\x0c") for b in data[:5]):
        return data
    compact = bytes(b for b in data if b not in b" \t\n\r\x0b\x0c").decode("ascii", "replace")
    begin, end = "".join(BEGIN.split()), "".join(END.split())
    i = compact.find(begin)
    if i < 0:
        fail("no sealed block")
    j = compact.find(end, i + len(begin))
    if j < 0:
        fail("END missing")
    body = compact[i + len(begin):j]
    raw = base64.b64decode(body, validate=True)
    if base64.b64encode(raw).decode() != body:
        fail("non-canonical base64")
    return raw


def hkdf_expand_sha512(prk, info, length):
    out, t, counter = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([counter]), hashlib.sha512).digest()
        out += t
        counter += 1
    return out[:length]


def parse_header(data):
    if data[:4] != b"HUSH":
        fail("not hush data")
    if data[4] != 1:
        fail("unsupported version")
    mode = data[5]
    if mode == 1:
        return data[:6], mode, None
    if mode == 2:
        m, t, p = (int.from_bytes(data[6 + 4 * k:10 + 4 * k], "big") for k in range(3))
        if m > 1048576 or t > 16 or p > 16:
            fail("parameters over the cap")
        return data[:34], mode, (m, t, p, data[18:34])
    if mode == 3:
        return data[:14], mode, data[6:14]
    fail("unsupported mode")


def open_message(data, key=None, iv=None, passphrase=None, explain=False, session=None):
    """session: (content key, transcript hash, session id) of a relay pairing (mode 3)."""
    header, mode, params = parse_header(data)
    if mode == 1:
        input_key, context = key, header + iv
    elif mode == 3:
        content_key, transcript, session_id = session
        if params != session_id:
            fail("sealed for another relay pairing")
        input_key, context = content_key, header + transcript
    else:
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
        m, t, p, salt = params
        input_key = Argon2id(salt=salt, length=32, iterations=t, lanes=p, memory_cost=m).derive(passphrase)
        context = header
    body = data[len(header):]
    salt, commitment, chunks = body[:24], body[24:56], body[56:]
    if len(salt) + len(commitment) < 56:
        fail("truncated")
    info = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00" + salt + context
    okm = hkdf_expand_sha512(input_key, info, 76)
    aead_key, base_nonce, expected = okm[:32], okm[32:44], okm[44:]
    if explain:
        for name, value in [("header", header), ("context", context), ("salt", salt),
                            ("commitment", commitment), ("aead key", aead_key), ("base nonce", base_nonce)]:
            print("%-11s %s" % (name + ":", value.hex()))
    if not hmac.compare_digest(expected, commitment):
        fail("wrong key")
    aead, plain, counter = AESGCM(aead_key), b"", 0
    while True:
        piece = chunks[:CHUNK + TAG]
        last = len(chunks) < CHUNK + TAG + 1
        if last and (len(piece) < TAG or len(piece) == CHUNK + TAG):
            fail("truncated")
        nonce = base_nonce[:4] + bytes(a ^ b for a, b in zip(base_nonce[4:], counter.to_bytes(8, "big")))
        try:
            plain += aead.decrypt(nonce, piece, b"")
        except InvalidTag:
            fail("corrupted")
        chunks, counter = chunks[CHUNK + TAG:], counter + 1
        if last:
            return plain


def records(plain):
    out, first = [], True
    while plain:
        kind, length = plain[0], int.from_bytes(plain[1:5], "big")
        data, plain = plain[5:5 + length], plain[5 + length:]
        if len(data) != length or first != (kind == 1) or kind not in (1, 2, 3, 4):
            fail("malformed payload")
        first = False
        out.append((kind, data))
    if first:
        fail("malformed payload")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key-file")
    ap.add_argument("--passphrase-fd", type=int)
    ap.add_argument("--explain", action="store_true")
    ap.add_argument("input", nargs="?")
    args = ap.parse_args()
    data = open(args.input, "rb").read() if args.input else sys.stdin.buffer.read()
    key = iv = passphrase = None
    if args.key_file:
        key, iv = read_key_file(args.key_file)
    else:
        passphrase = os.read(args.passphrase_fd, 4096).rstrip(b"\n")
    plain = open_message(dearmor(data), key, iv, passphrase, args.explain)
    for kind, data in records(plain):
        if kind == 1 and args.explain:
            print("metadata:   %s" % data.hex())
        if kind == 2 and not args.explain:
            sys.stdout.buffer.write(data)


if __name__ == "__main__":
    main()
