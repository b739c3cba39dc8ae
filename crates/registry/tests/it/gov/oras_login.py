"""Logs in to a registry with oras-py, pushes a file as an artifact and pulls it back.

oras-py's "token" backend keeps the first token it gets and sends it for every later scope
(a registry that checks token scopes, as the Docker token spec says, refuses it), so this
uses its "basic" backend: credentials on every request, which zoll accepts too.

usage: oras_login.py HOST USER PASSWORD REPO FILE OUTDIR
Prints the pulled file's path. Exits non-zero on any failure (a refused login included).
"""
import os
import sys

import oras.client

host, user, password, repo, path, outdir = sys.argv[1:7]
os.chdir(os.path.dirname(path))
client = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
result = client.login(username=user, password=password, hostname=host, config_path=os.path.join(outdir, "config.json"))
if "Login Succeeded" not in str(result):
    sys.exit(f"login failed: {result}")
resp = client.push(target=f"{host}/{repo}:v1", files=[os.path.basename(path)])
if resp.status_code not in (200, 201):
    sys.exit(f"push answered {resp.status_code}: {resp.text}")
pulled = client.pull(target=f"{host}/{repo}:v1", outdir=outdir)
print(pulled[0])
