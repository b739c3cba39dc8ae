#!/usr/bin/env bash
# Writes the key fixtures of zoll-der's tests with OpenSSL 3 (the committed files came from
# `openssl version`: see openssl.txt). Rerun only to replace them all; the tests read them as
# they are.
set -euo pipefail
cd "$(dirname "$0")"
openssl version > openssl.txt
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-pkcs8.pem
openssl pkey -in rsa-pkcs8.pem -traditional -out rsa-pkcs1.pem
openssl pkey -in rsa-pkcs8.pem -pubout -out rsa-spki.pem
openssl rsa -in rsa-pkcs8.pem -RSAPublicKey_out -out rsa-pkcs1-public.pem
for c in P-256 P-384 P-521; do
  n=$(echo "$c" | tr -d - | tr '[:upper:]' '[:lower:]')
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:$c -out ec-$n-pkcs8.pem
  openssl pkey -in ec-$n-pkcs8.pem -pubout -out ec-$n-spki.pem
done
openssl ec -in ec-p256-pkcs8.pem -out ec-p256-sec1.pem
openssl pkcs8 -topk8 -nocrypt -in ec-p256-pkcs8.pem -outform DER -out ec-p256-pkcs8.der
openssl pkey -in ec-p256-pkcs8.pem -pubout -outform DER -out ec-p256-spki.der
openssl genpkey -algorithm ED25519 -out ed25519-pkcs8.pem
openssl pkey -in ed25519-pkcs8.pem -pubout -out ed25519-spki.pem
# OpenSSL 3's defaults for -topk8 with a password: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC.
openssl pkcs8 -topk8 -in ec-p256-pkcs8.pem -passout pass:correct-horse -out ec-p256-encrypted.pem
openssl pkcs8 -topk8 -in rsa-pkcs8.pem -v2 aes-128-cbc -v2prf hmacWithSHA1 -passout pass:correct-horse -out rsa-encrypted-sha1-aes128.pem
# Legacy OpenSSL encryption (Proc-Type/DEK-Info headers), which is refused.
openssl ec -in ec-p256-pkcs8.pem -aes128 -passout pass:correct-horse -out ec-p256-legacy-encrypted.pem
openssl req -x509 -new -key ec-p256-pkcs8.pem -subj /CN=zoll-der-test -days 36500 -set_serial 0x00c0ffee -out ec-p256-cert.pem
openssl req -x509 -new -key rsa-pkcs8.pem -subj /CN=zoll-der-test-rsa -days 36500 -out rsa-cert.pem
openssl x509 -in rsa-cert.pem -outform DER -out rsa-cert.der
