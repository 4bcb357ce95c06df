"""The alert rules of deploy/prometheus/rules: valid for promtool, each file with its
`promtool test rules` unit test in deploy/prometheus/tests, every alert tested firing, and
every alert explained in the runbook (docs/OPERATIONS.md, "Alerts")."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from dondoc.dev.prometheus import find_promtool

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
TESTS = ROOT / "deploy/prometheus/tests"


def alerts(path: Path) -> list[str]:
    groups = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return [r["alert"] for g in groups for r in g["rules"] if "alert" in r]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(find_promtool()), *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)


def test_the_rules_cover_what_operators_asked_for() -> None:
    everything = {a for path in RULES for a in alerts(path)}
    assert {"DondocOutboxRelayStuck", "DondocConsumerLagGrowing", "DondocProjectionStale",
            "DondocDeadLettersAppearing", "DondocServiceDown", "DondocAuditVerifyFailing",
            "DondocOverdueTasksSurge"} <= everything


def test_promtool_checks_the_rules() -> None:
    checked = promtool("check", "rules", *[str(p) for p in RULES])
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("rules", RULES, ids=lambda p: p.name)
def test_each_rules_file_passes_its_unit_test(rules: Path) -> None:
    test = TESTS / f"{rules.stem}.test.yml"
    assert test.exists(), f"{rules.name} has no promtool unit test {test.name}"
    spec = yaml.safe_load(test.read_text(encoding="utf-8"))
    assert spec["rule_files"] == [f"../rules/{rules.name}"]
    fired = {a["alertname"] for t in spec["tests"] for a in t.get("alert_rule_test", [])
             if a.get("exp_alerts")}
    assert set(alerts(rules)) <= fired, f"alerts never tested firing: {set(alerts(rules)) - fired}"
    tested = promtool("test", "rules", str(test))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_failing_expectation_fails_promtool(tmp_path: Path) -> None:
    """The unit tests could fail: the same test with a wrong expectation does."""
    source = (TESTS / "services.test.yml").read_text(encoding="utf-8")
    broken = source.replace("../rules/services.yml", str(ROOT / "deploy/prometheus/rules/services.yml"))
    broken = broken.replace("eval_time: 4m", "eval_time: 2m")
    path = tmp_path / "broken.test.yml"
    path.write_text(broken, encoding="utf-8")
    assert promtool("test", "rules", str(path)).returncode != 0


def test_every_alert_is_in_the_runbook() -> None:
    text = (ROOT / "docs/OPERATIONS.md").read_text(encoding="utf-8")
    section = text.split("## Alerts", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(Dondoc\w+)`", section, flags=re.M))
    assert documented == {a for path in RULES for a in alerts(path)}


def test_promtool_accepts_compose_s_prometheus_config(tmp_path: Path) -> None:
    """The configuration docker compose mounts, with the rule files where compose mounts
    them (here: the repository's), is one Prometheus starts with."""
    config = yaml.safe_load((ROOT / "deploy/compose/prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] and all(p.startswith("/etc/prometheus/rules/")
                                        for p in config["rule_files"])
    config["rule_files"] = [str(ROOT / "deploy/prometheus/rules" / Path(p).name)
                            for p in config["rule_files"]]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    checked = promtool("check", "config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for rules in RULES:  # every rules file is loaded
        assert f"{rules.name}" in checked.stdout + checked.stderr
