"""Generates the inputs of bench/scan-rematch.sh (standard library only).

usage: scan-rematch-gen.py SBOM OUT_DIR N_SBOMS N_ADVISORIES

- OUT_DIR/osv.zip: N_ADVISORIES OSV records, like an osv.dev ecosystem dump (one <ID>.json per
  record). A fifth are Debian:12 records; one in fifty of those names a source package of SBOM
  (fixed versions on both sides of the installed ones, some unfixed, some withdrawn), the others
  source packages no SBOM contains; the rest are spread over
  PyPI, npm, Go, Maven and crates.io names that no SBOM contains (they cost index space, and
  lookups that miss).
- OUT_DIR/sboms/NNNN.cdx.json: N_SBOMS copies of SBOM (a CycloneDX document zoll wrote) with
  different subjects and, in a third of the packages, a different Debian revision, so the
  version comparisons differ from SBOM to SBOM.
"""
import copy, io, json, os, random, sys, zipfile

sbom_path, out, n_sboms, n_adv = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(7)
base = json.load(open(sbom_path))
os.makedirs(f"{out}/sboms", exist_ok=True)

def prop(c, name):
    for p in c.get("properties", []):
        if p["name"] == name:
            return p["value"]
    return None

sources = sorted({(prop(c, "zoll:package:source-name"), prop(c, "zoll:package:source-version"))
                  for c in base["components"] if prop(c, "zoll:package:kind") == "deb"})
sources = [s for s in sources if s[0]]

def bump(v, delta):
    head, _, rev = v.rpartition("-")
    if not head:
        return v + ("+zoll%d" % delta if delta > 0 else "~zoll%d" % -delta)
    return f"{head}-{rev}{'+' if delta > 0 else '~'}zoll{abs(delta)}"

buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
    for i in range(n_adv):
        if i % 5 == 0 and sources and (i // 5) % 50 == 0:
            # One Debian advisory in fifty names a source package of the SBOM (about seven
            # per source package, as many as a minbase image's sources have in Debian's feed).
            name, ver = sources[(i // 250) % len(sources)]
            fixed = bump(ver, rng.choice([-2, -1, 1, 2]))
            events = [{"introduced": "0"}] + ([] if i % 35 == 0 else [{"fixed": fixed}])
            affected = [{"package": {"ecosystem": "Debian:12", "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}]
            rid = f"DEBIAN-CVE-2090-{i:07d}"
        elif i % 5 == 0:
            # The rest of the Debian feed: source packages these images do not contain.
            events = [{"introduced": "0"}, {"fixed": "1.0-1+deb12u1"}]
            affected = [{"package": {"ecosystem": "Debian:12", "name": f"src-{i}"}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}]
            rid = f"DEBIAN-CVE-2091-{i:07d}"
        else:
            eco = ["PyPI", "npm", "Go", "Maven", "crates.io"][i % 5]
            name = {"PyPI": f"pkg-{i}", "npm": f"@bench/pkg-{i}", "Go": f"example.com/bench/m{i}",
                    "Maven": f"org.bench:artifact-{i}", "crates.io": f"crate-{i}"}[eco]
            events = [{"introduced": "1.0.0"}, {"fixed": f"1.{i % 9 + 1}.{i % 7}"}]
            affected = [{"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "SEMVER" if eco in ("npm", "Go", "crates.io") else "ECOSYSTEM", "events": events}]}]
            rid = f"GHSA-bnch-{i:04x}-{i % 9973:04x}"
        rec = {"schema_version": "1.6.0", "id": rid, "modified": "2025-01-01T00:00:00Z",
               "aliases": [f"CVE-2090-{i:07d}"], "summary": f"generated advisory {i}",
               "severity": [{"type": "CVSS_V3", "score": rng.choice([
                   "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                   "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
                   "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N"])}],
               "affected": affected}
        if i % 97 == 0:
            rec["withdrawn"] = "2025-02-01T00:00:00Z"
        z.writestr(f"{rid}.json", json.dumps(rec))
open(f"{out}/osv.zip", "wb").write(buf.getvalue())

for k in range(n_sboms):
    doc = copy.deepcopy(base)
    doc["metadata"]["component"]["name"] = f"registry.example/team/app-{k}:v1"
    doc["serialNumber"] = f"urn:uuid:00000000-0000-4000-8000-{k:012d}"
    for c in doc["components"]:
        if prop(c, "zoll:package:kind") == "deb" and rng.random() < 0.33:
            delta = rng.choice([-1, 1])
            c["version"] = bump(c["version"], delta)
            for p in c.get("properties", []):
                if p["name"] == "zoll:package:source-version":
                    p["value"] = bump(p["value"], delta)
    json.dump(doc, open(f"{out}/sboms/{k:04d}.cdx.json", "w"))
