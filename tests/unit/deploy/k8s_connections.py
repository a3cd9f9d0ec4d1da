"""What the rendered Kubernetes manifests listen on, which connections their configs make, and
whether the NetworkPolicies let those (and only those) through.

Listening ports come from the programs' own config files as the pods mount them (ConfigMap data,
``${env:...}`` filled from the container's env), not from the manifests' port lists, so a Service,
a probe or a config that names a port nothing listens on is found without a cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

NAMESPACE = "otelbundle"
ANY_HOST = {"", "0.0.0.0", "::", "[::]"}
ENV_REFERENCE = re.compile(r"\$\{(?:env:)?([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")
SERVICE_URL = re.compile(r"(?:https?://)?([a-z0-9-]+)\." + NAMESPACE + r"(?:\.svc)?:(\d+)")


@dataclass
class Container:
    pod: str
    labels: dict[str, str]
    spec: dict[str, Any]
    files: dict[str, str]  # mounted path -> content (ConfigMap data)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.pod}/{self.spec['name']}"

    def ports(self) -> dict[str, int]:
        return {
            str(p.get("name", p["containerPort"])): int(p["containerPort"])
            for p in self.spec.get("ports", [])
        }


def containers(documents: list[dict[str, Any]]) -> list[Container]:
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in documents if d["kind"] == "ConfigMap"}
    found = []
    for doc in documents:
        if doc["kind"] not in ("Deployment", "DaemonSet", "StatefulSet"):
            continue
        pod = doc["spec"]["template"]
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for spec in pod["spec"]["containers"]:
            files: dict[str, str] = {}
            for mount in spec.get("volumeMounts", []):
                source = volumes.get(mount["name"], {}).get("configMap", {}).get("name")
                for key, text in config_maps.get(source, {}).items() if source else ():
                    if mount.get("subPath") in (None, key):
                        path = mount["mountPath"] if mount.get("subPath") else f"{mount['mountPath']}/{key}"
                        files[path] = text
            env = {e["name"]: str(e.get("value", "<from-field>")) for e in spec.get("env", [])}
            found.append(Container(doc["metadata"]["name"], pod["metadata"]["labels"], spec, files, env))
    return found


def _substitute(text: str, env: dict[str, str]) -> str:
    return ENV_REFERENCE.sub(lambda m: env.get(m[1], m[2] or ""), text)


def _merge(base: Any, top: Any) -> Any:
    if isinstance(base, dict) and isinstance(top, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in top.items()}}
    return top


def config(container: Container, flag: str) -> dict[str, Any]:
    """The container's config files named by ``flag`` (merged in order, as the collector does)."""
    result: dict[str, Any] = {}
    for arg in container.spec.get("args", []):
        if str(arg).startswith(flag):
            path = str(arg)[len(flag) :]
            if path not in container.files:
                raise AssertionError(f"{container.where}: {arg} is not mounted from a ConfigMap")
            result = _merge(result, yaml.safe_load(_substitute(container.files[path], container.env)))
    return result


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _collector_listeners(cfg: dict[str, Any]) -> dict[int, str]:
    """Ports an OpenTelemetry Collector-based program (our collector, Jaeger v2) binds, with the host."""
    found: dict[int, str] = {}
    stack: list[Any] = [cfg.get("receivers"), cfg.get("extensions")]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            endpoint = item.get("endpoint")
            if isinstance(endpoint, str) and "://" not in endpoint and ":" in endpoint:
                host, port = _split(endpoint)
                found[port] = host
            stack += item.values()
        elif isinstance(item, list):
            stack += item
    for reader in cfg.get("service", {}).get("telemetry", {}).get("metrics", {}).get("readers", []):
        prometheus = reader.get("pull", {}).get("exporter", {}).get("prometheus")
        if prometheus:
            found[int(prometheus["port"])] = str(prometheus.get("host", ""))
    return found


def listeners(container: Container) -> dict[int, str]:
    """port -> bound host, for each program the manifests run."""
    image = container.spec["image"]
    args = [str(a) for a in container.spec.get("args", [])]
    if "opentelemetry-collector" in image or "jaeger" in image:
        return _collector_listeners(config(container, "--config="))
    if "victoria-logs" in image:
        address = next((a.split("=", 1)[1] for a in args if a.startswith("-httpListenAddr=")), ":9428")
        host, port = _split(address)
        return {port: host}
    if "prom/prometheus" in image or "prom/alertmanager" in image:
        default = "0.0.0.0:9090" if "prometheus" in image.split(":")[0] else "0.0.0.0:9093"
        address = next((a.split("=", 1)[1] for a in args if a.startswith("--web.listen-address=")), default)
        host, port = _split(address)
        return {port: host}
    if "grafana/loki" in image:
        server = config(container, "-config.file=")["server"]
        return {
            int(server["http_listen_port"]): str(server.get("http_listen_address", "")),
            int(server.get("grpc_listen_port", 9095)): str(server.get("grpc_listen_address", "")),
        }
    raise AssertionError(f"{container.where}: no rule for what {image} listens on")


