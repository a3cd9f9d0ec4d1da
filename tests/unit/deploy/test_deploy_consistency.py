"""Cross-file consistency of the deployment shapes.

Grafana refuses to start when two provisioned datasources are both default or
share a UID/name, and silently keeps one of two dashboards with the same UID;
compose and Kubernetes drifting to different image versions makes "the same
stack" untrue. Each check is shown to fail on a broken copy.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def grafana_duplicates(folder: Path) -> list[str]:
    """Problems Grafana would hit when provisioning every file in ``folder``."""
    problems: list[str] = []
    sources: list[dict[str, Any]] = []
    for path in sorted((folder / "provisioning" / "datasources").glob("*.y*ml")):
        sources += yaml.safe_load(path.read_text()).get("datasources", [])
    for key in ("uid", "name"):
        for value, count in Counter(s.get(key) for s in sources).items():
            if count > 1:
                problems.append(f"datasource {key} {value!r} is provisioned {count} times")
    defaults = [s.get("name") for s in sources if s.get("isDefault")]
    if len(defaults) > 1:
        problems.append(f"more than one default datasource: {defaults}")
    providers: list[dict[str, Any]] = []
    for path in sorted((folder / "provisioning" / "dashboards").glob("*.y*ml")):
        providers += yaml.safe_load(path.read_text()).get("providers", [])
    for value, count in Counter(p.get("name") for p in providers).items():
        if count > 1:
            problems.append(f"dashboard provider {value!r} is provisioned {count} times")
    uids = Counter(
        json.loads(p.read_text()).get("uid") for p in sorted((folder / "dashboards").glob("*.json"))
    )
    for value, count in uids.items():
        if value is None or count > 1:
            problems.append(f"dashboard uid {value!r} is used by {count} dashboards")
    return problems


def _images_in(docs: list[Any]) -> set[str]:
    """Every ``image:`` value anywhere in the documents."""
    found: set[str] = set()
    stack = list(docs)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("image"), str):
                found.add(item["image"])
            stack += item.values()
        elif isinstance(item, list):
            stack += item
    return found


def image_drift(compose: Path, k8s: Path) -> list[str]:
    """Images that compose and Kubernetes both run must have the same tag."""
    compose_images = _images_in([yaml.safe_load(compose.read_text())])
    k8s_docs = [d for p in sorted(k8s.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())]
    k8s_images = _images_in(k8s_docs)

    def tags(images: set[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for image in images:
            repo, _, tag = image.rpartition(":")
            out.setdefault(repo, set()).add(tag)
        return out

    in_compose, in_k8s = tags(compose_images), tags(k8s_images)
    return [
        f"{repo}: compose runs {sorted(in_compose[repo])}, Kubernetes {sorted(in_k8s[repo])}"
        for repo in sorted(set(in_compose) & set(in_k8s))
        if in_compose[repo] != in_k8s[repo]
    ]


def test_grafana_provisioning_has_no_duplicates() -> None:
    assert grafana_duplicates(DEPLOY / "grafana") == []


def test_duplicate_check_catches_a_second_datasource_file_and_dashboard(tmp_path: Path) -> None:
    shutil.copytree(DEPLOY / "grafana", tmp_path / "grafana")
    datasources = tmp_path / "grafana" / "provisioning" / "datasources"
    original = next(datasources.glob("*.y*ml"))
    shutil.copy(original, datasources / "copy.yaml")
    dashboards = tmp_path / "grafana" / "dashboards"
    shutil.copy(next(dashboards.glob("*.json")), dashboards / "copy.json")
    problems = grafana_duplicates(tmp_path / "grafana")
    assert any("datasource uid 'prometheus' is provisioned 2 times" in p for p in problems)
    assert any("more than one default datasource" in p for p in problems)
    assert any(p.startswith("dashboard uid") and "2 dashboards" in p for p in problems)


def test_compose_and_kubernetes_run_the_same_versions() -> None:
    assert image_drift(DEPLOY / "compose.yaml", DEPLOY / "k8s") == []
    # Both shapes run every backend, so the comparison is not vacuous.
    compose_repos = {
        i.rpartition(":")[0] for i in _images_in([yaml.safe_load((DEPLOY / "compose.yaml").read_text())])
    }
    assert {
        "jaegertracing/jaeger",
        "victoriametrics/victoria-logs",
        "prom/prometheus",
        "prom/alertmanager",
    } <= compose_repos


def test_drift_check_catches_a_different_tag(tmp_path: Path) -> None:
    shutil.copytree(DEPLOY / "k8s", tmp_path / "k8s")
    store = tmp_path / "k8s" / "victorialogs.yaml"
    store.write_text(store.read_text().replace("victoria-logs:v1.52.2", "victoria-logs:v1.52.1"))
    problems = image_drift(DEPLOY / "compose.yaml", tmp_path / "k8s")
    assert problems == ["victoriametrics/victoria-logs: compose runs ['v1.52.2'], Kubernetes ['v1.52.1']"]


def _k8s_args(file: str) -> list[str]:
    [workload] = [
        d
        for d in yaml.safe_load_all((DEPLOY / "k8s" / file).read_text())
        if d and "spec" in d and "template" in d["spec"]
    ]
    return [str(a) for a in workload["spec"]["template"]["spec"]["containers"][0]["args"]]


def test_alert_links_name_the_same_ui_address_in_compose_and_kubernetes() -> None:
    """Without --web.external-url the links in Kubernetes alerts named the pod's hostname."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    for service, file in (("prometheus", "prometheus.yaml"), ("alertmanager", "alertmanager.yaml")):
        wanted = [str(a) for a in compose[service]["command"] if str(a).startswith("--web.external-url=")]
        assert wanted and [a for a in _k8s_args(file) if a.startswith("--web.external-url=")] == wanted, (
            service
        )
