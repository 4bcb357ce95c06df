"""The environment of each service in each deployment target, from the code's settings
(`inventory`) and the deployment's choices (`deploy/deployment.yaml`).

A setting the code reads gets, in this order: a secret source (if it is a credential), the
container's own value (role, port), a value chosen in deploy/deployment.yaml, a declared
"left unset", or the code's default. A credential without a declared source, or a
required setting without a value, is an error naming the variable and the class that
reads it, so a new setting cannot slip past the deployments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dondoc.deploy import inventory

ROOT = Path(__file__).resolve().parents[3]
SPEC_PATH = ROOT / "deploy" / "deployment.yaml"
TARGETS = ("compose", "kubernetes")


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class SecretRef:
    secret: str
    key: str
    optional: bool = False


@dataclass
class Environment:
    """Everything one service's containers get in one target."""

    service: str
    target: str
    port: int
    values: dict[str, str] = field(default_factory=dict)  # plain, shared by api and worker
    secrets: dict[str, Any] = field(default_factory=dict)  # str (compose) or SecretRef
    per_process: list[str] = field(default_factory=list)
    unset: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # variable -> where its value comes from

    def names(self) -> set[str]:
        return set(self.values) | set(self.secrets) | set(self.per_process)


def fill(template: str, service: str, port: int) -> str:
    return (template.replace("{service}", service).replace("{SERVICE}", service.upper())
            .replace("{port}", str(port)))


@dataclass(frozen=True)
class Spec:
    values: dict[str, Any]
    per_process: tuple[str, ...]
    unset: dict[str, str]
    secrets: dict[str, dict[str, Any]]
    declared_subscriptions: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    declared_files: tuple[dict[str, Any], ...] = ()

    @classmethod
    def load(cls, path: Path = SPEC_PATH) -> Spec:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls(values=data.get("values") or {}, per_process=tuple(data.get("per_process") or ()),
                   unset=data.get("unset") or {}, secrets=data.get("secrets") or {},
                   declared_subscriptions=data.get("subscriptions") or {},
                   declared_files=tuple(data.get("files") or ()))

    def files(self, service: str) -> list[dict[str, Any]]:
        """The secret files mounted into the service's containers."""
        return [f for f in self.declared_files
                if f.get("services") == "all" or service in (f.get("services") or ())]

    def subscriptions(self, service: str) -> dict[str, list[str]]:
        """{consumer group: topics} of the service's workers: the service's own declaration
        when it has one, else deploy/deployment.yaml's; every topic must be one the code uses."""
        groups = inventory.subscriptions(service)
        if groups is None:
            groups = {g: list(t) for g, t in (self.declared_subscriptions.get(service) or {}).items()}
        known = inventory.topics()
        unknown = sorted({t for names in groups.values() for t in names} - set(known))
        if unknown:
            raise SpecError(f"{service} subscribes to topics the code does not declare: {unknown}")
        return groups

    def chosen(self, service: str, target: str) -> dict[str, str]:
        own = (self.values.get("services") or {}).get(service) or {}
        merged: dict[str, str] = {}
        for layer in (self.values.get("all"), self.values.get(target), own.get("all"), own.get(target)):
            merged.update({k: str(v) for k, v in (layer or {}).items()})
        return merged

    def environment(self, service: str, target: str) -> Environment:
        if target not in TARGETS:
            raise SpecError(f"unknown deployment target {target!r}; choose among {TARGETS}")
        port = inventory.ports()[service]
        env = Environment(service, target, port)
        chosen = self.chosen(service, target)
        problems = []
        for name, setting in inventory.settings_for(service).items():
            if name in self.secrets:
                source = self.secrets[name].get(target)
                if source is None:
                    problems.append(f"{name} ({setting.owner}) is a credential with no {target} "
                                    f"source in deploy/deployment.yaml (secrets.{name}.{target})")
                elif isinstance(source, dict):
                    env.secrets[name] = SecretRef(fill(source["secret"], service, port), source["key"],
                                                  bool(source.get("optional", False)))
                    env.sources[name] = f"Secret {env.secrets[name].secret}, key {source['key']}"
                else:
                    env.secrets[name] = fill(str(source), service, port)
                    env.sources[name] = "the .env file"
            elif setting.secret and name not in self.unset:
                problems.append(f"{name} ({setting.owner}) looks like a credential: declare its "
                                f"sources under `secrets:` in deploy/deployment.yaml")
            elif name in self.per_process:
                env.per_process.append(name)
                env.sources[name] = "the container"
            elif name in chosen:
                env.values[name] = fill(chosen[name], service, port)
                env.sources[name] = "deploy/deployment.yaml"
            elif name in self.unset:
                env.unset[name] = self.unset[name]
            elif setting.required:
                problems.append(f"{name} ({setting.owner}) has no default: give it a value in "
                                f"deploy/deployment.yaml (values.{target} or values.all)")
            else:
                env.values[name] = setting.default_text() or ""
                env.sources[name] = "the code's default"
        if problems:
            raise SpecError(f"{service} ({target}): " + "; ".join(problems))
        return env


def environments(target: str, spec: Spec | None = None) -> dict[str, Environment]:
    spec = spec or Spec.load()
    return {service: spec.environment(service, target) for service in inventory.services()}
