"""The generators turn the repository's alert rules and dashboards into Kubernetes objects
(a PrometheusRule per rules file, a ConfigMap per dashboard for the Grafana sidecar), and
the generated files are what `make generate` would write now."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from dondoc.deploy.validation import errors
from dondoc.generators import deploy
from tests.unit.deploy.support import ROOT

pytestmark = pytest.mark.unit


def _copy_sources(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "OPERATIONS.md", tmp_path / "docs" / "OPERATIONS.md")
    return tmp_path


def test_rules_and_dashboards_become_kubernetes_objects(tmp_path: Path) -> None:
    root = _copy_sources(tmp_path)
    rules = {"groups": [{"name": "dondoc-outbox", "rules": [{
        "alert": "DondocOutboxStuck", "expr": "dondoc_outbox_lag_seconds > 300", "for": "10m",
        "labels": {"severity": "page"},
        "annotations": {"summary": "Sự kiện chưa được gửi đi / events not published"}}]}]}
    (root / "deploy/prometheus/rules/outbox.yml").write_text(yaml.safe_dump(rules, allow_unicode=True))
    dashboard = {"title": "Đôn đốc — tiến độ", "uid": "dondoc-progress", "panels": []}
    (root / "deploy/grafana/dashboards/Progress Board.json").write_text(
        json.dumps(dashboard, ensure_ascii=False))

    written = deploy.generate(root)

    rule_file = root / "k8s/base/monitoring/rules/outbox.yaml"
    dashboard_file = root / "k8s/base/dashboards/progress-board.yaml"
    assert {rule_file, dashboard_file} <= set(written)
    rule = yaml.safe_load(rule_file.read_text())
    assert rule["kind"] == "PrometheusRule" and rule["spec"] == rules
    assert errors(rule) == []
    config_map = yaml.safe_load(dashboard_file.read_text())
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["Progress Board.json"]) == dashboard
    assert errors(config_map) == []
    listed = yaml.safe_load((root / "k8s/base/dashboards/kustomization.yaml").read_text())
    assert "progress-board.yaml" in listed["resources"]

    (root / "deploy/prometheus/rules/outbox.yml").unlink()
    deploy.generate(root)
    assert not rule_file.exists(), "a PrometheusRule whose rules file went away goes too"
    assert "outbox.yaml" not in yaml.safe_load(
        (root / "k8s/base/monitoring/rules/kustomization.yaml").read_text())["resources"]


def test_the_generated_files_are_current() -> None:
    stale = [str(path.relative_to(ROOT)) for path, content in deploy.files(ROOT).items()
             if not path.exists() or path.read_text(encoding="utf-8") != content]
    assert not stale, f"run `make generate`: stale {stale}"


def test_the_configuration_reference_lists_every_variable() -> None:
    from dondoc.deploy import inventory

    text = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    for service in inventory.services():
        for variable in inventory.settings_for(service):
            assert f"| `{variable}` |" in text, f"docs/OPERATIONS.md does not describe {variable}"
