"""Every rendered overlay is valid Kubernetes: built-in kinds strictly against the
Kubernetes schemas (kubernetes-validate, offline), custom resources strictly against the
operators' CRD schemas kept in deploy/crds/schemas. And it is hardened: non-root,
read-only, no capabilities, RuntimeDefault seccomp, probes, requests and limits, a
disruption budget per workload, deny-by-default networking."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dondoc.deploy import inventory
from dondoc.deploy.validation import custom_resource_errors, errors, is_custom
from tests.unit.deploy.support import OVERLAYS, ROLES, find, one, render

pytestmark = pytest.mark.unit

OPERATOR_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic", "Cluster", "ScheduledBackup",
                  "ScaledObject", "ServiceMonitor", "PodMonitor", "PrometheusRule"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_validates_strictly(overlay: str) -> None:
    problems = []
    for document in render(overlay):
        for error in errors(document):
            problems.append(f"{document['kind']} {document['metadata']['name']}: {error}")
    assert not problems, f"k8s/overlays/{overlay}:\n" + "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_are_the_operators_kinds(overlay: str) -> None:
    kinds = {d["kind"] for d in render(overlay) if is_custom(d)}
    assert kinds <= OPERATOR_KINDS, f"custom kinds without a CRD schema here: {kinds - OPERATOR_KINDS}"
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "Cluster", "ScaledObject",
            "ServiceMonitor", "PodMonitor"} <= kinds


def test_the_crd_validation_rejects_what_the_api_server_would_drop_or_refuse() -> None:
    topic = copy.deepcopy(find(render(OVERLAYS[0]), "KafkaTopic")[0])
    assert custom_resource_errors(topic) == []
    topic["spec"]["partitionz"] = 6
    assert any("partitionz" in e for e in custom_resource_errors(topic))
    del topic["spec"]["partitionz"]
    topic["spec"]["partitions"] = "six"
    assert any("spec.partitions" in e for e in custom_resource_errors(topic))
    scaled = copy.deepcopy(find(render(OVERLAYS[0]), "ScaledObject")[0])
    scaled["spec"]["scaleTargetRef"]["nmae"] = "x"
    assert any("nmae" in e for e in custom_resource_errors(scaled))


def test_the_kubernetes_validation_rejects_unknown_fields() -> None:
    deployment = copy.deepcopy(find(render(OVERLAYS[0]), "Deployment")[0])
    assert errors(deployment) == []
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    assert any("readinesProbe" in e for e in errors(deployment))


def _pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_hardened(overlay: str) -> None:
    problems = []
    for deployment in find(render(overlay), "Deployment"):
        name, pod = deployment["metadata"]["name"], _pod(deployment)
        security = pod.get("securityContext", {})
        if not security.get("runAsNonRoot") or security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: pod securityContext {security}")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: mounts a service account token")
        for container in pod["containers"]:
            context = container.get("securityContext", {})
            if not (context.get("readOnlyRootFilesystem") and context.get("allowPrivilegeEscalation") is False
                    and context.get("capabilities", {}).get("drop") == ["ALL"]):
                problems.append(f"{name}/{container['name']}: securityContext {context}")
            resources = container.get("resources", {})
            if not ({"cpu", "memory"} <= set(resources.get("requests", {}))
                    and "memory" in resources.get("limits", {})):
                problems.append(f"{name}/{container['name']}: requests and limits {resources}")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if probe not in container:
                    problems.append(f"{name}/{container['name']}: no {probe}")
            if ":" not in container["image"] or container["image"].endswith(":latest"):
                problems.append(f"{name}: image {container['image']} is not pinned to a version")
    assert not problems, f"k8s/overlays/{overlay}:\n" + "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_a_disruption_budget(overlay: str) -> None:
    documents = render(overlay)
    budgets = find(documents, "PodDisruptionBudget")
    for deployment in find(documents, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets
                    if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert covering, f"{deployment['metadata']['name']} has no PodDisruptionBudget"


def _allows(policy: dict[str, Any], direction: str, port: int, peer_label: tuple[str, str] | None) -> bool:
    for rule in policy["spec"].get(direction, []):
        ports = [p["port"] for p in rule.get("ports", [])]
        if ports and port not in ports:
            continue
        peers = rule.get("to" if direction == "egress" else "from", [])
        if peer_label is None and not peers:
            return True
        key, value = peer_label or ("", "")
        for peer in peers:
            if peer.get("podSelector", {}).get("matchLabels", {}).get(key) == value:
                return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_is_denied_by_default_and_opened_for_what_each_service_needs(overlay: str) -> None:
    documents = render(overlay)
    policies = find(documents, "NetworkPolicy")
    deny = one(documents, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for service, port in inventory.ports().items():
        for role in ROLES:
            deployment = one(documents, "Deployment", f"dondoc-{service}-{role}")
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            mine = [p for p in policies
                    if p["spec"]["podSelector"].get("matchLabels")
                    and p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
            assert mine, f"no NetworkPolicy selects dondoc-{service}-{role}"
            what = f"dondoc-{service}-{role}"
            assert any(_allows(p, "egress", 5432, ("cnpg.io/cluster", f"dondoc-{service}-db"))
                       for p in mine), f"{what} cannot reach its database"
            assert any(_allows(p, "egress", 9092, ("strimzi.io/cluster", "dondoc")) for p in mine), (
                f"{what} cannot reach Kafka")
            assert any(any(r.get("ports") and r["ports"][0]["port"] == port for r in p["spec"]["ingress"])
                       for p in mine), f"{what} cannot be scraped or called on {port}"
        database = [p for p in policies if p["spec"]["podSelector"].get("matchLabels") ==
                    {"cnpg.io/cluster": f"dondoc-{service}-db"}]
        assert any(_allows(p, "ingress", 5432, ("app.kubernetes.io/name", service)) for p in database), (
            f"the database of {service} does not let {service} in")
