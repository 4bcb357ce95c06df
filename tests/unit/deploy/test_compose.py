"""docker-compose.yml is a valid Compose file (the Compose specification's schema, as
vendored by check-jsonschema), comes up in order, publishes nothing beyond 127.0.0.1,
takes its credentials from .env, and mounts files that exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit.deploy.support import ROOT, compose

pytestmark = pytest.mark.unit


def _check_jsonschema(*args: str) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run([str(executable), *args], capture_output=True, text=True, timeout=120)


def test_compose_file_follows_the_compose_specification() -> None:
    done = _check_jsonschema("--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_compose_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = compose()
    broken["services"]["kafka"]["healthcheck"]["intervall"] = "10s"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    done = _check_jsonschema("--builtin-schema", "vendor.compose-spec", str(path))
    assert done.returncode != 0 and "intervall" in done.stdout + done.stderr


def test_nothing_is_published_beyond_localhost() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_services_come_up_in_order() -> None:
    services = compose()["services"]
    for name, service in services.items():
        one_shot = service.get("restart") == "no"
        if not one_shot:
            assert "healthcheck" in service, f"{name} has no healthcheck"
        for dependency, condition in (service.get("depends_on") or {}).items():
            wanted = ("service_completed_successfully" if services[dependency].get("restart") == "no"
                      else "service_healthy")
            assert condition == {"condition": wanted}, f"{name} waits for {dependency}: {condition}"
    for name in services:
        if name.endswith(("-api", "-worker")):
            assert set(services[name]["depends_on"]) >= {"postgres", "kafka-topics"}, name
    assert services["notifications-worker"]["depends_on"]["mailpit"]["condition"] == "service_healthy"


def test_credentials_come_from_the_env_file_and_every_variable_is_in_the_example() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    missing = interpolated - example
    assert not missing, f".env.example lacks {sorted(missing)}"
    for name, secret in compose().get("secrets", {}).items():
        assert secret.get("environment") in example or "file" in secret, name
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored, ".env (the real secrets) must never be committed"


def test_mounted_files_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"


def test_containers_of_the_suite_are_locked_down() -> None:
    for name, service in compose()["services"].items():
        if name.endswith(("-api", "-worker")):
            assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
            assert "no-new-privileges:true" in service["security_opt"], name


def test_prometheus_and_grafana_are_provisioned_from_the_repository() -> None:
    services = compose()["services"]
    prometheus = yaml.safe_load((ROOT / "deploy/compose/prometheus.yml").read_text())
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in services["prometheus"]["volumes"]
    assert all(r.startswith("/etc/prometheus/rules/") for r in prometheus["rule_files"])
    datasources = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/dondoc.yml").read_text())["datasources"]
    urls = {d["type"]: d["url"] for d in datasources}
    assert urls["prometheus"] == "http://prometheus:9090"
    assert urls["grafana-postgresql-datasource"].split(":")[0] in services
    providers = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/dondoc.yml").read_text())["providers"]
    mounted = {v.split(":")[1] for v in services["grafana"]["volumes"] if str(v).startswith("./")}
    assert all(p["options"]["path"] in mounted for p in providers)
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in services["grafana"]["volumes"]


def test_the_shared_postgresql_admits_every_process_pools_at_their_fullest() -> None:
    """Compose runs every service's database on one PostgreSQL server: its
    max_connections must hold each dondoc process's pools at their fullest (read models,
    event store) and a worker's LISTEN connection, or a burst of requests is refused."""
    from dondoc_platform.projection import MAX_OVERFLOW, POOL_SIZE
    from dondoc_platform.stores import StoreURL

    document = compose()
    command = document["services"]["postgres"].get("command", [])
    settings = dict(arg.split("=", 1) for arg in command if "=" in arg)
    max_connections = int(settings.get("max_connections", "100"))  # PostgreSQL's default
    store = StoreURL.parse("postgresql://u:p@h:5432/d").eventsourcing_env()
    event_store = int(store["POSTGRES_POOL_SIZE"]) + int(store["POSTGRES_MAX_OVERFLOW"])
    processes = [name for name in document["services"] if name.endswith(("-api", "-worker"))]
    assert len(processes) >= 10
    needed = len(processes) * (POOL_SIZE + MAX_OVERFLOW + event_store + 1)
    assert max_connections >= needed, (max_connections, needed)