def listening_problems(documents: list[dict[str, Any]]) -> list[str]:
    """Declared ports nothing listens on (or only on loopback), and ports open on the pod's address
    that are not declared (reachable, but invisible in the manifest)."""
    problems = []
    for container in containers(documents):
        bound = listeners(container)
        for name, port in container.ports().items():
            if port not in bound:
                problems.append(
                    f"{container.where}: port {name} ({port}) is declared but nothing listens on it"
                )
            elif bound[port] not in ANY_HOST:
                problems.append(f"{container.where}: port {name} ({port}) listens on {bound[port]} only")
        declared = set(container.ports().values())
        for port, host in sorted(bound.items()):
            if host in ANY_HOST and port not in declared:
                problems.append(f"{container.where}: listens on {host or '*'}:{port}, which no port declares")
    return problems


@dataclass(frozen=True)
class Connection:
    client: str
    labels: tuple[tuple[str, str], ...]
    service: str | None  # None: straight to the pods of ``pod``
    port: int | str
    why: str
    pod: str | None = None
    optional: bool = False  # the log-store targets name both stores; a shape runs one


def connections(documents: list[dict[str, Any]]) -> list[Connection]:
    """Every connection a config or a manifest makes inside the namespace."""
    found = []
    for container in containers(documents):
        labels = tuple(sorted(container.labels.items()))
        for name, value in container.env.items():
            for service, port in SERVICE_URL.findall(value):
                found.append(Connection(container.where, labels, service, int(port), f"env {name}"))
        for path, text in container.files.items():
            if "/targets/" in path:  # Prometheus file_sd
                for group in yaml.safe_load(text) or []:
                    for target in group["targets"]:
                        service, port = SERVICE_URL.fullmatch(target).groups()  # type: ignore[union-attr]
                        optional = "store" in group.get("labels", {})
                        found.append(
                            Connection(container.where, labels, service, int(port), path, None, optional)
                        )
            if "opentelemetry-collector" in container.spec[
                "image"
            ] and "--config=" + path in container.spec.get("args", []):
                resolver = yaml.safe_load(text).get("exporters", {}).get("load_balancing/gateways", {})
                k8s = (resolver.get("resolver") or {}).get("k8s")
                if k8s:
                    for port in k8s["ports"]:
                        found.append(
                            Connection(container.where, labels, k8s["service"].split(".")[0], port, path)
                        )
            if path.endswith("prometheus.yml"):
                for job in yaml.safe_load(text)["scrape_configs"]:
                    for sd in job.get("kubernetes_sd_configs", []):
                        names = sd["selectors"][0]["label"].split(" in ")[1].strip("()").split(",")
                        for pod in names:
                            found.append(
                                Connection(
                                    container.where, labels, None, "metrics", f"job {job['job_name']}", pod
                                )
                            )
    return found


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def allowed(
    documents: list[dict[str, Any]],
    source: tuple[str, dict[str, str]],
    target: Container,
    port: int,
) -> bool:
    """NetworkPolicy semantics for ingress to ``target`` on ``port`` from a pod in
    namespace ``source[0]`` with labels ``source[1]``."""
    namespace, labels = source
    names = {v: k for k, v in target.ports().items()}
    policies = [
        d
        for d in documents
        if d["kind"] == "NetworkPolicy"
        and "Ingress" in d["spec"].get("policyTypes", ["Ingress"])
        and _selects(d["spec"]["podSelector"], target.labels)
    ]
    if not policies:
        return True
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports and not any(p.get("port") in (port, names.get(port)) for p in ports):
                continue
            peers = rule.get("from")
            if not peers:
                return True
            for peer in peers:
                if "namespaceSelector" in peer:
                    in_namespace = peer["namespaceSelector"] == {} or _selects(
                        peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace}
                    )
                else:
                    in_namespace = namespace == NAMESPACE
                if in_namespace and _selects(peer.get("podSelector", {}), labels):
                    return True
    return False


def connection_problems(documents: list[dict[str, Any]]) -> list[str]:
    """Each connection must reach a Service port that leads to a listening container port, and the
    NetworkPolicies must let it through."""
    problems = []
    pods = containers(documents)
    services = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Service"}
    for conn in connections(documents):
        what = f"{conn.client} -> {conn.service or conn.pod}:{conn.port} ({conn.why})"
        if conn.service is not None:
            service = services.get(conn.service)
            if service is None:
                if conn.optional:
                    continue
                problems.append(f"{what}: no Service {conn.service}")
                continue
            entry = next((p for p in service["spec"]["ports"] if p["port"] == conn.port), None)
            if entry is None:
                problems.append(f"{what}: Service {conn.service} has no port {conn.port}")
                continue
            targets = [c for c in pods if _selects({"matchLabels": service["spec"]["selector"]}, c.labels)]
            wanted = entry.get("targetPort", entry["port"])
        else:
            targets = [c for c in pods if c.labels.get("app.kubernetes.io/name") == conn.pod]
            wanted = conn.port
        if not targets:
            problems.append(f"{what}: selects no pod")
        for target in targets:
            port = target.ports().get(wanted) if isinstance(wanted, str) else wanted
            if port is None or listeners(target).get(port) not in ANY_HOST:
                problems.append(f"{what}: {target.where} does not listen on {wanted} on its pod address")
                continue
            if not allowed(documents, (NAMESPACE, dict(conn.labels)), target, port):
                problems.append(f"{what}: a NetworkPolicy refuses it")
    return problems


def open_to_the_cluster(documents: list[dict[str, Any]]) -> set[tuple[str, int]]:
    """(pod, port) that a pod of another namespace may connect to."""
    stranger = ("some-app-namespace", {"app": "anything"})
    return {
        (c.pod, port)
        for c in containers(documents)
        for port in c.ports().values()
        if allowed(documents, stranger, c, port)
    }
