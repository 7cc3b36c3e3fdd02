#!/usr/bin/env python3
"""An independent receiver of hush-relay/1, written from docs/RELAY.md (and FORMAT.md,
through hush_open.py for the sealed message itself). It shares no code with the Rust
implementation; the test suite pairs it with the Rust sender.

    python3 docs/hush_relay.py receive --relay URL [--pin sha256:HEX] CODE
        pairs with the sender through the relay, prints the receiver code on stderr, waits
        for approval, opens the delivered message and writes its stdout records to stdout.
    python3 docs/hush_relay.py pipe CODE
        the same exchange over standard input and output, one JSON object per line (the
        test suite's way to check the key schedule without a relay).

Needs the PyPI packages `spake2` and `cryptography`.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

import spake2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hush_open  # noqa: E402  (FORMAT.md's independent opener)

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SENDER_ID = b"hush-relay/1 sender"
RECEIVER_ID = b"hush-relay/1 receiver"


def fail(msg):
    sys.stderr.write("hush_relay.py: %s\n" % msg)
    sys.exit(1)


# --- §1 the code -------------------------------------------------------------------------

def parse_code(typed):
    """Returns (nameplate string, canonical password bytes)."""
    typed = typed.strip()
    if "-" not in typed:
        fail("the code needs a '-' after its number")
    number, rest = typed.split("-", 1)
    number = number.strip()
    if not (1 <= len(number) <= 4 and number.isdigit() and number[0] != "0"):
        fail("the code must start with a number of 1 to 4 digits")
    secret = ""
    for c in rest:
        if c == "-" or c.isspace():
            continue
        c = {"O": "0", "I": "1", "L": "1"}.get(c.upper(), c.upper())
        if c not in CROCKFORD:
            fail("invalid character in the code")
        secret += c
    if len(secret) != 8:
        fail("the code has %d characters after its number; it needs 8" % len(secret))
    return number, ("%s-%s" % (number, secret)).encode()


# --- §5 the key schedule -----------------------------------------------------------------

def u16(data):
    return len(data).to_bytes(2, "big") + data


def transcript(nameplate, nonce, slot, pake_s, pake_r):
    return hashlib.sha256(b"hush-relay/1 transcript" + u16(nameplate.encode()) + nonce
                          + bytes([slot]) + u16(pake_s) + u16(pake_r)).digest()


def hkdf_sha256(ikm, salt, info, length):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, counter = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([counter]), hashlib.sha256).digest()
        out += t
        counter += 1
    return out[:length]


def keys(k, th):
    code_bits = int.from_bytes(hkdf_sha256(k, th, b"hush-relay/1 receiver code", 3), "big") >> 4
    return {
        "confirm_r": hkdf_sha256(k, th, b"hush-relay/1 confirm-R", 32),
        "confirm_s": hkdf_sha256(k, th, b"hush-relay/1 confirm-S", 32),
        "receiver_code": "".join(CROCKFORD[(code_bits >> (5 * (3 - i))) & 31] for i in range(4)),
        "content_key": hkdf_sha256(k, th, b"hush-relay/1 content key", 32),
        "session_id": hashlib.sha256(b"hush-relay/1 session id" + th).digest()[:8],
        "transcript": th,
    }


class Receiver:
    """One pairing, receiver side (SPAKE2 side B)."""

    def __init__(self, password, nameplate, nonce, slot):
        self.spake = spake2.SPAKE2_B(password, idA=SENDER_ID, idB=RECEIVER_ID)
        self.pake_r = self.spake.start()
        self.nameplate, self.nonce, self.slot = nameplate, nonce, slot
        self.keys = None

    def take_pake(self, pake_s):
        """Returns confirm_R, to send at to-sender/1."""
        k = self.spake.finish(pake_s)
        th = transcript(self.nameplate, self.nonce, self.slot, pake_s, self.pake_r)
        self.keys = keys(k, th)
        return self.keys["confirm_r"]

    def check_confirmation(self, confirm_s):
        if not hmac.compare_digest(confirm_s, self.keys["confirm_s"]):
            fail("the sender's confirmation is wrong: the relay or someone in between tampered")

    def open(self, sealed):
        session = (self.keys["content_key"], self.keys["transcript"], self.keys["session_id"])
        plain = hush_open.open_message(hush_open.dearmor(sealed), session=session)
        return b"".join(data for kind, data in hush_open.records(plain) if kind == 2)


# --- the pipe mode (tests) -----------------------------------------------------------------

def pipe(code):
    """Line protocol: reads {"nameplate","nonce","slot"} (nonce b64); writes {"pake_r"};
    reads {"pake_s"}; writes {"confirm_r"}; reads {"confirm_s","sealed"}; writes
    {"receiver_code","stdout"} (b64 for bytes)."""
    nameplate, password = parse_code(code)

    def read():
        line = sys.stdin.readline()
        if not line:
            fail("end of input")
        return json.loads(line)

    def write(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    room = read()
    if room["nameplate"] != nameplate:
        fail("not this code's nameplate")
    r = Receiver(password, nameplate, base64.b64decode(room["nonce"]), room["slot"])
    write({"pake_r": base64.b64encode(r.pake_r).decode()})
    confirm_r = r.take_pake(base64.b64decode(read()["pake_s"]))
    write({"confirm_r": base64.b64encode(confirm_r).decode()})
    last = read()
    r.check_confirmation(base64.b64decode(last["confirm_s"]))
    out = r.open(base64.b64decode(last["sealed"]))
    write({"receiver_code": r.keys["receiver_code"], "stdout": base64.b64encode(out).decode()})


# --- the worked example (§8) --------------------------------------------------------------

def derive(args):
    """Prints the key schedule's values from the SPAKE2 key and the public values, then
    opens the armored block found in standard input with that session."""
    th = transcript(args.nameplate, bytes.fromhex(args.nonce), args.slot,
                    bytes.fromhex(args.pake_s), bytes.fromhex(args.pake_r))
    k = keys(bytes.fromhex(args.key), th)
    for name in ("TH", "confirm_R", "confirm_S", "receiver_code", "content_key", "session_id"):
        value = k[{"TH": "transcript"}.get(name, name.lower())]
        print("%-13s %s" % (name, value if isinstance(value, str) else value.hex()))
    session = (k["content_key"], k["transcript"], k["session_id"])
    plain = hush_open.open_message(hush_open.dearmor(sys.stdin.buffer.read()), session=session)
    out = b"".join(data for kind, data in hush_open.records(plain) if kind == 2)
    print("%-13s %s" % ("stdout", out.decode().rstrip("\n")))


# --- §3 the HTTP interface ----------------------------------------------------------------

class Relay:
    def __init__(self, url, pin):
        self.url = url.rstrip("/")
        self.context = ssl.create_default_context()
        self.pin = None
        if pin:
            if not pin.startswith("sha256:"):
                fail("--pin must look like sha256:HEX")
            self.pin = bytes.fromhex(pin[len("sha256:"):])
            # The pin replaces the usual checks; it is verified on every connection below.
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        self.token = None

    def call(self, method, path, body=None, raw=False, wait=0):
        url = self.url + path
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in range(6):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, context=self.context, timeout=wait + 15) as resp:
                    self.check_pin(resp)
                    payload = resp.read()
                    if resp.status == 204:
                        return None, resp.headers
                    if raw:
                        return payload, resp.headers
                    return (json.loads(payload) if payload else {}), resp.headers
            except urllib.error.HTTPError as e:
                if e.code in (429, 502, 503, 504) and attempt < 5:
                    time.sleep(min(2 ** attempt, 10) * 0.1)
                    continue
                try:
                    err = json.loads(e.read())
                except ValueError:
                    err = {"error": "http_%d" % e.code, "message": ""}
                fail("relay: %s %s: %s (%s)" % (method, path.split("?")[0], err.get("error"),
                                                err.get("message")))
            except urllib.error.URLError as e:
                if attempt < 5:
                    time.sleep(min(2 ** attempt, 10) * 0.1)
                    continue
                fail("relay unreachable: %s" % e.reason)
        fail("relay unreachable")

    def check_pin(self, resp):
        if self.pin is None:
            return
        der = resp.fp.raw._sock.getpeercert(binary_form=True)
        if hashlib.sha256(der).digest() != self.pin:
            fail("the relay's certificate does not match --pin")


def receive(relay_url, pin, code):
    nameplate, password = parse_code(code)
    relay = Relay(relay_url, pin)
    joined, _ = relay.call("POST", "/v1/nameplates/%s/join" % nameplate,
                           {"join_id": base64.b64encode(os.urandom(16)).decode()})
    relay.token = joined["token"]
    room, slot = joined["room"], joined["slot"]
    base = "/v1/rooms/%s/slots/%d" % (room, slot)
    r = Receiver(password, nameplate, base64.b64decode(joined["nonce"]), slot)
    relay.call("PUT", base + "/to-sender/0", {"msg": base64.b64encode(r.pake_r).decode()})

    def wait_msg(seq):
        while True:
            got, _ = relay.call("GET", base + "/to-receiver/%d?wait=25" % seq, wait=25)
            if got is not None:
                return base64.b64decode(got["msg"])

    confirm_r = r.take_pake(wait_msg(0))
    relay.call("PUT", base + "/to-sender/1", {"msg": base64.b64encode(confirm_r).decode()})
    r.check_confirmation(wait_msg(1))
    sys.stderr.write("receiver code %s - approve it on the server\n" % r.keys["receiver_code"])
    sys.stderr.flush()
    # The approval (RELAY.md section 11), sealed for this session like the payload.
    approval = json.loads(r.open(wait_msg(2)))
    if approval.get("kind") != "approved":
        fail("the approval is malformed")
    if approval.get("offer"):
        sys.stderr.write("the server offers to remember this receiver; not answered "
                         "(this receiver does not seal)\n")
    while True:
        sealed, headers = relay.call("GET", base + "/payload?wait=25", raw=True, wait=25)
        if sealed is not None:
            break
    out = r.open(sealed)
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    relay.call("DELETE", base + "/payloads/" + headers["Hush-Payload-Id"])


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("receive")
    rec.add_argument("--relay", required=True)
    rec.add_argument("--pin")
    rec.add_argument("code")
    p = sub.add_parser("pipe")
    p.add_argument("code")
    d = sub.add_parser("derive")
    for name in ("--nameplate", "--nonce", "--pake-s", "--pake-r", "--key"):
        d.add_argument(name, required=True)
    d.add_argument("--slot", type=int, required=True)
    args = ap.parse_args()
    if args.command == "pipe":
        pipe(args.code)
    elif args.command == "derive":
        derive(args)
    else:
        receive(args.relay, args.pin, args.code)


if __name__ == "__main__":
    main()
