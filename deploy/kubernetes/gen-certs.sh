#!/usr/bin/env bash
# Certificates without cert-manager: a private CA and the webhook's serving certificate,
# made with openssl (offline; nothing is sent to a cluster).
#
#   deploy/kubernetes/gen-certs.sh OUT_DIR [DAYS]
#   kubectl apply -f OUT_DIR/secret.yaml -f OUT_DIR/webhooks.yaml
#
# Writes into OUT_DIR: ca.crt, ca.key (keep it offline, or delete it), tls.crt, tls.key,
# secret.yaml (the Secret zoll-system/zoll-admission-tls the Deployment mounts) and
# webhooks.yaml (both webhook configurations with their caBundle filled in and the
# cert-manager annotation removed). Apply the rest of the directory without
# cert-manager.yaml. Re-run before DAYS (default 365) are over, then restart the Deployment.
set -euo pipefail
out=${1:?usage: gen-certs.sh OUT_DIR [DAYS]}
days=${2:-365}
here=$(cd "$(dirname "$0")" && pwd)
namespace=zoll-system
service=zoll-admission
mkdir -p "$out"
umask 077

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=zoll-admission-ca" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=$service.$namespace.svc" \
  -keyout "$out/tls.key" -out "$out/tls.csr" 2>/dev/null
cat > "$out/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$service.$namespace.svc,DNS:$service.$namespace.svc.cluster.local
EXT
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
  -CAcreateserial -days "$days" -extfile "$out/ext.cnf" -out "$out/tls.crt" 2>/dev/null
rm -f "$out/tls.csr" "$out/ext.cnf" "$out/ca.srl"
chmod 644 "$out/ca.crt" "$out/tls.crt"

b64() { base64 < "$1" | tr -d '\n'; }
cat > "$out/secret.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: $service-tls
  namespace: $namespace
type: kubernetes.io/tls
data:
  tls.crt: $(b64 "$out/tls.crt")
  tls.key: $(b64 "$out/tls.key")
  ca.crt: $(b64 "$out/ca.crt")
YAML
ca=$(b64 "$out/ca.crt")
awk -v ca="$ca" '
  /^  annotations:$/ { skip = 1; next }
  skip && /^    cert-manager.io\/inject-ca-from:/ { next }
  { skip = 0 }
  { print }
  /^    clientConfig:$/ { print "      caBundle: " ca }
' "$here/webhooks.yaml" > "$out/webhooks.yaml"
echo "gen-certs: wrote $out/secret.yaml and $out/webhooks.yaml (CA valid $days days)"
