#!/usr/bin/env python3
"""Writes the fixture files of the trycmd cases (tests/cmd/*.in/).

Run from the repository root after `cargo build --workspace --bins` (no-tty.md and the
other cases without a `.in/` folder need no fixture):
    python3 tests/cmd/make-fixtures.py [target/debug]
Sealing draws a random salt, so every run writes different bytes; the committed files are
one such run. The keys are test keys, committed on purpose: never use them for anything.
Modes are not kept by git: tests/cmd.rs sets 0600 (0640 for `group-readable*`) before
running the cases.
"""

import base64
import os
import shutil
import struct
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug")
HUSH = os.path.join(BIN, "hush")


def write(path, data, mode=0o600):
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def armor(envelope):
    text = base64.b64encode(envelope).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return "-----BEGIN HUSH SEALED MESSAGE-----\n" + "\n".join(lines) + "\n-----END HUSH SEALED MESSAGE-----\n"


def seal(args, plaintext, cwd):
    return subprocess.run(
        [HUSH, "seal", *args], input=plaintext, cwd=cwd, check=True, capture_output=True
    ).stdout


def keygen(path):
    if os.path.exists(path):
        os.remove(path)
    subprocess.run([HUSH, "keygen", "--out", path], check=True, capture_output=True)


def fresh(name):
    d = os.path.join(ROOT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def hush_open_fixtures():
    d = fresh("hush-open.in")
    keygen(os.path.join(d, "test.key"))
    keygen(os.path.join(d, "other.key"))
    write(os.path.join(d, "pass.txt"), "correct horse battery staple\n")
    write(os.path.join(d, "wrong-pass.txt"), "incorrect horse\n")
    hello = b"hello from the test fixture\n"
    good = seal(["-k", "test.key", "--binary"], hello, d)
    write(os.path.join(d, "hello.bin"), good, 0o644)
    write(os.path.join(d, "hello.hush"), armor(good), 0o644)
    # Indented, with CRs and text around it: what a terminal copy looks like.
    pasted = "$ hush-run -- cat secret\r\n" + "".join(
        "   " + line + "  \r\n" for line in armor(good).splitlines()
    ) + "hush-run: sealed 28 bytes of stdout\r\n"
    write(os.path.join(d, "pasted.txt"), pasted, 0o644)
    pw = seal(["--passphrase-file", "pass.txt", "--binary"], hello, d)
    write(os.path.join(d, "hello-pass.hush"), armor(pw), 0o644)

    write(os.path.join(d, "not-a-block.txt"), "some text, but no sealed block\n", 0o644)
    write(os.path.join(d, "not-hush.bin"), b"\x7fELF\x02\x01\x01" + bytes(57), 0o644)
    write(os.path.join(d, "not-hush.hush"), armor(b"NOPE" + good[4:]), 0o644)
    lines = armor(good).splitlines(keepends=True)
    # Line 3 of the block (counted from BEGIN): the second base64 line.
    lines[2] = lines[2][:10] + "!" + lines[2][11:]
    write(os.path.join(d, "bad-base64.hush"), "".join(lines), 0o644)
    write(os.path.join(d, "cut-armor.hush"), "".join(armor(good).splitlines(keepends=True)[:-1]), 0o644)
    # Cut before the final chunk could hold its tag: truncated. Cut inside the final chunk:
    # indistinguishable from a damaged chunk, so corrupted.
    write(os.path.join(d, "cut-body.hush"), armor(good[:70]), 0o644)
    write(os.path.join(d, "cut.bin"), good[:70], 0o644)
    write(os.path.join(d, "cut-in-last-chunk.bin"), good[:-20], 0o644)
    write(os.path.join(d, "short.bin"), good[:5], 0o644)
    flipped = bytearray(good)
    flipped[80] ^= 0x01  # inside the ciphertext, past header (6), salt and commitment (56)
    write(os.path.join(d, "corrupted.bin"), bytes(flipped), 0o644)
    write(os.path.join(d, "corrupted.hush"), armor(bytes(flipped)), 0o644)
    # Version 2, not 9: 0x09 is a TAB, and five printable or white-space bytes read as text.
    v2 = bytearray(good)
    v2[4] = 2
    write(os.path.join(d, "version2.bin"), bytes(v2), 0o644)
    m9 = bytearray(good)
    m9[5] = 9
    write(os.path.join(d, "mode9.bin"), bytes(m9), 0o644)
    # Passphrase header: "HUSH" 01 02 m t p salt; m = 2 GiB, over the 1 GiB cap.
    costly = bytearray(pw)
    costly[6:10] = struct.pack(">I", 2 * 1024 * 1024)
    write(os.path.join(d, "costly.hush"), armor(bytes(costly)), 0o644)
    passes = bytearray(pw)
    passes[10:14] = struct.pack(">I", 100)
    write(os.path.join(d, "many-passes.hush"), armor(bytes(passes)), 0o644)


def key_fixtures(name):
    d = fresh(name)
    keygen(os.path.join(d, "test.key"))
    write(os.path.join(d, "group-readable.key"), open(os.path.join(d, "test.key")).read(), 0o640)
    write(os.path.join(d, "bad-syntax.key"), "# a key file with a typo\nkey: abc\n")
    write(os.path.join(d, "short-key.key"), "key = AAAA\niv = AAAAAAAAAAAAAAAA\n")
    write(os.path.join(d, "no-iv.key"), open(os.path.join(d, "test.key")).read().rsplit("iv", 1)[0])
    write(os.path.join(d, "pass.txt"), "correct horse battery staple\n")
    write(os.path.join(d, "empty-pass.txt"), "\n")
    write(os.path.join(d, "group-readable-pass.txt"), "correct horse battery staple\n", 0o640)
    write(os.path.join(d, "plain.txt"), "a secret for the test\n", 0o644)
    return d


def main():
    hush_open_fixtures()
    key_fixtures("hush-keys.in")
    d = key_fixtures("hush-run.in")
    write(os.path.join(d, "not-executable.sh"), "#!/bin/sh\necho never\n", 0o644)


main()
