"""Verifies a DSSE envelope made by zoll with securesystemslib.

usage: verify_dsse.py ENVELOPE.json PUBLIC.pem  (ENVELOPE may also be a sigstore bundle; its
dsseEnvelope is then checked). Exit 0 and "verified <payloadType>" on success.
"""
import json
import sys

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

doc = json.load(open(sys.argv[1]))
if "dsseEnvelope" in doc:
    doc = doc["dsseEnvelope"]
public = load_pem_public_key(open(sys.argv[2], "rb").read())
if isinstance(public, ec.EllipticCurvePublicKey):
    scheme = {256: "ecdsa-sha2-nistp256", 384: "ecdsa-sha2-nistp384", 521: "ecdsa-sha2-nistp521"}[public.curve.key_size]
elif isinstance(public, rsa.RSAPublicKey):
    scheme = "rsa-pkcs1v15-sha256"
elif isinstance(public, ed25519.Ed25519PublicKey):
    scheme = "ed25519"
else:
    sys.exit("unsupported key")
envelope = Envelope.from_dict(doc)
keyid = next(iter(envelope.signatures.values())).keyid if envelope.signatures else ""
# cosign-style envelopes carry an empty keyid; securesystemslib matches signatures to keys by
# keyid, so the key takes the envelope's (from_crypto would compute its own for "").
template = SSlibKey.from_crypto(public, scheme=scheme)
key = SSlibKey(keyid, template.keytype, template.scheme, template.keyval)
try:
    envelope.verify([key], 1)
except Exception as e:  # noqa: BLE001 - report any refusal as a failed verification
    print("rejected:", type(e).__name__, e, file=sys.stderr)
    sys.exit(1)
print("verified", envelope.payload_type)
