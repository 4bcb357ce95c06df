"""The inventory reads what the code declares, the way pydantic-settings reads it: the
prefix or the alias makes the variable's name, a credential is recognised by its type or
its name, a service's own declarations (settings, topics, subscriptions) count once its
bootstrap module exists."""

from __future__ import annotations

import sys
import types

import pytest
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dondoc.deploy import inventory
from dondoc.deploy.spec import Spec, SpecError
from dondoc_platform.kafka import event_topic
from dondoc_platform.settings import ServiceSettings

pytestmark = pytest.mark.unit


class MailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DONDOC_MAIL_")

    host: str = Field("localhost", description="the relay")
    relay_user: str = Field("dondoc", validation_alias="SMTP_USER")
    relay_port: int = Field(587, validation_alias=AliasChoices("SMTP_PORT", "MAIL_PORT"))
    password: SecretStr = SecretStr("")
    webhook_token: str = ""
    recipients: tuple[str, ...] = ("văn-phòng@example.org",)


def test_variable_names_follow_pydantic_settings() -> None:
    settings = {s.env: s for s in inventory.settings_of(MailSettings)}
    assert set(settings) == {"DONDOC_MAIL_HOST", "SMTP_USER", "SMTP_PORT", "DONDOC_MAIL_PASSWORD",
                             "DONDOC_MAIL_WEBHOOK_TOKEN", "DONDOC_MAIL_RECIPIENTS"}
    assert settings["DONDOC_MAIL_HOST"].default_text() == "localhost"
    assert settings["SMTP_PORT"].default_text() == "587"
    assert settings["DONDOC_MAIL_RECIPIENTS"].default_text() == '["văn-phòng@example.org"]'
    assert {n for n, s in settings.items() if s.secret} == {"DONDOC_MAIL_PASSWORD",
                                                            "DONDOC_MAIL_WEBHOOK_TOKEN"}


def test_every_service_reads_the_platform_settings_until_it_has_its_own() -> None:
    for service in inventory.services():
        names = inventory.settings_for(service)
        assert {"DONDOC_STORE_URL", "DONDOC_KAFKA_BOOTSTRAP", "DONDOC_AUTH_ISSUER",
                "DONDOC_ROLE", "DONDOC_HTTP_PORT"} <= set(names), service


def test_a_service_declarations_are_read_from_its_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap = types.ModuleType("dondoc_notifications.bootstrap")

    class Settings(ServiceSettings):
        service = "notifications"
        smtp_api_token: str = ""

    Settings.__module__, Settings.__qualname__ = bootstrap.__name__, "Settings"
    bootstrap.Settings = Settings
    bootstrap.TOPICS = [event_topic("dondoc.notifications.receipts.v1", 3)]
    bootstrap.SUBSCRIPTIONS = {"dondoc-notifications-reminders": ["dondoc.tasks.v1"]}
    monkeypatch.setitem(sys.modules, bootstrap.__name__, bootstrap)

    assert inventory.topics()["dondoc.notifications.receipts.v1"].partitions == 3
    spec = Spec.load()
    assert spec.subscriptions("notifications") == {"dondoc-notifications-reminders": ["dondoc.tasks.v1"]}
    with pytest.raises(SpecError, match=r"DONDOC_SMTP_API_TOKEN .*looks like a credential"):
        spec.environment("notifications", "kubernetes")

    bootstrap.SUBSCRIPTIONS = {"dondoc-notifications-reminders": ["dondoc.unknown.v1"]}
    with pytest.raises(SpecError, match=r"dondoc.unknown.v1"):
        spec.subscriptions("notifications")


def test_a_declared_credential_comes_from_its_secret(spec: Spec, monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap = types.ModuleType("dondoc_notifications.bootstrap")

    class Settings(ServiceSettings):
        service = "notifications"
        smtp_password: SecretStr = SecretStr("")

    Settings.__module__, Settings.__qualname__ = bootstrap.__name__, "Settings"
    bootstrap.Settings = Settings
    monkeypatch.setitem(sys.modules, bootstrap.__name__, bootstrap)
    kubernetes = spec.environment("notifications", "kubernetes")
    assert kubernetes.secrets["DONDOC_SMTP_PASSWORD"].secret == "dondoc-smtp"
    assert "DONDOC_SMTP_PASSWORD" not in kubernetes.values
    assert spec.environment("notifications", "compose").secrets["DONDOC_SMTP_PASSWORD"].startswith("${")
