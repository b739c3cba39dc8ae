#!/usr/bin/env python3
"""Validates zoll's Kubernetes manifests offline.

    python3 deploy/kubernetes/validate.py [FILE_OR_DIR ...]   (default: this directory)

- Built-in kinds: kubernetes-validate (PyPI; it bundles the Kubernetes JSON schemas), strict
  (unknown fields are errors), against the oldest and the newest Kubernetes version checked.
- cert-manager kinds: schemas/cert-manager.io-v1.json (a subset of cert-manager's CRD schema).
- Kustomization: every resource it lists exists.
- zoll's own rules: both webhooks fail closed (failurePolicy Fail), have no side effects, speak
  admission.k8s.io/v1 only, exclude the webhook's namespace, call the right paths of the
  Service that exists, and cover every workload kind; the Deployment's containers are
  hardened; the Service selects the Deployment's pods and port.
Exits 1 naming every problem.
"""

import json
import os
import sys

import jsonschema
import kubernetes_validate
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
K8S_VERSIONS = ["1.29.0", kubernetes_validate.utils.latest_version()]
CERT_MANAGER = json.load(open(os.path.join(HERE, "schemas", "cert-manager.io-v1.json")))
WORKLOADS = {
    ("", "pods"), ("", "pods/ephemeralcontainers"),
    ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"),
    ("apps", "daemonsets"), ("batch", "jobs"), ("batch", "cronjobs"),
}
PATHS = {"MutatingWebhookConfiguration": "/admission/mutate",
         "ValidatingWebhookConfiguration": "/admission/validate"}

problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def load(paths):
    docs = []
    for p in paths:
        files = sorted(os.path.join(p, f) for f in os.listdir(p)) if os.path.isdir(p) else [p]
        for f in files:
            if not f.endswith((".yaml", ".yml")):
                continue
            with open(f) as fh:
                for i, doc in enumerate(yaml.safe_load_all(fh)):
                    if doc is not None:
                        docs.append((f"{os.path.basename(f)}#{i}", os.path.dirname(f), doc))
    return docs


def schema_check(where, base, doc):
    api = doc.get("apiVersion", "")
    kind = doc.get("kind", "")
    if api.startswith("cert-manager.io/"):
        schema = dict(CERT_MANAGER, **{"$ref": f"#/definitions/{kind}"})
        if kind not in CERT_MANAGER["definitions"]:
            return problem(where, f"no schema for cert-manager kind {kind}")
        for e in jsonschema.Draft7Validator(schema).iter_errors(doc):
            problem(where, f"{'/'.join(map(str, e.absolute_path))}: {e.message}")
    elif api.startswith("kustomize.config.k8s.io/"):
        for r in doc.get("resources", []):
            if not os.path.exists(os.path.join(base, r)):
                problem(where, f"lists {r}, which does not exist")
    else:
        for v in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, v, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = "/".join(map(str, e.path))
                problem(where, f"Kubernetes {v}: {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError:
                problem(where, f"Kubernetes {v} has no {api} {kind}")


def webhook_check(where, doc, services):
    kind = doc["kind"]
    for w in doc.get("webhooks", []):
        at = f"{where} {w.get('name')}"
        if w.get("failurePolicy") != "Fail":
            problem(at, "failurePolicy must be Fail")
        if w.get("sideEffects") != "None":
            problem(at, "sideEffects must be None")
        if w.get("admissionReviewVersions") != ["v1"]:
            problem(at, "admissionReviewVersions must be [v1]")
        svc = w.get("clientConfig", {}).get("service", {})
        if svc.get("path") != PATHS[kind]:
            problem(at, f"must call {PATHS[kind]}, calls {svc.get('path')}")
        key = (svc.get("namespace"), svc.get("name"))
        if key not in services:
            problem(at, f"calls Service {key}, which is not defined")
        elif svc.get("port", 443) not in services[key]:
            problem(at, f"calls port {svc.get('port', 443)}, which the Service does not expose")
        excluded = [e for e in w.get("namespaceSelector", {}).get("matchExpressions", [])
                    if e.get("key") == "kubernetes.io/metadata.name" and e.get("operator") == "NotIn"]
        if not any(svc.get("namespace") in e.get("values", []) for e in excluded):
            problem(at, f"namespaceSelector must exclude the webhook's namespace {svc.get('namespace')}")
        covered = set()
        for r in w.get("rules", []):
            ops = set(r.get("operations", []))
            if not {"CREATE", "UPDATE"} <= ops and "*" not in ops:
                problem(at, f"rule {r.get('resources')} must cover CREATE and UPDATE")
            for g in r.get("apiGroups", []):
                for res in r.get("resources", []):
                    covered.add((g, res))
        for missing in sorted(WORKLOADS - covered):
            problem(at, f"does not cover {missing[0] or 'core'}/{missing[1]}")


def hardened(where, spec):
    pod = spec.get("securityContext", {})
    if pod.get("runAsNonRoot") is not True:
        problem(where, "pod securityContext.runAsNonRoot must be true")
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        sc = c.get("securityContext", {})
        at = f"{where} container {c.get('name')}"
        for field, want in [("allowPrivilegeEscalation", False), ("readOnlyRootFilesystem", True),
                            ("privileged", False)]:
            if sc.get(field) is not want:
                problem(at, f"securityContext.{field} must be {str(want).lower()}")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problem(at, "securityContext.capabilities.drop must be [ALL]")
        if (sc.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problem(at, "seccompProfile must be RuntimeDefault")


def main(argv):
    docs = load(argv or [HERE])
    services = {}
    deployments = []
    for where, base, doc in docs:
        schema_check(where, base, doc)
        meta = doc.get("metadata", {})
        if doc.get("kind") == "Service":
            services[(meta.get("namespace"), meta.get("name"))] = {
                p.get("port") for p in doc["spec"].get("ports", [])}
        if doc.get("kind") == "Deployment":
            deployments.append((where, doc))
    for where, _, doc in docs:
        if doc.get("kind") in PATHS:
            webhook_check(where, doc, services)
    for where, d in deployments:
        template = d["spec"]["template"]
        hardened(where, template["spec"])
        labels = template.get("metadata", {}).get("labels", {})
        ports = {p.get("name") for c in template["spec"]["containers"] for p in c.get("ports", [])}
        for (ns, name), _ in services.items():
            svc = next(doc for _, _, doc in docs if doc.get("kind") == "Service"
                       and doc["metadata"].get("name") == name)
            sel = svc["spec"].get("selector", {})
            if ns == d["metadata"].get("namespace") and sel.items() <= labels.items():
                for p in svc["spec"].get("ports", []):
                    if isinstance(p.get("targetPort"), str) and p["targetPort"] not in ports:
                        problem(where, f"Service {name} targets port {p['targetPort']}, not declared")
    if not docs:
        problem("input", "no manifests found")
    for p in problems:
        print(f"validate: {p}", file=sys.stderr)
    print(f"validate: {len(docs)} documents, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
