// Verifies a sigstore bundle v0.3 made by zoll with @sigstore/verify, offline, with a public
// key as the only trust material (no transparency log, no timestamps: thresholds are 0).
// usage: node verify_bundle.js BUNDLE.json PUBLIC.pem  -> exit 0 and "verified" on success.
const fs = require('fs');
const path = require('path');
const modules = process.env.TRUST_NODE_MODULES;
const req = (name) => require(path.join(modules, name));
const { Verifier, toSignedEntity, toTrustMaterial } = req('@sigstore/verify');
const { bundleFromJSON } = req('@sigstore/bundle');

const [bundlePath, keyPath] = process.argv.slice(2);
const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
const hint = bundle.verificationMaterial.content.publicKey.hint;
const pem = fs.readFileSync(keyPath, 'utf8');
const der = require('crypto').createPublicKey(pem).export({ format: 'der', type: 'spki' });
const keys = { [hint]: { rawBytes: der } };
const emptyRoot = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] };
const verifier = new Verifier(toTrustMaterial(emptyRoot, keys), {
  tlogThreshold: 0,
  ctlogThreshold: 0,
  timestampThreshold: 0,
});
try {
  verifier.verify(toSignedEntity(bundle));
  const statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString('utf8'));
  console.log('verified', statement.predicateType, JSON.stringify(statement.subject));
} catch (e) {
  console.error('rejected:', e.code || '', e.message);
  process.exit(1);
}
