"""Reading the deployment files as a tool would: kustomize renders the overlays, PyYAML
reads docker-compose.yml. The truth they are compared with comes from the code
(`dondoc.deploy.inventory`), never from the generators' output."""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
OVERLAYS = sorted(p.name for p in (ROOT / "k8s" / "overlays").iterdir() if p.is_dir())
ROLES = ("api", "worker")


def kustomize() -> str:
    explicit = os.environ.get("DONDOC_KUSTOMIZE")
    candidates = [Path(explicit)] if explicit else sorted(ROOT.glob(".tools/kustomize-*/kustomize"))
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("kustomize is not installed: run `make tools` (it builds the pinned "
                       "version from its Go module into .tools/)")


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    done = subprocess.run([kustomize(), "build", str(ROOT / "k8s" / "overlays" / overlay)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"kustomize build k8s/overlays/{overlay} failed:\n{done.stderr}")
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def find(documents: tuple[dict[str, Any], ...], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind
            and (name is None or d["metadata"]["name"] == name)]


def one(documents: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    found = find(documents, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def container_environment(documents: tuple[dict[str, Any], ...],
                          container: dict[str, Any]) -> dict[str, Any]:
    """{variable: value} a container gets: `env` entries (a secret reference stays a dict)
    and every key of the ConfigMaps it loads with `envFrom`."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        assert ref is not None, f"envFrom other than a ConfigMap: {source}"
        env.update(one(documents, "ConfigMap", ref["name"]).get("data", {}))
    for entry in container.get("env", []):
        env[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return env
