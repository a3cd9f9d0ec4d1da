"""In Kubernetes Prometheus scrapes every collector pod's own metrics (:8888), agents and gateways.

A collector counts what it refuses or fails to send only in its own metrics, and
CollectorDroppingData (deploy/prometheus/rules/system.yaml) reads nothing else. The agents take
all application data and write metrics and logs themselves, so an agent that is not scraped
drops data unseen; a gateway scraped through its Service shows one pod per scrape. No cluster
here: Prometheus' pod discovery is modelled over the pods the manifests would create, and the
permission it needs is read from the RBAC in the manifests.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from tests.unit.deploy import manifest_checks as checks

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
NAMESPACE = "otelbundle"
COLLECTOR_JOB = "otel-collector"
# The agent DaemonSet and the gateway Deployment; every other pod must not be scraped as a collector.
COLLECTORS = {"otel-agent", "otel-gateway"}
# service::telemetry's reader in otel-collector/config.yaml (agents) and gateway.yaml's default.
METRICS_PORT = 8888


def _kustomization() -> dict[str, Any]:
    return dict(yaml.safe_load((K8S / "kustomization.yaml").read_text()))


def _generated_files(config_map: str) -> dict[str, Path]:
    generator = next(g for g in _kustomization()["configMapGenerator"] if g["name"] == config_map)
    return {key: K8S / source for key, source in (f.split("=", 1) for f in generator["files"])}


def k8s_prometheus_config() -> dict[str, Any]:
    """The prometheus.yml that the Kubernetes Prometheus runs (its ConfigMap's source)."""
    return dict(yaml.safe_load(_generated_files("prometheus-config")["prometheus.yml"].read_text()))


def k8s_documents() -> list[dict[str, Any]]:
    return [d for r in _kustomization()["resources"] for d in checks.load_documents(K8S / r)]


def _pods(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One pod per workload, as the API server would list it."""
    pods = []
    for i, doc in enumerate(d for d in documents if d["kind"] in checks.WORKLOADS):
        name = doc["metadata"]["name"]
        pods.append(
            {
                "workload": name,
                "name": f"{name}-abcde",
                "node": f"node-{i}",
                "ip": f"10.0.0.{i + 1}",
                "phase": "Running",
                "labels": doc["spec"]["template"]["metadata"]["labels"],
                "containers": doc["spec"]["template"]["spec"]["containers"],
            }
        )
    return pods


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (=, ==, !=, in, notin, existence) against a pod's labels."""
    for requirement in re.split(r",(?![^()]*\))", selector):
        requirement = requirement.strip()
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", requirement):
            key, op, values = m[1], m[2], {v.strip() for v in m[3].split(",")}
            if (labels.get(key) in values) != (op == "in"):
                return False
        elif m := re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", requirement):
            if (labels.get(m[1]) == m[3]) != (m[2] != "!="):
                return False
        elif m := re.fullmatch(r"(!?)([\w./-]+)", requirement):
            if (m[2] in labels) == bool(m[1]):
                return False
        else:
            raise ValueError(f"selector requirement not modelled: {requirement!r}")
    return True


def _relabel(labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus relabelling (keep, drop, replace, labelmap); None when the target is dropped."""
    labels = dict(labels)
    for rule in rules:
        action = rule.get("action", "replace")
        regex = re.compile(rule.get("regex", "(.*)"))
        value = rule.get("separator", ";").join(labels.get(s, "") for s in rule.get("source_labels", []))
        if action == "keep" and not regex.fullmatch(value):
            return None
        if action == "drop" and regex.fullmatch(value):
            return None
        if action == "replace" and (m := regex.fullmatch(value)):
            target = m.expand(rule.get("replacement", "$1").replace("$", "\\"))
            name = m.expand(rule["target_label"].replace("$", "\\"))
            if target:
                labels[name] = target
            else:
                labels.pop(name, None)
        if action == "labelmap":
            for key, val in list(labels.items()):
                if m := regex.fullmatch(key):
                    labels[m.expand(rule.get("replacement", "$1").replace("$", "\\"))] = val
        if action not in ("keep", "drop", "replace", "labelmap"):
            raise ValueError(f"relabel action not modelled: {action}")
    return labels


def scraped_collector_targets(
    config: dict[str, Any], documents: list[dict[str, Any]]
) -> list[dict[str, str]]:
    """The targets Prometheus' pod discovery gives each scrape job for the collector pods."""
    targets = []
    pods = _pods(documents)
    for job in config.get("scrape_configs", []):
        for sd in job.get("kubernetes_sd_configs", []):
            if sd.get("role") != "pod":
                continue
            namespaces = sd.get("namespaces", {})
            if not (namespaces.get("own_namespace") or NAMESPACE in namespaces.get("names", [])):
                continue
            selectors = [
                s["label"] for s in sd.get("selectors", []) if s.get("role") == "pod" and "label" in s
            ]
            for pod in pods:
                if not all(_selector_matches(s, pod["labels"]) for s in selectors):
                    continue
                for container in pod["containers"]:
                    for port in container.get("ports", []):
                        meta = {
                            "__address__": f"{pod['ip']}:{port['containerPort']}",
                            "__meta_kubernetes_namespace": NAMESPACE,
                            "__meta_kubernetes_pod_name": pod["name"],
                            "__meta_kubernetes_pod_node_name": pod["node"],
                            "__meta_kubernetes_pod_phase": pod["phase"],
                            "__meta_kubernetes_pod_container_name": container["name"],
                            "__meta_kubernetes_pod_container_port_name": port.get("name", ""),
                            "__meta_kubernetes_pod_container_port_number": str(port["containerPort"]),
                        } | {
                            "__meta_kubernetes_pod_label_" + re.sub(r"[^\w]", "_", k): v
                            for k, v in pod["labels"].items()
                        }
                        meta["job"] = job["job_name"]
                        labels = _relabel(meta, job.get("relabel_configs", []))
                        if labels is None:
                            continue
                        labels.setdefault("instance", labels["__address__"])
                        targets.append(
                            {k: v for k, v in labels.items() if k == "__address__" or not k.startswith("__")}
                        )
    return targets


def scrape_problems(config: dict[str, Any], documents: list[dict[str, Any]]) -> list[str]:
    """Collector pods whose own metrics no job scrapes one by one under the rules' job name."""
    problems = []
    targets = scraped_collector_targets(config, documents)
    collectors = [p for p in _pods(documents) if p["workload"] in COLLECTORS]
    if {p["workload"] for p in collectors} != COLLECTORS:
        problems.append(
            f"the manifests run {sorted(p['workload'] for p in collectors)}, not {sorted(COLLECTORS)}"
        )
    for pod in collectors:
        found = [t for t in targets if t["__address__"] == f"{pod['ip']}:{METRICS_PORT}"]
        if not found:
            problems.append(f"{pod['name']}: its metrics port {METRICS_PORT} is not scraped")
            continue
        for target in found:
            if target.get("job") != COLLECTOR_JOB:
                problems.append(
                    f"{pod['name']}: scraped as job {target.get('job')!r}, the rules read {COLLECTOR_JOB!r}"
                )
            if pod["name"] not in target.values():
                problems.append(f"{pod['name']}: no label names the pod ({target})")
            if pod["node"] not in target.values():
                problems.append(f"{pod['name']}: no label names the node ({target})")
    wanted = {f"{p['ip']}:{METRICS_PORT}" for p in collectors}
    for target in targets:
        if target.get("job") == COLLECTOR_JOB and target["__address__"] not in wanted:
            problems.append(
                f"{target['instance']}: scraped as a collector, but it is no collector's metrics port"
            )
    return problems


def rbac_problems(config: dict[str, Any], documents: list[dict[str, Any]]) -> list[str]:
    """What the API server would refuse Prometheus' pod discovery."""
    problems = []
    jobs = [sd for job in config.get("scrape_configs", []) for sd in job.get("kubernetes_sd_configs", [])]
    for sd in jobs:
        namespaces = sd.get("namespaces", {})
        if not (namespaces.get("own_namespace") or namespaces.get("names") == [NAMESPACE]):
            problems.append("pod discovery watches other namespaces; a Role grants only its own")
    prometheus = next(
        d for d in documents if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "prometheus"
    )
    account = prometheus["spec"]["template"]["spec"].get("serviceAccountName", "default")
    if account not in {d["metadata"]["name"] for d in documents if d["kind"] == "ServiceAccount"}:
        problems.append(f"Prometheus runs as service account {account!r}, which the manifests do not create")
    roles = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Role"}
    granted: set[str] = set()
    for binding in (d for d in documents if d["kind"] == "RoleBinding"):
        if not any(
            s.get("kind") == "ServiceAccount" and s.get("name") == account and s.get("namespace") == NAMESPACE
            for s in binding.get("subjects", [])
        ):
            continue
        role = roles.get(binding["roleRef"]["name"]) if binding["roleRef"]["kind"] == "Role" else None
        for rule in (role or {}).get("rules", []):
            if "" in rule.get("apiGroups", []) and "pods" in rule.get("resources", []):
                granted |= set(rule.get("verbs", []))
    missing = {"list", "watch"} - granted
    if missing:
        problems.append(f"service account {account!r} may not {sorted(missing)} pods in {NAMESPACE}")
    return problems


def test_every_agent_and_gateway_pod_is_scraped_on_8888() -> None:
    config, documents = k8s_prometheus_config(), k8s_documents()
    assert scrape_problems(config, documents) == []
    targets = scraped_collector_targets(config, documents)
    # Not vacuous: the agent DaemonSet and the gateway Deployment are both there.
    assert {t["instance"].rsplit("-", 1)[0] for t in targets} == COLLECTORS


def test_prometheus_may_list_and_watch_the_pods() -> None:
    assert rbac_problems(k8s_prometheus_config(), k8s_documents()) == []


def test_the_rule_names_the_collector_that_drops() -> None:
    """Every sum in CollectorDroppingData keeps `instance` (the pod), and BackendDown selects the job."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "system.yaml").read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    groupings = re.findall(r"sum by \(([^)]*)\)", alerts["CollectorDroppingData"])
    assert groupings and all("instance" in [g.strip() for g in by.split(",")] for by in groupings), groupings
    [jobs] = re.findall(r'up\{job=~"([^"]+)"\}', alerts["BackendDown"])
    assert re.fullmatch(jobs, COLLECTOR_JOB)


def test_kubernetes_differs_from_the_shared_prometheus_config_only_in_the_collector_job() -> None:
    shared = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    k8s = k8s_prometheus_config()
    assert {k: v for k, v in k8s.items() if k != "scrape_configs"} == {
        k: v for k, v in shared.items() if k != "scrape_configs"
    }
    assert [j for j in k8s["scrape_configs"] if j["job_name"] != COLLECTOR_JOB] == [
        j for j in shared["scrape_configs"] if j["job_name"] != COLLECTOR_JOB
    ]
    assert [j["job_name"] for j in k8s["scrape_configs"]] == [j["job_name"] for j in shared["scrape_configs"]]


def test_the_checks_catch_the_gateway_service_scrape_and_missing_permissions() -> None:
    documents = k8s_documents()
    # What the stack shipped before: file_sd naming the gateway Service, no agent at all.
    shared = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    problems = scrape_problems(shared, documents)
    assert any(p.startswith("otel-agent-") and "8888 is not scraped" in p for p in problems), problems

    config = k8s_prometheus_config()
    typo = copy.deepcopy(config)
    job = next(j for j in typo["scrape_configs"] if j["job_name"] == COLLECTOR_JOB)
    job["kubernetes_sd_configs"][0]["selectors"][0]["label"] = (
        "app.kubernetes.io/name in (otel-agnt,otel-gateway)"
    )
    assert any(p.startswith("otel-agent-") for p in scrape_problems(typo, documents))

    unnamed = copy.deepcopy(config)
    job = next(j for j in unnamed["scrape_configs"] if j["job_name"] == COLLECTOR_JOB)
    job["relabel_configs"] = [
        r for r in job["relabel_configs"] if r.get("target_label") not in ("instance", "node")
    ]
    assert any("no label names" in p for p in scrape_problems(unnamed, documents))

    cluster_wide = copy.deepcopy(config)
    next(j for j in cluster_wide["scrape_configs"] if j["job_name"] == COLLECTOR_JOB)[
        "kubernetes_sd_configs"
    ][0].pop("namespaces")
    assert any("other namespaces" in p for p in rbac_problems(cluster_wide, documents))

    no_watch = copy.deepcopy(documents)
    for doc in no_watch:
        if doc["kind"] == "Role":
            for rule in doc["rules"]:
                if "pods" in rule.get("resources", []):
                    rule["verbs"] = ["get", "list"]
    assert any("may not ['watch'] pods" in p for p in rbac_problems(config, no_watch))
