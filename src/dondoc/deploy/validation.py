"""Offline validation of rendered Kubernetes manifests.

Built-in kinds are checked by `kubernetes-validate` against the Kubernetes OpenAPI schemas
it ships, strictly (an unknown field is an error). Custom resources (Strimzi, CloudNativePG,
KEDA, Prometheus Operator) are checked against the CRD schemas kept in deploy/crds/schemas
(see deploy/crds/fetch.py), made strict the same way: the API server would silently prune
an unknown field, so a misspelt one would otherwise pass unnoticed. CEL rules
(`x-kubernetes-validations`) are not evaluated.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
CRD_SCHEMAS = ROOT / "deploy" / "crds" / "schemas"
#: The oldest and the newest Kubernetes the manifests are checked against.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")


class UnknownKind(LookupError):
    pass


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A structural schema (OpenAPI v3 as Kubernetes reads it) as a JSON Schema that also
    rejects fields the schema does not name."""
    out = dict(schema)
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if "properties" in out:
        out["properties"] = {k: strict(v) for k, v in out["properties"].items()}
        if ("additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = strict(out["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out and key in schema:
            out[key] = [strict(s) for s in out[key]]
    if isinstance(out.get("not"), dict):
        out["not"] = strict(out["not"])
    return out


@cache
def custom_resource_validator(api_version: str, kind: str) -> Any:
    from jsonschema import Draft4Validator

    if "/" not in api_version:
        raise UnknownKind(f"{kind} {api_version} is not a custom resource")
    group, version = api_version.split("/", 1)
    path = CRD_SCHEMAS / group / f"{kind}_{version}.json"
    if not path.exists():
        raise UnknownKind(f"no CRD schema for {kind} {api_version} in {CRD_SCHEMAS} "
                          f"(add it to deploy/crds/fetch.py and run it)")
    return Draft4Validator(strict(json.loads(path.read_text())))


def is_custom(document: dict[str, Any]) -> bool:
    group = document.get("apiVersion", "").rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def custom_resource_errors(document: dict[str, Any]) -> list[str]:
    validator = custom_resource_validator(document["apiVersion"], document["kind"])
    return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))]


def builtin_errors(document: dict[str, Any], version: str) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(map(str, error.path)) or "(root)"
        return [f"{where}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"no Kubernetes {version} schema for {document.get('kind')} "
                f"{document.get('apiVersion')}: {error}"]
    return []


def errors(document: dict[str, Any]) -> list[str]:
    """Everything wrong with one manifest, against every Kubernetes version checked."""
    if is_custom(document):
        return custom_resource_errors(document)
    found: list[str] = []
    for version in KUBERNETES_VERSIONS:
        found += [f"[k8s {version}] {e}" for e in builtin_errors(document, version)]
    return found
