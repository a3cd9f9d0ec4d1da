"""deploy/ is checked structurally (no cluster or Docker here); every check is shown to fail on a broken input."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.deploy import manifest_checks as checks

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"


def test_kubernetes_manifests_are_consistent() -> None:
    assert checks.check_kustomize(DEPLOY / "k8s") == []


def test_compose_file_is_consistent() -> None:
    assert checks.check_compose(DEPLOY / "compose.yaml") == []


def test_grafana_provisioning_is_consistent() -> None:
    assert checks.check_grafana(DEPLOY / "grafana") == []


def _gateway_docs() -> list[tuple[str, dict[str, object]]]:
    return [
        ("collector-gateway.yaml", d)
        for d in checks.load_documents(DEPLOY / "k8s" / "collector-gateway.yaml")
    ]


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(imagePullPolice="Always"),
            "unknown key imagePullPolice",
        ),
        (
            lambda d: d["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "typo"}),
            "does not match template labels",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="otel/collector:latest"),
            "not pinned",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].append(
                {"name": "nope", "mountPath": "/x"}
            ),
            "volumeMount nope has no volume",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"].update(
                port="helth"
            ),
            "uses port 'helth'",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["volumes"][0]["configMap"].update(
                name="otelcol-gateway-confg"
            ),
            "which nothing generates",
        ),
        (lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("livenessProbe"), "no livenessProbe"),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
                readOnlyRootFilesystem=False
            ),
            "root filesystem is not read-only",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"].pop("capabilities"),
            "capabilities do not drop ALL",
        ),
    ],
)
def test_checker_catches_broken_workloads(breakage: object, expected: str) -> None:
    documents = copy.deepcopy(_gateway_docs())
    deployment = next(d for _, d in documents if d["kind"] == "Deployment")
    breakage(deployment)  # type: ignore[operator]
    problems = list(checks.check_documents(documents, {"otelcol-gateway-config"}))
    assert any(expected in p for p in problems), problems


def test_checker_catches_a_store_whose_data_is_on_an_emptydir() -> None:
    """Alertmanager as it was: silences and notification log on an emptyDir, lost with the pod."""
    documents = [
        ("alertmanager.yaml", d) for d in checks.load_documents(DEPLOY / "k8s" / "alertmanager.yaml")
    ]
    workload = next(d for _, d in documents if d["kind"] == "StatefulSet")
    assert list(checks.check_documents(copy.deepcopy(documents), {"alertmanager-config"})) == []
    workload["spec"].pop("volumeClaimTemplates")
    workload["spec"]["template"]["spec"]["volumes"].append({"name": "data", "emptyDir": {}})
    problems = list(checks.check_documents(documents, {"alertmanager-config"}))
    assert any("data folder /alertmanager is not on a PersistentVolumeClaim" in p for p in problems), problems


def test_checker_catches_a_service_that_selects_nothing() -> None:
    documents = copy.deepcopy(_gateway_docs())
    service = next(d for _, d in documents if d["kind"] == "Service")
    service["spec"]["selector"] = {"app.kubernetes.io/name": "otel-gatway"}  # type: ignore[index]
    problems = list(checks.check_documents(documents, {"otelcol-gateway-config"}))
    assert any("matches no workload" in p for p in problems), problems


def test_checker_catches_compose_mistakes(tmp_path: Path) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    compose["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] = "admin"
    compose["services"]["victorialogs"]["ports"] = ["9428:9428"]
    compose["services"]["jaeger"]["volumes"] = ["./jaeger/missing.yaml:/etc/jaeger/config.yaml:ro"]
    # What compose.yaml had: a wget check in a distroless image never passes.
    compose["services"]["victorialogs"]["healthcheck"] = {
        "test": ["CMD", "wget", "-q", "-O-", "http://x/health"]
    }
    broken = tmp_path / "deploy" / "compose.yaml"
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    broken.write_text(yaml.safe_dump(compose))
    problems = checks.check_compose(broken)
    assert any("grafana: admin password" in p for p in problems)
    assert any("victorialogs: port 9428:9428" in p for p in problems)
    assert any("jaeger: mounted path ./jaeger/missing.yaml" in p for p in problems)
    assert any("victorialogs: healthcheck runs ['wget']" in p for p in problems), problems


def test_checker_catches_grafana_links_to_missing_datasources(tmp_path: Path) -> None:
    shutil.copytree(DEPLOY / "grafana", tmp_path / "grafana")
    path = tmp_path / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
    path.write_text(path.read_text().replace("datasourceUid: jaeger", "datasourceUid: jaegr", 1))
    assert any("unknown jaegr" in p for p in checks.check_grafana(tmp_path / "grafana"))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) not installed")
def test_prometheus_rules_check_and_unit_tests() -> None:
    rules = sorted(str(p) for p in (DEPLOY / "prometheus" / "rules").glob("*.yaml"))
    subprocess.run(["promtool", "check", "rules", *rules], check=True, capture_output=True)
    for test_file in sorted((DEPLOY / "prometheus" / "tests").glob("*.yaml")):
        result = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("amtool") is None, reason="amtool (Debian prometheus-alertmanager) not installed"
)
def test_alertmanager_config_is_valid() -> None:
    result = subprocess.run(
        ["amtool", "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
