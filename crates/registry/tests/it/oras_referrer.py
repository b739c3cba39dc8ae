"""Pushes an artifact with a subject through oras-py (a real OCI client), then pulls it back.

usage: oras_referrer.py HOST REPO SUBJECT_DIGEST SUBJECT_SIZE FILE WORKDIR
Prints the pulled file's path. Exits non-zero on any failure.
"""
import os
import sys

import oras.oci
import oras.provider

host, repo, subject_digest, subject_size, path, workdir = sys.argv[1:7]
os.chdir(os.path.dirname(path))
registry = oras.provider.Registry(hostname=host, insecure=True)
subject = oras.oci.Subject(
    mediaType="application/vnd.oci.image.manifest.v1+json",
    digest=subject_digest,
    size=int(subject_size),
)
resp = registry.push(
    target=f"{host}/{repo}:sbom",
    files=[os.path.basename(path)],
    manifest_config=":application/vnd.example.sbom.config",
    subject=subject,
    do_chunked=True,
    chunk_size=4096,
)
if resp.status_code != 201:
    sys.exit(f"manifest push answered {resp.status_code}: {resp.text}")
pulled = registry.pull(target=f"{host}/{repo}:sbom", outdir=workdir)
print(pulled[0])
