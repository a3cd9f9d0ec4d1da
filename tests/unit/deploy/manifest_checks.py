"""A small structural checker for deploy/: what kubeconform would catch that matters here.

No Kubernetes schema can be downloaded on these machines, so this checks what
typically breaks a rollout: unknown keys (typos), selectors that match nothing,
references to volumes/config maps/ports that do not exist, unpinned images,
missing limits and probes, files that compose or kustomize would not find.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

API_VERSIONS = {
    "Namespace": "v1",
    "Service": "v1",
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "Deployment": "apps/v1",
    "DaemonSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
}
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet"}
CONTAINER_KEYS = {
    "name",
    "image",
    "args",
    "command",
    "env",
    "ports",
    "resources",
    "readinessProbe",
    "livenessProbe",
    "startupProbe",
    "securityContext",
    "volumeMounts",
    "imagePullPolicy",
    "workingDir",
    "envFrom",
}
POD_SPEC_KEYS = {
    "containers",
    "initContainers",
    "volumes",
    "securityContext",
    "serviceAccountName",
    "nodeSelector",
    "tolerations",
    "affinity",
    "terminationGracePeriodSeconds",
    "hostNetwork",
    "dnsPolicy",
    "priorityClassName",
}
WORKLOAD_SPEC_KEYS = {
    "replicas",
    "selector",
    "template",
    "serviceName",
    "volumeClaimTemplates",
    "strategy",
    "updateStrategy",
    "minReadySeconds",
    "podManagementPolicy",
    "revisionHistoryLimit",
}
# Where each store keeps what it must not lose: an argument prefix or an
# environment variable naming the data folder. That folder must be a
# PersistentVolumeClaim (volumeClaimTemplates), not an emptyDir.
DATA_DIR_ARGS = ("--storage.path=", "--storage.tsdb.path=", "-storageDataPath=")
DATA_DIR_ENV = ("JAEGER_BADGER_DIR", "LOKI_DATA_DIR")
SERVICE_SPEC_KEYS = {"selector", "ports", "clusterIP", "type", "sessionAffinity", "publishNotReadyAddresses"}


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def check_kustomize(folder: Path) -> list[str]:
    """Problems in a kustomization and every resource it lists, as 'file: message'."""
    problems: list[str] = []
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    generated: set[str] = set()
    for generator in kustomization.get("configMapGenerator", []):
        generated.add(generator["name"])
        for entry in generator.get("files", []):
            source = entry.split("=", 1)[-1]
            if not (folder / source).is_file():
                problems.append(
                    f"kustomization.yaml: configMapGenerator {generator['name']}: no file {source}"
                )
    documents: list[tuple[str, dict[str, Any]]] = []
    for resource in kustomization.get("resources", []):
        path = folder / resource
        if not path.is_file():
            problems.append(f"kustomization.yaml: resource {resource} does not exist")
            continue
        documents += [(resource, doc) for doc in load_documents(path)]
    problems += list(check_documents(documents, generated))
    return problems


def check_documents(documents: list[tuple[str, dict[str, Any]]], config_maps: set[str]) -> Iterator[str]:
    workloads: list[tuple[str, dict[str, Any]]] = []
    for file, doc in documents:
        kind = doc.get("kind")
        name = (doc.get("metadata") or {}).get("name")
        where = f"{file}: {kind}/{name}"
        if kind not in API_VERSIONS:
            yield f"{where}: unknown kind"
            continue
        if doc.get("apiVersion") != API_VERSIONS[kind]:
            yield f"{where}: apiVersion {doc.get('apiVersion')!r}, expected {API_VERSIONS[kind]!r}"
        if not name:
            yield f"{file}: {kind} without metadata.name"
        if kind in WORKLOADS:
            workloads.append((where, doc))
            yield from check_workload(where, doc, config_maps)
    for file, doc in documents:
        if doc.get("kind") == "Service":
            yield from check_service(
                f"{file}: Service/{doc['metadata']['name']}", doc, [w for _, w in workloads]
            )


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["spec"]["template"]["spec"].get("containers", []))


def check_workload(where: str, doc: dict[str, Any], config_maps: set[str]) -> Iterator[str]:
    spec = doc.get("spec", {})
    for key in set(spec) - WORKLOAD_SPEC_KEYS:
        yield f"{where}: unknown key spec.{key}"
    labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
    selector = spec.get("selector", {}).get("matchLabels", {})
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        yield f"{where}: selector {selector} does not match template labels {labels}"
    pod = spec.get("template", {}).get("spec", {})
    for key in set(pod) - POD_SPEC_KEYS:
        yield f"{where}: unknown key spec.template.spec.{key}"
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    for volume in volumes.values():
        config_map = volume.get("configMap", {}).get("name")
        if config_map and config_map not in config_maps:
            yield f"{where}: volume {volume['name']} uses config map {config_map}, which nothing generates"
    for container in pod.get("containers", []):
        cname = f"{where} container {container.get('name')}"
        for key in set(container) - CONTAINER_KEYS:
            yield f"{cname}: unknown key {key}"
        image = str(container.get("image", ""))
        if ":" not in image or image.endswith(":latest"):
            yield f"{cname}: image {image!r} is not pinned to a version"
        if not container.get("resources", {}).get("limits", {}).get("memory"):
            yield f"{cname}: no memory limit"
        port_names = {p.get("name") for p in container.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe"):
            port = container.get(probe, {}).get("httpGet", {}).get("port")
            if isinstance(port, str) and port not in port_names:
                yield f"{cname}: {probe} uses port {port!r}, not declared"
        for probe in ("readinessProbe", "livenessProbe"):
            if not container.get(probe):
                yield f"{cname}: no {probe}"
        security = container.get("securityContext", {})
        if security.get("allowPrivilegeEscalation") is not False:
            yield f"{cname}: allowPrivilegeEscalation is not false"
        if security.get("readOnlyRootFilesystem") is not True:
            yield f"{cname}: root filesystem is not read-only"
        if "ALL" not in security.get("capabilities", {}).get("drop", []):
            yield f"{cname}: capabilities do not drop ALL"
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes and mount["name"] not in claims:
                yield f"{cname}: volumeMount {mount['name']} has no volume"
        yield from _check_data_on_claims(cname, container, claims)
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        yield f"{where}: pod does not set runAsNonRoot"


def _check_data_on_claims(cname: str, container: dict[str, Any], claims: set[str]) -> Iterator[str]:
    folders = [
        str(arg).split("=", 1)[1] for arg in container.get("args", []) if str(arg).startswith(DATA_DIR_ARGS)
    ]
    folders += [
        str(e["value"]) for e in container.get("env", []) if e.get("name") in DATA_DIR_ENV and "value" in e
    ]
    for folder in folders:
        holders = [
            m
            for m in container.get("volumeMounts", [])
            if folder.rstrip("/").startswith(m["mountPath"].rstrip("/"))
        ]
        if not any(m["name"] in claims for m in holders):
            yield f"{cname}: data folder {folder} is not on a PersistentVolumeClaim"


def check_service(where: str, service: dict[str, Any], workloads: list[dict[str, Any]]) -> Iterator[str]:
    spec = service.get("spec", {})
    for key in set(spec) - SERVICE_SPEC_KEYS:
        yield f"{where}: unknown key spec.{key}"
    selector = spec.get("selector", {})
    targets = [
        w
        for w in workloads
        if all(w["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())
    ]
    if not targets:
        yield f"{where}: selector {selector} matches no workload"
        return
    names = {p.get("name") for w in targets for c in _containers(w) for p in c.get("ports", [])}
    numbers = {p.get("containerPort") for w in targets for c in _containers(w) for p in c.get("ports", [])}
    for port in spec.get("ports", []):
        target = port.get("targetPort", port.get("port"))
        if target not in names and target not in numbers:
            yield f"{where}: port {port.get('name')} targets {target!r}, which the selected pods do not expose"


# Images with no shell and no wget/curl (distroless): a healthcheck command in them can never
# pass, and everything waiting for service_healthy never starts. victoria-logs v1.52.2's
# Dockerfile is FROM gcr.io/distroless/static; Loki's images since 3.6.0 (grafana/loki#20149);
# the collector's contrib images.
NO_SHELL_IMAGES = frozenset(
    {"victoriametrics/victoria-logs", "grafana/loki", "otel/opentelemetry-collector-contrib"}
)


def check_compose(path: Path) -> list[str]:
    return check_compose_data(yaml.safe_load(path.read_text()), path.parent)


def check_compose_data(compose: dict[str, Any], folder: Path) -> list[str]:
    """Problems in a compose document whose relative mounts are relative to ``folder``."""
    problems: list[str] = []
    for name, service in compose.get("services", {}).items():
        image = str(service.get("image", ""))
        if ":" not in image or image.endswith(":latest"):
            problems.append(f"{name}: image {image!r} not pinned")
        for port in service.get("ports", []):
            if not str(port).startswith("127.0.0.1:"):
                problems.append(f"{name}: port {port} is published on all interfaces")
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith((".", "/")) and not (folder / source).exists():
                problems.append(f"{name}: mounted path {source} does not exist")
        check = (service.get("healthcheck") or {}).get("test") or []
        if image.split(":")[0] in NO_SHELL_IMAGES and check[:1] in (["CMD"], ["CMD-SHELL"]):
            problems.append(f"{name}: healthcheck runs {check[1:2]} in {image}, which has no shell or tools")
        for dependency, condition in (service.get("depends_on") or {}).items():
            if (
                condition.get("condition") == "service_healthy"
                and "healthcheck" not in compose["services"][dependency]
            ):
                problems.append(f"{name}: waits for {dependency} to be healthy, which has no healthcheck")
        environment = {str(k): str(v) for k, v in (service.get("environment") or {}).items()}
        password = environment.get("GF_SECURITY_ADMIN_PASSWORD")
        if name == "grafana" and (password is None or password == "admin" or ":?" not in password):
            problems.append(
                "grafana: admin password must come from the environment (${VAR:?...}), never admin/admin"
            )
    return problems


def check_grafana(folder: Path) -> list[str]:
    import json

    problems: list[str] = []
    datasources = yaml.safe_load((folder / "provisioning" / "datasources" / "datasources.yaml").read_text())
    uids = {d["uid"] for d in datasources["datasources"]}
    for source in datasources["datasources"]:
        data = source.get("jsonData", {})
        for field in [*data.get("derivedFields", []), *data.get("exemplarTraceIdDestinations", [])]:
            if field.get("datasourceUid") not in uids:
                problems.append(
                    f"datasource {source['uid']}: derived field links to unknown {field.get('datasourceUid')}"
                )
        for key in ("tracesToLogsV2", "tracesToMetrics"):
            if key in data and data[key].get("datasourceUid") not in uids:
                problems.append(
                    f"datasource {source['uid']}: {key} links to unknown {data[key].get('datasourceUid')}"
                )
    for dashboard in sorted((folder / "dashboards").glob("*.json")):
        try:
            content = json.loads(dashboard.read_text())
        except ValueError as exc:
            problems.append(f"{dashboard.name}: invalid JSON: {exc}")
            continue
        for panel in content.get("panels", []):
            for target in [panel, *panel.get("targets", [])]:
                uid = target.get("datasource", {}).get("uid")
                if uid and uid not in uids:
                    problems.append(
                        f"{dashboard.name}: panel {panel.get('title')!r} uses unknown datasource {uid}"
                    )
    return problems
