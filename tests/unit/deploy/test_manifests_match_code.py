"""The manifests say what the code says. The truth is read from the code when the test runs:
every settings class each service reads (the platform's, and the service's own once its
bootstrap module exists) with its pydantic-settings variable names, every topic the
contracts, the platform and the services name, every port of DEFAULT_PORTS. Then
docker-compose.yml and every rendered Kubernetes overlay must set them, the same way.
A failure names the file, the container and the variable, topic or port that is missing."""

from __future__ import annotations

from typing import Any

import pytest

from dondoc.deploy import inventory
from dondoc.deploy.spec import Spec
from tests.unit.deploy.support import OVERLAYS, ROLES, ROOT, compose, container_environment, find, one, render

pytestmark = pytest.mark.unit

SERVICES = inventory.services()
PORTS = inventory.ports()


def _credentials(service: str, spec: Spec) -> set[str]:
    settings = inventory.settings_for(service)
    return {name for name, s in settings.items()
            if (s.secret and name not in spec.unset) or name in spec.secrets}


# --------------------------------------------------------------------------- environment


def environment_problems(where: str, service: str, role: str, environment: dict[str, Any],
                         spec: Spec) -> list[str]:
    """What a container's environment lacks, or has that no code reads, or sets wrongly."""
    settings = inventory.settings_for(service)
    problems = [f"{where} does not set {variable} (read by {setting.owner})"
                for variable, setting in settings.items()
                if variable not in environment and variable not in spec.unset]
    problems += [f"{where} sets {variable}, which no settings class of {service} reads"
                 for variable in environment if variable.startswith("DONDOC_") and variable not in settings]
    for variable, wanted in (("DONDOC_ROLE", role), ("DONDOC_HTTP_PORT", str(PORTS[service]))):
        if str(environment.get(variable)) != wanted:
            problems.append(f"{where} has {variable}={environment.get(variable)!r}, not {wanted!r}")
    return problems


def compose_environment_problems(spec: Spec) -> list[str]:
    services = compose()["services"]
    problems = []
    for service in SERVICES:
        for role in ROLES:
            name = f"{service}-{role}"
            if name not in services:
                problems.append(f"docker-compose.yml has no service {name}")
                continue
            problems += environment_problems(f"docker-compose.yml: {name}", service, role,
                                             services[name].get("environment", {}), spec)
    return problems


def kubernetes_environment_problems(overlay: str, spec: Spec) -> list[str]:
    documents = render(overlay)
    problems = []
    for service in SERVICES:
        for role in ROLES:
            name = f"dondoc-{service}-{role}"
            deployments = find(documents, "Deployment", name)
            if not deployments:
                problems.append(f"k8s/overlays/{overlay}: no Deployment {name}")
                continue
            (container,) = deployments[0]["spec"]["template"]["spec"]["containers"]
            problems += environment_problems(f"k8s/overlays/{overlay}: Deployment {name}", service,
                                             role, container_environment(documents, container), spec)
            if container.get("args") != ["serve", service, "--role", role]:
                problems.append(f"k8s/overlays/{overlay}: {name} runs {container.get('args')}")
    return problems


def test_compose_sets_every_variable_each_service_reads(spec: Spec) -> None:
    problems = compose_environment_problems(spec)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_sets_every_variable_each_service_reads(overlay: str, spec: Spec) -> None:
    problems = kubernetes_environment_problems(overlay, spec)
    assert not problems, "\n".join(problems)


