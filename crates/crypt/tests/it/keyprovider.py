#!/usr/bin/env python3
"""A test key provider for ocicrypt's keyprovider protocol (command mode), written from the
protocol's documentation: JSON on stdin, JSON on stdout. It "wraps" with per-key-id secrets
kept in kms/<kid>.key beside this script (HMAC-SHA256 keystream + MAC, standard library only).
Exits 1 when it cannot unwrap."""
import base64, hashlib, hmac, json, os, sys

NAME = sys.argv[1]
req = json.load(sys.stdin)
b64d, b64e = base64.b64decode, lambda b: base64.b64encode(b).decode()


def secret(kid):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kms", kid + ".key")
    if not os.path.exists(path):
        sys.exit(f"unknown key {kid}")
    return open(path, "rb").read()


def stream(key, nonce, n):
    out, i = b"", 0
    while len(out) < n:
        out += hmac.new(key, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest()
        i += 1
    return out[:n]


if req["op"] == "keywrap":
    params = req["keywrapparams"]["ec"]["Parameters"][NAME]
    kid = b64d(params[0]).decode()
    opts = b64d(req["keywrapparams"]["optsdata"])
    key, nonce = secret(kid), os.urandom(16)
    ct = bytes(a ^ b for a, b in zip(opts, stream(key, nonce, len(opts))))
    mac = hmac.new(key, nonce + ct, hashlib.sha256).digest()
    ann = json.dumps({"kid": kid, "nonce": b64e(nonce), "ct": b64e(ct), "mac": b64e(mac)}).encode()
    json.dump({"keywrapresults": {"annotation": b64e(ann)}}, sys.stdout)
elif req["op"] == "keyunwrap":
    kid = b64d(req["keyunwrapparams"]["dc"]["Parameters"][NAME][0]).decode()
    ann = json.loads(b64d(req["keyunwrapparams"]["annotation"]))
    if ann["kid"] != kid:
        sys.exit("not wrapped for this key")
    key, nonce, ct = secret(kid), b64d(ann["nonce"]), b64d(ann["ct"])
    if not hmac.compare_digest(hmac.new(key, nonce + ct, hashlib.sha256).digest(), b64d(ann["mac"])):
        sys.exit("bad mac")
    opts = bytes(a ^ b for a, b in zip(ct, stream(key, nonce, len(ct))))
    json.dump({"keyunwrapresults": {"optsdata": b64e(opts)}}, sys.stdout)
else:
    sys.exit("unknown op")
