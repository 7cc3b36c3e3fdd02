#!/usr/bin/env python3
"""A second, independent implementation of the hush sealed format, written from
docs/FORMAT.md alone, used by the test suite to check that the document is complete.

Usage: hush_open.py (--key-file FILE | --passphrase-fd N | --identity-file FILE) [INPUT]
                                                       -> stdout records on stdout
       hush_open.py --explain (--key-file | --identity-file) FILE [INPUT]
                                                       -> intermediate values
An identity file (device mode, 0x04) has one line `identity = <base64 secret>` (this
device) and one `server = <base64 public key>` line per server it accepts.
Requires the 'cryptography' package (AES-GCM, HMAC, Argon2id, X25519).
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


def hkdf_expand(hash_fn, prk, info, length):
    """RFC 5869 HKDF-Expand."""
    out, t, counter = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([counter]), hash_fn).digest()
        out += t
        counter += 1
    return out[:length]


# HPKE (RFC 9180) auth mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, export-only AEAD.
KEM_SUITE = b"KEM" + (0x0020).to_bytes(2, "big")
HPKE_SUITE = b"HPKE" + (0x0020).to_bytes(2, "big") + (0x0001).to_bytes(2, "big") + (0xFFFF).to_bytes(2, "big")


def labeled_extract(suite, salt, label, ikm):
    return hmac.new(salt or bytes(32), b"HPKE-v1" + suite + label + ikm, hashlib.sha256).digest()


def labeled_expand(suite, prk, label, info, length):
    return hkdf_expand(hashlib.sha256, prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info, length)


def hpke_auth_export(enc, secret_r, public_s, info, exporter_context):
    """SetupAuthR(enc, skR, info, pkS), then Export(exporter_context, 32)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    sk = X25519PrivateKey.from_private_bytes(secret_r)
    try:
        dh = sk.exchange(X25519PublicKey.from_public_bytes(enc)) + \
            sk.exchange(X25519PublicKey.from_public_bytes(public_s))
    except ValueError:
        fail("corrupted (low-order key)")
    pk_r = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    eae_prk = labeled_extract(KEM_SUITE, b"", b"eae_prk", dh)
    shared_secret = labeled_expand(KEM_SUITE, eae_prk, b"shared_secret", enc + pk_r + public_s, 32)
    psk_id_hash = labeled_extract(HPKE_SUITE, b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(HPKE_SUITE, b"", b"info_hash", info)
    context = bytes([2]) + psk_id_hash + info_hash  # mode_auth
    secret = labeled_extract(HPKE_SUITE, shared_secret, b"secret", b"")
    exporter_secret = labeled_expand(HPKE_SUITE, secret, b"exp", context, 32)
    return labeled_expand(HPKE_SUITE, exporter_secret, b"sec", exporter_context, 32)


def key_id(public):
    return hashlib.sha256(b"hush device key v1\x00" + public).digest()[:8]


def public_of(secret):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def read_identity_file(path):
    identity, servers = None, []
    for line in open(path, encoding="utf-8"):
        name, _, value = line.strip().partition("=")
        if name.strip() == "identity":
            identity = base64.b64decode(value.strip(), validate=True)
        elif name.strip() == "server":
            servers.append(base64.b64decode(value.strip(), validate=True))
    return identity, servers


def device_input_key(header, params, identity, explain):
    """Mode 4: this device's stanza, unwrapped with the key of the sender the header names."""
    secret, servers = identity
    sender_id, stanzas = params
    mine = [s for s in stanzas if s[0] == key_id(public_of(secret))]
    if not mine:
        fail("sealed for other devices, not this one")
    sender = [pk for pk in servers if key_id(pk) == sender_id]
    if not sender:
        fail("sealed by a server this device never paired with")
    _, enc, wrapped = mine[0]
    mask = hpke_auth_export(enc, secret, sender[0], b"hush v1 device", b"hush v1 input key")
    input_key = bytes(a ^ b for a, b in zip(wrapped, mask))
    if explain:
        for name, value in [("enc", enc), ("wrapped key", wrapped), ("mask", mask), ("input key", input_key)]:
            print("%-11s %s" % (name + ":", value.hex()))
    return input_key


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
    if mode == 4:
        if len(data) < 15:
            fail("truncated")
        n = data[14]
        if not 1 <= n <= 16:
            fail("a message for devices has 1 to 16 recipients")
        end = 15 + 72 * n
        if len(data) < end:
            fail("truncated")
        stanzas = [(data[i:i + 8], data[i + 8:i + 40], data[i + 40:i + 72]) for i in range(15, end, 72)]
        return data[:end], mode, (data[6:14], stanzas)
    fail("unsupported mode")


def open_message(data, key=None, iv=None, passphrase=None, explain=False, session=None, identity=None):
    """session: (content key, transcript hash, session id) of a relay pairing (mode 3);
    identity: (this device's secret, [accepted server public keys]) for mode 4."""
    header, mode, params = parse_header(data)
    if mode == 4:
        input_key, context = device_input_key(header, params, identity, explain), header
    elif mode == 1:
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
    okm = hkdf_expand(hashlib.sha512, input_key, info, 76)
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
    ap.add_argument("--identity-file")
    ap.add_argument("--explain", action="store_true")
    ap.add_argument("input", nargs="?")
    args = ap.parse_args()
    data = open(args.input, "rb").read() if args.input else sys.stdin.buffer.read()
    key = iv = passphrase = identity = None
    if args.key_file:
        key, iv = read_key_file(args.key_file)
    elif args.identity_file:
        identity = read_identity_file(args.identity_file)
    else:
        passphrase = os.read(args.passphrase_fd, 4096).rstrip(b"\n")
    plain = open_message(dearmor(data), key, iv, passphrase, args.explain, identity=identity)
    for kind, data in records(plain):
        if kind == 1 and args.explain:
            print("metadata:   %s" % data.hex())
        if kind == 2 and not args.explain:
            sys.stdout.buffer.write(data)


if __name__ == "__main__":
    main()