def test_a_setting_a_service_adds_is_named_until_the_manifests_set_it(
        spec: Spec, monkeypatch: pytest.MonkeyPatch) -> None:
    """When a service lands with a setting of its own, the checks name it, its class and
    every container that lacks it; the generator then writes it (its default, or the
    value deploy/deployment.yaml gives), or refuses while it has neither."""
    import sys
    import types

    from pydantic import Field

    from dondoc.deploy.spec import SpecError
    from dondoc_platform.settings import ServiceSettings

    import importlib

    bootstrap = types.ModuleType("dondoc_tasks.bootstrap")
    try:  # the service as it is, plus one new setting
        real = importlib.import_module("dondoc_tasks.bootstrap")
        bootstrap.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
        base = real.Settings
    except ModuleNotFoundError:
        base = ServiceSettings

    class Settings(base):  # type: ignore[valid-type,misc]
        service = "tasks"
        overdue_scan_seconds: int = Field(60, description="how often the deadline watcher looks")

    Settings.__module__, Settings.__qualname__ = bootstrap.__name__, "Settings"
    bootstrap.Settings = Settings
    monkeypatch.setitem(sys.modules, bootstrap.__name__, bootstrap)

    variable = "DONDOC_OVERDUE_SCAN_SECONDS"
    owner = "dondoc_tasks.bootstrap.Settings.overdue_scan_seconds"
    assert variable in inventory.settings_for("tasks")
    assert variable not in inventory.settings_for("reports")
    compose_problems = compose_environment_problems(spec)
    assert compose_problems == [
        f"docker-compose.yml: tasks-{role} does not set {variable} (read by {owner})"
        for role in ROLES]
    for overlay in OVERLAYS:
        assert kubernetes_environment_problems(overlay, spec) == [
            f"k8s/overlays/{overlay}: Deployment dondoc-tasks-{role} does not set {variable} "
            f"(read by {owner})" for role in ROLES]
    assert spec.environment("tasks", "kubernetes").values[variable] == "60"

    class RequiredSettings(base):  # type: ignore[valid-type,misc]
        service = "tasks"
        mail_relay: str = Field(description="no default: the deployment must choose")

    RequiredSettings.__module__, RequiredSettings.__qualname__ = bootstrap.__name__, "Settings"
    bootstrap.Settings = RequiredSettings
    with pytest.raises(SpecError, match=r"DONDOC_MAIL_RELAY \(dondoc_tasks.bootstrap.Settings.mail_relay\) has no default"):
        spec.environment("tasks", "compose")


