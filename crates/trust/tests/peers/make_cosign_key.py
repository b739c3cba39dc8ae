"""Writes a private key in cosign's encrypted format, made independently of zoll.

cosign (through go-tuf's `encrypted` package) seals a PKCS#8 DER key in JSON:
{"kdf": {"name": "scrypt", "params": {"N", "r", "p"}, "salt"}, "cipher": {"name":
"nacl/secretbox", "nonce"}, "ciphertext"}, all binary fields base64, inside a PEM block
"ENCRYPTED SIGSTORE PRIVATE KEY". This script builds the same with Python's hashlib.scrypt,
PyNaCl's SecretBox and pyca/cryptography's key generation.

usage: make_cosign_key.py OUT_PREFIX PASSWORD  -> OUT_PREFIX.key, OUT_PREFIX.pub
"""
import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nacl.secret import SecretBox

prefix, password = sys.argv[1], sys.argv[2].encode()
key = ec.generate_private_key(ec.SECP256R1())
der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
salt = os.urandom(32)
nonce = os.urandom(24)
n, r, p = 32768, 8, 1
box_key = hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=2**28)
ciphertext = SecretBox(box_key).encrypt(der, nonce).ciphertext
sealed = {
    "kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p}, "salt": base64.b64encode(salt).decode()},
    "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
    "ciphertext": base64.b64encode(ciphertext).decode(),
}
body = base64.b64encode(json.dumps(sealed).encode()).decode()
lines = [body[i:i + 64] for i in range(0, len(body), 64)]
with open(prefix + ".key", "w") as f:
    f.write("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
with open(prefix + ".pub", "wb") as f:
    f.write(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
