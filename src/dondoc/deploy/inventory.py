"""What the code says a deployment must provide, read from the code itself when asked.

- the environment variables each service reads: every pydantic-settings class of the
  platform (`dondoc_platform`) and of the service's own package (`dondoc_<service>`,
  once its `bootstrap` module exists), with the names pydantic-settings gives them
  (the class's `env_prefix` + field name, or the field's alias);
- the Kafka topics: the platform's topic list (`dondoc_platform.topics`), the topics the
  contracts name (`dondoc_contracts`: each producing service's topic, its dead letters,
  the audit checkpoints), and any `TOPICS` a service's bootstrap module declares;
- the consumer groups a service subscribes with, when its bootstrap module declares them
  (`SUBSCRIPTIONS = {group_id: [topic, ...]}`);
- the HTTP port of each service (`DEFAULT_PORTS`).

The generators (`make generate`) and the tests that compare the manifests with the code
both start here; nothing in this module reads the manifests.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from types import ModuleType
from typing import Any

from pydantic import AliasChoices, SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

#: Names that say a value is a credential, whatever its type.
SECRET_NAME = re.compile(r"(password|passwd|secret|token|private|signing_key|credential|api_key)",
                         re.IGNORECASE)


@dataclass(frozen=True)
class Setting:
    """One environment variable and the settings field that reads it."""

    env: str
    owner: str  # module.Class.field
    annotation: str
    default: Any
    required: bool
    secret: bool
    description: str

    def default_text(self) -> str | None:
        """The default as the environment would spell it (None: no default, or None)."""
        if self.required or self.default is None:
            return None
        return env_text(self.default)


def env_text(value: Any) -> str:
    """A Python value as pydantic-settings reads it back from the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, tuple | list | set | frozenset):
        return json.dumps(list(value), ensure_ascii=False)
    if isinstance(value, Mapping):
        return json.dumps(dict(value), ensure_ascii=False)
    return str(value)


def services() -> tuple[str, ...]:
    from dondoc_platform.settings import DEFAULT_PORTS

    return tuple(DEFAULT_PORTS)


def ports() -> dict[str, int]:
    from dondoc_platform.settings import DEFAULT_PORTS

    return dict(DEFAULT_PORTS)


# --------------------------------------------------------------------------- settings


def _modules(package: ModuleType) -> Iterator[ModuleType]:
    yield package
    path = getattr(package, "__path__", None)
    if path is None:
        return
    for info in pkgutil.walk_packages(path, prefix=f"{package.__name__}."):
        yield importlib.import_module(info.name)


def _settings_defined_in(modules: Iterable[ModuleType]) -> list[type[BaseSettings]]:
    found: dict[str, type[BaseSettings]] = {}
    for module in modules:
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, BaseSettings)
                    and value is not BaseSettings and value.__module__ == module.__name__):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


def bootstrap_module(service: str) -> ModuleType | None:
    """The service's bootstrap module, or None while the service has no code yet."""
    name = f"dondoc_{service}.bootstrap"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name in (name, f"dondoc_{service}"):
            return None
        raise


def settings_classes(service: str) -> list[type[BaseSettings]]:
    """Every settings class the service's processes read."""
    import dondoc_platform
    from dondoc_platform.settings import ServiceSettings

    classes = _settings_defined_in(_modules(dondoc_platform))
    bootstrap = bootstrap_module(service)
    if bootstrap is not None:
        package = importlib.import_module(f"dondoc_{service}")
        own = _settings_defined_in([bootstrap, *_modules(package)])
        if any(issubclass(c, ServiceSettings) for c in own):
            classes = [c for c in classes if c is not ServiceSettings]
        classes += own
    return classes


def _env_names(cls: type[BaseSettings], name: str, info: FieldInfo) -> list[str]:
    alias = info.validation_alias if info.validation_alias is not None else info.alias
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        return [c.upper() for c in alias.choices if isinstance(c, str)][:1]
    return [f"{cls.model_config.get('env_prefix', '')}{name}".upper()]


def names_a_credential(name: str) -> bool:
    """A variable whose name says it holds a credential; where one lies (a mounted file, a
    path) is not itself one."""
    return not name.lower().endswith(("_file", "_path")) and bool(SECRET_NAME.search(name))


def _is_secret(name: str, info: FieldInfo) -> bool:
    text = repr(info.annotation)
    if SecretStr.__name__ in text or SecretBytes.__name__ in text:
        return True
    return names_a_credential(name)


def settings_of(cls: type[BaseSettings]) -> list[Setting]:
    out = []
    for name, info in cls.model_fields.items():
        required = info.is_required()
        default = None if required else info.get_default(call_default_factory=True)
        for env in _env_names(cls, name, info):
            out.append(Setting(
                env=env, owner=f"{cls.__module__}.{cls.__qualname__}.{name}",
                annotation=getattr(info.annotation, "__name__", None) or repr(info.annotation),
                default=default, required=required, secret=_is_secret(name, info),
                description=info.description or ""))
    return out


def settings_for(service: str) -> dict[str, Setting]:
    """{variable: Setting} of everything the service reads, sorted by name."""
    found: dict[str, Setting] = {}
    for cls in settings_classes(service):
        for setting in settings_of(cls):
            found.setdefault(setting.env, setting)
    return dict(sorted(found.items()))


# --------------------------------------------------------------------------- Kafka


def topics() -> dict[str, Any]:
    """{name: TopicSpec} of every topic the code uses, with its partitions and config."""
    from dondoc_contracts import AUDIT_CHECKPOINT_TOPIC, SERVICES, dlq_topic, topic_for
    from dondoc_platform.kafka import TopicSpec, event_topic
    from dondoc_platform.topics import suite_topics

    specs: dict[str, TopicSpec] = {t.name: t for t in suite_topics()}
    named = [AUDIT_CHECKPOINT_TOPIC]
    for producer in SERVICES:
        named += [topic_for(producer), dlq_topic(topic_for(producer))]
    for name in named:
        specs.setdefault(name, event_topic(name))
    for service in services():
        module = bootstrap_module(service)
        for spec in getattr(module, "TOPICS", ()) if module is not None else ():
            specs.setdefault(spec.name, spec)
    return dict(sorted(specs.items()))


def subscriptions(service: str) -> dict[str, list[str]] | None:
    """{consumer group: topics} the service declares, or None if it declares none."""
    module = bootstrap_module(service)
    declared = getattr(module, "SUBSCRIPTIONS", None) if module is not None else None
    if declared is None:
        return None
    return {group: list(names) for group, names in dict(declared).items()}
