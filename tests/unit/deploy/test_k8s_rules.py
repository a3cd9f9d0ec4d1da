"""In Kubernetes Prometheus loads every rule file the other shapes load.

prometheus.yml reads `rules/*.yaml`; natively and in Compose that is the folder
deploy/prometheus/rules/. In Kubernetes the folder is a ConfigMap, so a rule file
missing from it (health, RED, SLO alerts) would never fire there, without a word.
"""

from __future__ import annotations

from tests.unit.deploy.test_collector_scrape import DEPLOY, K8S, _generated_files, k8s_documents

RULES = DEPLOY / "prometheus" / "rules"


def test_every_rule_file_is_in_the_rules_config_map() -> None:
    files = _generated_files("prometheus-rules")
    assert {name: path.resolve() for name, path in files.items()} == {
        path.name: path.resolve() for path in sorted(RULES.glob("*.yaml"))
    }


def test_prometheus_mounts_the_rules_where_its_config_reads_them() -> None:
    prometheus = next(
        d for d in k8s_documents() if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "prometheus"
    )
    spec = prometheus["spec"]["template"]["spec"]
    volume = next(
        v["name"] for v in spec["volumes"] if v.get("configMap", {}).get("name") == "prometheus-rules"
    )
    mounts = [m for c in spec["containers"] for m in c["volumeMounts"] if m["name"] == volume]
    assert [(m["mountPath"], m.get("subPath")) for m in mounts] == [("/etc/prometheus/rules", None)]
    # The config (mounted as /etc/prometheus/prometheus.yml) reads rule files relative to its folder.
    assert "  - rules/*.yaml" in (K8S / "prometheus.yml").read_text()
