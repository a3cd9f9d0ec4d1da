"""Structural checks of the Kubernetes manifests in deploy/k8s.

No cluster and no schema download are available in CI, so this is our own
check: it must fail on the typos and dangling references that `kubectl apply`
would only reveal in a cluster (unknown keys, selectors that match nothing,
ConfigMap keys that do not exist, ports that disagree with the configs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

API_VERSIONS = {
    "Namespace": "v1",
    "ServiceAccount": "v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "Deployment": "apps/v1",
    "DaemonSet": "apps/v1",
    "StatefulSet": "apps/v1",
}
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet"}

# Allowed keys: a misspelt key is silently ignored by some tools, so we refuse it here.
TOP_KEYS = {"apiVersion", "kind", "metadata", "spec", "data", "binaryData", "rules", "roleRef", "subjects"}
WORKLOAD_SPEC_KEYS = {
    "replicas",
    "selector",
    "template",
    "strategy",
    "updateStrategy",
    "serviceName",
    "volumeClaimTemplates",
    "minReadySeconds",
    "revisionHistoryLimit",
    "podManagementPolicy",
}
POD_SPEC_KEYS = {
    "containers",
    "initContainers",
    "volumes",
    "serviceAccountName",
    "securityContext",
    "terminationGracePeriodSeconds",
    "nodeSelector",
    "tolerations",
    "affinity",
    "hostNetwork",
    "priorityClassName",
    "dnsPolicy",
    "automountServiceAccountToken",
}
CONTAINER_KEYS = {
    "name",
    "image",
    "imagePullPolicy",
    "args",
    "command",
    "env",
    "envFrom",
    "ports",
    "readinessProbe",
    "livenessProbe",
    "startupProbe",
    "resources",
    "securityContext",
    "volumeMounts",
    "workingDir",
}
PORT_KEYS = {"name", "containerPort", "hostPort", "protocol"}
SERVICE_SPEC_KEYS = {"selector", "ports", "clusterIP", "type", "sessionAffinity", "publishNotReadyAddresses"}
SERVICE_PORT_KEYS = {"name", "port", "targetPort", "protocol", "appProtocol"}
PROBE_KEYS = {
    "httpGet",
    "tcpSocket",
    "grpc",
    "exec",
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "failureThreshold",
    "successThreshold",
}
MOUNT_KEYS = {"name", "mountPath", "subPath", "readOnly"}


@dataclass
class Bundle:
    """Every manifest document plus the ConfigMaps a kustomization would generate."""

    docs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    configmaps: dict[str, set[str]] = field(default_factory=dict)
    configmap_sources: dict[str, dict[str, Path]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def load_kustomization(root: Path) -> Bundle:
    """Read resources and configMapGenerator like kustomize (without hashing names)."""
    bundle = Bundle()
    kfile = root / "kustomization.yaml"
    kust = yaml.safe_load(kfile.read_text())
    for res in kust.get("resources", []):
        path = root / res
        if not path.is_file():
            bundle.problems.append(f"{kfile}: resource {res} does not exist")
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                bundle.docs.append((str(path), doc))
    for gen in kust.get("configMapGenerator", []):
        name = gen.get("name", "?")
        keys: dict[str, Path] = {}
        for entry in gen.get("files", []):
            key, _, rel = entry.rpartition("=")
            rel_path = root / rel
            key = key or Path(rel).name
            if not rel_path.is_file():
                bundle.problems.append(f"{kfile}: configMapGenerator {name}: file {rel} does not exist")
            keys[key] = rel_path
        bundle.configmaps[name] = set(keys)
        bundle.configmap_sources[name] = keys
    return bundle


def add_plain_configmaps(bundle: Bundle) -> None:
    for _, doc in bundle.docs:
        if doc.get("kind") == "ConfigMap":
            name = doc.get("metadata", {}).get("name", "?")
            bundle.configmaps[name] = set(doc.get("data", {})) | set(doc.get("binaryData", {}))


def _unknown(where: str, got: dict[str, Any], allowed: set[str]) -> list[str]:
    return [f"{where}: unknown key {k!r}" for k in sorted(set(got) - allowed)]


def check(bundle: Bundle) -> list[str]:
    """All problems found in the bundle (empty when consistent)."""
    add_plain_configmaps(bundle)
    problems = list(bundle.problems)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for src, doc in bundle.docs:
        kind = doc.get("kind")
        name = (doc.get("metadata") or {}).get("name")
        where = f"{src}: {kind}/{name}"
        if not kind or not doc.get("apiVersion") or not name:
            problems.append(f"{src}: document without apiVersion, kind or metadata.name")
            continue
        if kind not in API_VERSIONS:
            problems.append(f"{where}: unknown kind {kind!r}")
            continue
        if doc["apiVersion"] != API_VERSIONS[kind]:
            problems.append(f"{where}: apiVersion {doc['apiVersion']!r}, expected {API_VERSIONS[kind]!r}")
        problems += _unknown(where, doc, TOP_KEYS)
        by_kind.setdefault(kind, []).append(doc)
    workloads = [d for k in WORKLOADS for d in by_kind.get(k, [])]
    services = {d["metadata"]["name"]: d for d in by_kind.get("Service", [])}
    accounts = {d["metadata"]["name"] for d in by_kind.get("ServiceAccount", [])}
    for wl in workloads:
        problems += _check_workload(wl, bundle.configmaps, accounts, services)
    for svc in services.values():
        problems += _check_service(svc, workloads)
    problems += _check_rbac(by_kind, accounts)
    problems += _check_endpoints(workloads, services, bundle)
    problems += _check_config_ports(workloads, bundle)
    return problems


def _template_labels(wl: dict[str, Any]) -> dict[str, str]:
    return dict(wl.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}))


def _containers(wl: dict[str, Any]) -> list[dict[str, Any]]:
    pod = wl.get("spec", {}).get("template", {}).get("spec", {})
    return list(pod.get("containers", [])) + list(pod.get("initContainers", []))


def _check_workload(
    wl: dict[str, Any], configmaps: dict[str, set[str]], accounts: set[str], services: dict[str, Any]
) -> list[str]:
    where = f"{wl['kind']}/{wl['metadata']['name']}"
    spec = wl.get("spec", {})
    out = _unknown(f"{where} spec", spec, WORKLOAD_SPEC_KEYS)
    match = spec.get("selector", {}).get("matchLabels", {})
    labels = _template_labels(wl)
    if not match or any(labels.get(k) != v for k, v in match.items()):
        out.append(f"{where}: selector {match} does not match template labels {labels}")
    pod = spec.get("template", {}).get("spec", {})
    out += _unknown(f"{where} pod spec", pod, POD_SPEC_KEYS)
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        out.append(f"{where}: pod securityContext.runAsNonRoot is not true")
    sa = pod.get("serviceAccountName")
    if sa and sa not in accounts:
        out.append(f"{where}: serviceAccountName {sa!r} is not defined")
    if wl["kind"] == "StatefulSet" and spec.get("serviceName") not in services:
        out.append(f"{where}: serviceName {spec.get('serviceName')!r} is not a Service")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    volumes.update({c["metadata"]["name"]: {} for c in spec.get("volumeClaimTemplates", [])})
    for vol in pod.get("volumes", []):
        cm = vol.get("configMap")
        if cm is not None:
            if cm.get("name") not in configmaps:
                out.append(f"{where}: volume {vol['name']} uses unknown ConfigMap {cm.get('name')!r}")
            else:
                for item in cm.get("items", []):
                    if item.get("key") not in configmaps[cm["name"]]:
                        out.append(f"{where}: ConfigMap {cm['name']} has no key {item.get('key')!r}")
    if not _containers(wl):
        out.append(f"{where}: no containers")
    for c in _containers(wl):
        out += _check_container(f"{where} container {c.get('name')}", c, volumes, configmaps)
    return out


def _check_container(
    where: str, c: dict[str, Any], volumes: dict[str, dict[str, Any]], configmaps: dict[str, set[str]]
) -> list[str]:
    out = _unknown(where, c, CONTAINER_KEYS)
    image = str(c.get("image", ""))
    if not image or ":" not in image or image.endswith(":latest"):
        out.append(f"{where}: image {image!r} is not pinned to a version tag")
    port_names = set()
    for p in c.get("ports", []):
        out += _unknown(f"{where} port", p, PORT_KEYS)
        if not isinstance(p.get("containerPort"), int):
            out.append(f"{where}: port {p} has no integer containerPort")
        port_names.add(p.get("name"))
    for probe_name in ("readinessProbe", "livenessProbe"):
        probe = c.get(probe_name)
        if probe is None:
            out.append(f"{where}: no {probe_name}")
            continue
        out += _unknown(f"{where} {probe_name}", probe, PROBE_KEYS)
        port = (probe.get("httpGet") or probe.get("tcpSocket") or {}).get("port")
        if isinstance(port, str) and port not in port_names:
            out.append(f"{where}: {probe_name} uses port {port!r}, not a named container port")
    res = c.get("resources", {})
    if not res.get("requests") or not res.get("limits"):
        out.append(f"{where}: resources need requests and limits")
    sc = c.get("securityContext", {})
    if sc.get("allowPrivilegeEscalation") is not False or sc.get("readOnlyRootFilesystem") is not True:
        out.append(f"{where}: securityContext must forbid privilege escalation and use a read-only root fs")
    for m in c.get("volumeMounts", []):
        out += _unknown(f"{where} volumeMount", m, MOUNT_KEYS)
        vol = volumes.get(m.get("name"))
        if vol is None:
            out.append(f"{where}: volumeMount {m.get('name')!r} has no volume")
        elif m.get("subPath") and "configMap" in vol:
            cm = vol["configMap"].get("name")
            if m["subPath"] not in configmaps.get(cm, set()):
                out.append(f"{where}: subPath {m['subPath']!r} is not a key of ConfigMap {cm}")
    for env in c.get("env", []):
        ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
        if ref and ref.get("key") not in configmaps.get(ref.get("name"), set()):
            out.append(f"{where}: env {env.get('name')} refers to missing {ref.get('name')}/{ref.get('key')}")
    return out


def _check_service(svc: dict[str, Any], workloads: list[dict[str, Any]]) -> list[str]:
    where = f"Service/{svc['metadata']['name']}"
    spec = svc.get("spec", {})
    out = _unknown(f"{where} spec", spec, SERVICE_SPEC_KEYS)
    sel = spec.get("selector", {})
    targets = [w for w in workloads if sel and all(_template_labels(w).get(k) == v for k, v in sel.items())]
    if not targets:
        return [*out, f"{where}: selector {sel} matches no workload"]
    names = {p.get("name") for w in targets for c in _containers(w) for p in c.get("ports", [])}
    numbers = {p.get("containerPort") for w in targets for c in _containers(w) for p in c.get("ports", [])}
    for p in spec.get("ports", []):
        out += _unknown(f"{where} port", p, SERVICE_PORT_KEYS)
        tp = p.get("targetPort", p.get("port"))
        if (isinstance(tp, str) and tp not in names) or (isinstance(tp, int) and tp not in numbers):
            out.append(f"{where}: targetPort {tp!r} is not a port of the selected pods")
    return out


def _check_rbac(by_kind: dict[str, list[dict[str, Any]]], accounts: set[str]) -> list[str]:
    out = []
    roles = {(d["kind"], d["metadata"]["name"]) for k in ("Role", "ClusterRole") for d in by_kind.get(k, [])}
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        for b in by_kind.get(kind, []):
            ref = b.get("roleRef", {})
            if (ref.get("kind"), ref.get("name")) not in roles:
                out.append(f"{kind}/{b['metadata']['name']}: roleRef {ref} is not defined")
            for s in b.get("subjects", []):
                if s.get("kind") == "ServiceAccount" and s.get("name") not in accounts:
                    out.append(f"{kind}/{b['metadata']['name']}: subject {s.get('name')!r} is not defined")
    return out


# host[.namespace.svc]:port inside URLs and endpoints; only hosts that look like our Services.
ENDPOINT = re.compile(
    r"(?:^|[/\"\s\[])([a-z][a-z0-9-]*)(?:\.[a-z0-9-]+)?(?:\.svc(?:\.cluster\.local)?)?:(\d+)"
)


def _service_ports(svc: dict[str, Any]) -> set[int]:
    return {int(p["port"]) for p in svc.get("spec", {}).get("ports", [])}


def _check_endpoints(
    workloads: list[dict[str, Any]], services: dict[str, dict[str, Any]], bundle: Bundle
) -> list[str]:
    """Every in-cluster address in env values and generated in-cluster files names a Service port."""
    texts: list[tuple[str, str]] = []
    for wl in workloads:
        for c in _containers(wl):
            for env in c.get("env", []):
                if "value" in env:
                    texts.append((f"{wl['metadata']['name']} env {env['name']}", str(env["value"])))
    for cm, keys in bundle.configmap_sources.items():
        for key, path in keys.items():
            if path.is_file() and "k8s" in path.parts:  # the k8s-only files; shared ones use loopback
                texts.append((f"ConfigMap {cm} key {key}", path.read_text()))
    out = []
    for where, text in texts:
        for host, port in ENDPOINT.findall(text):
            if host in {"localhost", "http", "https"}:
                continue
            svc = services.get(host)
            if svc is None:
                out.append(f"{where}: {host}:{port} is not a Service")
            elif int(port) not in _service_ports(svc):
                out.append(f"{where}: Service {host} has no port {port}")
    return out


# Ports a shared config listens on when its *_LISTEN_HOST is set (k8s sets 0.0.0.0).
LISTEN_PORT = re.compile(
    r"_LISTEN_HOST[^}]*\}\"?:(?:\$\{env:\w+:-(\d+)\}|(\d+))"  # host:port on one line
    r"|_LISTEN_HOST[^\n]*\n\s*port: (?:\$\{env:\w+:-(\d+)\}|(\d+))"  # host: ... / port: ...
    r"|http_listen_port: (\d+)"  # Loki
)


def config_ports(text: str) -> set[int]:
    return {int(next(g for g in m if g)) for m in LISTEN_PORT.findall(text)}


def _check_config_ports(workloads: list[dict[str, Any]], bundle: Bundle) -> list[str]:
    """A container mounting a config must declare every port that config listens on."""
    out = []
    for wl in workloads:
        pod = wl["spec"]["template"]["spec"]
        cms = {v["name"]: v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v}
        for c in _containers(wl):
            declared = {p.get("containerPort") for p in c.get("ports", [])}
            for m in c.get("volumeMounts", []):
                for path in bundle.configmap_sources.get(cms.get(m.get("name"), ""), {}).values():
                    if not path.is_file():
                        continue
                    for port in sorted(config_ports(path.read_text()) - declared):
                        out.append(
                            f"{wl['metadata']['name']}: {path.name} listens on {port}, not a containerPort"
                        )
    return out