def test_credentials_come_from_env_file_in_compose(spec: Spec) -> None:
    services = compose()["services"]
    problems = []
    for service in SERVICES:
        for variable in sorted(_credentials(service, spec)):
            for role in ROLES:
                value = str(services[f"{service}-{role}"]["environment"].get(variable, ""))
                if value and "${" not in value:
                    problems.append(f"docker-compose.yml: {service}-{role} writes {variable} "
                                    f"literally instead of taking it from .env")
    for name, definition in services.items():
        for variable, value in (definition.get("environment") or {}).items():
            if "PASSWORD" in variable and "${" not in str(value):
                problems.append(f"docker-compose.yml: {name} writes {variable} literally")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_credentials_come_from_secrets_never_inlined(overlay: str, spec: Spec) -> None:
    documents = render(overlay)
    assert not find(documents, "Secret"), "a Secret is defined in the manifests: reference it instead"
    problems = []
    for service in SERVICES:
        credentials = _credentials(service, spec)
        for role in ROLES:
            deployment = one(documents, "Deployment", f"dondoc-{service}-{role}")
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            direct = {e["name"]: e for e in container.get("env", [])}
            for variable in sorted(credentials):
                entry = direct.get(variable)
                if entry is None or "secretKeyRef" not in entry.get("valueFrom", {}):
                    problems.append(f"k8s/overlays/{overlay}: dondoc-{service}-{role} does not take "
                                    f"{variable} from a Secret")
    for config_map in find(documents, "ConfigMap"):
        for key in config_map.get("data", {}):
            if inventory.names_a_credential(key) or key in spec.secrets:
                problems.append(f"k8s/overlays/{overlay}: ConfigMap {config_map['metadata']['name']} "
                                f"holds the credential {key}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_reads_its_own_database(overlay: str) -> None:
    documents = render(overlay)
    for service in SERVICES:
        cluster = one(documents, "Cluster", f"dondoc-{service}-db")
        assert cluster["spec"]["bootstrap"]["initdb"]["database"] == f"dondoc_{service}"
        for role in ROLES:
            (container,) = one(documents, "Deployment", f"dondoc-{service}-{role}")[
                "spec"]["template"]["spec"]["containers"]
            store = container_environment(documents, container).get("DONDOC_STORE_URL")
            # CloudNativePG writes the application's credentials to <cluster>-app
            assert store == {"secretKeyRef": {"name": f"dondoc-{service}-db-app", "key": "uri"}}, (
                f"k8s/overlays/{overlay}: dondoc-{service}-{role} store: {store}")
    postgres = compose()["services"]["postgres"]["environment"]
    assert postgres["DONDOC_SERVICES"].split() == list(SERVICES)


# --------------------------------------------------------------------------- ports


def test_compose_ports_match_the_code() -> None:
    services = compose()["services"]
    for service, port in PORTS.items():
        api = services[f"{service}-api"]
        assert api["ports"] == [f"127.0.0.1:{port}:{port}"], f"{service}-api ports {api['ports']}"
        assert "ports" not in services[f"{service}-worker"]
        for role in ROLES:
            check = " ".join(services[f"{service}-{role}"]["healthcheck"]["test"])
            assert f"127.0.0.1:{port}/readyz" in check, f"{service}-{role} healthcheck: {check}"
    import yaml

    prometheus = yaml.safe_load((ROOT / "deploy/compose/prometheus.yml").read_text())
    targets = {t for job in prometheus["scrape_configs"] for group in job["static_configs"]
               for t in group["targets"]}
    for service, port in PORTS.items():
        for role in ROLES:
            assert f"{service}-{role}:{port}" in targets, f"Prometheus does not scrape {service}-{role}"


def _named_port(container: dict[str, Any], name: str) -> int | None:
    return next((p["containerPort"] for p in container.get("ports", []) if p["name"] == name), None)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_ports_match_the_code(overlay: str) -> None:
    documents = render(overlay)
    problems = []
    for service, port in PORTS.items():
        for role, port_name in (("api", "http"), ("worker", "metrics")):
            deployment = one(documents, "Deployment", f"dondoc-{service}-{role}")
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            if _named_port(container, port_name) != port:
                problems.append(f"{deployment['metadata']['name']}: port {port_name} is "
                                f"{_named_port(container, port_name)}, not {port}")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                target = container.get(probe, {}).get("httpGet", {}).get("port")
                if target not in (port_name, port):
                    problems.append(f"{deployment['metadata']['name']}: {probe} on {target}")
        http = one(documents, "Service", f"dondoc-{service}")
        (entry,) = http["spec"]["ports"]
        if (entry["port"], entry["targetPort"]) != (port, "http"):
            problems.append(f"Service dondoc-{service}: {entry}")
        if http["spec"]["selector"].get("app.kubernetes.io/component") != "api":
            problems.append(f"Service dondoc-{service} selects {http['spec']['selector']}")
        monitor = one(documents, "ServiceMonitor", f"dondoc-{service}-api")
        if monitor["spec"]["endpoints"][0]["port"] != "http":
            problems.append(f"ServiceMonitor dondoc-{service}-api scrapes {monitor['spec']['endpoints']}")
        pod_monitor = one(documents, "PodMonitor", f"dondoc-{service}-worker")
        if pod_monitor["spec"]["podMetricsEndpoints"][0]["port"] != "metrics":
            problems.append(f"PodMonitor dondoc-{service}-worker scrapes the wrong port")
    assert not problems, f"k8s/overlays/{overlay}:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- topics


def _script_topics() -> dict[str, tuple[int, dict[str, str]]]:
    found = {}
    for line in (ROOT / "deploy/compose/create-topics.sh").read_text().splitlines():
        if line.startswith("create "):
            _, name, partitions, *configs = line.split()
            found[name] = (int(partitions), dict(c.split("=", 1) for c in configs))
    return found


def test_compose_creates_every_topic_the_code_uses() -> None:
    declared = _script_topics()
    code = inventory.topics()
    assert sorted(declared) == sorted(code), (
        f"missing: {sorted(set(code) - set(declared))}; not used by the code: "
        f"{sorted(set(declared) - set(code))}")
    for name, topic in code.items():
        assert declared[name] == (topic.partitions, topic.config), f"{name}: {declared[name]}"
    kafka_topics = compose()["services"]["kafka-topics"]
    assert kafka_topics["depends_on"]["kafka"]["condition"] == "service_healthy"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_declares_every_topic_the_code_uses(overlay: str) -> None:
    documents = render(overlay)
    declared = {d["spec"].get("topicName", d["metadata"]["name"]): d
                for d in find(documents, "KafkaTopic")}
    code = inventory.topics()
    assert sorted(declared) == sorted(code), (
        f"k8s/overlays/{overlay}: missing {sorted(set(code) - set(declared))}; not used by the "
        f"code: {sorted(set(declared) - set(code))}")
    brokers = sum(p["spec"]["replicas"] for p in find(documents, "KafkaNodePool")
                  if "broker" in p["spec"]["roles"])
    for name, topic in code.items():
        spec = declared[name]["spec"]
        assert spec["partitions"] == topic.partitions, f"{name}: {spec['partitions']} partitions"
        kept = {k: str(v) for k, v in spec["config"].items() if k != "min.insync.replicas"}
        wanted = {k: v for k, v in topic.config.items() if k != "min.insync.replicas"}
        assert kept == wanted, f"{name}: config {kept}, the code says {wanted}"
        assert spec["replicas"] <= brokers, f"{name}: {spec['replicas']} replicas on {brokers} brokers"
        min_isr = int(spec["config"]["min.insync.replicas"])
        assert min_isr <= spec["replicas"] and (min_isr < spec["replicas"] or spec["replicas"] == 1), (
            f"{name}: min.insync.replicas {min_isr} with {spec['replicas']} replicas")
        assert declared[name]["metadata"]["labels"]["strimzi.io/cluster"] == "dondoc"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_scale_on_lag_without_outnumbering_partitions(overlay: str, spec: Spec) -> None:
    documents = render(overlay)
    topics = inventory.topics()
    shared = one(documents, "ConfigMap", next(
        d["metadata"]["name"] for d in find(documents, "ConfigMap")
        if d["metadata"]["name"].startswith("dondoc-shared")))
    for service in SERVICES:
        groups = spec.subscriptions(service)
        scaled = find(documents, "ScaledObject", f"dondoc-{service}-worker")
        worker = one(documents, "Deployment", f"dondoc-{service}-worker")
        if not groups:
            assert not scaled and worker["spec"]["replicas"] == 1, service
            continue
        (scaled_object,) = scaled
        triggers = scaled_object["spec"]["triggers"]
        covered = {(t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in triggers}
        wanted = {(g, t) for g, names in groups.items() for t in names}
        assert covered == wanted, f"{service}: triggers {sorted(covered)}, subscriptions {sorted(wanted)}"
        partitions = min(topics[t["metadata"]["topic"]].partitions for t in triggers)
        assert 1 <= scaled_object["spec"]["minReplicaCount"] <= scaled_object["spec"]["maxReplicaCount"]
        assert scaled_object["spec"]["maxReplicaCount"] <= partitions, service
        for trigger in triggers:
            assert trigger["metadata"]["bootstrapServers"] == shared["data"]["DONDOC_KAFKA_BOOTSTRAP"]
        assert "replicas" not in worker["spec"], f"{service}: KEDA owns the worker's replica count"
